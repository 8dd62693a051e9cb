use super::super::bindings::api::aura::host::log::{Host, Level};
use super::super::state::PluginState;
use super::super::text;

impl Host for PluginState {
    /// One line in the host's log under the `plugin` target. Control characters are
    /// escaped (a plugin cannot write a line that looks like the host's), the line is
    /// cut at [`text::MAX_MESSAGE_BYTES`], and past the per-call line cap lines are only
    /// counted (the cost report says how many were dropped).
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let call = &mut self.call;
        call.meter.bytes_out += message.len() as u64;
        call.meter.host_calls += 1;
        if !call.meter.log_line() {
            return Ok(());
        }
        let (plugin, text) = (
            &*call.plugin,
            text::escape(&message, text::MAX_MESSAGE_BYTES),
        );
        match level {
            Level::Trace => tracing::trace!(target: "plugin", plugin, "{text}"),
            Level::Debug => tracing::debug!(target: "plugin", plugin, "{text}"),
            Level::Info => tracing::info!(target: "plugin", plugin, "{text}"),
            Level::Warn => tracing::warn!(target: "plugin", plugin, "{text}"),
            Level::Error => tracing::error!(target: "plugin", plugin, "{text}"),
        }
        Ok(())
    }
}
