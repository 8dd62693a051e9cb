//! The host side of every `aura:host` interface, one file per interface. Each call is
//! counted, checked against the plugin's grants (a refusal is logged with the manifest
//! line that would allow it), traced in a span, bounded by the plugin's deadline and
//! backed by the real service layer.

mod cache;
mod events;
mod gpu;
mod graph;
mod log;
mod trace;
mod workflow;

use std::future::Future;
use std::sync::Arc;

use tracing::Instrument;

use super::bindings::HostError;
use super::grants::{Denial, Grants};
use super::limits::Limits;
use super::tape::Tape;
use super::text;
use aura_services::{ServiceError, ServiceHub, ServiceKind};

/// Lines one call may put in the host's log (its `log.log` lines and the host's notices
/// of its denied calls together); the rest are counted, not written.
pub const MAX_LOG_LINES: u32 = 100;

/// What one invocation may reach and what it has used so far.
pub struct CallContext {
    pub plugin: Arc<str>,
    pub run_id: String,
    /// Already resolved for this run (`{run}` substituted).
    pub grants: Grants,
    pub hub: Arc<ServiceHub>,
    /// The embedder's GPUs, if it gives plugins any.
    pub gpu: Option<Arc<dyn crate::GpuAccess>>,
    pub deadline: tokio::time::Instant,
    pub limits: Limits,
    pub meter: Meter,
    /// The host calls being recorded, or answered from a recording.
    pub(crate) tape: Option<Tape>,
}

/// Traffic between the plugin and the host during one invocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Meter {
    pub host_calls: u32,
    pub denied_calls: u32,
    /// Bytes the host handed to the plugin: arguments and host-call results.
    pub bytes_in: u64,
    /// Bytes the plugin handed to the host: its result and host-call arguments.
    pub bytes_out: u64,
    /// Lines the call asked to log (written or not).
    pub log_lines: u32,
    /// Bytes of the arguments of admitted calls: what went on to the services.
    pub sent: u64,
}

impl Meter {
    /// Whether one more log line fits under [`MAX_LOG_LINES`]; counts it either way.
    pub fn log_line(&mut self) -> bool {
        self.log_lines += 1;
        self.log_lines <= MAX_LOG_LINES
    }

    pub fn log_lines_dropped(&self) -> u32 {
        self.log_lines.saturating_sub(MAX_LOG_LINES)
    }
}

/// A host call still waiting when the plugin's deadline passed; ends the invocation.
#[derive(Debug, thiserror::Error)]
#[error("deadline of {timeout:?} exceeded while waiting in host call {call}{}", waiting_on.as_ref().map(|s| format!(" on {s}")).unwrap_or_default())]
pub struct HostCallDeadline {
    pub call: String,
    pub timeout: std::time::Duration,
    /// The service the call was waiting on, with its address.
    pub waiting_on: Option<String>,
}

impl CallContext {
    /// Counts the call and applies the grant decision; a refusal is logged for the
    /// operator and returned to the plugin as `host-error::denied`.
    fn admit(
        &mut self,
        call: &str,
        grant: Result<(), Denial>,
        arg_bytes: usize,
    ) -> Result<(), HostError> {
        self.meter.host_calls += 1;
        self.meter.bytes_out += arg_bytes as u64;
        grant.map_err(|denial| {
            self.meter.denied_calls += 1;
            let message = denial.to_string();
            if self.meter.log_line() {
                let (grant, shown) = (
                    text::escape(&denial.grant, text::MAX_MESSAGE_BYTES),
                    text::escape(&message, text::MAX_MESSAGE_BYTES),
                );
                tracing::warn!(plugin = %self.plugin, call, %grant, "denied: {shown}");
            }
            HostError::Denied(message)
        })?;
        // What a plugin sends on to the services is bounded like what it gets back: a
        // write grant is not a way to pour unbounded data into Redis or Kafka.
        self.meter.sent += arg_bytes as u64;
        let sent = self.meter.sent;
        if sent > self.limits.max_host_bytes {
            return Err(HostError::Invalid(format!(
                "{call}: the plugin has sent {sent} bytes to the host's services in this call, \
                 more than its max-host-bytes ({})",
                self.limits.max_host_bytes
            )));
        }
        Ok(())
    }

    /// Time left before the plugin's deadline: what a service may spend on its behalf.
    fn time_left(&self) -> std::time::Duration {
        self.deadline
            .saturating_duration_since(tokio::time::Instant::now())
    }

