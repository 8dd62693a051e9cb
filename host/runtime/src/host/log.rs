use super::super::bindings::api::aura::host::log::{Host, Level};
use super::super::state::PluginState;

/// Log lines one invocation may write, and the longest line kept; a chatty plugin cannot
/// flood the host's log.
const MAX_LINES: u32 = 1000;
const MAX_LINE_BYTES: usize = 4096;

impl Host for PluginState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let call = &mut self.call;
        call.meter.bytes_out += message.len() as u64;
        call.meter.log_lines += 1;
        call.meter.host_calls += 1;
        if call.meter.log_lines > MAX_LINES {
            return Ok(());
        }
        let mut end = message.len().min(MAX_LINE_BYTES);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let (plugin, text) = (&*call.plugin, &message[..end]);
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
