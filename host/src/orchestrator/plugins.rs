//! The plugins a run uses, resolved and loaded before anything runs (a missing or
//! malformed plugin is bad input, not a failed scenario): per scenario, its validators
//! its recovery strategy and its scenario generator. Plugins named on the command line
//! replace a scenario's own `validation_rules`; a scenario's `recovery` replaces the
//! command line's; a generator on the command line replaces each scenario's requests with
//! its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::scenario::{PluginRef, Scenario};
use crate::report::{RecoveryRecord, ValidatorResult};
use aura_reference::GpuAllocationRequest;
use aura_reference::TargetConfig;
use aura_runtime::bindings::GeneratedScenario;
use aura_runtime::bindings::{Failure, RecoveryAction, RunContext};
use aura_runtime::{LoadError, Plugin, PluginKind, PluginRuntime, PluginSpec};

#[derive(Debug, thiserror::Error)]
pub enum PluginSetError {
    #[error("scenario {scenario}: {source}")]
    Missing {
        scenario: String,
        #[source]
        source: NotFound,
    },
    #[error("scenario {scenario}: {plugin} is a {kind}, not a {wanted}")]
    WrongKind {
        scenario: String,
        plugin: String,
        kind: PluginKind,
        wanted: PluginKind,
    },
    #[error("scenario {scenario}: plugin {plugin}: config is not TOML: {reason}")]
    Config {
        scenario: String,
        plugin: String,
        reason: String,
    },
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// A plugin with the configuration it is called with in one scenario.
#[derive(Clone)]
pub struct Configured {
    pub plugin: Plugin,
    pub config: toml::Table,
}

/// Every plugin of a run, per scenario.
pub struct PluginSet {
    pub runtime: Arc<PluginRuntime>,
    validators: BTreeMap<String, Vec<Configured>>,
    recovery: BTreeMap<String, Configured>,
    generators: BTreeMap<String, Generator>,
}

/// A scenario's generator, the seed it is called with, and whether its requests replace
/// the scenario's own (a generator given on the command line) or join them.
#[derive(Clone)]
pub struct Generator {
    pub configured: Configured,
    pub seed: u64,
    pub replaces: bool,
}

impl PluginSet {
    /// Loads each distinct file once. `cli` are the plugins given on the command line;
    /// `seed`, when given, replaces every generator's own.
    pub fn resolve(
        runtime: Arc<PluginRuntime>,
        plugins_dir: &Path,
        scenarios: &[Scenario],
        cli: &[Plugin],
        seed: Option<u64>,
    ) -> Result<Self, PluginSetError> {
        let mut loaded: BTreeMap<PathBuf, Plugin> = BTreeMap::new();
        let mut load = |scenario: &str, r: &PluginRef, wanted: PluginKind| {
            let path =
                locate(plugins_dir, &r.plugin).map_err(|source| PluginSetError::Missing {
                    scenario: scenario.into(),
                    source,
                })?;
            let plugin = match loaded.get(&path) {
                Some(p) => p.clone(),
                None => {
                    let p = runtime.load(PluginSpec::from_path(&path))?;
                    loaded.insert(path, p.clone());
                    p
                }
            };
            if plugin.kind != wanted {
                return Err(PluginSetError::WrongKind {
                    scenario: scenario.into(),
                    plugin: r.plugin.clone(),
                    kind: plugin.kind,
                    wanted,
                });
            }
            // What cannot be written back as TOML cannot be handed to the plugin.
            toml::to_string(&r.config).map_err(|e| PluginSetError::Config {
                scenario: scenario.into(),
                plugin: r.plugin.clone(),
                reason: e.to_string(),
            })?;
            Ok(Configured {
                plugin,
                config: r.config.clone(),
            })
        };
        let of_kind = |k: PluginKind| {
            cli.iter()
                .filter(move |p| p.kind == k)
                .map(|p| {
                    Ok(Configured {
                        plugin: p.clone(),
                        config: toml::from_str(&p.spec.config).map_err(|e| {
                            PluginSetError::Config {
                                scenario: "-".into(),
                                plugin: p.name().into(),
                                reason: e.to_string(),
                            }
                        })?,
                    })
                })
                .collect::<Result<Vec<_>, PluginSetError>>()
        };
        let cli_validators = of_kind(PluginKind::Validator)?;
        let cli_recovery = of_kind(PluginKind::RecoveryStrategy)?.into_iter().next();
        let cli_generator = of_kind(PluginKind::ScenarioGenerator)?.into_iter().next();
        let mut validators = BTreeMap::new();
        let mut recovery = BTreeMap::new();
        let mut generators = BTreeMap::new();
        for s in scenarios {
            let v = if cli_validators.is_empty() {
                s.validation_rules
                    .iter()
                    .map(|r| load(&s.id, r, PluginKind::Validator))
                    .collect::<Result<Vec<_>, _>>()?
            } else {
                cli_validators.clone()
            };
            validators.insert(s.id.clone(), v);
            let r = match &s.recovery {
                Some(r) => Some(load(&s.id, r, PluginKind::RecoveryStrategy)?),
                None => cli_recovery.clone(),
            };
            if let Some(r) = r {
                recovery.insert(s.id.clone(), r);
            }
            let g = match (&cli_generator, &s.generator) {
                (Some(c), _) => Some(Generator {
                    configured: c.clone(),
                    seed: seed.unwrap_or(0),
                    replaces: true,
                }),
                (None, Some(g)) => {
                    let r = PluginRef {
                        plugin: g.plugin.clone(),
                        config: g.config.clone(),
                    };
                    Some(Generator {
                        configured: load(&s.id, &r, PluginKind::ScenarioGenerator)?,
                        seed: seed.unwrap_or(g.seed),
                        replaces: false,
                    })
                }
                (None, None) => None,
            };
            if let Some(g) = g {
                generators.insert(s.id.clone(), g);
            }
        }
        Ok(Self {
            runtime,
            validators,
            recovery,
            generators,
        })
    }

