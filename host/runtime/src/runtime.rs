//! The plugin runtime: loads plugins and calls them, each call in a fresh store with the
//! plugin's limits and grants, its cost measured, and any way it can go wrong (trap,
//! deadline, stack overflow, memory cap, fuel, oversized result) turned into that
//! plugin's failed result. Nothing a plugin does reaches the host or another plugin.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

use super::bindings::{
    Failure, GeneratedScenario, HostError, PluginError, RecoveryAction, RunContext,
    ValidationResult,
};
use super::engine::{self, EpochTicker};
use super::error::LoadError;
use super::grants::Grants;
use super::host::{CallContext, HostCallDeadline, Meter};
use super::limits::{Limits, MemoryCapExceeded};
use super::load::{self, ComponentFacts, Plugin, PluginSpec, TypedPre};
use super::state::PluginState;
use super::tape::{CallInput as Call, CallOutput as Output, OnMiss, Recording, Replay, Tape};
use super::{size, text};
use aura_services::ServiceHub;

/// Extra wall time past a plugin's deadline before the host abandons the call outright.
/// Wasm code and `aura:host` calls end at the deadline itself; only a plugin blocked in
/// a WASI call (a sleep, a poll) runs into this.
const BACKSTOP: Duration = Duration::from_millis(250);

/// How the runtime is set up; one per process.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Where compiled components are kept between runs; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Plugin calls in flight at once (the instance pool's size); calls beyond it wait
    /// for a free slot within their own deadline.
    pub instances: u32,
}

/// The instance pool's default size.
pub const DEFAULT_INSTANCES: u32 = 64;

/// The largest pool a configuration may ask for (each slot reserves address space).
pub const MAX_INSTANCES: u32 = 1024;

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            cache_dir: None,
            instances: DEFAULT_INSTANCES,
        }
    }
}

pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<PluginState>,
    cache_dir: Option<PathBuf>,
    hub: Arc<ServiceHub>,
    gpu: Option<Arc<dyn crate::GpuAccess>>,
    /// One permit per pool slot: a call holds one from instantiation to its end.
    slots: Arc<Semaphore>,
    instances: u32,
    /// Components compiled in this process, by digest: loading a plugin again (another
    /// spec, a reload of the same bytes) does not compile it again.
    compiled: std::sync::Mutex<std::collections::HashMap<String, Component>>,
    /// Where every call's recording goes (`run --record DIR`).
    record: Option<PathBuf>,
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
    /// Log lines (`log.log` and denial notices) the host dropped: over the per-call cap.
    pub log_lines_dropped: u32,
    /// Time spent waiting for a free instance slot before the call could start.
    pub queued: Duration,
}

/// Why a call produced no result. Always the plugin's failure, never the host's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum CallFailure {
    #[error("deadline of {0:?} exceeded")]
    Timeout(Duration),
    #[error(
        "deadline of {limit:?} exceeded while the plugin was blocked in a WASI call; \
         abandoned after {after:?}"
    )]
    Abandoned { limit: Duration, after: Duration },
    #[error(
        "deadline of {0:?} exceeded while waiting for a free plugin instance slot \
         (all {1} busy; raise `[run] plugin_instances`)"
    )]
    NoSlot(Duration, u32),
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

/// A replayed call: its outcome, and how the recording served it.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub invocation: Invocation<Output>,
    /// Host calls the recording had no answer to, as `call [args]`.
    pub misses: Vec<String>,
    /// Recorded host calls the replayed plugin never asked for.
    pub unused: usize,
}

impl PluginRuntime {
    /// One engine per process.
    pub fn new(hub: Arc<ServiceHub>, options: RuntimeOptions) -> Result<Self, LoadError> {
        if options.instances == 0 || options.instances > MAX_INSTANCES {
            return Err(LoadError::Engine(format!(
                "run.plugin_instances must be between 1 and {MAX_INSTANCES}, got {}",
                options.instances
            )));
        }
        let engine = engine::engine(options.instances, options.cache_dir.as_deref())?;
        let linker = engine::linker(&engine)?;
        let ticker = EpochTicker::start(engine.clone());
        Ok(Self {
            engine,
            linker,
            cache_dir: options.cache_dir,
            hub,
            gpu: None,
            slots: Arc::new(Semaphore::new(options.instances as usize)),
            instances: options.instances,
            compiled: Default::default(),
            record: None,
            _ticker: ticker,
        })
    }

