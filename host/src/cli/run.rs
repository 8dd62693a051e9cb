//! `aura-host run`: scenarios (`--suite`, `--scenario`, or nothing: the smoke suite) run
//! through the reference target (`super::scenarios`); validators given on the command
//! line replace the scenarios' own, a recovery strategy given is asked about failures.
//! A scenario generator given replaces each scenario's requests with its own (`--seed`).
//! With `--request` or `--watch`, the plugins run against one built-in demo scenario
//! instead: validators validate the given requests of `--run-id`, a recovery strategy
//! decides about a sample failure, a generator generates from the seed.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use serde::Serialize;

use super::{CliError, ExitCode};
use crate::config::AuraConfig;
use aura_runtime::bindings::{Failure, RunContext};
use aura_runtime::reload::{self, PluginSlot, ReloadEvent};
use aura_runtime::{CallFailure, Cost, Plugin, PluginKind, PluginRuntime, PluginSpec, manifest};
use aura_services::ServiceHub;
use aura_services::namespace::RunId;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A plugin component to run (repeatable); granted read-only access to the run's data.
    #[arg(long = "plugin", value_name = "WASM")]
    plugins: Vec<PathBuf>,
    /// A plugin set (TOML) pinning plugins by sha256, with their grants, limits and config.
    #[arg(long = "plugins", value_name = "MANIFEST")]
    manifest: Option<PathBuf>,
    /// Run id [default: generated].
    #[arg(long)]
    run_id: Option<RunId>,
    /// Request ids handed to validators (repeatable).
    #[arg(long = "request", value_name = "ID")]
    requests: Vec<String>,
    /// Seed for scenario generators [default: each scenario's own, else 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Keep running; reload a plugin when its file changes and run again.
    #[arg(long)]
    watch: bool,
    /// Run a suite of scenarios (`smoke`, `integration`, `e2e`, `chaos` or `all`)
    /// through the reference target, in-process [default: smoke, when neither
    /// scenarios nor plugins are given].
    #[arg(long)]
    suite: Option<String>,
    /// Run this scenario file (repeatable).
    #[arg(long = "scenario", value_name = "FILE")]
    scenarios: Vec<PathBuf>,
    /// Write the run's report as JSON (`docs/results.md`) to this file (with plugins
    /// alone: every plugin call, result and cost).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write JUnit XML to this file: a test case per scenario and per validator.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Independent scenarios to run at once [default: `run.jobs` in the config, 4].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: Option<u16>,
    /// Keep the run's graph nodes, Redis keys and topics (removed by default; the
    /// journal keeps the results and traces either way).
    #[arg(long)]
    keep_data: bool,
    /// No progress bars: one plain line per finished scenario.
    #[arg(long, short)]
    quiet: bool,
}

/// The scenario name plugins alone run against (no target, no requests unless `--request`).
const DEMO_SCENARIO: &str = "demo";

#[derive(Serialize)]
struct CallRecord {
    plugin: String,
    kind: PluginKind,
    digest: String,
    passed: bool,
    outcome: serde_json::Value,
    cost: Cost,
}

pub async fn run(
    config: &AuraConfig,
    hub: Arc<ServiceHub>,
    args: &RunArgs,
) -> Result<ExitCode, CliError> {
    let mut specs = Vec::new();
    for name in &args.plugins {
        let path =
            crate::orchestrator::plugins::locate(&config.run.plugins_dir, &name.to_string_lossy())
                .map_err(|e| CliError::caused(ExitCode::BadInput, &e))?;
        specs.push(PluginSpec::from_path(&path));
    }
    if let Some(path) = &args.manifest {
        specs.extend(manifest::load(path)?);
    }
    let runtime = Arc::new(super::plugin::runtime(config, hub.clone())?);
    let plugins = specs
        .into_iter()
        .map(|s| runtime.load(s))
        .collect::<Result<Vec<_>, _>>()?;
    // Scenarios run through the reference target (the smoke suite when none is named);
    // plugins alone with explicit request ids or --watch run against the built-in demo
    // scenario instead.
    let demo = args.suite.is_none()
        && args.scenarios.is_empty()
        && (!args.requests.is_empty() || args.watch);
    if !demo {
        let request = super::scenarios::Request {
            suite: args
                .suite
                .as_deref()
                .or(args.scenarios.is_empty().then_some("smoke")),
            files: &args.scenarios,
            run_id: args.run_id.clone(),
            jobs: args.jobs.map(usize::from),
            keep_data: args.keep_data,
            quiet: args.quiet,
            json: args.json.as_deref(),
            junit: args.junit.as_deref(),
            seed: args.seed,
        };
        return super::scenarios::run(config, hub, runtime, &plugins, request).await;
    }
    let slots: Vec<Arc<PluginSlot>> = plugins.into_iter().map(PluginSlot::new).collect();
    let run_id = args
        .run_id
        .clone()
        .unwrap_or_else(aura_services::namespace::generate_run_id);
    let code = run_once(&runtime, &slots, &run_id, args).await?;
    if !args.watch {
        return Ok(code);
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _watcher = reload::watch(runtime.clone(), slots.clone(), tx)?;
    println!("watching {} plugin file(s); Ctrl-C to stop", slots.len());
    let mut code = code;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(code),
            event = rx.recv() => match event {
                None => return Ok(code),
                Some(ReloadEvent::Refused { plugin, error }) => {
                    eprintln!("reload of {plugin} refused, the old version keeps serving: {error}");
                }
                Some(ReloadEvent::Swapped { plugin, new_digest, .. }) => {
                    println!("reloaded {plugin} ({})", &new_digest[..12]);
                    code = run_once(&runtime, &slots, &run_id, args).await?;
                }
            },
        }
    }
}

