//! `aura-host plugin inspect|new|call`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::scaffold;
use super::{CliError, ExitCode};
use crate::config::AuraConfig;
use crate::gpus::ReferenceGpus;
use aura_runtime::bindings::{Failure, RunContext};
use aura_runtime::{Cost, Invocation, PluginKind, PluginRuntime, PluginSpec, RuntimeOptions};
use aura_services::ServiceHub;
use aura_services::namespace::RunId;

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Show what a component is: world, aura:host version, imports, exports, size, digest.
    Inspect(InspectArgs),
    /// Create a plugin crate that builds and passes its own test on the first try.
    New(NewArgs),
    /// Call a plugin once in the sandbox and print the outcome and its cost as JSON (what
    /// `aura-sdk`'s `testing` feature drives; no scenario, no target).
    Call(CallArgs),
    /// Run a plugin against a recording (`run --record DIR`), its host calls answered
    /// from the file with no service running; shows the result beside the recorded one.
    /// Exit 0 when it passes, 1 when it fails or asks for what the recording lacks, 2
    /// for a corrupt recording or one of another plugin.
    Test(super::replay::TestArgs),
    /// Check a plugin set without running anything: each component's digest, world,
    /// contract version, grants and limits, and that it links. Exit 0 when all would
    /// load, 2 otherwise.
    Verify(super::plugin_set::SetArgs),
    /// Write the sha256 of each plugin's component into a plugin set.
    Lock(super::plugin_set::SetArgs),
    /// Write an SDK for plugins in another language into a directory: `python` or `js`
    /// writes the `aura_sdk` package (its `names` generated from the host's contract).
    Sdk(SdkArgs),
}

#[derive(Debug, Args)]
pub struct SdkArgs {
    #[arg(value_enum)]
    lang: super::sdks::Lang,
    /// Where the package goes (`<DIR>/aura_sdk/`).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// The component (`.wasm`).
    wasm: PathBuf,
    /// The plugin's configuration (TOML text).
    #[arg(long = "plugin-config", value_name = "TOML", default_value = "")]
    plugin_config: String,
    /// Run id of the context (`{run}` in grants) [default: test-run].
    #[arg(long, default_value = "test-run")]
    run_id: RunId,
    /// Scenario name of the context.
    #[arg(long, default_value = "test")]
    scenario: String,
    /// Request ids of the context (repeatable).
    #[arg(long = "request", value_name = "ID")]
    requests: Vec<String>,
    /// A recovery strategy's failure, as the WIT `failure` record in JSON:
    /// `{"service": "redis", "operation": "get", "attempt": 1, "error": "...", "elapsed_ms": 0}`.
    #[arg(long, value_name = "JSON")]
    failure: Option<String>,
    /// A scenario generator's seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The component (`.wasm`).
    wasm: PathBuf,
    /// Print JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// Crate name: a-z, 0-9, '-' and '_'.
    name: String,
    #[arg(long, value_parser = <PluginKind as std::str::FromStr>::from_str)]
    kind: PluginKind,
    /// Directory to create the crate in.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The aura-sdk directory the crate depends on [default: the one this host was built
    /// from, while it exists; else the published aura-sdk of this host's version].
    #[arg(long, conflicts_with = "lang")]
    sdk: Option<PathBuf>,
    /// `rust` (a crate), `python` (app.py, componentize-py), `js` (app.js,
    /// componentize-js) or `ts` (app.ts, checked and compiled by tsc, then componentize-js).
    #[arg(long, value_parser = ["rust", "python", "js", "ts"], default_value = "rust")]
    lang: String,
}

