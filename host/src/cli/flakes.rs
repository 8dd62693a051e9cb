//! `aura-host flakes`: pass, fail and flaky rates per scenario and validator from the
//! state dir's run history, and the quarantine list they suggest.

use clap::Args;

use super::{CliError, ExitCode};
use crate::config::AuraConfig;
use crate::report::history::{self, Rate};

#[derive(Debug, Args)]
pub struct FlakesArgs {
    /// The newest runs to look at (reruns count with the run they reran).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Propose quarantining what was flaky in at least this share of its runs.
    #[arg(long, default_value_t = 0.05)]
    threshold: f64,
    /// One JSON object: `runs`, `rates`, `quarantine`.
    #[arg(long)]
    json: bool,
}

pub fn run(config: &AuraConfig, args: &FlakesArgs) -> Result<ExitCode, CliError> {
    if !(0.0..=1.0).contains(&args.threshold) {
        return Err(CliError::new(
            ExitCode::BadInput,
            format!("--threshold {}: a share between 0 and 1", args.threshold),
        ));
    }
    let entries =
        history::read(&config.state_dir).map_err(|e| CliError::caused(ExitCode::BadInput, &e))?;
    let rates = history::rates(&entries, args.runs as usize);
    let quarantine: Vec<&Rate> = rates
        .iter()
        .filter(|r| r.flaky > 0 && r.flaky_rate() >= args.threshold)
        .collect();
    let looked_at = entries
        .iter()
        .filter(|e| e.rerun_of.is_none())
        .count()
        .min(args.runs as usize);
    if args.json {
        out!(
            "{}",
            serde_json::json!({
                "runs": looked_at,
                "rates": rates,
                "quarantine": quarantine.iter().map(|r| &r.name).collect::<Vec<_>>(),
            })
        );
        return Ok(ExitCode::Ok);
    }
    if rates.is_empty() {
        out!(
            "no finished runs in {} yet",
            history::path(&config.state_dir).display()
        );
        return Ok(ExitCode::Ok);
    }
    out!(
        "the last {looked_at} run(s) of {}",
        config.state_dir.display()
    );
    out!(
        "{:<9} {:<48} {:>5} {:>6} {:>6} {:>5} {:>7}",
        "KIND",
        "NAME",
        "RUNS",
        "PASSED",
        "FAILED",
        "FLAKY",
        "FLAKY%"
    );
    for r in &rates {
        out!(
            "{:<9} {:<48} {:>5} {:>6} {:>6} {:>5} {:>6.1}%",
            r.kind,
            r.name,
            r.runs,
            r.passed,
            r.failed,
            r.flaky,
            r.flaky_rate() * 100.0
        );
    }
    if quarantine.is_empty() {
        out!(
            "nothing to quarantine: nothing was flaky in ≥ {:.0} % of its runs",
            args.threshold * 100.0
        );
    } else {
        out!(
            "quarantine proposal (flaky in ≥ {:.0} % of their runs):",
            args.threshold * 100.0
        );
        for r in quarantine {
            out!("  {} {}", r.kind, r.name);
        }
    }
    Ok(ExitCode::Ok)
}
