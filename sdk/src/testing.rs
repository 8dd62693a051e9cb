//! Run your plugin in the real aura-host runtime from `cargo test` (native targets, the
//! `testing` feature). [`build`] compiles the crate as a component; [`validate`],
//! [`decide`] and [`generate`] call it in a fresh sandbox with read-only grants on the
//! run's data and the default limits, exactly as `aura-host run --plugin` does.
//!
//! ```no_run
//! use aura_sdk::testing;
//! let wasm = testing::build(env!("CARGO_MANIFEST_DIR"));
//! let run = testing::validate(&wasm, "min_requests = 1", &["req-1"]);
//! assert!(run.passed(), "{run:#?}");
//! ```
//!
//! These are test helpers: they panic with a clear message when the build fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

pub use aura_host::plugins::bindings::{
    Failure, GeneratedScenario, RecoveryAction, RunContext, ValidationResult,
};
pub use aura_host::plugins::{CallFailure, Cost, Invocation, PluginRuntime, PluginSpec};

use aura_host::config::AuraConfig;
use aura_host::services::ServiceHub;

const TARGET: &str = "wasm32-wasip2";

/// Builds the crate at `manifest_dir` for wasm32-wasip2 (release) and returns its `.wasm`.
pub fn build(manifest_dir: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(manifest_dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
    assert!(
        output.status.success(),
        "building {manifest_dir} for {TARGET} failed (is the target installed? `rustup target add {TARGET}`)"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .rfind(|f| f.extension().is_some_and(|e| e == "wasm"))
        .unwrap_or_else(|| panic!("building {manifest_dir} produced no .wasm (is it a cdylib?)"))
}

/// A runtime against the local services (the `aura-host` defaults) and a context for it.
fn harness(
    wasm: &Path,
    config: &str,
) -> (
    tokio::runtime::Runtime,
    PluginRuntime,
    aura_host::plugins::Plugin,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let hub = Arc::new(ServiceHub::new(AuraConfig::default()));
    let runtime = PluginRuntime::new(hub, None).expect("plugin runtime");
    let mut spec = PluginSpec::from_path(wasm);
    spec.config = config.to_string();
    let plugin = runtime
        .load(spec)
        .unwrap_or_else(|e| panic!("the host refuses the plugin: {e}"));
    (rt, runtime, plugin)
}

/// The run context the helpers pass: run id `test-run`, scenario `test`.
pub fn context(config: &str, request_ids: &[&str]) -> RunContext {
    RunContext {
        run_id: "test-run".into(),
        scenario: "test".into(),
        request_ids: request_ids.iter().map(|s| s.to_string()).collect(),
        config: config.into(),
    }
}

pub fn validate(wasm: &Path, config: &str, request_ids: &[&str]) -> Invocation<ValidationResult> {
    let (rt, runtime, plugin) = harness(wasm, config);
    rt.block_on(runtime.validate(&plugin, context(config, request_ids)))
}

pub fn decide(wasm: &Path, config: &str, failure: Failure) -> Invocation<RecoveryAction> {
    let (rt, runtime, plugin) = harness(wasm, config);
    rt.block_on(runtime.decide(&plugin, context(config, &[]), failure))
}

pub fn generate(wasm: &Path, config: &str, seed: u64) -> Invocation<GeneratedScenario> {
    let (rt, runtime, plugin) = harness(wasm, config);
    rt.block_on(runtime.generate(&plugin, context(config, &[]), seed))
}

/// A failure of `service` on its `attempt`-th try, for recovery-strategy tests.
pub fn failure(service: &str, attempt: u32) -> Failure {
    Failure {
        service: service.into(),
        operation: "test".into(),
        attempt,
        error: format!("{service} refused the connection"),
        elapsed_ms: 0,
    }
}