async fn run_once(
    runtime: &PluginRuntime,
    slots: &[Arc<PluginSlot>],
    run_id: &RunId,
    args: &RunArgs,
) -> Result<ExitCode, CliError> {
    println!(
        "run {run_id} · scenario {DEMO_SCENARIO} · {} plugin(s)",
        slots.len()
    );
    let mut records = Vec::new();
    for slot in slots {
        let plugin = slot.get();
        records.push(
            call(
                runtime,
                &plugin,
                run_id,
                DEMO_SCENARIO,
                &args.requests,
                args,
            )
            .await,
        );
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&records)
            .map_err(|e| CliError::caused(ExitCode::Failed, &e))?;
        std::fs::write(path, json).map_err(|e| {
            CliError::new(
                ExitCode::BadInput,
                format!("cannot write {}: {e}", path.display()),
            )
        })?;
    }
    let failed = records.iter().filter(|r| !r.passed).count();
    if failed == 0 {
        println!("verdict: PASSED ({} plugin(s))", records.len());
        Ok(ExitCode::Ok)
    } else {
        println!("verdict: FAILED ({failed} of {} plugin(s))", records.len());
        Ok(ExitCode::Failed)
    }
}

async fn call(
    runtime: &PluginRuntime,
    plugin: &Plugin,
    run_id: &RunId,
    scenario: &str,
    request_ids: &[String],
    args: &RunArgs,
) -> CallRecord {
    let ctx = RunContext {
        run_id: run_id.to_string(),
        scenario: scenario.into(),
        request_ids: request_ids.to_vec(),
        config: plugin.spec.config.clone(),
    };
    let name = plugin.name();
    let (passed, outcome, cost, summary, details) = match plugin.kind {
        PluginKind::Validator => {
            let inv = runtime.validate(plugin, ctx).await;
            let passed = inv.passed();
            let (summary, details) = match &inv.outcome {
                Ok(r) => {
                    let ok = r.checks.iter().filter(|c| c.passed).count();
                    let lines = r
                        .checks
                        .iter()
                        .map(|c| {
                            if c.passed {
                                format!("    PASS {}", c.name)
                            } else {
                                format!(
                                    "    FAIL {}: expected {}, actual {}{}",
                                    c.name,
                                    c.expected,
                                    c.actual,
                                    if c.message.is_empty() {
                                        String::new()
                                    } else {
                                        format!(" ({})", c.message)
                                    }
                                )
                            }
                        })
                        .collect();
                    (format!("{ok}/{} checks passed", r.checks.len()), lines)
                }
                Err(f) => (failure_text(f), Vec::new()),
            };
            (passed, json(&inv.outcome), inv.cost, summary, details)
        }
        PluginKind::RecoveryStrategy => {
            let failure = Failure {
                service: "redis".into(),
                operation: "demo".into(),
                attempt: 1,
                error: "connection refused".into(),
                elapsed_ms: 0,
            };
            let inv = runtime.decide(plugin, ctx, failure).await;
            let summary = match &inv.outcome {
                Ok(a) => format!("first redis failure → {a:?}"),
                Err(f) => failure_text(f),
            };
            (
                inv.outcome.is_ok(),
                json(&inv.outcome),
                inv.cost,
                summary,
                Vec::new(),
            )
        }
        PluginKind::ScenarioGenerator => {
            let seed = args.seed.unwrap_or(0);
            let inv = runtime.generate(plugin, ctx, seed).await;
            let summary = match &inv.outcome {
                Ok(s) => format!(
                    "seed {} → {} request(s): {}",
                    seed,
                    s.requests.len(),
                    s.name
                ),
                Err(f) => failure_text(f),
            };
            (
                inv.outcome.is_ok(),
                json(&inv.outcome),
                inv.cost,
                summary,
                Vec::new(),
            )
        }
    };
    println!(
        "{} {name} ({}) {summary}  [{:.1} ms, fuel {}, memory {} KiB, {} host call(s)]",
        if passed { "PASS" } else { "FAIL" },
        plugin.kind,
        cost.wall.as_secs_f64() * 1000.0,
        cost.fuel,
        cost.peak_memory_bytes / 1024,
        cost.host_calls,
    );
    for line in details {
        println!("{line}");
    }
    CallRecord {
        plugin: name.to_string(),
        kind: plugin.kind,
        digest: plugin.digest.clone(),
        passed,
        outcome,
        cost,
    }
}

fn failure_text(f: &CallFailure) -> String {
    format!("failed: {f}")
}

fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}
