//! Host bindings generated from the `aura:host` WIT package (`wit/`), the one source of
//! truth. The host-api world (every interface a plugin may import) is generated once and
//! each plugin world reuses it through `with`, so the host implements each interface once
//! and every kind of plugin shares the same `Check`, `HostError` and `RunContext` types.
//!
//! Every import is `async` (it talks to a real service) and `trappable` (a call that
//! outlives the plugin's deadline ends the invocation rather than returning to it).
//!
//! Older minor versions the host still serves have their exports generated from their
//! frozen WIT (`wit/v0.N/`) in `v0_N`; their imports are served by this version's
//! implementation ([`crate::since_v0_1`]).

/// The package version the host implements: what components are built against today.
pub const PACKAGE: &str = "aura:host";
pub const PACKAGE_VERSION: &str = "0.2.0";

/// Every version served, oldest first; a component built against another is refused.
pub const SERVED_VERSIONS: [&str; 2] = [v0_1::PACKAGE_VERSION, PACKAGE_VERSION];

pub mod api {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "host-api",
        imports: { default: async | trappable },
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

macro_rules! plugin_world {
    ($path:literal, [$($api:tt)*], $module:ident, $world:literal) => {
        pub mod $module {
            wasmtime::component::bindgen!({
                path: $path,
                world: $world,
                imports: { default: async | trappable },
                exports: { default: async },
                additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
                with: {
                    "aura:host/types": $($api)*::types,
                    "aura:host/log": $($api)*::log,
                    "aura:host/graph": $($api)*::graph,
                    "aura:host/cache": $($api)*::cache,
                    "aura:host/events": $($api)*::events,
                    "aura:host/workflow": $($api)*::workflow,
                    "aura:host/trace": $($api)*::trace,
                    "aura:host/gpu": $($api)*::gpu,
                },
            });
        }
    };
}

plugin_world!(
    "../../wit",
    [crate::bindings::api::aura::host],
    validator,
    "validator"
);
plugin_world!(
    "../../wit",
    [crate::bindings::api::aura::host],
    recovery,
    "recovery-strategy"
);
plugin_world!(
    "../../wit",
    [crate::bindings::api::aura::host],
    generator,
    "scenario-generator"
);

/// The 0.1 contract (`wit/v0.1/`), frozen: what components built against 0.1.x export.
pub mod v0_1 {
    pub const PACKAGE_VERSION: &str = "0.1.2";

    pub mod api {
        wasmtime::component::bindgen!({
            path: "../../wit/v0.1",
            world: "host-api",
            imports: { default: async | trappable },
            additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
        });
    }

    plugin_world!(
        "../../wit/v0.1",
        [crate::bindings::v0_1::api::aura::host],
        validator,
        "validator"
    );
    plugin_world!(
        "../../wit/v0.1",
        [crate::bindings::v0_1::api::aura::host],
        recovery,
        "recovery-strategy"
    );
    plugin_world!(
        "../../wit/v0.1",
        [crate::bindings::v0_1::api::aura::host],
        generator,
        "scenario-generator"
    );
}

pub use api::aura::host::types::{
    Check, FaultFact, HostError, LoadFacts, PluginError, RunContext, Step, ValidationResult,
};
pub use generator::{GeneratedScenario, GpuRequest};
pub use recovery::{Failure, RecoveryAction};

/// The contract's steps as the WIT names them (one `match`: a new step fails to compile
/// here until the WIT has it).
impl From<aura_contract::Step> for Step {
    fn from(s: aura_contract::Step) -> Self {
        use aura_contract::Step as S;
        match s {
            S::ValidateRequest => Self::ValidateRequest,
            S::LoadContext => Self::LoadContext,
            S::CouncilVote => Self::CouncilVote,
            S::AllocateDevices => Self::AllocateDevices,
            S::PersistDecision => Self::PersistDecision,
            S::CacheContext => Self::CacheContext,
            S::PublishDecision => Self::PublishDecision,
        }
    }
}