    /// Gives plugins granted `gpu` these GPUs (without, their calls are `unavailable`).
    /// Records every call, with its host calls, into `dir` (see [`crate::tape`]).
    pub fn record_into(mut self, dir: Option<PathBuf>) -> Self {
        self.record = dir;
        self
    }

    pub fn with_gpu(mut self, gpu: Arc<dyn crate::GpuAccess>) -> Self {
        self.gpu = Some(gpu);
        self
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The instance pool's size: plugin calls that can run at once.
    pub fn instances(&self) -> u32 {
        self.instances
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
            contract: facts.package_version.clone().unwrap_or_default(),
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
        self.validate_until(plugin, ctx, None).await
    }

    /// [`Self::validate`], ending by `until` if that comes before the plugin's own
    /// deadline (what is left of a scenario's `max_execution_time`).
    pub async fn validate_until(
        &self,
        plugin: &Plugin,
        ctx: RunContext,
        until: Option<Instant>,
    ) -> Invocation<ValidationResult> {
        self.invoke(plugin, Call::Validate { ctx }, until)
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
        self.invoke(plugin, Call::Decide { ctx, failure }, None)
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
        self.invoke(plugin, Call::Generate { ctx, seed }, None)
            .await
            .map(|o| match o {
                Output::Scenario(s) => Ok(s),
                _ => Err(wrong_kind()),
            })
    }

    /// Calls `plugin` as `recording` says, its host calls answered from the recording
    /// (no service is reached unless a miss passes through). Refuses a recording of
    /// another plugin.
    pub async fn replay(
        &self,
        plugin: &Plugin,
        path: &std::path::Path,
        recording: &Recording,
        on_miss: OnMiss,
    ) -> Result<Replayed, crate::tape::TapeError> {
        recording.check_identity(path, &plugin.identity())?;
        let tape = Tape::Replay(Replay::new(&recording.calls, on_miss));
        let (invocation, tape) = self
            .call_with(plugin, recording.input.clone(), None, Some(tape))
            .await;
        let (misses, unused) = match tape {
            Some(Tape::Replay(r)) => {
                let unused = r.unused();
                (r.misses, unused)
            }
            _ => (
                vec!["the call ended before its host calls could be counted".into()],
                0,
            ),
        };
        Ok(Replayed {
            invocation,
            misses,
            unused,
        })
    }

    async fn invoke(
        &self,
        plugin: &Plugin,
        call: Call,
        until: Option<Instant>,
    ) -> Invocation<Output> {
        let Some(dir) = &self.record else {
            return self.call_with(plugin, call, until, None).await.0;
        };
        let input = call.clone();
        let (invocation, tape) = self
            .call_with(plugin, call, until, Some(Tape::Record(Vec::new())))
            .await;
        let recording = Recording {
            identity: plugin.identity(),
            input,
            calls: match tape {
                Some(Tape::Record(calls)) => calls,
                _ => Vec::new(),
            },
            result: invocation.outcome.clone(),
        };
        // A file write: off the async workers, which other plugins' calls share.
        let under = dir.clone();
        let written = tokio::task::spawn_blocking(move || recording.write_under(&under)).await;
        match written {
            Ok(Ok(path)) => {
                tracing::debug!(plugin = %plugin.spec.name, "recorded into {}", path.display())
            }
            Ok(Err(e)) => {
                tracing::warn!(plugin = %plugin.spec.name, "cannot record into {}: {e}", dir.display())
            }
            Err(e) => {
                tracing::warn!(plugin = %plugin.spec.name, "recording into {} ended: {e}", dir.display())
            }
        }
        invocation
    }

    /// A fresh store and instance with no call: what every call pays before the guest
    /// runs. For the benchmarks.
    #[doc(hidden)]
    pub async fn instantiate_only(&self, plugin: &Plugin) -> Result<(), CallFailure> {
        let mut store = self
            .store(
                plugin,
                plugin.spec.limits,
                "",
                Grants::default(),
                Meter::default(),
                None,
            )
            .map_err(CallFailure::Setup)?;
        let setup = |e: wasmtime::Error| CallFailure::Setup(format!("{e:#}"));
        match &plugin.pre {
            TypedPre::Validator(p) => p.instantiate_async(&mut store).await.map(drop),
            TypedPre::Recovery(p) => p.instantiate_async(&mut store).await.map(drop),
            TypedPre::Generator(p) => p.instantiate_async(&mut store).await.map(drop),
            TypedPre::ValidatorV0_1(p) => p.instantiate_async(&mut store).await.map(drop),
            TypedPre::RecoveryV0_1(p) => p.instantiate_async(&mut store).await.map(drop),
            TypedPre::GeneratorV0_1(p) => p.instantiate_async(&mut store).await.map(drop),
        }
        .map_err(setup)
    }

    /// A store for one call: the plugin's grants, limits, fuel and deadline. Wasm code
    /// yields to the executor on every epoch tick, so a plugin that never calls the host
    /// still lets the other calls on its thread make progress, and traps at its deadline.
    fn store(
        &self,
        plugin: &Plugin,
        limits: Limits,
        run_id: &str,
        grants: Grants,
        meter: Meter,
        tape: Option<Tape>,
    ) -> Result<Store<PluginState>, String> {
        let deadline = tokio::time::Instant::now() + limits.timeout;
        let call = CallContext {
            plugin: plugin.spec.name.as_str().into(),
            run_id: run_id.to_string(),
            grants,
            hub: self.hub.clone(),
            gpu: self.gpu.clone(),
            deadline,
            limits,
            meter,
            tape,
        };
        let state = PluginState::new(call, &plugin.spec.grants, limits.memory_bytes)?;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store
            .set_fuel(limits.fuel.unwrap_or(u64::MAX))
            .map_err(|e| format!("{e:#}"))?;
        let deadline = deadline.into_std();
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))
            })
        });
        store.set_epoch_deadline(1);
        Ok(store)
    }

    /// One call in a fresh store; gives back the tape it ran with (when the call got as
    /// far as having one).
    async fn call_with(
        &self,
        plugin: &Plugin,
        call: Call,
        until: Option<Instant>,
        tape: Option<Tape>,
    ) -> (Invocation<Output>, Option<Tape>) {
        let started = Instant::now();
        let mut limits = plugin.spec.limits;
        if let Some(until) = until {
            limits.timeout = limits.timeout.min(until.saturating_duration_since(started));
        }
        let mut invocation = Invocation {
            plugin: plugin.spec.name.clone(),
            digest: plugin.digest.clone(),
            outcome: Err(CallFailure::Setup(String::new())),
            cost: Cost::default(),
        };
        // A call beyond the pool's capacity waits for a slot, within its own deadline.
        let slot = tokio::time::timeout(limits.timeout, self.slots.clone().acquire_owned()).await;
        let permit = match slot {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => {
                invocation.outcome = Err(CallFailure::Setup("the runtime is shutting down".into()));
                return (invocation, None);
            }
            Err(_) => {
                invocation.cost.wall = started.elapsed();
                invocation.outcome = Err(CallFailure::NoSlot(limits.timeout, self.instances));
                return (invocation, None);
            }
        };
        let queued = started.elapsed();
        let ctx = call.context();
        let meter = Meter {
            bytes_in: context_size(ctx) as u64,
            ..Meter::default()
        };
        let grants = plugin.spec.grants.for_call(&ctx.run_id, &ctx.request_ids);
        // The deadline counts from the call, the wait for a slot included.
        let mut running = limits;
        running.timeout = limits.timeout.saturating_sub(queued);
        let mut store = match self.store(plugin, running, &ctx.run_id, grants, meter, tape) {
            Ok(s) => s,
            Err(e) => {
                invocation.outcome = Err(CallFailure::Setup(e));
                return (invocation, None);
            }
        };
        // A call that finishes without waiting (no host call to await, no epoch tick
        // reached) runs where the caller runs: no task, no thread hop. One that waits
        // goes on as a task of its own, so calls run in parallel on the executor's
        // threads and a hog shares a thread with no one. A panic in host code ends
        // only this call either way.
        let pre = plugin.pre.clone();
        let mut call = std::panic::AssertUnwindSafe(Box::pin(async move {
            let result = run_call(&mut store, &pre, call).await;
            drop(permit);
            (store, result)
        }))
        .catch_unwind();
        let finished = match futures::poll!(&mut call) {
            std::task::Poll::Ready(done) => done,
            std::task::Poll::Pending => {
                let mut task = AbortOnDrop(tokio::spawn(call));
                let remaining = running.timeout + BACKSTOP;
                match tokio::time::timeout(remaining, &mut task.0).await {
                    Ok(Ok(done)) => done,
                    Ok(Err(e)) => Err(Box::new(e.to_string()) as Box<dyn std::any::Any + Send>),
                    Err(_) => {
                        let after = started.elapsed();
                        invocation.cost.wall = after;
                        invocation.cost.queued = queued;
                        let failure = CallFailure::Abandoned {
                            limit: limits.timeout,
                            after,
                        };
                        tracing::warn!(plugin = %plugin.spec.name, "call failed: {failure}");
                        invocation.outcome = Err(failure);
                        return (invocation, None);
                    }
                }
            }
        };
        let (mut store, result) = match finished {
            Ok(done) => done,
            Err(panic) => {
                invocation.cost.wall = started.elapsed();
                invocation.outcome = Err(CallFailure::Trap(text::escape(
                    &format!("the call ended abnormally: {}", panic_message(&panic)),
                    text::MAX_MESSAGE_BYTES,
                )));
                return (invocation, None);
            }
        };

        let tape = store.data_mut().call.tape.take();
        let budget = limits.fuel.unwrap_or(u64::MAX);
        let fuel_left = store.get_fuel().unwrap_or(0);
        let state = store.data();
        let meter = state.call.meter;
        invocation.cost = Cost {
            wall: started.elapsed(),
            fuel: budget - fuel_left,
            peak_memory_bytes: state.limiter.peak as u64,
            bytes_in: meter.bytes_in,
            bytes_out: meter.bytes_out,
            host_calls: meter.host_calls,
            denied_calls: meter.denied_calls,
            log_lines_dropped: meter.log_lines_dropped(),
            queued,
        };
        invocation.outcome = match result {
            Ok(Ok(mut output)) => {
                let size = output_size(&output, limits.max_result_bytes);
                invocation.cost.bytes_out += size;
                if size > limits.max_result_bytes {
                    Err(CallFailure::ResultTooLarge {
                        size,
                        max: limits.max_result_bytes,
                    })
                } else {
                    clean_output(&mut output, limits.max_result_bytes as usize);
                    Ok(output)
                }
            }
            Ok(Err(e)) => {
                let (message, size) = plugin_error(&e, limits.max_result_bytes as usize);
                invocation.cost.bytes_out += size as u64;
                if size as u64 > limits.max_result_bytes {
                    Err(CallFailure::ResultTooLarge {
                        size: size as u64,
                        max: limits.max_result_bytes,
                    })
                } else {
                    Err(CallFailure::Returned(message))
                }
            }
            Err(e) => Err(classify(&e, limits.timeout, budget, state.stderr_tail())),
        };
        if let Err(failure) = &invocation.outcome {
            tracing::warn!(plugin = %plugin.spec.name, "call failed: {failure}");
        }
        (invocation, tape)
    }
}

