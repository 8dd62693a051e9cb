//! `aura-host worker` and `aura-host schedule create|list|delete`: runs on Temporal
//! Schedules, each firing an ordinary `aura-host run` on a worker of the runs queue.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{CliError, ExitCode};
use crate::config::AuraConfig;
use crate::scheduler::{self, Firing, RUNS_TASK_QUEUE, SchedulerError};

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Create a schedule whose firings run `aura-host run` on a worker.
    Create(CreateArgs),
    /// The schedules aura-host created, with their next firing and recent runs.
    List,
    /// Delete a schedule (runs it started go on to their end).
    Delete { name: String },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Its name, which also names its runs (`<name>-<time>`): 1-40 of a-z, 0-9, '-'.
    name: String,
    /// When it fires: a cron expression in UTC (`"0 3 * * *"`).
    #[arg(long, required_unless_present = "every", conflicts_with = "every")]
    cron: Option<String>,
    /// ...or every so often (`30s`, `1h`).
    #[arg(long, value_parser = humantime::parse_duration)]
    every: Option<std::time::Duration>,
    /// The suite each firing runs [default: smoke, when no scenario is given].
    #[arg(long)]
    suite: Option<String>,
    /// A scenario file each firing runs (repeatable); workers read it at this path.
    #[arg(long = "scenario", value_name = "FILE")]
    scenarios: Vec<PathBuf>,
    /// A plugin set each firing runs with; workers read it at this path.
    #[arg(long, value_name = "MANIFEST")]
    plugins: Option<PathBuf>,
    /// The task queue its runs go to (the workers' `--task-queue`).
    #[arg(long, default_value = RUNS_TASK_QUEUE)]
    task_queue: String,
}

pub fn failed(e: SchedulerError) -> CliError {
    let code = match e {
        SchedulerError::BadName(_)
        | SchedulerError::NotFound(_)
        | SchedulerError::Invalid { .. } => ExitCode::BadInput,
        SchedulerError::Service(_) => ExitCode::NotReady,
        SchedulerError::Schedule { .. } => ExitCode::Failed,
    };
    CliError::caused(code, &e)
}

/// A path as every worker will be given it: absolute.
pub fn absolute(path: &Path) -> Result<String, CliError> {
    let full = std::path::absolute(path)
        .map_err(|e| CliError::new(ExitCode::BadInput, format!("{}: {e}", path.display())))?;
    if !full.exists() {
        return Err(CliError::new(
            ExitCode::BadInput,
            format!("{}: no such file", full.display()),
        ));
    }
    Ok(full.to_string_lossy().into_owned())
}

/// The `aura-host run` arguments of each firing.
fn run_args(a: &CreateArgs) -> Result<Vec<String>, CliError> {
    let mut args = Vec::new();
    if let Some(s) = &a.suite {
        crate::orchestrator::suite::check(s)
            .map_err(|e| CliError::caused(ExitCode::BadInput, &e))?;
        args.extend(["--suite".to_string(), s.clone()]);
    }
    for f in &a.scenarios {
        args.extend(["--scenario".to_string(), absolute(f)?]);
    }
    if let Some(m) = &a.plugins {
        args.extend(["--plugins".to_string(), absolute(m)?]);
    }
    Ok(args)
}

pub async fn schedule(config: &AuraConfig, cmd: &ScheduleCommand) -> Result<ExitCode, CliError> {
    let client = || async {
        aura_services::temporal::client(&config.services.temporal, "aura-host")
            .await
            .map_err(|e| failed(e.into()))
    };
    match cmd {
        ScheduleCommand::Create(a) => {
            let firing = match (&a.cron, a.every) {
                (Some(c), _) => Firing::Cron(c.clone()),
                (None, Some(d)) if !d.is_zero() => Firing::Every(d),
                _ => {
                    return Err(CliError::new(
                        ExitCode::BadInput,
                        "--every must be more than zero",
                    ));
                }
            };
            scheduler::check_name(&a.name).map_err(failed)?;
            let args = run_args(a)?;
            scheduler::create(
                &client().await?,
                &a.name,
                &firing,
                &a.task_queue,
                args.clone(),
            )
            .await
            .map_err(failed)?;
            out!(
                "schedule {} created: `aura-host run {}` {} on task queue {} (an `aura-host worker --task-queue {}` runs it)",
                a.name,
                args.join(" "),
                match &firing {
                    Firing::Cron(c) => format!("at cron '{c}' (UTC)"),
                    Firing::Every(d) => format!("every {}", humantime::format_duration(*d)),
                },
                a.task_queue,
                a.task_queue
            );
        }
        ScheduleCommand::List => {
            for s in scheduler::list(&client().await?).await.map_err(failed)? {
                let next = s.next.map_or_else(
                    || "-".to_string(),
                    |t| humantime::format_rfc3339_seconds(t).to_string(),
                );
                out!(
                    "{}\t{}next {next}\t{}\t{} recent run(s)",
                    s.name,
                    if s.paused { "paused\t" } else { "" },
                    s.note.unwrap_or_default(),
                    s.recent.len()
                );
            }
        }
        ScheduleCommand::Delete { name } => {
            scheduler::check_name(name).map_err(failed)?;
            scheduler::delete(&client().await?, name)
                .await
                .map_err(failed)?;
            out!("schedule {name} deleted");
        }
    }
    Ok(ExitCode::Ok)
}
