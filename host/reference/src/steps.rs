//! The seven steps of a GPU allocation, as plain async functions over the service layer.
//! `activities` runs each as a Temporal activity inside a traced span; nothing here
//! knows about Temporal.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::TargetCore;
use super::council::{Case, Verdict};
use super::request::{
    AllocatedDevice, ContextEntry, Decision, Denial, DenialClass, GpuAllocationRequest,
};
use crate::gpu::GpuError;
use aura_contract::Step;
use aura_contract::names::{self, RUN_ID_HEADER};
use aura_services::{OutgoingEvent, ServiceError};

pub const MAX_GPUS_PER_REQUEST: u32 = 8;
pub const MAX_DURATION_MINUTES: u32 = 7 * 24 * 60;

/// What every step knows: the run, the request and when it was submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocationInput {
    pub run_id: String,
    pub request: GpuAllocationRequest,
    pub submitted_at: i64,
    pub options: StepOptions,
}

/// Per-step policy, chosen by whoever submits (so the workflow code stays pure).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepOptions {
    pub timeout_ms: u64,
    pub attempts: u32,
    pub retry_interval_ms: u64,
    /// Steps with their own timeout (a scenario's `step_timeouts`), else `timeout_ms`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub step_timeouts_ms: BTreeMap<String, u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("council inference")]
    Council(#[from] GpuError),
    #[error("{step} did not finish within {timeout_ms} ms{}", waiting_on.as_ref().map(|s| format!(", waiting on {s}")).unwrap_or_default())]
    Timeout {
        step: String,
        timeout_ms: u64,
        /// The store the step talks to, with its address: the cause, not the symptom.
        waiting_on: Option<String>,
    },
    #[error("{0}")]
    Data(String),
}

