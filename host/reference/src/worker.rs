//! The Temporal worker, on its own thread: `Worker::run` is not `Send` (workflows run on
//! a local set), so it gets a runtime of its own and hands back a shutdown handle.

use std::sync::Arc;
use std::thread::JoinHandle;

use temporalio_client::Client;
use temporalio_sdk::{Runtime, Worker, WorkerOptions};
use tokio::sync::oneshot;

use super::activities::AllocationActivities;
use super::workflow::GpuAllocationWorkflow;
use super::{TargetCore, TargetError};
use aura_services::config::TemporalConfig;

type Shutdown = Box<dyn Fn() + Send + Sync>;

pub struct WorkerThread {
    shutdown: Shutdown,
    /// The worker's runtime: its shutdown spawns a task, so it runs inside it.
    runtime: tokio::runtime::Handle,
    thread: Option<JoinHandle<()>>,
}

/// A Temporal client for `config`'s namespace.
pub async fn client(config: &TemporalConfig) -> Result<Client, TargetError> {
    aura_services::temporal::client(config, "aura-host-target")
        .await
        .map_err(|e| TargetError::temporal(format!("connect to {}", config.url), e))
}

impl WorkerThread {
    /// Starts polling `task_queue`; returns once the worker is registered (or failed).
    pub async fn start(
        core: Arc<TargetCore>,
        temporal: TemporalConfig,
    ) -> Result<Self, TargetError> {
        let (ready_tx, ready_rx) =
            oneshot::channel::<Result<(Shutdown, tokio::runtime::Handle), TargetError>>();
        let queue = core.config.task_queue.clone();
        let thread = std::thread::Builder::new()
            .name("aura-temporal-worker".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("aura-worker")
                    // Activities poll the service clients' deep futures; debug builds
                    // need more than tokio's 2 MiB default.
                    .thread_stack_size(8 << 20)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(TargetError::worker("its runtime", e)));
                        return;
                    }
                };
                rt.block_on(async move {
                    let started = async {
                        let runtime = Runtime::from_current_tokio(Default::default())
                            .map_err(|e| TargetError::worker("the core runtime", e))?;
                        let client = client(&temporal).await?;
                        let options = WorkerOptions::new(queue)
                            .register_workflow::<GpuAllocationWorkflow>()
                            .map_err(|e| TargetError::worker("register the workflow", e))?
                            .register_activities(AllocationActivities::new(core))
                            .build();
                        Worker::new(&runtime, client, options)
                            .map(|w| (runtime, w))
                            .map_err(|e| TargetError::worker("start polling", e))
                    };
                    let (_runtime, mut worker) = match started.await {
                        Ok(w) => w,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let shutdown: Shutdown = Box::new(worker.shutdown_handle());
                    let _ = ready_tx.send(Ok((shutdown, tokio::runtime::Handle::current())));
                    if let Err(e) = worker.run().await {
                        tracing::error!(target: "aura::target", "temporal worker stopped: {e}");
                    }
                });
            })
            .map_err(|e| TargetError::worker("its thread", e))?;
        let (shutdown, runtime) = ready_rx
            .await
            .map_err(|e| TargetError::worker("the worker thread ended before starting", e))??;
        Ok(Self {
            shutdown,
            runtime,
            thread: Some(thread),
        })
    }

    /// Stops polling, lets running tasks finish and joins the thread.
    pub async fn stop(mut self) {
        self.initiate_shutdown();
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }

    pub fn running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    fn initiate_shutdown(&self) {
        if self.running() {
            let _inside = self.runtime.enter();
            (self.shutdown)();
        }
    }
}

impl Drop for WorkerThread {
    /// A target dropped without `stop` still stops polling; its thread ends on its own.
    fn drop(&mut self) {
        self.initiate_shutdown();
    }
}
