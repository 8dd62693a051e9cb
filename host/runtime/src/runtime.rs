//! The plugin runtime: loads plugins and calls them, each call in a fresh store with the
//! plugin's limits and grants, its cost measured, and any way it can go wrong (trap,
//! deadline, stack overflow, memory cap, fuel, oversized result) turned into that
//! plugin's failed result. Nothing a plugin does reaches the host or another plugin.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap};

use super::bindings::{
    Check, Failure, GeneratedScenario, PluginError, RecoveryAction, RunContext, ValidationResult,
};
use super::engine::{self, EpochTicker};
use super::error::LoadError;
use super::grants::Grants;
use super::host::{CallContext, HostCallDeadline, Meter};
use super::limits::MemoryCapExceeded;
use super::load::{self, ComponentFacts, Plugin, PluginSpec, TypedPre};
use super::state::PluginState;
use aura_services::ServiceHub;

/// Extra wall time past a plugin's deadline before the host abandons the call outright;
/// the epoch and host-call deadlines normally end it first.
const BACKSTOP: Duration = Duration::from_secs(2);

pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<PluginState>,
    cache_dir: Option<PathBuf>,
    hub: Arc<ServiceHub>,
    gpu: Option<Arc<dyn crate::GpuAccess>>,
    /// Components compiled in this process, by digest: loading a plugin again (another
    /// spec, a reload of the same bytes) does not compile it again.
    compiled: std::sync::Mutex<std::collections::HashMap<String, Component>>,
    _ticker: EpochTicker,
}

/// What one call cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Cost {
    pub wall: Duration,
    /// Fuel (roughly, Wasm instructions) the call consumed.
    pub fuel: u64,
    pub peak_memory_bytes: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub host_calls: u32,
    pub denied_calls: u32,
}

