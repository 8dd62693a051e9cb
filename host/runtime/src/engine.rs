//! The one wasmtime engine of a host process: pooling allocator, epoch interruption
//! (wall-clock deadlines), fuel (instruction budgets, and a deterministic cost figure for
//! every call), and an on-disk cache of compiled components keyed by content digest and
//! engine version, so a plugin is compiled once per machine, not once per run. Beside it,
//! Cranelift's per-function cache: a new version of a plugin compiles only the
//! functions that changed, which is most of what a hot reload waits for.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::{Component, Linker};
use wasmtime::{
    CacheStore, Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
};

use super::bindings::api::HostApi;
use super::error::LoadError;
use super::limits::MAX_MEMORY_BYTES;
use super::state::PluginState;

/// How often the epoch advances; deadlines are accurate to about this.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Core instances, memories and tables one component may have.
const CORE_INSTANCES_PER_COMPONENT: u32 = 32;
const MEMORIES_PER_COMPONENT: u32 = 4;
const TABLES_PER_COMPONENT: u32 = 16;

const KEEP_RESIDENT_MEMORY: usize = 1 << 20;
const KEEP_RESIDENT_TABLE: usize = 64 << 10;

/// `instances` is the most plugin calls in flight in one process; each slot can hold a
/// component as large as the per-component maxima, so a call that got a slot never
/// finds the pool's memories or tables used up by others. With a `cache_dir`, compiled
/// functions are kept in it too.
pub(super) fn engine(instances: u32, cache_dir: Option<&Path>) -> Result<Engine, LoadError> {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        .total_core_instances(instances * CORE_INSTANCES_PER_COMPONENT)
        .total_memories(instances * MEMORIES_PER_COMPONENT)
        .total_tables(instances * TABLES_PER_COMPONENT)
        .total_stacks(instances)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_memory_size(MAX_MEMORY_BYTES as usize)
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY)
        .table_keep_resident(KEEP_RESIDENT_TABLE);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    if let Some(dir) = cache_dir {
        let functions = FunctionCache {
            dir: dir.join("functions"),
        };
        config
            .enable_incremental_compilation(Arc::new(functions))
            .map_err(|e| LoadError::Engine(format!("{e:#}")))?;
    }
    Engine::new(&config).map_err(|e| LoadError::Engine(format!("{e:#}")))
}

/// The linker every plugin is instantiated with: all of WASI p2 (so components from any
/// toolchain link; the empty context denies it at run time) and the aura:host interfaces.
pub(super) fn linker(engine: &Engine) -> Result<Linker<PluginState>, LoadError> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .map_err(|e| LoadError::Engine(format!("linking WASI: {e:#}")))?;
    HostApi::add_to_linker::<_, wasmtime::component::HasSelf<PluginState>>(&mut linker, |s| s)
        .map_err(|e| LoadError::Engine(format!("linking aura:host: {e:#}")))?;
    super::since_v0_1::link(&mut linker)
        .map_err(|e| LoadError::Engine(format!("linking aura:host 0.1: {e:#}")))?;
    Ok(linker)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub(super) struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    pub(super) fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("aura-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .ok();
        Self { stop, thread }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Compiles `bytes`, or loads the artifact compiled earlier for the same digest and engine.
pub(super) fn compile(
    engine: &Engine,
    cache_dir: Option<&Path>,
    digest: &str,
    bytes: &[u8],
) -> wasmtime::Result<Component> {
    let Some(dir) = cache_dir else {
        return Component::new(engine, bytes);
    };
    let artifact = artifact_path(engine, dir, digest);
    if artifact.exists() {
        // SAFETY: the cache directory is the host's own; artifacts are written only by
        // `Engine::precompile_component` below and named by the engine's compatibility
        // hash, so a stale or foreign artifact is never loaded by this engine.
        match unsafe { Component::deserialize_file(engine, &artifact) } {
            Ok(c) => return Ok(c),
            Err(e) => tracing::warn!(artifact = %artifact.display(), "recompiling: {e:#}"),
        }
    }
    let compiled = engine.precompile_component(bytes)?;
    // SAFETY: the bytes were produced by this engine a moment ago.
    let component = unsafe { Component::deserialize(engine, &compiled)? };
    if let Err(e) = write_atomically(dir, &artifact, &compiled) {
        tracing::warn!(dir = %dir.display(), "compile cache not written: {e}");
    }
    Ok(component)
}

/// Cranelift's incremental compilation cache, one file per compiled function, named by
/// the digest of its key (the function's IR and the compiler's settings). A read or
/// write that fails is a cache miss: the function is compiled as if it were new.
#[derive(Debug)]
struct FunctionCache {
    dir: PathBuf,
}

impl FunctionCache {
    fn path(&self, key: &[u8]) -> PathBuf {
        let name = super::load::digest(key);
        // Two levels, so no directory holds every function of every plugin.
        self.dir.join(&name[..2]).join(&name[2..])
    }
}

impl CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        std::fs::read(self.path(key)).ok().map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let path = self.path(key);
        path.parent()
            .is_some_and(|dir| write_atomically(dir, &path, &value).is_ok())
    }
}

fn artifact_path(engine: &Engine, dir: &Path, digest: &str) -> PathBuf {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    dir.join(format!("{digest}-{:016x}.cwasm", hasher.finish()))
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
