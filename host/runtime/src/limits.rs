//! Per-plugin limits and the store's resource limiter, which also records the peak
//! linear memory an invocation used.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Limits of one plugin, as written under `[plugin.limits]` in a plugin set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct Limits {
    /// Linear memory cap, all memories of the instance together (bytes).
    pub memory_bytes: u64,
    /// Wall-clock deadline of one call, time spent waiting in host calls included.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// A deterministic instruction budget (wasmtime fuel); unlimited when absent.
    pub fuel: Option<u64>,
    /// Largest result the host accepts (bytes of strings and lists in it).
    pub max_result_bytes: u64,
}

/// The largest memory cap a plugin can ask for: the pooling allocator reserves slots of
/// this size.
pub const MAX_MEMORY_BYTES: u64 = 1 << 30;

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(10),
            fuel: None,
            max_result_bytes: 1 << 20,
        }
    }
}

impl Limits {
    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.memory_bytes == 0 || self.memory_bytes > MAX_MEMORY_BYTES {
            return Err(format!(
                "memory-bytes must be between 1 and {MAX_MEMORY_BYTES}, got {}",
                self.memory_bytes
            ));
        }
        if self.timeout.is_zero() {
            return Err("timeout must be above zero".into());
        }
        if self.max_result_bytes == 0 {
            return Err("max-result-bytes must be above zero".into());
        }
        Ok(())
    }
}

/// Why the limiter refused to grow memory; surfaces as the invocation's failure.
#[derive(Debug, thiserror::Error)]
#[error(
    "memory limit exceeded: the plugin asked for {wanted} bytes of linear memory, its cap is {cap}"
)]
pub struct MemoryCapExceeded {
    pub wanted: usize,
    pub cap: u64,
}

pub struct StoreLimiter {
    cap: u64,
    pub peak: usize,
}

impl StoreLimiter {
    pub fn new(cap: u64) -> Self {
        Self { cap, peak: 0 }
    }
}

impl wasmtime::ResourceLimiter for StoreLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.cap {
            return Err(wasmtime::Error::new(MemoryCapExceeded {
                wanted: desired,
                cap: self.cap,
            }));
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
