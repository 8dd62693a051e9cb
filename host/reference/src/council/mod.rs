//! The LNN council: N agents, each a small CfC network ([`cfc`]) with seeded (or loaded)
//! weights, scoring a request against the context window; their votes are combined by
//! the rule in [`consensus`]. Inference is batched and runs on CUDA when the GPU core
//! offers it, otherwise on the CPU; both give the same logits within
//! [`crate::gpu::LOGIT_TOLERANCE`].

mod consensus;
mod features;
mod weights;

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use consensus::{Verdict, Vote};
pub use weights::WeightsError;

use crate::gpu::{Compute, ComputeError, cfc};
use crate::request::{ContextEntry, GpuAllocationRequest};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CouncilConfig {
    pub agents: usize,
    pub seed: u64,
    /// A JSON weights file (`{"agents": [[...], ...]}`); overrides `agents` and `seed`.
    pub weights: Option<std::path::PathBuf>,
    /// Agents whose confidence is below this abstain.
    pub abstain_below: f32,
    /// Past decisions the council reads (at most 16).
    pub context_window: usize,
}

impl Default for CouncilConfig {
    fn default() -> Self {
        Self {
            agents: 5,
            seed: 42,
            weights: None,
            abstain_below: 0.05,
            context_window: 8,
        }
    }
}

/// One request to score: the request, when it was submitted, and the context window.
pub struct Case<'a> {
    pub request: &'a GpuAllocationRequest,
    pub submitted_at_ms: i64,
    pub window: &'a [ContextEntry],
}

pub struct Council {
    weights: Vec<f32>,
    agents: usize,
    abstain_below: f32,
    compute: Arc<Compute>,
}

impl Council {
    pub fn new(config: &CouncilConfig, compute: Arc<Compute>) -> Result<Self, WeightsError> {
        let (weights, agents) = match &config.weights {
            Some(path) => weights::load(path)?,
            None => (weights::seeded(config.seed, config.agents), config.agents),
        };
        Ok(Self {
            weights,
            agents,
            abstain_below: config.abstain_below,
            compute,
        })
    }

    pub fn agents(&self) -> usize {
        self.agents
    }

    pub fn backend(&self) -> &'static str {
        self.compute.name()
    }

    pub fn agent_id(a: usize) -> String {
        format!("agent-{a}")
    }

    /// The input batch of `cases`, as both backends read it.
    pub fn batch(cases: &[Case<'_>]) -> cfc::Batch {
        let mut batch = cfc::Batch::default();
        for c in cases {
            batch.push(&features::sequence(c.request, c.submitted_at_ms, c.window));
        }
        batch
    }

    /// Logits `[case][agent]` on the configured backend.
    pub fn logits(&self, batch: &cfc::Batch) -> Result<Vec<f32>, ComputeError> {
        self.compute
            .council_logits(&self.weights, self.agents, batch)
    }

    /// Logits on the CPU whatever the backend (the reference the GPU is checked against).
    pub fn logits_cpu(&self, batch: &cfc::Batch) -> Vec<f32> {
        cfc::forward_all(&self.weights, self.agents, batch)
    }

    /// Verdicts for a batch of cases, and how long inference took.
    pub fn decide(
        &self,
        cases: &[Case<'_>],
    ) -> Result<(Vec<Verdict>, std::time::Duration), ComputeError> {
        let started = Instant::now();
        let logits = self.logits(&Self::batch(cases))?;
        let elapsed = started.elapsed();
        let verdicts = logits
            .chunks(self.agents.max(1))
            .map(|row| {
                let votes = row
                    .iter()
                    .enumerate()
                    .map(|(a, l)| consensus::vote(Self::agent_id(a), *l, self.abstain_below))
                    .collect();
                consensus::decide(votes)
            })
            .collect();
        Ok((verdicts, elapsed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::Compute;

    fn request() -> GpuAllocationRequest {
        GpuAllocationRequest {
            request_id: "r".into(),
            team: "t".into(),
            gpu_count: 2,
            gpu_model: None,
            memory_gb: 40,
            priority: 7,
            duration_minutes: 90,
        }
    }

    #[test]
    fn same_inputs_same_verdict_across_councils() {
        let window = vec![ContextEntry {
            request_id: "p".into(),
            team: "t".into(),
            gpu_count: 4,
            memory_gb: 80,
            priority: 3,
            duration_minutes: 600,
            approved: true,
            devices: 4,
            decided_at: 1_000,
        }];
        let r = request();
        let case = || Case {
            request: &r,
            submitted_at_ms: 121_000,
            window: &window,
        };
        let a = Council::new(&CouncilConfig::default(), Arc::new(Compute::Cpu)).expect("a");
        let b = Council::new(&CouncilConfig::default(), Arc::new(Compute::Cpu)).expect("b");
        let (va, _) = a.decide(&[case()]).expect("a decides");
        let (vb, _) = b.decide(&[case()]).expect("b decides");
        assert_eq!(va, vb);
        assert_eq!(va[0].votes.len(), 5);
        let (again, _) = a.decide(&[case()]).expect("again");
        assert_eq!(va, again);
    }

    #[test]
    fn the_context_window_changes_the_logits() {
        let r = request();
        let council = Council::new(&CouncilConfig::default(), Arc::new(Compute::Cpu)).expect("c");
        let empty = Council::batch(&[Case {
            request: &r,
            submitted_at_ms: 0,
            window: &[],
        }]);
        let busy_window: Vec<ContextEntry> = (0..8)
            .map(|i| ContextEntry {
                request_id: format!("p{i}"),
                team: "t".into(),
                gpu_count: 8,
                memory_gb: 80,
                priority: 9,
                duration_minutes: 600,
                approved: true,
                devices: 8,
                decided_at: i * 1000,
            })
            .collect();
        let busy = Council::batch(&[Case {
            request: &r,
            submitted_at_ms: 9000,
            window: &busy_window,
        }]);
        assert_ne!(council.logits_cpu(&empty), council.logits_cpu(&busy));
    }
}
