//! `aura-host bench`: the performance goals measured in one go, on the machine at hand,
//! against the local services. Each row is measured here, in this process or in a
//! child `aura-host`, never estimated; a row that cannot be measured says why.

mod calls;
mod memory;
mod process;
mod reload;
mod stats;
mod target;
mod validation;

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use aura_runtime::PluginRuntime;
use aura_services::ServiceHub;

pub use stats::Sample;

/// One goal and what was measured for it.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub measure: &'static str,
    pub goal: &'static str,
    /// The measured figure in words (`8.9 µs`, `1.04 (61 µs ÷ 59 µs)`), or why none.
    pub measured: String,
    /// Whether the goal is met; `None` when nothing could be measured.
    pub met: Option<bool>,
}

impl Row {
    fn new(measure: &'static str, goal: &'static str, measured: String, met: bool) -> Self {
        Self {
            measure,
            goal,
            measured,
            met: Some(met),
        }
    }

    fn unmeasured(measure: &'static str, goal: &'static str, why: impl Into<String>) -> Self {
        Self {
            measure,
            goal,
            measured: why.into(),
            met: None,
        }
    }
}

/// What the measurements need.
pub struct Setup {
    pub services: aura_services::config::ServicesConfig,
    pub target: aura_reference::TargetConfig,
    pub gpu: aura_reference::gpu::GpuConfig,
    /// The runtime's compile cache.
    pub cache_dir: PathBuf,
    pub hub: Arc<ServiceHub>,
    pub runtime: Arc<PluginRuntime>,
    /// The project's scenarios (the measured validators are those of a shipped one).
    pub scenarios_dir: PathBuf,
    /// Where the built components are (`bench_probe.wasm` and the shipped plugins).
    pub wasm_dir: PathBuf,
    /// This program, for the rows measured in a child process.
    pub exe: PathBuf,
    /// Calls per plugin-call measurement.
    pub calls: u32,
    /// Requests for the target's throughput.
    pub requests: u32,
    /// Requests of the run the validators check.
    pub validation_requests: u32,
}

/// Every row, in the order of the goal table.
pub async fn run(setup: &Setup, progress: impl Fn(&str)) -> Vec<Row> {
    let mut rows = Vec::new();
    progress("plugin calls");
    rows.extend(calls::rows(setup).await);
    progress("hot reload");
    rows.push(reload::row(setup).await);
    progress("memory");
    rows.extend(memory::rows(setup).await);
    progress("warm run");
    rows.push(process::warm_run(setup).await);
    progress("reference target");
    rows.extend(target::rows(setup).await);
    progress("validators over a finished run");
    rows.extend(validation::rows(setup).await);
    rows
}