    pub fn validators(&self, scenario: &str) -> &[Configured] {
        self.validators.get(scenario).map_or(&[], Vec::as_slice)
    }

    pub fn recovery(&self, scenario: &str) -> Option<&Configured> {
        self.recovery.get(scenario)
    }

    pub fn generator(&self, scenario: &str) -> Option<&Generator> {
        self.generators.get(scenario)
    }

    /// A plugin of the set whose grants allow a write outside the run's namespace: its
    /// name and that grant ([`aura_runtime::Grants::write_outside_run`]).
    pub fn write_outside_run(&self) -> Option<(String, String)> {
        self.validators
            .values()
            .flatten()
            .chain(self.recovery.values())
            .chain(self.generators.values().map(|g| &g.configured))
            .find_map(|c| {
                let grant = c.plugin.spec.grants.write_outside_run()?;
                Some((c.plugin.name().to_string(), grant))
            })
    }
}

/// A plugin named on the command line or in a scenario that is nowhere to be found.
#[derive(Debug, thiserror::Error)]
#[error(
    "plugin {name} not found; looked at {} (build the shipped plugins with `just plugins`)",
    looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
)]
pub struct NotFound {
    pub name: String,
    pub looked: Vec<PathBuf>,
}

/// Where a plugin named `name` is: the file itself when it exists (a path, relative to
/// the current directory), else, for a bare name (`decision_persistence` or
/// `decision_persistence.wasm`), `<plugins_dir>/<name>.wasm`.
pub fn locate(plugins_dir: &Path, name: &str) -> Result<PathBuf, NotFound> {
    let given = PathBuf::from(name);
    let mut looked = vec![given.clone()];
    if given.is_file() {
        return Ok(given);
    }
    if !name.contains(std::path::MAIN_SEPARATOR) && !name.contains('/') && !name.is_empty() {
        let file = if name.ends_with(".wasm") {
            name.to_string()
        } else {
            format!("{name}.wasm")
        };
        let shipped = plugins_dir.join(file);
        if shipped.is_file() {
            return Ok(shipped);
        }
        looked.push(shipped);
    }
    Err(NotFound {
        name: name.to_string(),
        looked,
    })
}