/// A call's task, stopped when the caller stops waiting for it: a cancelled run or an
/// abandoned call does not keep a plugin running, or its pool slot taken.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a panic carried, when it was a message.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic")
}

async fn run_call(
    store: &mut Store<PluginState>,
    pre: &TypedPre,
    call: Call,
) -> wasmtime::Result<Result<Output, PluginError>> {
    Ok(match (pre, call) {
        (TypedPre::Validator(pre), Call::Validate { ctx }) => {
            let instance = pre.instantiate_async(&mut *store).await?;
            instance
                .call_validate(&mut *store, &ctx)
                .await?
                .map(Output::Validation)
        }
        (TypedPre::Recovery(pre), Call::Decide { ctx, failure }) => {
            let instance = pre.instantiate_async(&mut *store).await?;
            instance
                .call_decide(&mut *store, &ctx, &failure)
                .await?
                .map(Output::Action)
        }
        (TypedPre::Generator(pre), Call::Generate { ctx, seed }) => {
            let instance = pre.instantiate_async(&mut *store).await?;
            instance
                .call_generate(&mut *store, &ctx, seed)
                .await?
                .map(Output::Scenario)
        }
        // Built against 0.1: the call crosses into its types and back.
        (TypedPre::ValidatorV0_1(pre), Call::Validate { ctx }) => {
            let instance = pre.instantiate_async(&mut *store).await?;
            instance
                .call_validate(&mut *store, &(&ctx).into())
                .await?
                .map(|r| Output::Validation(r.into()))
                .map_err(Into::into)
        }
        (TypedPre::RecoveryV0_1(pre), Call::Decide { ctx, failure }) => {
            let instance = pre.instantiate_async(&mut *store).await?;
            instance
                .call_decide(&mut *store, &(&ctx).into(), &(&failure).into())
                .await?
                .map(|a| Output::Action(a.into()))
                .map_err(Into::into)
        }
        (TypedPre::GeneratorV0_1(pre), Call::Generate { ctx, seed }) => {
            let instance = pre.instantiate_async(&mut *store).await?;
            instance
                .call_generate(&mut *store, &(&ctx).into(), seed)
                .await?
                .map(|s| Output::Scenario(s.into()))
                .map_err(Into::into)
        }
        _ => return Err(wasmtime::Error::msg(wrong_kind().to_string())),
    })
}

