//! A scenario generator that produces a burst of GPU-allocation requests from a seed.
//! A burst of mixed requests (teams, sizes, priorities) arriving at once is what stresses
//! the allocator's queueing and fairness; generating it from a seed, rather than writing
//! it by hand, gives any size of scenario while keeping every run reproducible: the same
//! seed always yields the same requests.
//!
//! Configuration (every key optional):
//!
//! ```toml
//! requests = 8                                   # 1..=10000
//! teams = ["ml-research", "inference", "platform"]
//! max_gpus = 4                                   # gpu_count is drawn from 1..=max_gpus
//! ```

use aura_sdk::generator::Guest;
use aura_sdk::{GeneratedScenario, GpuRequest, PluginError, RunContext, export_scenario_generator};
use serde::Deserialize;

const MAX_REQUESTS: u32 = 10_000;
const MEMORY_GB: [u32; 3] = [16, 40, 80];

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    requests: u32,
    teams: Vec<String>,
    max_gpus: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            requests: 8,
            teams: ["ml-research", "inference", "platform"]
                .map(String::from)
                .to_vec(),
            max_gpus: 4,
        }
    }
}

impl Config {
    fn check(&self) -> Result<(), PluginError> {
        if self.requests == 0 || self.requests > MAX_REQUESTS {
            return Err(PluginError::Config(format!(
                "requests must be 1..={MAX_REQUESTS}, got {}",
                self.requests
            )));
        }
        if self.teams.is_empty() {
            return Err(PluginError::Config(
                "teams must name at least one team".to_string(),
            ));
        }
        if self.max_gpus == 0 {
            return Err(PluginError::Config(
                "max_gpus must be at least 1".to_string(),
            ));
        }
        Ok(())
    }
}

/// SplitMix64: tiny, fast and fully determined by its seed; plenty for test data.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`), by multiply-shift; the bias is negligible here.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// A value in `lo..=hi`.
    fn between(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below(u64::from(hi - lo) + 1) as u32
    }
}

fn requests(scenario: &str, config: &Config, seed: u64) -> Vec<GpuRequest> {
    let mut rng = SplitMix64(seed);
    (1..=config.requests)
        .map(|i| GpuRequest {
            request_id: format!("{scenario}-{i:03}"),
            team: config.teams[rng.below(config.teams.len() as u64) as usize].clone(),
            gpu_count: rng.between(1, config.max_gpus),
            gpu_model: (rng.next() & 1 == 0).then(|| "A100".to_string()),
            memory_gb: MEMORY_GB[rng.below(MEMORY_GB.len() as u64) as usize],
            priority: rng.between(1, 10) as u8,
            duration_minutes: rng.between(15, 240),
        })
        .collect()
}

struct BurstGenerator;

impl Guest for BurstGenerator {
    fn generate(ctx: RunContext, seed: u64) -> Result<GeneratedScenario, PluginError> {
        let config: Config = ctx.config()?;
        config.check()?;
        Ok(GeneratedScenario {
            id: ctx.scenario.clone(),
            name: format!("burst of {} requests", config.requests),
            description: format!(
                "{} GPU requests from {} teams arriving at once, generated from seed {seed}",
                config.requests,
                config.teams.len()
            ),
            requests: requests(&ctx.scenario, &config, seed),
        })
    }
}

export_scenario_generator!(BurstGenerator);

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(requests: &[GpuRequest]) -> Vec<String> {
        requests.iter().map(|r| format!("{r:?}")).collect()
    }

    #[test]
    fn same_seed_same_burst_within_bounds() {
        let config = Config::default();
        let a = requests("burst", &config, 42);
        assert_eq!(summary(&a), summary(&requests("burst", &config, 42)));
        assert_ne!(summary(&a), summary(&requests("burst", &config, 43)));
        assert_eq!(a.len(), 8);
        assert_eq!(a[0].request_id, "burst-001");
        for r in &a {
            assert!(config.teams.contains(&r.team));
            assert!((1..=4).contains(&r.gpu_count));
            assert!(MEMORY_GB.contains(&r.memory_gb));
            assert!((1..=10).contains(&r.priority));
            assert!((15..=240).contains(&r.duration_minutes));
        }
    }

    #[test]
    fn rejects_empty_or_oversized_bursts() {
        for bad in [
            Config {
                requests: 0,
                ..Config::default()
            },
            Config {
                requests: MAX_REQUESTS + 1,
                ..Config::default()
            },
            Config {
                teams: vec![],
                ..Config::default()
            },
        ] {
            assert!(matches!(bad.check(), Err(PluginError::Config(_))));
        }
        assert!(Config::default().check().is_ok());
    }
}
