//! `aura-host worker` and `aura-host schedule create|list|delete`: runs on Temporal
//! Schedules, each firing an ordinary `aura-host run` on a worker of the runs queue.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{CliError, ExitCode};
use crate::config::{AuraConfig, ConfigSource};
use crate::scheduler::{self, Firing, RUNS_TASK_QUEUE, RunsWorker, SchedulerError};

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The task queue to poll.
    #[arg(long, default_value = RUNS_TASK_QUEUE)]
    task_queue: String,
}

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

fn failed(e: SchedulerError) -> CliError {
    let code = match e {
        SchedulerError::BadName(_)
        | SchedulerError::NotFound(_)
        | SchedulerError::Invalid { .. } => ExitCode::BadInput,
        SchedulerError::Service(_) => ExitCode::NotReady,
        SchedulerError::Schedule { .. } | SchedulerError::Worker(_) => ExitCode::Failed,
    };
    CliError::caused(code, &e)
}

/// A path as every worker will be given it: absolute.
fn absolute(path: &Path) -> Result<String, CliError> {
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

pub async fn worker(
    config: &AuraConfig,
    source: &ConfigSource,
    args: &WorkerArgs,
) -> Result<ExitCode, CliError> {
    let exe = std::env::current_exe().map_err(|e| {
        CliError::new(
            ExitCode::Failed,
            format!("cannot find the aura-host binary: {e}"),
        )
    })?;
    // Each run reads the worker's config and journals where the worker's state is.
    let mut global = match source {
        ConfigSource::File(path) => vec!["--config".to_string(), absolute(path)?],
        ConfigSource::BuiltInDefaults => Vec::new(),
    };
    let state = std::path::absolute(&config.state_dir).unwrap_or_else(|_| config.state_dir.clone());
    global.extend([
        "--state-dir".to_string(),
        state.to_string_lossy().into_owned(),
    ]);
    let w = RunsWorker {
        temporal: config.services.temporal.clone(),
        task_queue: args.task_queue.clone(),
        exe,
        global,
    };
    let queue = args.task_queue.clone();
    let ready = move || {
        out!("worker polling {queue} for scheduled runs; Ctrl-C to stop");
    };
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    w.run(ready, stop).await.map_err(failed)?;
    Ok(ExitCode::Ok)
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