pub async fn run(
    config: &AuraConfig,
    hub: Arc<ServiceHub>,
    cmd: &PluginCommand,
) -> Result<ExitCode, CliError> {
    match cmd {
        PluginCommand::Inspect(args) => inspect(config, hub, args),
        PluginCommand::Call(args) => call(config, hub, args).await,
        PluginCommand::Test(args) => super::replay::test(config, hub, args).await,
        PluginCommand::Verify(args) => super::plugin_set::verify(config, hub, args),
        PluginCommand::Lock(args) => super::plugin_set::lock(args),
        PluginCommand::Sdk(args) => {
            super::sdks::write(args.lang, &args.out).map_err(|e| {
                CliError::new(
                    ExitCode::BadInput,
                    format!(
                        "cannot write the {:?} SDK into {}: {e}",
                        args.lang,
                        args.out.display()
                    ),
                )
            })?;
            out!("wrote {}", args.out.join(args.lang.package()).display());
            Ok(ExitCode::Ok)
        }
        PluginCommand::New(args) if args.lang != "rust" => {
            let lang = match args.lang.as_str() {
                "js" => super::sdks::Lang::Js,
                "ts" => super::sdks::Lang::Ts,
                _ => super::sdks::Lang::Python,
            };
            let dir = scaffold::check_name(&args.name)
                .and_then(|()| {
                    super::scaffold_langs::create(&args.dir, &args.name, args.kind, lang)
                })
                .map_err(|e| CliError::caused(ExitCode::BadInput, &e))?;
            out!(
                "created {} plugin {} ({})",
                args.kind,
                dir.display(),
                args.lang
            );
            if lang == super::sdks::Lang::Python {
                out!(
                    "  pip install {}   # once; then it builds offline",
                    super::scaffold_langs::COMPONENTIZE_PY
                );
            }
            out!(
                "  {}/test.sh      # builds it and runs it in aura-host",
                dir.display()
            );
            out!(
                "  aura-host run --plugin {}/{}.wasm",
                dir.display(),
                args.name.replace('-', "_")
            );
            Ok(ExitCode::Ok)
        }
        PluginCommand::New(args) => {
            let sdk = scaffold::Sdk::choose(args.sdk.clone());
            let dir = scaffold::create(&args.dir, &args.name, args.kind, &sdk)
                .map_err(|e| CliError::caused(ExitCode::BadInput, &e))?;
            out!("created {} plugin {}", args.kind, dir.display());
            out!("  cd {}", dir.display());
            out!(
                "  cargo test                                        # builds it and runs it in aura-host"
            );
            out!("  cargo build --release --target wasm32-wasip2      # the component");
            out!(
                "  aura-host run --plugin target/wasm32-wasip2/release/{}.wasm",
                args.name.replace('-', "_")
            );
            Ok(ExitCode::Ok)
        }
    }
}

fn inspect(
    config: &AuraConfig,
    hub: Arc<ServiceHub>,
    args: &InspectArgs,
) -> Result<ExitCode, CliError> {
    let runtime = runtime(config, hub)?;
    let facts = runtime.inspect(&args.wasm)?;
    // What `run --plugin <this file>` would give it; a plugin set says its own.
    let defaults = PluginSpec::from_path(&args.wasm);
    // Loading refuses a version this host does not serve; one it serves is said.
    let served = facts
        .package_version
        .as_deref()
        .and_then(aura_runtime::served);
    if args.json {
        let mut value =
            serde_json::to_value(&facts).map_err(|e| CliError::caused(ExitCode::Failed, &e))?;
        value["served_as"] = serde_json::json!(served);
        value["run_plugin"] = serde_json::json!({
            "limits": defaults.limits,
            "grants": defaults.grants,
            "instances": runtime.instances(),
        });
        let json = serde_json::to_string_pretty(&value)
            .map_err(|e| CliError::caused(ExitCode::Failed, &e))?;
        out!("{json}");
        return Ok(ExitCode::Ok);
    }
    out!("{}", facts.path.display());
    let world = facts
        .kind
        .map_or("none (not an aura:host plugin)".into(), |k| {
            format!("aura:host/{}", k.world())
        });
    out!("  world     {world}");
    let latest = aura_runtime::bindings::PACKAGE_VERSION;
    out!(
        "  package   aura:host@{}{}",
        facts.package_version.as_deref().unwrap_or("(none)"),
        match served {
            Some(v) if v == latest => " (served: the latest contract)".to_string(),
            Some(v) => format!(" (served: as {v}, answered by the {latest} implementation)"),
            None => String::new(),
        }
    );
    out!("  size      {} bytes", facts.size);
    out!("  sha256    {}", facts.sha256);
    out!("  exports   {}", facts.exports.join(", "));
    out!("  with `run --plugin` (a plugin set gives its own):");
    out!("    limits  {}", defaults.limits.summary());
    out!("    grants  {}", defaults.grants.summary());
    out!(
        "    pool    {} calls at once ([run] plugin_instances)",
        runtime.instances()
    );
    out!("  imports");
    for import in &facts.imports {
        out!("    {import}");
    }
    Ok(ExitCode::Ok)
}

