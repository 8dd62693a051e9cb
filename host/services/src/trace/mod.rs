//! The Workflow Trace Manager's data (seed 000): a WorkflowTrace per request, made of
//! TraceSteps. Traces are stored as JSON in Redis under the run's namespace
//! (`aura:<run-id>:trace:<request-id>`), so the process that ran the workflow and the one
//! that validates or prints it need not be the same, or on the same machine.

mod layer;
pub mod otlp;
mod store;

use serde::{Deserialize, Serialize};

pub use layer::{STEP_SPAN, TraceLayer};
pub use store::{StepEdge, StepEnd, StepHook, StepObserver, StepPhase, StepStart, TraceStore};

use aura_contract::names;

use crate::{Cache, ServiceError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceStep {
    pub step_name: String,
    pub component: String,
    /// Milliseconds since the Unix epoch.
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub input_data: serde_json::Value,
    pub output_data: serde_json::Value,
    pub status: StepStatus,
    pub error_details: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowTrace {
    pub request_id: String,
    pub start_time: i64,
    pub steps: Vec<TraceStep>,
    pub current_step: Option<String>,
    pub completion_status: StepStatus,
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("trace {key} is not a WorkflowTrace")]
    Malformed {
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The stored trace of `request_id` in `run_id`, if there is one.
pub async fn load(
    cache: &dyn Cache,
    run_id: &str,
    request_id: &str,
) -> Result<Option<WorkflowTrace>, TraceError> {
    let key = names::trace_key(run_id, request_id);
    let Some(text) = cache.get(&key).await? else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| TraceError::Malformed { key, source })
}

/// The runs that hold a trace of `request_id`.
pub async fn runs_with(cache: &dyn Cache, request_id: &str) -> Result<Vec<String>, ServiceError> {
    let escaped = crate::redis::escape_glob(request_id);
    let suffix = names::trace_suffix(request_id);
    let keys = cache
        .scan_match(&names::trace_key("*", &escaped), 100)
        .await?;
    let mut runs: Vec<String> = keys
        .iter()
        .filter(|k| k.ends_with(&suffix))
        .filter_map(|k| names::run_of_key(k))
        .map(str::to_string)
        .collect();
    runs.sort();
    Ok(runs)
}