/// The config a plugin gets in a scenario: its own keys, plus what the host knows that
/// it cannot: the scenario's limits (`[scenario]`) and the target's settings
/// (`[target]`), documented in `docs/validators.md`.
pub fn config_text(
    own: &toml::Table,
    scenario: &Scenario,
    target: &TargetConfig,
) -> Result<String, toml::ser::Error> {
    let mut t = own.clone();
    let ms = |d: std::time::Duration| toml::Value::Integer(d.as_millis() as i64);
    let mut sc = toml::Table::new();
    sc.insert("id".into(), scenario.id.clone().into());
    sc.insert("max_execution_ms".into(), ms(scenario.max_execution_time));
    sc.insert(
        "step_timeouts_ms".into(),
        toml::Value::Table(
            scenario
                .step_timeouts
                .iter()
                .map(|(k, v)| (k.clone(), ms(*v)))
                .collect(),
        ),
    );
    let mut tg = toml::Table::new();
    tg.insert(
        "steps".into(),
        toml::Value::Array(aura_contract::Step::names().map(toml::Value::from).to_vec()),
    );
    tg.insert("step_timeout_ms".into(), ms(target.step_timeout));
    tg.insert(
        "step_attempts".into(),
        i64::from(target.step_attempts).into(),
    );
    tg.insert(
        "context_ttl_s".into(),
        (target.context_ttl.as_secs() as i64).into(),
    );
    tg.insert(
        "context_window".into(),
        (target.council.context_window.clamp(1, 16) as i64).into(),
    );
    tg.insert(
        "abstain_below".into(),
        f64::from(target.council.abstain_below).into(),
    );
    t.insert("scenario".into(), toml::Value::Table(sc));
    t.insert("target".into(), toml::Value::Table(tg));
    toml::to_string(&t)
}

fn context(
    run_id: &str,
    scenario: &Scenario,
    request_ids: &[String],
    config: String,
) -> RunContext {
    RunContext {
        run_id: run_id.to_string(),
        scenario: scenario.id.clone(),
        request_ids: request_ids.to_vec(),
        config,
        faults: super::facts::faults(scenario),
        load: super::facts::load(scenario),
    }
}

/// Runs one validator on the scenario's requests, ending by `until` (the scenario's
/// deadline) at the latest.
pub async fn validate(
    runtime: &PluginRuntime,
    v: &Configured,
    run_id: &str,
    scenario: &Scenario,
    target: &TargetConfig,
    request_ids: &[String],
    until: Option<std::time::Instant>,
) -> ValidatorResult {
    let unrun = |error: String| ValidatorResult {
        validator: v.plugin.name().to_string(),
        digest: v.plugin.digest.clone(),
        passed: false,
        checks: Vec::new(),
        error: Some(error),
        wall_ms: 0.0,
        fuel: 0,
        host_calls: 0,
        cost: Default::default(),
        limits: v.plugin.spec.limits.summary(),
        grants: v.plugin.spec.grants.summary(),
        requests: request_ids.len() as u32,
        calls: 1,
        batch: 0,
    };
    // Called with no time left, it would blame whichever service it asked first.
    if until.is_some_and(|t| t <= std::time::Instant::now()) {
        return unrun(format!(
            "not run: the scenario's max_execution_time ({}) was spent before its validators",
            humantime::format_duration(scenario.max_execution_time)
        ));
    }
    let inv = match config_text(&v.config, scenario, target) {
        Ok(config) => {
            let ctx = context(run_id, scenario, request_ids, config);
            runtime.validate_until(&v.plugin, ctx, until).await
        }
        Err(e) => return unrun(format!("its config cannot be written as TOML: {e}")),
    };
    let passed = inv.passed();
    let (checks, error) = match inv.outcome {
        Ok(r) => (
            r.checks
                .into_iter()
                .map(|c| crate::report::Check {
                    name: c.name,
                    passed: c.passed,
                    expected: c.expected,
                    actual: c.actual,
                    message: c.message,
                })
                .collect(),
            None,
        ),
        Err(f) => (Vec::new(), Some(f.to_string())),
    };
    ValidatorResult {
        validator: v.plugin.name().to_string(),
        digest: v.plugin.digest.clone(),
        passed,
        checks,
        error,
        wall_ms: inv.cost.wall.as_secs_f64() * 1000.0,
        fuel: inv.cost.fuel,
        host_calls: inv.cost.host_calls,
        cost: crate::report::SandboxCost {
            peak_memory_bytes: inv.cost.peak_memory_bytes,
            bytes_in: inv.cost.bytes_in,
            bytes_out: inv.cost.bytes_out,
            denied_calls: inv.cost.denied_calls,
            log_lines_dropped: inv.cost.log_lines_dropped,
            queued_ms: inv.cost.queued.as_secs_f64() * 1000.0,
        },
        limits: v.plugin.spec.limits.summary(),
        grants: v.plugin.spec.grants.summary(),
        requests: request_ids.len() as u32,
        calls: 1,
        batch: 0,
    }
}

