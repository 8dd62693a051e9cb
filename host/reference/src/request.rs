//! The target's data: requests, the context window and decisions. These are the JSON
//! shapes of the HTTP API, of the Temporal workflow's input and result, of the Redis
//! values and of the Kafka payload (`docs/data-model.md`).

use serde::{Deserialize, Serialize};

use super::council::Vote;

/// A GPUAllocationRequest. Semantic limits (counts, priority range, known models) are
/// checked by the workflow's first step, so a bad request is a denial, not an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuAllocationRequest {
    pub request_id: String,
    pub team: String,
    pub gpu_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_model: Option<String>,
    /// Memory each allocated device must have, in GB.
    pub memory_gb: u32,
    /// 1 (lowest) to 10.
    pub priority: u32,
    pub duration_minutes: u32,
}

/// A past decision as the council remembers it (the Redis context window).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextEntry {
    pub request_id: String,
    pub team: String,
    pub gpu_count: u32,
    pub memory_gb: u32,
    pub priority: u32,
    pub duration_minutes: u32,
    pub approved: bool,
    pub devices: u32,
    /// Milliseconds since the Unix epoch.
    pub decided_at: i64,
}

pub use aura_contract::{DenialClass, Outcome};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    pub class: DenialClass,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocatedDevice {
    pub id: String,
    pub model: String,
    pub memory_gb: u32,
}

/// The workflow's result, persisted to the graph, cached in Redis and published on Kafka.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub run_id: String,
    pub request_id: String,
    pub workflow_id: String,
    pub outcome: Outcome,
    pub denial: Option<Denial>,
    /// Empty when the request was invalid (the council never met).
    pub votes: Vec<Vote>,
    pub quorum: bool,
    pub approve_weight: f32,
    pub deny_weight: f32,
    pub devices: Vec<AllocatedDevice>,
    /// Milliseconds since the Unix epoch, from the step that decided.
    pub decided_at: i64,
    pub request: GpuAllocationRequest,
}

impl Decision {
    pub fn approved(&self) -> bool {
        self.outcome == Outcome::Approved
    }

    pub fn context_entry(&self) -> ContextEntry {
        let r = &self.request;
        ContextEntry {
            request_id: r.request_id.clone(),
            team: r.team.clone(),
            gpu_count: r.gpu_count,
            memory_gb: r.memory_gb,
            priority: r.priority,
            duration_minutes: r.duration_minutes,
            approved: self.approved(),
            devices: self.devices.len() as u32,
            decided_at: self.decided_at,
        }
    }
}
