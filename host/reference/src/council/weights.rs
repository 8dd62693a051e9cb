//! Agent weights: drawn from a seed (SplitMix64, so every platform draws the same numbers)
//! or loaded from a JSON file `{"agents": [[f32; WEIGHTS_PER_AGENT], ...]}`.

use std::path::Path;

use super::features;
use crate::gpu::cfc::{
    BIAS, F, G, H, HEAD, HIDDEN, INPUTS, READ_INPUT, READ_STATE, WEIGHTS_PER_AGENT, Z,
};

/// The policy every agent starts from, over the request's own features: favour high
/// priority, disfavour many GPUs, much memory and long leases. Each agent's random part
/// (state readout and a perturbation of this) makes the agents disagree at the margin.
const POLICY: [f32; INPUTS] = {
    let mut p = [0.0; INPUTS];
    p[features::GPU_COUNT] = -2.0;
    p[features::MEMORY] = -0.5;
    p[features::PRIORITY] = 3.0;
    p[features::DURATION] = -0.5;
    p
};
const POLICY_BIAS: f32 = 0.3;

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("council weights {path}: {reason}")]
    File { path: String, reason: String },
}

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-scale, scale), from the top 24 bits (exact in f32).
    fn uniform(&mut self, scale: f32) -> f32 {
        let unit = (self.next() >> 40) as f32 / (1u64 << 24) as f32;
        (unit * 2.0 - 1.0) * scale
    }
}

/// Weights for `agents` agents from `seed`; agent `a` uses stream `seed + a`.
pub fn seeded(seed: u64, agents: usize) -> Vec<f32> {
    let mut all = Vec::with_capacity(agents * WEIGHTS_PER_AGENT);
    for a in 0..agents {
        let mut rng = SplitMix64(seed.wrapping_add(a as u64));
        let mut w = vec![0f32; WEIGHTS_PER_AGENT];
        let fan_in = 1.0 / (Z as f32).sqrt();
        for head in [F, G, H] {
            for v in &mut w[head..head + HIDDEN * Z] {
                *v = rng.uniform(fan_in);
            }
            for v in &mut w[head + HIDDEN * Z..head + HEAD] {
                *v = rng.uniform(0.1);
            }
        }
        for v in &mut w[READ_STATE..READ_INPUT] {
            *v = rng.uniform(0.5);
        }
        for (i, v) in w[READ_INPUT..BIAS].iter_mut().enumerate() {
            *v = POLICY[i] * (1.0 + rng.uniform(0.2));
        }
        w[BIAS] = POLICY_BIAS + rng.uniform(0.2);
        all.extend_from_slice(&w);
    }
    all
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightsFile {
    agents: Vec<Vec<f32>>,
}

/// Weights from a file; the number of agents is the file's.
pub fn load(path: &Path) -> Result<(Vec<f32>, usize), WeightsError> {
    let err = |reason: String| WeightsError::File {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let file: WeightsFile = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    if file.agents.is_empty() {
        return Err(err("no agents".into()));
    }
    let mut all = Vec::with_capacity(file.agents.len() * WEIGHTS_PER_AGENT);
    for (i, agent) in file.agents.iter().enumerate() {
        if agent.len() != WEIGHTS_PER_AGENT {
            return Err(err(format!(
                "agent {i} has {} weights, expected {WEIGHTS_PER_AGENT}",
                agent.len()
            )));
        }
        if let Some(bad) = agent.iter().position(|v| !v.is_finite()) {
            return Err(err(format!(
                "agent {i} weight {bad} is not a finite number"
            )));
        }
        all.extend_from_slice(agent);
    }
    Ok((all, file.agents.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_weights() {
        assert_eq!(seeded(7, 3), seeded(7, 3));
        assert_ne!(seeded(7, 3), seeded(8, 3));
        assert_eq!(seeded(7, 3).len(), 3 * WEIGHTS_PER_AGENT);
    }

    #[test]
    fn a_file_with_the_wrong_shape_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.json");
        std::fs::write(&path, r#"{"agents": [[1.0, 2.0]]}"#).expect("write");
        let e = load(&path).expect_err("short agent").to_string();
        assert!(e.contains("w.json") && e.contains("expected"), "{e}");
    }
}