/// One call; stdout is one JSON object: `plugin`, `kind`, `digest`, `outcome`
/// (`{"Ok": <the WIT result>}` or `{"Err": "<why the call failed>"}`) and `cost`.
/// Exit 0 when the plugin answered, 1 when the call failed, 2 for a bad plugin or input.
async fn call(
    config: &AuraConfig,
    hub: Arc<ServiceHub>,
    args: &CallArgs,
) -> Result<ExitCode, CliError> {
    let runtime = runtime(config, hub)?;
    let mut spec = PluginSpec::from_path(&args.wasm);
    spec.config = args.plugin_config.clone();
    let plugin = runtime.load(spec)?;
    let ctx = RunContext {
        run_id: args.run_id.to_string(),
        scenario: args.scenario.clone(),
        request_ids: args.requests.clone(),
        config: args.plugin_config.clone(),
        faults: Vec::new(),
        load: None,
    };
    let (outcome, cost) = match plugin.kind {
        PluginKind::Validator => answer(runtime.validate(&plugin, ctx).await),
        PluginKind::RecoveryStrategy => {
            let text = args.failure.as_deref().ok_or_else(|| {
                CliError::new(
                    ExitCode::BadInput,
                    format!(
                        "{} is a recovery strategy: give it a --failure",
                        plugin.name()
                    ),
                )
            })?;
            let failure: Failure = serde_json::from_str(text)
                .map_err(|e| CliError::new(ExitCode::BadInput, format!("--failure: {e}")))?;
            answer(runtime.decide(&plugin, ctx, failure).await)
        }
        PluginKind::ScenarioGenerator => answer(runtime.generate(&plugin, ctx, args.seed).await),
    };
    let answered = outcome.get("Ok").is_some();
    let json = serde_json::json!({
        "plugin": plugin.name(),
        "kind": plugin.kind,
        "digest": plugin.digest,
        "outcome": outcome,
        "cost": {
            "wall_ms": cost.wall.as_secs_f64() * 1000.0,
            "fuel": cost.fuel,
            "peak_memory_bytes": cost.peak_memory_bytes,
            "host_calls": cost.host_calls,
            "denied_calls": cost.denied_calls,
        },
    });
    out!("{json}");
    Ok(if answered {
        ExitCode::Ok
    } else {
        ExitCode::Failed
    })
}

/// The outcome as `{"Ok": ...}` or `{"Err": "why"}`, and the cost.
fn answer<T: serde::Serialize>(inv: Invocation<T>) -> (serde_json::Value, Cost) {
    let outcome = match &inv.outcome {
        Ok(v) => serde_json::json!({ "Ok": v }),
        Err(f) => serde_json::json!({ "Err": f.to_string() }),
    };
    (outcome, inv.cost)
}

/// The plugin runtime on the process's hub, with the compile cache under the state
/// directory and the reference GPU core behind the `gpu` interface.
/// Where compiled components are kept between runs.
pub(super) fn cache_dir(config: &AuraConfig) -> std::path::PathBuf {
    config.state_dir.join("plugin-cache")
}

pub(super) fn runtime(
    config: &AuraConfig,
    hub: Arc<ServiceHub>,
) -> Result<PluginRuntime, CliError> {
    let options = RuntimeOptions {
        cache_dir: Some(cache_dir(config)),
        instances: config.run.plugin_instances,
    };
    Ok(PluginRuntime::new(hub, options)?.with_gpu(Arc::new(ReferenceGpus(config.gpu.clone()))))
}
