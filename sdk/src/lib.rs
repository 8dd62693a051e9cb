//! aura-sdk: what a Rust aura-host plugin author depends on.
//!
//! - the bindings generated from the `aura:host` WIT package (`wit/`), re-exported here;
//! - [`contract`]: the names of the reference target's data, its steps, outcomes and id
//!   rules, shared with the host (the `aura-contract` crate);
//! - helpers: checks with expected/actual ([`Check::expect_eq`]), typed configuration
//!   ([`RunContext::config`]), run-scoped key and topic names, `?` from host errors;
//! - an export macro per plugin kind: [`export_validator!`], [`export_recovery_strategy!`],
//!   [`export_scenario_generator!`];
//! - [`footprint`]: the reference target's data in a run for validators that check it
//!   (run-scoped names, the injected [`HostFacts`], the reference decision, polling with
//!   one deadline, JSON comparison);
//! - with the `testing` feature (native targets only), [`testing`] runs your component in
//!   the real host runtime from `cargo test`.
//!
//! Complete examples, one per kind: `plugins/smoke_validator`, `plugins/exponential_backoff`
//! and `plugins/burst_generator`.

/// The names shared with the host: keys, topics, graph labels, steps, outcomes, id rules.
pub use aura_contract as contract;
pub use aura_contract::{DenialClass, Outcome, Step};

pub mod bindings;
pub mod footprint;
mod helpers;
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub mod testing;

pub use bindings::api::aura::host::log::{Level, log};
pub use bindings::api::aura::host::types::{
    Check, HostError, PluginError, RunContext, ValidationResult,
};
pub use bindings::api::aura::host::{cache, events, gpu, graph, trace, workflow};
pub use bindings::generator::{GeneratedScenario, GpuRequest};
pub use bindings::recovery::{Failure, RecoveryAction};
pub use bindings::{generator, recovery, validator};
pub use footprint::{Footprint, HostFacts, Poll, check_name, json_check, poll_until};

/// `export_validator!(MyValidator)` where `MyValidator: aura_sdk::validator::Guest`.
#[macro_export]
macro_rules! export_validator {
    ($ty:ident) => {
        $crate::bindings::validator::export_validator!($ty with_types_in $crate::bindings::validator);
    };
}

/// `export_recovery_strategy!(MyStrategy)` where `MyStrategy: aura_sdk::recovery::Guest`.
#[macro_export]
macro_rules! export_recovery_strategy {
    ($ty:ident) => {
        $crate::bindings::recovery::export_recovery_strategy!($ty with_types_in $crate::bindings::recovery);
    };
}

/// `export_scenario_generator!(MyGenerator)` where `MyGenerator: aura_sdk::generator::Guest`.
#[macro_export]
macro_rules! export_scenario_generator {
    ($ty:ident) => {
        $crate::bindings::generator::export_scenario_generator!($ty with_types_in $crate::bindings::generator);
    };
}
