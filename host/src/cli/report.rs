//! `aura-host report --run <id>`: rebuilds a run's summary, JSON and JUnit from its
//! journal: after the run, or after the host was killed mid-run (what finished is
//! there; the rest is reported as not run).

use std::path::PathBuf;

use clap::Args;

use super::{CliError, ExitCode, scenarios};
use crate::config::AuraConfig;
use crate::report::{journal_path, summary};
use aura_services::namespace::RunId;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run id (`aura-host run` prints it first).
    #[arg(long = "run")]
    run_id: RunId,
    /// Write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write JUnit XML to this file.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the report as one self-contained HTML file (waterfalls, checks, latency).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

pub fn run(config: &AuraConfig, args: &ReportArgs) -> Result<ExitCode, CliError> {
    let path = journal_path(&config.state_dir, args.run_id.as_str());
    if !path.exists() {
        return Err(CliError::new(
            ExitCode::BadInput,
            format!(
                "no journal for run {} at {} (wrong run id or state dir?)",
                args.run_id,
                path.display()
            ),
        ));
    }
    let mut report =
        crate::report::load(&path).map_err(|e| CliError::caused(ExitCode::BadInput, &e))?;
    scenarios::annotate(config, &mut report);
    out!("{}", summary::render(&report, true));
    let to = scenarios::Outputs {
        json: args.json.as_deref(),
        junit: args.junit.as_deref(),
        html: args.html.as_deref(),
    };
    scenarios::write_outputs(&report, to)?;
    Ok(scenarios::exit_code(&report))
}
