//! `aura-host init [DIR] [--ci github|gitlab]... [--suite S]... [--force]`: a project
//! where aura-host runs from this binary alone (`crate::init`).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{CliError, ExitCode};
use crate::init::{self, Ci, InitError};
use crate::orchestrator::suite;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project directory [default: the current one].
    dir: Option<PathBuf>,
    /// Also write the CI file of `github` (.github/workflows/aura-host.yml) or `gitlab`
    /// (.gitlab-ci.yml): the local profile, one job per suite, the reports uploaded.
    #[arg(long, value_enum)]
    ci: Vec<CiKind>,
    /// A suite the CI files run, one job each (repeatable) [default: smoke, integration].
    #[arg(long = "suite", value_name = "SUITE", requires = "ci")]
    suites: Vec<String>,
    /// Replace files that exist (else nothing is written when one does).
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CiKind {
    Github,
    Gitlab,
}

pub fn run(args: &InitArgs) -> Result<ExitCode, CliError> {
    for s in &args.suites {
        suite::check(s).map_err(|e| CliError::new(ExitCode::BadInput, format!("--suite {e}")))?;
    }
    let ci: Vec<Ci> = args
        .ci
        .iter()
        .map(|c| match c {
            CiKind::Github => Ci::Github,
            CiKind::Gitlab => Ci::Gitlab,
        })
        .collect();
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let files = init::files(&init::Request {
        ci: &ci,
        suites: &args.suites,
    })
    .map_err(failed)?;
    let written = init::write(&dir, &files, args.force).map_err(failed)?;
    let scenarios = written
        .iter()
        .filter(|p| p.starts_with(dir.join(init::SCENARIOS_DIR)))
        .count();
    let plugins = written
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .count();
    out!(
        "aura-host init: {} · {} · {scenarios} scenario file(s) in {}/ · {plugins} plugin(s) in {}/",
        dir.join(init::CONFIG).display(),
        dir.join(init::PLUGIN_SET).display(),
        dir.join(init::SCENARIOS_DIR).display(),
        dir.join(init::PLUGINS_DIR).display(),
    );
    for c in &ci {
        out!("  CI: {}", dir.join(c.path()).display());
    }
    out!("next: aura-host env up && aura-host run   (the smoke suite)");
    Ok(ExitCode::Ok)
}

fn failed(e: InitError) -> CliError {
    let code = match e {
        InitError::Exists(_) => ExitCode::BadInput,
        InitError::Unbuilt(_) | InitError::Write { .. } => ExitCode::Failed,
    };
    CliError::caused(code, &e)
}
