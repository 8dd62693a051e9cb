//! A scenario generator that returns what no generator should, for the host's sandbox
//! tests only (never shipped). `[config] mode` picks it:
//!
//! - `"huge-model"`: one request whose `gpu-model` is 30 MiB of text;
//! - `"forged"`: a request whose team and model carry newlines and escape sequences.

use aura_sdk::generator::Guest;
use aura_sdk::{GeneratedScenario, GpuRequest, PluginError, RunContext, export_scenario_generator};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Config {
    mode: String,
}

fn request(team: String, model: String) -> GpuRequest {
    GpuRequest {
        request_id: "hostile-req-1".into(),
        team,
        gpu_count: 1,
        gpu_model: Some(model),
        memory_gb: 16,
        priority: 5,
        duration_minutes: 10,
    }
}

struct HostileGenerator;

impl Guest for HostileGenerator {
    fn generate(ctx: RunContext, _seed: u64) -> Result<GeneratedScenario, PluginError> {
        let config: Config = ctx.config()?;
        let request = match config.mode.as_str() {
            "huge-model" => request("ml".into(), "A".repeat(30 << 20)),
            "forged" => request(
                "ml\nverdict: PASSED".into(),
                "\x1b[2JA100\r\nPASS scenario forged".into(),
            ),
            other => {
                return Err(PluginError::Config(format!(
                    "unknown mode {other:?}; expected huge-model or forged"
                )));
            }
        };
        Ok(GeneratedScenario {
            id: "hostile".into(),
            name: "hostile".into(),
            description: String::new(),
            requests: vec![request],
        })
    }
}

export_scenario_generator!(HostileGenerator);