fn wrong_kind() -> CallFailure {
    CallFailure::Setup("the plugin is not of the kind this call needs".into())
}

/// Names what ended a call, in the words an operator needs. Anything that can carry the
/// plugin's words (stderr, names in a backtrace) is escaped and bounded.
fn classify(e: &wasmtime::Error, timeout: Duration, fuel: u64, stderr: String) -> CallFailure {
    let shown = |s: &str| text::escape(s, text::MAX_MESSAGE_BYTES);
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
        Some(Trap::UnreachableCodeReached) => CallFailure::Panicked(if stderr.is_empty() {
            // No message: say where, which is often an allocator or a post-return.
            shown(&format!("{e:#}"))
        } else {
            shown(&stderr)
        }),
        // Rust and C guests keep their stack frames in linear memory below the data; deep
        // recursion runs off its bottom long before the engine's own stack limit.
        Some(Trap::MemoryOutOfBounds) => CallFailure::Trap(format!(
            "{} (usually a stack overflow: the plugin's stack in linear memory ran out)",
            Trap::MemoryOutOfBounds
        )),
        Some(trap) => CallFailure::Trap(shown(&format!("{trap}: {e:#}"))),
        None => CallFailure::Trap(shown(&format!("{e:#}"))),
    }
}

/// The plugin's error in words, escaped, and the bytes it had.
fn plugin_error(e: &PluginError, max: usize) -> (String, usize) {
    let (prefix, message) = match e {
        PluginError::Config(m) => ("bad plugin config: ", m.as_str()),
        PluginError::Host(h) => ("host call failed: ", host_error_text(h)),
        PluginError::Internal(m) => ("", m.as_str()),
    };
    let limit = max.min(text::MAX_MESSAGE_BYTES);
    (
        format!("{prefix}{}", text::escape(message, limit)),
        message.len(),
    )
}

