//! The Workflow Trace Manager's data (seed 000): a WorkflowTrace per request, made of
//! TraceSteps. Traces are stored as JSON in Redis under the run's namespace
//! (`aura:<run-id>:trace:<request-id>`), so the process that ran the workflow and the one
//! that validates or prints it need not be the same, or on the same machine.

mod layer;
mod store;

use serde::{Deserialize, Serialize};

pub use layer::{STEP_SPAN, TraceLayer};
pub use store::{StepEnd, StepObserver, StepStart, TraceStore};

use crate::services::{Cache, ServiceError};

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

/// The Redis key of a request's trace in a run.
pub fn key(run_id: &str, request_id: &str) -> String {
    format!("aura:{run_id}:trace:{request_id}")
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("trace {key} is not a WorkflowTrace: {reason}")]
    Malformed { key: String, reason: String },
}

/// The stored trace of `request_id` in `run_id`, if there is one.
pub async fn load(
    cache: &dyn Cache,
    run_id: &str,
    request_id: &str,
) -> Result<Option<WorkflowTrace>, TraceError> {
    let key = key(run_id, request_id);
    let Some(text) = cache.get(&key).await? else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| TraceError::Malformed {
            key,
            reason: e.to_string(),
        })
}

/// The runs that hold a trace of `request_id`.
pub async fn runs_with(cache: &dyn Cache, request_id: &str) -> Result<Vec<String>, ServiceError> {
    let escaped = crate::services::redis::escape_glob(request_id);
    let suffix = format!(":trace:{request_id}");
    let keys = cache
        .scan_match(&format!("aura:*:trace:{escaped}"), 100)
        .await?;
    let mut runs: Vec<String> = keys
        .iter()
        .filter_map(|k| k.strip_prefix("aura:")?.strip_suffix(&suffix))
        .map(str::to_string)
        .collect();
    runs.sort();
    Ok(runs)
}