/// Asks the scenario's generator for its requests, with the plugin's own config (a
/// generator is told the seed, not the target's settings). Errors say why there are none.
pub async fn generate(
    runtime: &PluginRuntime,
    g: &Generator,
    run_id: &str,
    scenario: &Scenario,
) -> Result<Vec<GpuAllocationRequest>, String> {
    let config = toml::to_string(&g.configured.config)
        .map_err(|e| format!("its config cannot be written as TOML: {e}"))?;
    let ctx = context(run_id, scenario, &[], config);
    let inv = runtime.generate(&g.configured.plugin, ctx, g.seed).await;
    let generated: GeneratedScenario = inv.outcome.map_err(|e| e.to_string())?;
    Ok(generated
        .requests
        .into_iter()
        .map(|r| GpuAllocationRequest {
            request_id: r.request_id,
            team: r.team,
            gpu_count: r.gpu_count,
            gpu_model: r.gpu_model,
            memory_gb: r.memory_gb,
            priority: u32::from(r.priority),
            duration_minutes: r.duration_minutes,
        })
        .collect())
}

/// What the orchestrator does about a failure.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Retry(std::time::Duration),
    Skip,
    Degrade(String),
    Abort(String),
    /// No strategy, or it gave no answer: the failure stands.
    Fail,
}

/// Asks the scenario's recovery strategy about `failure` of `request_id`.
pub async fn recover(
    runtime: &PluginRuntime,
    strategy: &Configured,
    run_id: &str,
    scenario: &Scenario,
    target: &TargetConfig,
    request_id: &str,
    failure: Failure,
) -> (Action, RecoveryRecord) {
    let config = config_text(&strategy.config, scenario, target);
    let mut record = RecoveryRecord {
        scenario: scenario.id.clone(),
        request_id: request_id.into(),
        strategy: strategy.plugin.name().into(),
        service: failure.service.clone(),
        operation: failure.operation.clone(),
        attempt: failure.attempt,
        error: failure.error.clone(),
        action: String::new(),
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            record.action = format!("none: its config cannot be written as TOML: {e}");
            return (Action::Fail, record);
        }
    };
    let ctx = context(run_id, scenario, &[request_id.to_string()], config);
    let inv = runtime.decide(&strategy.plugin, ctx, failure).await;
    let action = match inv.outcome {
        Ok(RecoveryAction::Retry(ms)) => Action::Retry(std::time::Duration::from_millis(ms)),
        Ok(RecoveryAction::Skip) => Action::Skip,
        Ok(RecoveryAction::Degrade(how)) => Action::Degrade(how),
        Ok(RecoveryAction::Abort(why)) => Action::Abort(why),
        Err(e) => {
            record.action = format!("none: the strategy failed: {e}");
            return (Action::Fail, record);
        }
    };
    record.action = match &action {
        Action::Retry(d) => format!("retry after {} ms", d.as_millis()),
        Action::Skip => "skip".into(),
        Action::Degrade(how) => format!("degrade: {how}"),
        Action::Abort(why) => format!("abort: {why}"),
        Action::Fail => "none".into(),
    };
    (action, record)
}
