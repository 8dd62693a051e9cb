//! `aura-host baseline save RUN [--name N]`, `baseline list` and `aura-host compare RUN
//! --baseline N`: a run's latency distributions kept under a name, and a later run
//! compared with them step by step (exit 1 on a regression beyond the tolerance).

use clap::{Args, Subcommand};

use super::{CliError, ExitCode};
use crate::config::AuraConfig;
use crate::report::baseline::{self, Baseline, Comparisons};
use crate::report::regression::Tolerance;
use crate::report::{RunReport, journal_path};
use aura_services::namespace::RunId;

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Keep a finished run's latency distributions (per request and per step) as a
    /// baseline to compare later runs with.
    Save {
        /// The run id (`aura-host run` prints it first).
        run: RunId,
        /// The baseline's name [default: the run id]; saving a name again replaces it.
        #[arg(long)]
        name: Option<String>,
    },
    /// The baselines saved in the state dir.
    List,
}

/// How much slower counts as a regression (shared by `compare` and `run --baseline`).
#[derive(Debug, Clone, Args)]
pub struct ToleranceArgs {
    /// A step's median or p95 may be this fraction slower before it counts.
    #[arg(long, default_value_t = 0.10, value_parser = fraction)]
    pub tolerance: f64,
    /// ...and this many milliseconds slower (below it, a change is clock resolution).
    #[arg(long, default_value_t = 2.0, value_parser = at_least_zero)]
    pub tolerance_ms: f64,
    /// Significance level of the one-sided Mann–Whitney U test.
    #[arg(long, default_value_t = 0.01, value_parser = probability)]
    pub alpha: f64,
}

impl ToleranceArgs {
    pub fn tolerance(&self) -> Tolerance {
        Tolerance {
            relative: self.tolerance,
            absolute_ms: self.tolerance_ms,
            alpha: self.alpha,
            ..Tolerance::default()
        }
    }
}

fn number(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("'{text}' is not a number"))
}

fn at_least_zero(text: &str) -> Result<f64, String> {
    number(text).and_then(|v| {
        (v >= 0.0)
            .then_some(v)
            .ok_or_else(|| format!("{v}: 0 or more"))
    })
}

fn fraction(text: &str) -> Result<f64, String> {
    at_least_zero(text).and_then(|v| {
        (v <= 10.0)
            .then_some(v)
            .ok_or_else(|| format!("{v}: 0 to 10 (0.1 is 10 %)"))
    })
}

fn probability(text: &str) -> Result<f64, String> {
    number(text).and_then(|v| {
        (v > 0.0 && v < 1.0)
            .then_some(v)
            .ok_or_else(|| format!("{v}: between 0 and 1, e.g. 0.01"))
    })
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The run to judge.
    run: RunId,
    /// The saved baseline to judge it against.
    #[arg(long)]
    baseline: String,
    #[command(flatten)]
    tolerance: ToleranceArgs,
}

/// The report of a finished run, from its journal (exit 2 when there is none).
pub fn report_of(config: &AuraConfig, run: &RunId) -> Result<RunReport, CliError> {
    let path = journal_path(&config.state_dir, run.as_str());
    if !path.exists() {
        return Err(CliError::new(
            ExitCode::BadInput,
            format!(
                "no journal for run {run} at {} (wrong run id or state dir?)",
                path.display()
            ),
        ));
    }
    crate::report::load(&path).map_err(|e| CliError::caused(ExitCode::BadInput, &e))
}

/// A saved baseline (exit 2 when there is none by that name).
pub fn load(config: &AuraConfig, name: &str) -> Result<Baseline, CliError> {
    Baseline::load(&baseline::dir(&config.state_dir), name)
        .map_err(|e| CliError::caused(ExitCode::BadInput, &e))
}

/// Prints the comparison; exit 1 when a distribution regressed.
pub fn verdict(c: &Comparisons) -> ExitCode {
    out!("{}", c.render());
    if c.failed() {
        ExitCode::Failed
    } else {
        ExitCode::Ok
    }
}

pub fn run(config: &AuraConfig, cmd: &BaselineCommand) -> Result<ExitCode, CliError> {
    let dir = baseline::dir(&config.state_dir);
    match cmd {
        BaselineCommand::Save { run, name } => {
            let report = report_of(config, run)?;
            let name = name.clone().unwrap_or_else(|| run.to_string());
            let b = Baseline::of(&report, &name)
                .map_err(|e| CliError::caused(ExitCode::BadInput, &e))?;
            let path = b
                .save(&dir)
                .map_err(|e| CliError::caused(ExitCode::Failed, &e))?;
            let counts: Vec<String> = b
                .latencies
                .iter()
                .map(|(k, v)| format!("{k} {}", v.len()))
                .collect();
            out!(
                "baseline {name} saved from run {run}: {} ({})",
                path.display(),
                counts.join(", ")
            );
            Ok(ExitCode::Ok)
        }
        BaselineCommand::List => {
            for name in baseline::list(&dir) {
                match Baseline::load(&dir, &name) {
                    Ok(b) => out!("{name}\trun {}\t{}", b.run_id, b.command),
                    Err(e) => out!("{name}\tunreadable: {e}"),
                }
            }
            Ok(ExitCode::Ok)
        }
    }
}

pub fn compare(config: &AuraConfig, args: &CompareArgs) -> Result<ExitCode, CliError> {
    let b = load(config, &args.baseline)?;
    let report = report_of(config, &args.run)?;
    Ok(verdict(&baseline::compare(
        &b,
        &report,
        &args.tolerance.tolerance(),
    )))
}
