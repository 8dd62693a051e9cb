//! The system under test: a reference AURA GPU-allocation service. A Temporal workflow
//! ([`workflow`]) runs seven steps ([`steps`]) as activities on a worker hosted here,
//! deciding with the LNN council ([`council`]) over the GPU core's inventory ([`gpu`]),
//! writing to the graph, Redis and Kafka ([`data`]) and tracing every step
//! ([`aura_services::trace`]). It is driven in-process or over HTTP through one
//! [`driver::TargetDriver`] trait. It knows nothing of its tester: no plugin runtime, no
//! orchestrator, no report.

// The async-trait futures of the graph backends nest deeply.
#![recursion_limit = "256"]

mod activities;
mod config;
pub mod council;
pub mod data;
pub mod driver;
pub mod gpu;
pub mod http;
mod metrics;
mod ready;
pub mod request;
pub mod steps;
mod worker;
mod workflow;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use temporalio_client::errors::{WorkflowGetResultError, WorkflowStartError};
use temporalio_client::{
    Client, WorkflowGetResultOptions, WorkflowIdReusePolicy, WorkflowStartOptions,
};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;

pub use config::TargetConfig;
pub use metrics::{Counts, Metrics, exposition};
pub use ready::{ComponentStatus, Readiness};
pub use request::{Decision, GpuAllocationRequest};
pub use workflow::GpuAllocationWorkflow;

use crate::gpu::{GpuConfig, GpuCore, GpuError};
use aura_contract::names;
use aura_services::ServiceHub;
use aura_services::namespace::RunId;
use aura_services::trace::{TraceLayer, TraceStore, WorkflowTrace};
use council::{Council, WeightsError};
use steps::{AllocationInput, StepOptions};
use worker::WorkerThread;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("invalid request: {0}")]
    BadRequest(String),
    #[error("request {0} was already submitted in this run")]
    Duplicate(String),
    #[error("temporal: {what}")]
    Temporal {
        what: String,
        #[source]
        source: Cause,
    },
    #[error("temporal worker: {what}")]
    Worker {
        what: String,
        #[source]
        source: Cause,
    },
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Trace(#[from] aura_services::trace::TraceError),
}

/// The error underneath a Temporal or worker failure, kept whole for the message chain.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

impl TargetError {
    pub(crate) fn temporal(what: impl Into<String>, source: impl Into<Cause>) -> Self {
        Self::Temporal {
            what: what.into(),
            source: source.into(),
        }
    }

    pub(crate) fn worker(what: impl Into<String>, source: impl Into<Cause>) -> Self {
        Self::Worker {
            what: what.into(),
            source: source.into(),
        }
    }
}

/// What the steps share: services, council, GPU core, traces and metrics.
pub struct TargetCore {
    pub hub: Arc<ServiceHub>,
    pub config: TargetConfig,
    pub council: Council,
    pub gpu: GpuCore,
    pub traces: Arc<TraceStore>,
    pub metrics: Arc<Metrics>,
    /// The subscriber step spans are recorded in: the trace layer plus the host's log
    /// output, independent of whatever global subscriber the embedding process has.
    dispatch: tracing::Dispatch,
}

/// A submitted request: where to find its workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    pub run_id: String,
    pub request_id: String,
    pub workflow_id: String,
}

/// Where a request stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DecisionState {
    Pending,
    Decided {
        decision: Box<Decision>,
    },
    Failed {
        reason: String,
        /// The step whose activity failed the workflow, when one did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<aura_contract::Step>,
    },
    Unknown,
}

/// The running target: core, worker and a Temporal client to start workflows.
pub struct Target {
    core: Arc<TargetCore>,
    run_id: RunId,
    client: Client,
    worker: Option<WorkerThread>,
    temporal_timeout: Duration,
    /// Where the HTTP API's requests' traces go (`target serve --otlp-endpoint`).
    otlp: std::sync::OnceLock<Arc<aura_services::trace::otlp::OtlpExport>>,
}