/// Why a call produced no result. Always the plugin's failure, never the host's.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum CallFailure {
    #[error("deadline of {0:?} exceeded")]
    Timeout(Duration),
    #[error("{0}")]
    HostCallTimeout(String),
    #[error("stack overflow")]
    StackOverflow,
    #[error("{0}")]
    MemoryExhausted(String),
    #[error("fuel budget of {0} exhausted")]
    FuelExhausted(u64),
    #[error("plugin panicked or aborted{}", if .0.is_empty() { String::new() } else { format!(": {}", .0) })]
    Panicked(String),
    #[error("trap: {0}")]
    Trap(String),
    #[error("result of {size} bytes exceeds the limit of {max}")]
    ResultTooLarge { size: u64, max: u64 },
    #[error("plugin returned an error: {0}")]
    Returned(String),
    #[error("could not start: {0}")]
    Setup(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Invocation<T> {
    pub plugin: String,
    pub digest: String,
    pub outcome: Result<T, CallFailure>,
    pub cost: Cost,
}

impl Invocation<ValidationResult> {
    /// A validation passes when it ran and every check passed.
    pub fn passed(&self) -> bool {
        self.outcome
            .as_ref()
            .is_ok_and(|r| r.checks.iter().all(|c| c.passed))
    }
}

enum Call {
    Validate(RunContext),
    Decide(RunContext, Failure),
    Generate(RunContext, u64),
}

enum Output {
    Validation(ValidationResult),
    Action(RecoveryAction),
    Scenario(GeneratedScenario),
}

impl PluginRuntime {
    /// One engine per process; `cache_dir` keeps compiled components between runs.
    pub fn new(hub: Arc<ServiceHub>, cache_dir: Option<PathBuf>) -> Result<Self, LoadError> {
        let engine = engine::engine()?;
        let linker = engine::linker(&engine)?;
        let ticker = EpochTicker::start(engine.clone());
        Ok(Self {
            engine,
            linker,
            cache_dir,
            hub,
            gpu: None,
            compiled: Default::default(),
            _ticker: ticker,
        })
    }

    /// Gives plugins granted `gpu` these GPUs (without, their calls are `unavailable`).
    pub fn with_gpu(mut self, gpu: Arc<dyn crate::GpuAccess>) -> Self {
        self.gpu = Some(gpu);
        self
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Reads and recognises a component without linking it (for `plugin inspect`).
    pub fn inspect(&self, path: &std::path::Path) -> Result<ComponentFacts, LoadError> {
        let bytes = load::read(path)?;
        let component = self.compile(path, &bytes)?;
        load::facts(&self.engine, &component, path, &bytes)
    }

    /// Loads a plugin: digest pinned by the spec, world and version, link, pre-instance.
    pub fn load(&self, spec: PluginSpec) -> Result<Plugin, LoadError> {
        spec.limits
            .validate()
            .map_err(|reason| LoadError::Invalid {
                path: spec.path.clone(),
                reason: format!("limits: {reason}"),
            })?;
        let bytes = load::read(&spec.path)?;
        let digest = load::digest(&bytes);
        if let Some(expected) = &spec.sha256
            && !expected.eq_ignore_ascii_case(&digest)
        {
            return Err(LoadError::Digest {
                name: spec.name.clone(),
                path: spec.path.clone(),
                expected: expected.clone(),
                actual: digest,
            });
        }
        let component = self.compile(&spec.path, &bytes)?;
        let facts = load::facts(&self.engine, &component, &spec.path, &bytes)?;
        let (kind, pre) = load::prepare(&self.linker, &component, &facts, &spec)?;
        Ok(Plugin {
            spec,
            kind,
            digest,
            pre,
        })
    }

    fn compile(&self, path: &std::path::Path, bytes: &[u8]) -> Result<Component, LoadError> {
        let digest = load::digest(bytes);
        let compiled = || self.compiled.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = compiled().get(&digest).cloned() {
            return Ok(c);
        }
        let component = engine::compile(&self.engine, self.cache_dir.as_deref(), &digest, bytes)
            .map_err(|e| LoadError::Invalid {
                path: path.to_path_buf(),
                reason: format!("{e:#}"),
            })?;
        compiled().insert(digest, component.clone());
        Ok(component)
    }

    pub async fn validate(&self, plugin: &Plugin, ctx: RunContext) -> Invocation<ValidationResult> {
        self.invoke(plugin, Call::Validate(ctx))
            .await
            .map(|o| match o {
                Output::Validation(v) => Ok(v),
                _ => Err(wrong_kind()),
            })
    }

    pub async fn decide(
        &self,
        plugin: &Plugin,
        ctx: RunContext,
        failure: Failure,
    ) -> Invocation<RecoveryAction> {
        self.invoke(plugin, Call::Decide(ctx, failure))
            .await
            .map(|o| match o {
                Output::Action(a) => Ok(a),
                _ => Err(wrong_kind()),
            })
    }

    pub async fn generate(
        &self,
        plugin: &Plugin,
        ctx: RunContext,
        seed: u64,
    ) -> Invocation<GeneratedScenario> {
        self.invoke(plugin, Call::Generate(ctx, seed))
            .await
            .map(|o| match o {
                Output::Scenario(s) => Ok(s),
                _ => Err(wrong_kind()),
            })
    }

    /// A fresh store and instance with no call: what every call pays before the guest
    /// runs. For the benchmarks.
    #[doc(hidden)]
    pub async fn instantiate_only(&self, plugin: &Plugin) -> Result<(), CallFailure> {
        let call = CallContext {
            plugin: plugin.spec.name.as_str().into(),
            run_id: String::new(),
            grants: Grants::default(),
            hub: self.hub.clone(),
            gpu: self.gpu.clone(),
            deadline: tokio::time::Instant::now() + plugin.spec.limits.timeout,
            timeout: plugin.spec.limits.timeout,
            meter: Meter::default(),
        };
        let state = PluginState::new(call, &Grants::default(), plugin.spec.limits.memory_bytes)
            .map_err(CallFailure::Setup)?;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        let setup = |e: wasmtime::Error| CallFailure::Setup(format!("{e:#}"));
        store.set_fuel(u64::MAX).map_err(setup)?;
        store.set_epoch_deadline(engine::ticks(plugin.spec.limits.timeout));
        match &plugin.pre {
            TypedPre::Validator(p) => p.instantiate_async(&mut store).await.map(drop),
            TypedPre::Recovery(p) => p.instantiate_async(&mut store).await.map(drop),
            TypedPre::Generator(p) => p.instantiate_async(&mut store).await.map(drop),
        }
        .map_err(setup)
    }

    async fn invoke(&self, plugin: &Plugin, call: Call) -> Invocation<Output> {
        let limits = plugin.spec.limits;
        let started = Instant::now();
        let mut invocation = Invocation {
            plugin: plugin.spec.name.clone(),
            digest: plugin.digest.clone(),
            outcome: Err(CallFailure::Setup(String::new())),
            cost: Cost::default(),
        };
        let ctx = match &call {
            Call::Validate(c) | Call::Decide(c, _) | Call::Generate(c, _) => c,
        };
        let call_ctx = CallContext {
            plugin: plugin.spec.name.as_str().into(),
            run_id: ctx.run_id.clone(),
            grants: plugin.spec.grants.for_run(&ctx.run_id),
            hub: self.hub.clone(),
            gpu: self.gpu.clone(),
            deadline: tokio::time::Instant::now() + limits.timeout,
            timeout: limits.timeout,
            meter: Meter {
                bytes_in: context_size(ctx) as u64,
                ..Meter::default()
            },
        };
        let state = match PluginState::new(call_ctx, &plugin.spec.grants, limits.memory_bytes) {
            Ok(s) => s,
            Err(e) => {
                invocation.outcome = Err(CallFailure::Setup(e));
                return invocation;
            }
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        let budget = limits.fuel.unwrap_or(u64::MAX);
        if let Err(e) = store.set_fuel(budget) {
            invocation.outcome = Err(CallFailure::Setup(format!("{e:#}")));
            return invocation;
        }
        store.set_epoch_deadline(engine::ticks(limits.timeout));

        let run = run_call(&mut store, &plugin.pre, call);
        let result = match tokio::time::timeout(limits.timeout + BACKSTOP, run).await {
            Ok(r) => r,
            Err(_) => Err(wasmtime::Error::new(Trap::Interrupt)),
        };

        let fuel_left = store.get_fuel().unwrap_or(0);
        let state = store.data();
        invocation.cost = Cost {
            wall: started.elapsed(),
            fuel: budget - fuel_left,
            peak_memory_bytes: state.limiter.peak as u64,
            bytes_in: state.call.meter.bytes_in,
            bytes_out: state.call.meter.bytes_out,
            host_calls: state.call.meter.host_calls,
            denied_calls: state.call.meter.denied_calls,
        };
        invocation.outcome = match result {
            Ok(Ok(output)) => {
                let size = output_size(&output);
                invocation.cost.bytes_out += size;
                if size > limits.max_result_bytes {
                    Err(CallFailure::ResultTooLarge {
                        size,
                        max: limits.max_result_bytes,
                    })
                } else {
                    Ok(output)
                }
            }
            Ok(Err(e)) => Err(CallFailure::Returned(plugin_error(&e))),
            Err(e) => Err(classify(&e, limits.timeout, budget, state.stderr_tail())),
        };
        if let Err(failure) = &invocation.outcome {
            tracing::warn!(plugin = %plugin.spec.name, "call failed: {failure}");
        }
        invocation
    }
}

async fn run_call(
    store: &mut Store<PluginState>,
    pre: &TypedPre,
    call: Call,
) -> wasmtime::Result<Result<Output, PluginError>> {
    Ok(match (pre, call) {
        (TypedPre::Validator(pre), Call::Validate(ctx)) => {
            let instance = pre.instantiate_async(&mut *store).await?;
            instance
                .call_validate(&mut *store, &ctx)
                .await?
                .map(Output::Validation)
        }
        (TypedPre::Recovery(pre), Call::Decide(ctx, failure)) => {
            let instance = pre.instantiate_async(&mut *store).await?;
            instance
                .call_decide(&mut *store, &ctx, &failure)
                .await?
                .map(Output::Action)
        }
        (TypedPre::Generator(pre), Call::Generate(ctx, seed)) => {
            let instance = pre.instantiate_async(&mut *store).await?;
            instance
                .call_generate(&mut *store, &ctx, seed)
                .await?
                .map(Output::Scenario)
        }
        _ => return Err(wasmtime::Error::msg(wrong_kind().to_string())),
    })
}

fn wrong_kind() -> CallFailure {
    CallFailure::Setup("the plugin is not of the kind this call needs".into())
}

/// Names what ended a call, in the words an operator needs.
fn classify(e: &wasmtime::Error, timeout: Duration, fuel: u64, stderr: String) -> CallFailure {
    if let Some(m) = e.downcast_ref::<MemoryCapExceeded>() {
        return CallFailure::MemoryExhausted(m.to_string());
    }
    if let Some(d) = e.downcast_ref::<HostCallDeadline>() {
        return CallFailure::HostCallTimeout(d.to_string());
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallFailure::Timeout(timeout),
        Some(Trap::StackOverflow) => CallFailure::StackOverflow,
        Some(Trap::OutOfFuel) => CallFailure::FuelExhausted(fuel),
        Some(Trap::UnreachableCodeReached) => CallFailure::Panicked(stderr),
        // Rust and C guests keep their stack frames in linear memory below the data; deep
        // recursion runs off its bottom long before the engine's own stack limit.
        Some(Trap::MemoryOutOfBounds) => CallFailure::Trap(format!(
            "{} (usually a stack overflow: the plugin's stack in linear memory ran out)",
            Trap::MemoryOutOfBounds
        )),
        Some(trap) => CallFailure::Trap(trap.to_string()),
        None => CallFailure::Trap(format!("{e:#}")),
    }
}

fn plugin_error(e: &PluginError) -> String {
    match e {
        PluginError::Config(m) => format!("bad plugin config: {m}"),
        PluginError::Host(h) => format!("host call failed: {h:?}"),
        PluginError::Internal(m) => m.clone(),
    }
}

fn context_size(ctx: &RunContext) -> usize {
    ctx.run_id.len()
        + ctx.scenario.len()
        + ctx.config.len()
        + ctx.request_ids.iter().map(String::len).sum::<usize>()
}

fn check_size(c: &Check) -> usize {
    c.name.len() + c.expected.len() + c.actual.len() + c.message.len() + 1
}

fn output_size(o: &Output) -> u64 {
    let bytes = match o {
        Output::Validation(v) => v.checks.iter().map(check_size).sum(),
        Output::Action(RecoveryAction::Degrade(s) | RecoveryAction::Abort(s)) => s.len(),
        Output::Action(_) => 8,
        Output::Scenario(s) => {
            s.id.len()
                + s.name.len()
                + s.description.len()
                + s.requests
                    .iter()
                    .map(|r| r.request_id.len() + r.team.len() + 24)
                    .sum::<usize>()
        }
    };
    bytes as u64
}

impl<T> Invocation<T> {
    fn map<U>(self, f: impl FnOnce(T) -> Result<U, CallFailure>) -> Invocation<U> {
        Invocation {
            plugin: self.plugin,
            digest: self.digest,
            outcome: self.outcome.and_then(f),
            cost: self.cost,
        }
    }
}
