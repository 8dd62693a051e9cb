//! `aura-host worker`: polls the runs task queue and runs what schedules start there,
//! until told to stop. Any number of workers, on any machines that reach the same
//! Temporal, Redis, graph and Kafka, may poll one queue; each firing runs on one.

use std::future::Future;
use std::path::PathBuf;

use temporalio_sdk::{Runtime, Worker, WorkerOptions};

use super::SchedulerError;
use super::workflow::{RunActivities, ScheduledRunWorkflow};
use aura_services::config::TemporalConfig;

/// A worker for scheduled runs.
pub struct RunsWorker {
    pub temporal: TemporalConfig,
    pub task_queue: String,
    /// The `aura-host` binary the runs are started with.
    pub exe: PathBuf,
    /// Global options each run gets (the worker's `--config`).
    pub global: Vec<String>,
}

impl RunsWorker {
    /// Polls until `stop` resolves, then lets a run in progress finish its heartbeat
    /// and stops; `ready` is called once the worker is registered.
    pub async fn run(
        self,
        ready: impl FnOnce(),
        stop: impl Future<Output = ()>,
    ) -> Result<(), SchedulerError> {
        let failed =
            |what: &str, e: &dyn std::fmt::Display| SchedulerError::Worker(format!("{what}: {e}"));
        let runtime = Runtime::from_current_tokio(Default::default())
            .map_err(|e| failed("the core runtime", &e))?;
        let client = aura_services::temporal::client(&self.temporal, "aura-host-worker").await?;
        let options = WorkerOptions::new(self.task_queue.clone())
            .register_workflow::<ScheduledRunWorkflow>()
            .map_err(|e| failed("register the workflow", &e))?
            .register_activities(RunActivities {
                exe: self.exe,
                global: self.global,
            })
            .build();
        let mut worker =
            Worker::new(&runtime, client, options).map_err(|e| failed("start polling", &e))?;
        let shutdown = worker.shutdown_handle();
        ready();
        let polling = worker.run();
        tokio::pin!(polling);
        tokio::select! {
            ran = &mut polling => return ran.map_err(|e| failed("polling", &e)),
            () = stop => shutdown(),
        }
        polling.await.map_err(|e| failed("polling", &e))
    }
}
