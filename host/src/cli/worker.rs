//! `aura-host worker`: polls a task queue for what schedules start (a whole run, as a
//! child `aura-host run`) and what distributed runs hand out (slices of a scenario's
//! requests, run here against the shared services), until Ctrl-C. Any number of workers,
//! on any machines that reach the same Temporal, Redis, graph and Kafka, may poll one
//! queue.

use std::sync::Arc;

use clap::Args;
use temporalio_sdk::{Runtime, Worker, WorkerOptions};

use super::schedule::absolute;
use super::{CliError, ExitCode};
use crate::config::{AuraConfig, ConfigSource};
use crate::orchestrator::distributed::{DistributedScenarioWorkflow, SliceActivities};
use crate::scheduler::{RUNS_TASK_QUEUE, RunActivities, ScheduledRunWorkflow};
use aura_services::ServiceHub;

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The task queue to poll (`schedule create --task-queue`, `run --distributed
    /// --task-queue`).
    #[arg(long, default_value = RUNS_TASK_QUEUE)]
    task_queue: String,
}

fn failed(what: &str, e: impl std::fmt::Display) -> CliError {
    CliError::new(
        ExitCode::Failed,
        format!("the worker could not {what}: {e}"),
    )
}

pub async fn run(
    config: &AuraConfig,
    source: &ConfigSource,
    hub: Arc<ServiceHub>,
    args: &WorkerArgs,
) -> Result<ExitCode, CliError> {
    let exe = std::env::current_exe().map_err(|e| failed("find the aura-host binary", e))?;
    // Each scheduled run reads the worker's config and journals where its state is.
    let mut global = match source {
        ConfigSource::File(path) => vec!["--config".to_string(), absolute(path)?],
        ConfigSource::BuiltInDefaults => Vec::new(),
    };
    let state = std::path::absolute(&config.state_dir).unwrap_or_else(|_| config.state_dir.clone());
    global.extend([
        "--state-dir".to_string(),
        state.to_string_lossy().into_owned(),
    ]);
    let runtime =
        Runtime::from_current_tokio(Default::default()).map_err(|e| failed("start", e))?;
    let client = aura_services::temporal::client(&config.services.temporal, "aura-host-worker")
        .await
        .map_err(|e| CliError::caused(ExitCode::NotReady, &e))?;
    let options = WorkerOptions::new(args.task_queue.clone())
        .register_workflow::<ScheduledRunWorkflow>()
        .map_err(|e| failed("register its workflows", e))?
        .register_workflow::<DistributedScenarioWorkflow>()
        .map_err(|e| failed("register its workflows", e))?
        .register_activities(RunActivities { exe, global })
        .register_activities(SliceActivities {
            hub,
            target: config.target.clone(),
            gpu: config.gpu.clone(),
        })
        .build();
    let mut worker = Worker::new(&runtime, client, options).map_err(|e| failed("poll", e))?;
    let shutdown = worker.shutdown_handle();
    out!(
        "worker polling {} for scheduled runs and distributed slices; Ctrl-C to stop",
        args.task_queue
    );
    let polling = worker.run();
    tokio::pin!(polling);
    tokio::select! {
        ran = &mut polling => return ran.map(|()| ExitCode::Ok).map_err(|e| failed("poll", e)),
        _ = tokio::signal::ctrl_c() => shutdown(),
    }
    polling
        .await
        .map(|()| ExitCode::Ok)
        .map_err(|e| failed("poll", e))
}