    /// A host call's answer, counted against `max-host-bytes` by `size`.
    fn answer<T>(
        &mut self,
        call: &str,
        result: Result<T, HostError>,
        size: impl FnOnce(&T) -> usize,
    ) -> Result<T, HostError> {
        let value = result?;
        self.receive(call, size(&value) as u64)?;
        Ok(value)
    }

    /// Bytes the plugin may still receive from host calls in this invocation.
    pub fn host_bytes_left(&self) -> u64 {
        self.limits
            .max_host_bytes
            .saturating_sub(self.meter.bytes_in)
    }

    /// Counts an answer against `max-host-bytes`; one that does not fit is refused.
    fn receive(&mut self, call: &str, bytes: u64) -> Result<(), HostError> {
        let left = self.host_bytes_left();
        if bytes > left {
            return Err(HostError::Invalid(format!(
                "the answer of {call} ({bytes} bytes) does not fit in what is left of the \
                 plugin's max-host-bytes ({left} of {}); ask for less (a LIMIT, a smaller \
                 count) or raise [limits] max-host-bytes",
                self.limits.max_host_bytes
            )));
        }
        self.meter.bytes_in += bytes;
        Ok(())
    }

    /// Runs a service call inside the plugin's deadline, in a span; a service failure
    /// becomes a `host-error`, the deadline passing becomes a trap.
    async fn bounded<T>(
        &self,
        call: &str,
        work: impl Future<Output = Result<T, ServiceError>>,
    ) -> wasmtime::Result<Result<T, HostError>> {
        let span = tracing::debug_span!("host_call", plugin = %self.plugin, call);
        match tokio::time::timeout_at(self.deadline, work.instrument(span)).await {
            Err(_) => Err(wasmtime::Error::new(HostCallDeadline {
                call: call.to_string(),
                timeout: self.limits.timeout,
                waiting_on: service_of(call)
                    .map(|kind| format!("{kind} at {}", self.hub.config().address(kind))),
            })),
            Ok(result) => Ok(result.map_err(host_error)),
        }
    }
}

/// A service's failure as the plugin sees it.
fn host_error(e: ServiceError) -> HostError {
    if e.is_timeout() {
        HostError::Timeout(e.to_string())
    } else if e.is_too_large() {
        HostError::Invalid(e.to_string())
    } else {
        HostError::Unavailable(e.to_string())
    }
}

/// The most keys or ids one batched call may name.
pub const MAX_BATCH: usize = 10_000;

/// A batch over [`MAX_BATCH`], refused before anything is sent.
fn batch_too_large(call: &str, items: usize) -> Option<HostError> {
    (items > MAX_BATCH).then(|| {
        HostError::Invalid(format!(
            "{call}: {items} items in one call, more than the {MAX_BATCH} allowed; split it"
        ))
    })
}

/// Every item must be granted: the first that is not denies the whole call, naming it.
fn grant_each<T>(items: &[T], check: impl Fn(&T) -> Result<(), Denial>) -> Result<(), Denial> {
    items.iter().try_for_each(check)
}

/// The service behind a host call, from its interface.
fn service_of(call: &str) -> Option<ServiceKind> {
    match call.split('.').next()? {
        "cache" | "trace" => Some(ServiceKind::Redis),
        "graph" => Some(ServiceKind::Graph),
        "events" => Some(ServiceKind::Kafka),
        "workflow" => Some(ServiceKind::Temporal),
        _ => None,
    }
}

/// A host function's answer through the tape: from the recording when replaying (the
/// live call is not made unless a miss passes through), and kept when recording. `args`
/// are the WIT arguments, in order; `live` is the call itself.
macro_rules! taped {
    ($state:expr, $call:expr, [$($arg:expr),*], $live:expr) => {{
        let args = $state
            .call
            .tape
            .as_ref()
            .map(|_| serde_json::json!([$(&$arg),*]));
        if let (Some(tape), Some(args)) = ($state.call.tape.as_mut(), &args)
            && let Some(answer) = tape.replayed($call, args)
        {
            $state.call.meter.host_calls += 1;
            return Ok(answer);
        }
        let answer = $live;
        if let (Some(tape), Some(args), Ok(answer)) = ($state.call.tape.as_mut(), args, &answer) {
            tape.record($call, args, answer);
        }
        answer
    }};
}
use taped;

/// `admit` then `bounded`, for the common shape of a host function.
macro_rules! host_call {
    ($ctx:expr, $call:expr, $grant:expr, $arg_bytes:expr, $work:expr) => {{
        if let Err(e) = $ctx.admit($call, $grant, $arg_bytes) {
            return Ok(Err(e));
        }
        $ctx.bounded($call, $work).await
    }};
}
use host_call;

impl super::bindings::api::aura::host::types::Host for super::state::PluginState {}