/// The step that failed the workflow, from the failure's cause chain: an activity
/// failure's type (a timeout), else the application failure a step raised, typed by
/// its step's name.
fn failed_step(e: &WorkflowGetResultError) -> Option<aura_contract::Step> {
    use temporalio_common::error::IncomingError;
    let WorkflowGetResultError::Failed(failure) = e else {
        return None;
    };
    let mut cause: Option<&IncomingError> = Some(failure);
    while let Some(c) = cause {
        let step = match c {
            IncomingError::Activity(a) => a.activity_type(),
            IncomingError::Application(a) => a.type_name(),
            _ => None,
        };
        if let Some(step) = step.and_then(aura_contract::Step::parse) {
            return Some(step);
        }
        cause = c.cause();
    }
    None
}

impl Target {
    /// Starts the GPU core, the council and the worker for run `run_id`.
    pub async fn start(
        hub: Arc<ServiceHub>,
        config: &TargetConfig,
        gpu: &GpuConfig,
        run_id: RunId,
    ) -> Result<Self, TargetError> {
        let temporal = hub.config().temporal.clone();
        let mut config = config.clone();
        config.task_queue = names::task_queue(&config.task_queue, run_id.as_str());
        let config = &config;
        let gpu = GpuCore::start(gpu)?;
        let council = Council::new(&config.council, gpu.compute.clone())?;
        let traces = TraceStore::persistent(hub.clone(), config.trace_ttl);
        let metrics = Arc::new(Metrics::default());
        let subscriber = tracing_subscriber::registry()
            .with(TraceLayer::new(traces.clone()))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr)
                    .with_filter(
                        tracing_subscriber::EnvFilter::try_from_default_env()
                            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
                    ),
            );
        let core = Arc::new(TargetCore {
            hub,
            config: config.clone(),
            council,
            gpu,
            traces,
            metrics,
            dispatch: tracing::Dispatch::new(subscriber),
        });
        let worker_temporal = match &config.worker_temporal_url {
            Some(url) => aura_services::config::TemporalConfig {
                url: url.clone(),
                ..temporal.clone()
            },
            None => temporal.clone(),
        };
        let worker = WorkerThread::start(core.clone(), worker_temporal).await?;
        let client = worker::client(&temporal).await?;
        Ok(Self {
            core,
            run_id,
            client,
            worker: Some(worker),
            temporal_timeout: temporal.timeout,
            otlp: std::sync::OnceLock::new(),
        })
    }

    pub fn run_id(&self) -> &RunId {
        &self.run_id
    }

    /// Exports the trace of every request the HTTP API takes, once decided, to `otlp`
    /// (set once; later calls are ignored).
    pub fn export_traces(&self, otlp: Arc<aura_services::trace::otlp::OtlpExport>) {
        let _ = self.otlp.set(otlp);
    }

    pub(crate) fn otlp(&self) -> Option<&Arc<aura_services::trace::otlp::OtlpExport>> {
        self.otlp.get()
    }

    pub fn core(&self) -> &Arc<TargetCore> {
        &self.core
    }

    /// Starts the request's workflow; the decision comes later ([`Self::decision`]).
    pub async fn submit(&self, request: GpuAllocationRequest) -> Result<Submitted, TargetError> {
        self.submit_in(&self.run_id, request, &BTreeMap::new())
            .await
    }

    /// [`Self::submit`] in the namespace of `run` (one worker serves any number of
    /// runs; the orchestrator gives each scenario its own), some steps with their own
    /// timeout (a scenario's `step_timeouts`) instead of the configured `step_timeout`.
    pub async fn submit_in(
        &self,
        run: &RunId,
        request: GpuAllocationRequest,
        step_timeouts: &BTreeMap<String, Duration>,
    ) -> Result<Submitted, TargetError> {
        aura_contract::check_request_id(&request.request_id)
            .map_err(|e| TargetError::BadRequest(e.to_string()))?;
        let run_id = run.to_string();
        let workflow_id = names::workflow_id(&run_id, &request.request_id);
        let c = &self.core.config;
        let input = AllocationInput {
            run_id: run_id.clone(),
            submitted_at: chrono::Utc::now().timestamp_millis(),
            options: StepOptions {
                timeout_ms: c.step_timeout.as_millis() as u64,
                attempts: c.step_attempts,
                retry_interval_ms: c.retry_interval.as_millis() as u64,
                step_timeouts_ms: step_timeouts
                    .iter()
                    .map(|(step, t)| (step.clone(), t.as_millis() as u64))
                    .collect(),
            },
            request: request.clone(),
        };
        // A request decided once is never started again under its id (a worker of a
        // distributed run that stalled between claiming and starting it); one whose
        // workflow failed may be, which is what a recovery strategy's retry does.
        let options = WorkflowStartOptions::new(c.task_queue.clone(), workflow_id.clone())
            .id_reuse_policy(WorkflowIdReusePolicy::AllowDuplicateFailedOnly)
            .build();
        let started = tokio::time::timeout(
            self.temporal_timeout,
            self.client
                .start_workflow(GpuAllocationWorkflow::run, input, options),
        )
        .await
        .map_err(|e| {
            TargetError::temporal(
                format!(
                    "start {workflow_id}: no answer within {:?}",
                    self.temporal_timeout
                ),
                e,
            )
        })?;
        match started {
            Ok(_) => {}
            Err(WorkflowStartError::AlreadyStarted { .. }) => {
                return Err(TargetError::Duplicate(request.request_id));
            }
            Err(e) => return Err(TargetError::temporal(format!("start {workflow_id}"), e)),
        }
        self.core.metrics.request();
        Ok(Submitted {
            run_id,
            request_id: request.request_id,
            workflow_id,
        })
    }

    /// The request's decision, waiting up to `wait` for a running workflow.
    pub async fn decision(
        &self,
        request_id: &str,
        wait: Duration,
    ) -> Result<DecisionState, TargetError> {
        self.decision_in(&self.run_id, request_id, wait).await
    }

    pub async fn decision_in(
        &self,
        run: &RunId,
        request_id: &str,
        wait: Duration,
    ) -> Result<DecisionState, TargetError> {
        let workflow_id = names::workflow_id(run.as_str(), request_id);
        let handle = self
            .client
            .get_workflow_handle::<GpuAllocationWorkflow>(workflow_id.clone());
        let outcome =
            tokio::time::timeout(wait, handle.get_result(WorkflowGetResultOptions::default()))
                .await;
        match outcome {
            Err(_) => Ok(DecisionState::Pending),
            Ok(Ok(decision)) => Ok(DecisionState::Decided {
                decision: Box::new(decision),
            }),
            Ok(Err(WorkflowGetResultError::NotFound(_))) => Ok(DecisionState::Unknown),
            // The server not answering says nothing about the workflow.
            Ok(Err(e @ (WorkflowGetResultError::Rpc(_) | WorkflowGetResultError::Other(_)))) => {
                Err(TargetError::temporal(format!("result of {workflow_id}"), e))
            }
            Ok(Err(e)) => Ok(DecisionState::Failed {
                reason: aura_services::error_chain(&e),
                step: failed_step(&e),
            }),
        }
    }

    /// The request's WorkflowTrace: this process's copy, else the stored one.
    pub async fn trace(&self, request_id: &str) -> Result<Option<WorkflowTrace>, TargetError> {
        self.trace_in(&self.run_id, request_id).await
    }

    pub async fn trace_in(
        &self,
        run: &RunId,
        request_id: &str,
    ) -> Result<Option<WorkflowTrace>, TargetError> {
        if let Some(t) = self.core.traces.get(run.as_str(), request_id) {
            return Ok(Some(t));
        }
        let cache = self
            .core
            .hub
            .cache()
            .await
            .map_err(aura_services::trace::TraceError::from)?;
        Ok(aura_services::trace::load(cache.as_ref(), run.as_str(), request_id).await?)
    }

    pub async fn readiness(&self) -> Readiness {
        ready::check(self).await
    }

    pub fn metrics_text(&self) -> String {
        self.core.metrics.encode()
    }

    pub fn worker_running(&self) -> bool {
        self.worker.as_ref().is_some_and(WorkerThread::running)
    }

    /// Stops the worker (running activities finish first).
    pub async fn stop(mut self) {
        if let Some(w) = self.worker.take() {
            w.stop().await;
        }
    }
}
