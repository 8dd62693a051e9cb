//! The plugin runtime: WebAssembly components (validators, recovery strategies,
//! scenario generators) loaded into a sandbox, granted only what their manifest allows,
//! limited in memory, time and result size, and served by the host's real services.
//!
//! - [`PluginRuntime`]: the engine, loading, calling ([`Invocation`], [`Cost`]).
//! - [`PluginSpec`], [`Grants`], [`Limits`]: what a plugin is allowed.
//! - [`manifest`]: plugin sets pinned by digest, for CI.
//! - [`reload`]: hot reload of changed `.wasm` files.
//! - [`tape`]: recordings of plugin calls, replayed with no service running.
//! - [`GpuAccess`]: the GPUs the embedder lends the `gpu` interface.
//!
//! It knows the service layer (`aura-services`) and nothing above it: no scenario,
//! orchestrator, report or system under test.

// wasmtime's generated bindings and the service futures nest deeply.
#![recursion_limit = "256"]

pub mod bindings;
mod engine;
mod error;
mod gpu_access;
mod grants;
mod host;
mod limits;
mod load;
pub mod manifest;
pub mod reload;
mod runtime;
mod since_v0_1;
mod size;
mod state;
pub mod tape;
pub mod text;

#[cfg(test)]
mod fuzz;

pub use error::LoadError;
pub use gpu_access::{GpuAccess, GpuDevice, GpuProbe};
pub use grants::{Access, CacheGrant, Denial, EventsGrant, Grants};
pub use limits::Limits;
pub use load::{ComponentFacts, Plugin, PluginKind, PluginSpec, digest, served};
pub use runtime::{
    CallFailure, Cost, DEFAULT_INSTANCES, Invocation, MAX_INSTANCES, PluginRuntime, Replayed,
    RuntimeOptions,
};
pub use state::DIRECTORY_MOUNT;
