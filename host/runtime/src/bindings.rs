//! Host bindings generated from the `aura:host` WIT package (`wit/`), the one source of
//! truth. The host-api world (every interface a plugin may import) is generated once and
//! each plugin world reuses it through `with`, so the host implements each interface once
//! and every kind of plugin shares the same `Check`, `HostError` and `RunContext` types.
//!
//! Every import is `async` (it talks to a real service) and `trappable` (a call that
//! outlives the plugin's deadline ends the invocation rather than returning to it).

/// The package version the host offers; a component built against another is refused.
pub const PACKAGE: &str = "aura:host";
pub const PACKAGE_VERSION: &str = "0.1.2";

pub mod api {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "host-api",
        imports: { default: async | trappable },
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

macro_rules! plugin_world {
    ($module:ident, $world:literal) => {
        pub mod $module {
            wasmtime::component::bindgen!({
                path: "../../wit",
                world: $world,
                imports: { default: async | trappable },
                exports: { default: async },
                additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
                with: {
                    "aura:host/types": crate::bindings::api::aura::host::types,
                    "aura:host/log": crate::bindings::api::aura::host::log,
                    "aura:host/graph": crate::bindings::api::aura::host::graph,
                    "aura:host/cache": crate::bindings::api::aura::host::cache,
                    "aura:host/events": crate::bindings::api::aura::host::events,
                    "aura:host/workflow": crate::bindings::api::aura::host::workflow,
                    "aura:host/trace": crate::bindings::api::aura::host::trace,
                    "aura:host/gpu": crate::bindings::api::aura::host::gpu,
                },
            });
        }
    };
}

plugin_world!(validator, "validator");
plugin_world!(recovery, "recovery-strategy");
plugin_world!(generator, "scenario-generator");

pub use api::aura::host::types::{Check, HostError, PluginError, RunContext, ValidationResult};
pub use generator::{GeneratedScenario, GpuRequest};
pub use recovery::{Failure, RecoveryAction};