fn host_error_text(h: &HostError) -> &str {
    match h {
        HostError::Denied(m)
        | HostError::Unavailable(m)
        | HostError::Invalid(m)
        | HostError::Timeout(m) => m,
    }
}

fn context_size(ctx: &RunContext) -> usize {
    ctx.run_id.len()
        + ctx.scenario.len()
        + ctx.config.len()
        + ctx.request_ids.iter().map(String::len).sum::<usize>()
}

/// The output's encoded (JSON) size, given up once past `max`.
fn output_size(o: &Output, max: u64) -> u64 {
    match o {
        Output::Validation(v) => size::encoded(v, max),
        Output::Action(a) => size::encoded(a, max),
        Output::Scenario(s) => size::encoded(s, max),
    }
}

/// Escapes every string of an accepted output, so nothing a plugin returns can pass
/// for the host's own output in a summary, a log or a report.
fn clean_output(o: &mut Output, max: usize) {
    let clean = |s: &mut String| {
        text::clean_in_place(s, max);
    };
    match o {
        Output::Validation(v) => v.checks.iter_mut().for_each(|c| {
            clean(&mut c.name);
            clean(&mut c.expected);
            clean(&mut c.actual);
            clean(&mut c.message);
        }),
        Output::Action(RecoveryAction::Degrade(s) | RecoveryAction::Abort(s)) => clean(s),
        Output::Action(_) => {}
        Output::Scenario(s) => {
            clean(&mut s.id);
            clean(&mut s.name);
            clean(&mut s.description);
            for r in &mut s.requests {
                clean(&mut r.request_id);
                clean(&mut r.team);
                if let Some(m) = &mut r.gpu_model {
                    clean(m);
                }
            }
        }
    }
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
