//! The 0.1 contract, served to components built against any 0.1.x. Its interfaces'
//! functions are unchanged in the latest version, so the latest implementation answers
//! them under their 0.1 names (the linker checks types structurally); its exports take a
//! 0.1 `run-context`, so calls cross through the conversions below. Nothing of the host's
//! implementation is copied per version.

use wasmtime::component::{HasSelf, Linker};

use super::bindings::api::aura::host as latest;
use super::bindings::v0_1::api::aura::host::types as old;
use super::bindings::v0_1::{generator, recovery};
use super::bindings::{self, PACKAGE, v0_1};
use super::state::PluginState;

/// Whether a component built against `version` is served through this module.
pub(crate) fn serves(version: &str) -> bool {
    super::load::compatible(version, v0_1::PACKAGE_VERSION)
}

/// Defines every `aura:host` interface under its 0.1 name, answered by the latest
/// implementation.
pub(crate) fn link(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    type Here = HasSelf<PluginState>;
    let name = |interface: &str| format!("{PACKAGE}/{interface}@{}", v0_1::PACKAGE_VERSION);
    // Types only: an instance with nothing in it, as the generated linker defines it.
    linker.instance(&name("types"))?;
    latest::log::add_to_linker_instance::<_, Here>(&mut linker.instance(&name("log"))?, |s| s)?;
    latest::graph::add_to_linker_instance::<_, Here>(&mut linker.instance(&name("graph"))?, |s| s)?;
    latest::cache::add_to_linker_instance::<_, Here>(&mut linker.instance(&name("cache"))?, |s| s)?;
    latest::events::add_to_linker_instance::<_, Here>(
        &mut linker.instance(&name("events"))?,
        |s| s,
    )?;
    latest::workflow::add_to_linker_instance::<_, Here>(
        &mut linker.instance(&name("workflow"))?,
        |s| s,
    )?;
    latest::trace::add_to_linker_instance::<_, Here>(&mut linker.instance(&name("trace"))?, |s| s)?;
    latest::gpu::add_to_linker_instance::<_, Here>(&mut linker.instance(&name("gpu"))?, |s| s)?;
    Ok(())
}

/// A 0.1 plugin sees the context without what 0.2 added (faults, load).
impl From<&bindings::RunContext> for old::RunContext {
    fn from(c: &bindings::RunContext) -> Self {
        Self {
            run_id: c.run_id.clone(),
            scenario: c.scenario.clone(),
            request_ids: c.request_ids.clone(),
            config: c.config.clone(),
        }
    }
}

impl From<&bindings::Failure> for recovery::Failure {
    fn from(f: &bindings::Failure) -> Self {
        Self {
            service: f.service.clone(),
            operation: f.operation.clone(),
            attempt: f.attempt,
            error: f.error.clone(),
            elapsed_ms: f.elapsed_ms,
        }
    }
}

impl From<old::ValidationResult> for bindings::ValidationResult {
    fn from(r: old::ValidationResult) -> Self {
        Self {
            checks: r.checks.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<old::Check> for bindings::Check {
    fn from(c: old::Check) -> Self {
        Self {
            name: c.name,
            passed: c.passed,
            expected: c.expected,
            actual: c.actual,
            message: c.message,
        }
    }
}

impl From<recovery::RecoveryAction> for bindings::RecoveryAction {
    fn from(a: recovery::RecoveryAction) -> Self {
        match a {
            recovery::RecoveryAction::Retry(ms) => Self::Retry(ms),
            recovery::RecoveryAction::Skip => Self::Skip,
            recovery::RecoveryAction::Degrade(how) => Self::Degrade(how),
            recovery::RecoveryAction::Abort(why) => Self::Abort(why),
        }
    }
}

impl From<generator::GeneratedScenario> for bindings::GeneratedScenario {
    fn from(s: generator::GeneratedScenario) -> Self {
        Self {
            id: s.id,
            name: s.name,
            description: s.description,
            requests: s.requests.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<generator::GpuRequest> for bindings::GpuRequest {
    fn from(r: generator::GpuRequest) -> Self {
        Self {
            request_id: r.request_id,
            team: r.team,
            gpu_count: r.gpu_count,
            gpu_model: r.gpu_model,
            memory_gb: r.memory_gb,
            priority: r.priority,
            duration_minutes: r.duration_minutes,
        }
    }
}

impl From<old::PluginError> for bindings::PluginError {
    fn from(e: old::PluginError) -> Self {
        match e {
            old::PluginError::Config(m) => Self::Config(m),
            old::PluginError::Host(h) => Self::Host(h.into()),
            old::PluginError::Internal(m) => Self::Internal(m),
        }
    }
}

impl From<old::HostError> for bindings::HostError {
    fn from(e: old::HostError) -> Self {
        match e {
            old::HostError::Denied(m) => Self::Denied(m),
            old::HostError::Unavailable(m) => Self::Unavailable(m),
            old::HostError::Invalid(m) => Self::Invalid(m),
            old::HostError::Timeout(m) => Self::Timeout(m),
        }
    }
}