impl StepError {
    /// The service that failed, for metrics.
    pub fn service(&self) -> &'static str {
        match self {
            Self::Service(e) => e.service.name(),
            Self::Council(_) => "gpu",
            Self::Timeout { .. } => "timeout",
            Self::Data(_) => "data",
        }
    }

    /// Worth retrying: a service may come back, a malformed value will not.
    pub fn retryable(&self) -> bool {
        !matches!(self, Self::Data(_))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checked {
    pub denial: Option<Denial>,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CouncilInput {
    pub input: AllocationInput,
    pub window: Vec<ContextEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CouncilOutput {
    pub verdict: Verdict,
    pub backend: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    pub devices: Vec<AllocatedDevice>,
    pub denial: Option<Denial>,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersistInput {
    pub decision: Decision,
    /// Steps the workflow did not run, recorded in the trace as skipped.
    pub skipped: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Published {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn deny(class: DenialClass, message: impl Into<String>) -> Option<Denial> {
    Some(Denial {
        class,
        message: message.into(),
    })
}

impl TargetCore {
    pub fn validate(&self, input: &AllocationInput) -> Checked {
        let r = &input.request;
        let models: Vec<&str> = self.gpu.devices.iter().map(|d| d.model.as_str()).collect();
        let denial = if r.team.trim().is_empty() || r.team.len() > 64 {
            deny(DenialClass::InvalidRequest, "team must be 1-64 characters")
        } else if !(1..=MAX_GPUS_PER_REQUEST).contains(&r.gpu_count) {
            deny(
                DenialClass::InvalidRequest,
                format!(
                    "gpu_count {} is outside 1-{MAX_GPUS_PER_REQUEST}",
                    r.gpu_count
                ),
            )
        } else if r.memory_gb == 0 {
            deny(DenialClass::InvalidRequest, "memory_gb must be at least 1")
        } else if !(1..=10).contains(&r.priority) {
            deny(
                DenialClass::InvalidRequest,
                format!("priority {} is outside 1-10", r.priority),
            )
        } else if !(1..=MAX_DURATION_MINUTES).contains(&r.duration_minutes) {
            deny(
                DenialClass::InvalidRequest,
                format!(
                    "duration_minutes {} is outside 1-{MAX_DURATION_MINUTES}",
                    r.duration_minutes
                ),
            )
        } else if let Some(m) = r.gpu_model.as_deref().filter(|m| !models.contains(m)) {
            let mut known = models.clone();
            known.sort_unstable();
            known.dedup();
            deny(
                DenialClass::InvalidRequest,
                format!(
                    "gpu_model '{m}' is not in the inventory (known: {})",
                    known.join(", ")
                ),
            )
        } else {
            None
        };
        Checked {
            denial,
            at: now_ms(),
        }
    }

    pub async fn load_context(
        &self,
        input: &AllocationInput,
    ) -> Result<Vec<ContextEntry>, StepError> {
        let cache = self.hub.cache().await?;
        let n = self.config.council.context_window.min(16);
        let raw = cache
            .list_head(&names::context_key(&input.run_id), n)
            .await?;
        let mut window = Vec::with_capacity(raw.len());
        for item in raw {
            match serde_json::from_str(&item) {
                Ok(entry) => window.push(entry),
                Err(e) => {
                    tracing::warn!(target: "aura::target", "skipping a malformed context entry: {e}")
                }
            }
        }
        Ok(window)
    }

    pub fn council_vote(&self, c: &CouncilInput) -> Result<CouncilOutput, StepError> {
        let case = Case {
            request: &c.input.request,
            submitted_at_ms: c.input.submitted_at,
            window: &c.window,
        };
        let (mut verdicts, elapsed) = self.council.decide(std::slice::from_ref(&case))?;
        self.metrics
            .council_latency(self.council.backend(), elapsed);
        let verdict = verdicts
            .pop()
            .ok_or_else(|| StepError::Data("the council returned no verdict".into()))?;
        Ok(CouncilOutput {
            verdict,
            backend: self.council.backend().into(),
            at: now_ms(),
        })
    }

    pub async fn allocate(&self, input: &AllocationInput) -> Result<Allocation, StepError> {
        let r = &input.request;
        let matching: Vec<_> = self
            .gpu
            .devices
            .iter()
            .filter(|d| d.healthy() && d.memory_gb >= r.memory_gb)
            .filter(|d| r.gpu_model.as_deref().is_none_or(|m| m == d.model))
            .collect();
        let short = |message: String| Allocation {
            devices: Vec::new(),
            denial: deny(DenialClass::CapacityShort, message),
            at: now_ms(),
        };
        if (matching.len() as u32) < r.gpu_count {
            return Ok(short(format!(
                "{} device(s) match (model {}, ≥{} GB), {} requested",
                matching.len(),
                r.gpu_model.as_deref().unwrap_or("any"),
                r.memory_gb,
                r.gpu_count
            )));
        }
        let keys: Vec<String> = matching
            .iter()
            .map(|d| names::lease_key(&input.run_id, &d.id))
            .collect();
        let ttl = std::time::Duration::from_secs(r.duration_minutes as u64 * 60);
        let cache = self.hub.cache().await?;
        let leased = cache
            .lease(&keys, r.gpu_count as usize, &r.request_id, ttl)
            .await?;
        if leased.is_empty() {
            return Ok(short(format!(
                "{} matching device(s), fewer than {} free",
                matching.len(),
                r.gpu_count
            )));
        }
        let by_key: BTreeMap<&String, _> = keys.iter().zip(&matching).collect();
        let devices = leased
            .iter()
            .filter_map(|k| by_key.get(k))
            .map(|d| AllocatedDevice {
                id: d.id.clone(),
                model: d.model.clone(),
                memory_gb: d.memory_gb,
            })
            .collect();
        Ok(Allocation {
            devices,
            denial: None,
            at: now_ms(),
        })
    }

    /// Gives back the leases `d`'s request holds; how many were released.
    pub async fn release(&self, d: &Decision) -> Result<u64, StepError> {
        let keys: Vec<String> = d
            .devices
            .iter()
            .map(|g| names::lease_key(&d.run_id, &g.id))
            .collect();
        let cache = self.hub.cache().await?;
        Ok(cache.release(&keys, &d.request_id).await?)
    }

    pub async fn persist(&self, p: &PersistInput) -> Result<(), StepError> {
        let graph = self.hub.run_graph(&p.decision.run_id).await?;
        let rows = graph
            .query(super::data::persist_decision(&p.decision))
            .await?;
        if rows.is_empty() {
            return Err(StepError::Data("the graph wrote no Decision node".into()));
        }
        Ok(())
    }

    pub async fn cache_context(&self, d: &Decision) -> Result<(), StepError> {
        let cache = self.hub.cache().await?;
        let ttl = self.config.context_ttl;
        cache
            .set(
                &names::decision_key(&d.run_id, &d.request_id),
                &to_json(d)?,
                Some(ttl),
            )
            .await?;
        let keep = self.config.council.context_window.clamp(1, 16);
        cache
            .push_capped(
                &names::context_key(&d.run_id),
                &to_json(&d.context_entry())?,
                keep,
                ttl,
            )
            .await?;
        Ok(())
    }

    pub async fn publish(&self, d: &Decision) -> Result<Published, StepError> {
        let events = self.hub.events().await?;
        let topic = names::decided_topic(&d.run_id);
        events.ensure_topic(&topic, 1).await?;
        let payload = serde_json::to_vec(d).map_err(|e| StepError::Data(e.to_string()))?;
        let (partition, offset) = events
            .publish(OutgoingEvent {
                topic: topic.clone(),
                key: d.request_id.clone(),
                payload,
                headers: BTreeMap::from([(RUN_ID_HEADER.to_string(), d.run_id.clone())]),
            })
            .await?;
        Ok(Published {
            topic,
            partition,
            offset,
        })
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StepError> {
    serde_json::to_string(value).map_err(|e| StepError::Data(e.to_string()))
}
