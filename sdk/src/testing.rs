//! Run your plugin in the real aura-host runtime from `cargo test` (native targets, the
//! `testing` feature). [`build`] compiles the crate as a component; [`validate`],
//! [`decide`] and [`generate`] call it once in a fresh sandbox with read-only grants on
//! the run's data and the default limits, exactly as `aura-host run --plugin` does, by
//! running `aura-host plugin call` (the `AURA_HOST_BIN` binary, else `aura-host` on the
//! `PATH`). [`replay`] runs it against a recording (`aura-host run --record DIR`) with
//! no service running. Nothing of the host is compiled into your tests: no wasmtime, no librdkafka,
//! no Temporal SDK, no CUDA.
//!
//! ```no_run
//! use aura_sdk::testing;
//! let wasm = testing::build(env!("CARGO_MANIFEST_DIR"));
//! let run = testing::validate(&wasm, "min_requests = 1", &["req-1"]);
//! assert!(run.passed(), "{run:#?}");
//! ```
//!
//! These are test helpers: they panic with a clear message when the build fails or the
//! host refuses the plugin.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use crate::bindings::api::aura::host::types::{RunContext, ValidationResult};
pub use crate::bindings::generator::GeneratedScenario;
pub use crate::bindings::recovery::{Failure, RecoveryAction};

const TARGET: &str = "wasm32-wasip2";
/// Where the `aura-host` binary is, when it is not `aura-host` on the `PATH`.
pub const HOST_BIN: &str = "AURA_HOST_BIN";

/// One call of a plugin: its answer, or why the call failed, and what it cost.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Invocation<T> {
    pub plugin: String,
    pub digest: String,
    /// The plugin's answer, or why the call produced none (a trap, a timeout, a denied
    /// host call it turned into an error...).
    pub outcome: Result<T, String>,
    pub cost: Cost,
}

/// What one call cost, as the host measured it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Cost {
    pub wall_ms: f64,
    /// Fuel (roughly, Wasm instructions) the call consumed.
    pub fuel: u64,
    pub peak_memory_bytes: u64,
    pub host_calls: u32,
    pub denied_calls: u32,
}

impl Invocation<ValidationResult> {
    /// A validation passes when it ran and every check passed.
    pub fn passed(&self) -> bool {
        self.outcome
            .as_ref()
            .is_ok_and(|r| r.checks.iter().all(|c| c.passed))
    }
}

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

/// Runs `aura-host plugin call` on `wasm` with `args` and reads its JSON answer.
fn call<T: DeserializeOwned>(wasm: &Path, config: &str, args: &[String]) -> Invocation<T> {
    let mut all = vec!["call".into(), wasm.display().to_string()];
    all.extend(["--plugin-config".into(), config.into()]);
    all.extend_from_slice(args);
    host_json(&all, &format!("answer for {}", wasm.display()))
}

/// Runs `aura-host plugin <args>` and reads the one JSON object it prints; `what` says
/// what was asked, for the panic when the host gives no such answer.
fn host_json<T: DeserializeOwned>(args: &[String], what: &str) -> T {
    let host = std::env::var_os(HOST_BIN).unwrap_or_else(|| "aura-host".into());
    let output = Command::new(&host)
        .arg("plugin")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e} (install aura-host, or set {HOST_BIN} to its path)",
                Path::new(&host).display()
            )
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "the host did not {what} ({e}): {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The run context is run id `test-run`, scenario `test`, the given request ids.
pub fn validate(wasm: &Path, config: &str, request_ids: &[&str]) -> Invocation<ValidationResult> {
    let args: Vec<String> = request_ids
        .iter()
        .flat_map(|id| ["--request".to_string(), id.to_string()])
        .collect();
    call(wasm, config, &args)
}

pub fn decide(wasm: &Path, config: &str, failure: Failure) -> Invocation<RecoveryAction> {
    let failure = serde_json::json!({
        "service": failure.service,
        "operation": failure.operation,
        "attempt": failure.attempt,
        "error": failure.error,
        "elapsed_ms": failure.elapsed_ms,
    });
    call(wasm, config, &["--failure".into(), failure.to_string()])
}

pub fn generate(wasm: &Path, config: &str, seed: u64) -> Invocation<GeneratedScenario> {
    call(wasm, config, &["--seed".into(), seed.to_string()])
}

/// A replay of a recording (`aura-host plugin test --replay`): the plugin run against
/// the host calls and answers the file holds, with no service running.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Replay {
    pub file: PathBuf,
    /// Every check passed (another kind: it answered), and it asked for nothing the
    /// recording lacks.
    pub passed: bool,
    /// It returned what the recording says it returned.
    pub same: bool,
    /// Host calls the recording had no answer to.
    pub misses: Vec<String>,
    /// Recorded host calls it never made.
    pub unused: usize,
    pub recorded: serde_json::Value,
    pub replayed: serde_json::Value,
}

/// Replays `recording` (a path relative to the crate, or absolute) against `wasm`.
pub fn replay(wasm: &Path, recording: &str) -> Replay {
    let args = ["test", "--json", "--replay", recording].map(String::from);
    let mut args = args.to_vec();
    args.push(wasm.display().to_string());
    host_json(&args, &format!("replay {recording} for {}", wasm.display()))
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
