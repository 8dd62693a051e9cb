//! What a store holds for one invocation: an empty WASI context (nothing ambient), the
//! resource limiter, captured output and the call context the host interfaces use.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::grants::Grants;
use super::host::CallContext;
use super::limits::StoreLimiter;

/// Captured stdout/stderr per invocation: enough for a panic message, not for a flood.
const OUTPUT_CAPACITY: usize = 64 * 1024;

/// Where a granted directory appears inside the plugin.
pub const DIRECTORY_MOUNT: &str = "/data";

pub struct PluginState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limiter: StoreLimiter,
    pub(super) call: CallContext,
    pub(super) stderr: MemoryOutputPipe,
}

impl PluginState {
    /// A context with no filesystem, network, environment or inherited stdio beyond what
    /// `grants` names: a directory preopened read-only, environment variables by name.
    pub fn new(call: CallContext, grants: &Grants, memory_cap: u64) -> Result<Self, String> {
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(MemoryOutputPipe::new(OUTPUT_CAPACITY))
            .stderr(stderr.clone());
        if let Some(dir) = &grants.directory {
            wasi.preopened_dir(dir, DIRECTORY_MOUNT, FsPerms::ReadOnly)
                .map_err(|e| format!("granted directory {}: {e}", dir.display()))?;
        }
        for name in &grants.env {
            if let Ok(value) = std::env::var(name) {
                wasi.env(name, value);
            }
        }
        Ok(Self {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: StoreLimiter::new(memory_cap),
            call,
            stderr,
        })
    }

    /// The last lines the plugin wrote to stderr (a panic message, typically).
    pub(super) fn stderr_tail(&self) -> String {
        let bytes = self.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(3)..].join(" | ")
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
