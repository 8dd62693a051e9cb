use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use aura_services::config::ConfigError;

use super::council::CouncilConfig;
use aura_contract::Step;

/// `[target]` in aura.toml: the reference GPU-allocation service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetConfig {
    /// Temporal task queue base: each run polls and starts its workflows on its own
    /// queue, `<task_queue>-<run>` (`names::task_queue`).
    pub task_queue: String,
    /// How long a decision and the context window stay in Redis.
    #[serde(with = "humantime_serde")]
    pub context_ttl: Duration,
    /// How long a WorkflowTrace stays in Redis.
    #[serde(with = "humantime_serde")]
    pub trace_ttl: Duration,
    /// Start-to-close timeout of each step (activity) attempt.
    #[serde(with = "humantime_serde")]
    pub step_timeout: Duration,
    /// Attempts per step, the first included (Temporal retry policy).
    pub step_attempts: u32,
    /// Delay before the first retry; doubles per retry.
    #[serde(with = "humantime_serde")]
    pub retry_interval: Duration,
    /// A pause before every step. Zero in normal use; tests and chaos scenarios set it
    /// to widen the window in which a fault lands mid-request.
    #[serde(with = "humantime_serde")]
    pub step_pause: Duration,
    /// A pause before one step only, on top of `step_pause` (`persist_decision =
    /// "1s"`): the monitor's fire drill slows one step this way.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub step_pauses: BTreeMap<Step, humantime_serde::Serde<Duration>>,
    pub council: CouncilConfig,
    /// Where the worker reaches Temporal, when not at `services.temporal.url` (the
    /// chaos engine puts a fault proxy in front of the worker alone to stall it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_temporal_url: Option<String>,
}

impl Default for TargetConfig {
    fn default() -> Self {
        Self {
            task_queue: "aura-gpu-allocation".into(),
            context_ttl: Duration::from_secs(3600),
            trace_ttl: Duration::from_secs(7 * 24 * 3600),
            step_timeout: Duration::from_secs(10),
            step_attempts: 3,
            retry_interval: Duration::from_millis(200),
            step_pause: Duration::ZERO,
            step_pauses: BTreeMap::new(),
            council: CouncilConfig::default(),
            worker_temporal_url: None,
        }
    }
}

impl TargetConfig {
    /// The pause before `step` (`step_pause`, plus its own).
    pub fn pause_before(&self, step: &str) -> Duration {
        let own = Step::parse(step)
            .and_then(|s| self.step_pauses.get(&s))
            .map_or(Duration::ZERO, |d| **d);
        self.step_pause + own
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, reason: &str| {
            Err(ConfigError::Invalid {
                field: field.into(),
                reason: reason.into(),
            })
        };
        if self.council.weights.is_none() && self.council.agents == 0 {
            return invalid(
                "target.council.agents",
                "the council needs at least one agent",
            );
        }
        if !(1..=16).contains(&self.council.context_window) {
            return invalid("target.council.context_window", "must be 1-16");
        }
        if !(0.0..1.0).contains(&self.council.abstain_below) {
            return invalid("target.council.abstain_below", "must be in [0, 1)");
        }
        if self.step_attempts == 0 {
            return invalid("target.step_attempts", "at least one attempt is needed");
        }
        if self.step_timeout.is_zero() {
            return invalid(
                "target.step_timeout",
                "a timeout of zero would fail every step",
            );
        }
        Ok(())
    }
}
