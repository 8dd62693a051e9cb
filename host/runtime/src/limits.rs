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
    /// Largest result the host accepts: its encoded (JSON) size, every string and every
    /// list item counted, an error's text included.
    pub max_result_bytes: u64,
    /// Bytes the host hands the plugin from its services in one call, all host-call
    /// answers together (graph rows, events, keys, values), and separately the bytes the
    /// plugin's admitted calls send on to them; past it, a call is refused with
    /// `host-error::invalid`.
    pub max_host_bytes: u64,
}

/// The largest memory cap a plugin can ask for: the pooling allocator reserves slots of
/// this size.
pub const MAX_MEMORY_BYTES: u64 = 1 << 30;

/// The most a manifest may allow a result or the host calls of one call to carry.
pub const MAX_TRANSFER_BYTES: u64 = 256 << 20;

/// The longest deadline a manifest may give one call.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// Table elements one instance may hold, all tables together.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(10),
            fuel: None,
            max_result_bytes: 1 << 20,
            max_host_bytes: 16 << 20,
        }
    }
}

impl Limits {
    /// The limits in words, for `plugin inspect` and the report.
    pub fn summary(&self) -> String {
        let mib = |b: u64| {
            if b.is_multiple_of(1 << 20) {
                format!("{} MiB", b >> 20)
            } else {
                format!("{b} bytes")
            }
        };
        format!(
            "memory {} (all memories) · timeout {} · fuel {} · result ≤ {} · host answers ≤ {}",
            mib(self.memory_bytes),
            humantime_serde::re::humantime::format_duration(self.timeout),
            self.fuel.map_or("unlimited".into(), |f| f.to_string()),
            mib(self.max_result_bytes),
            mib(self.max_host_bytes),
        )
    }

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
        if self.max_result_bytes == 0 || self.max_result_bytes > MAX_TRANSFER_BYTES {
            return Err(format!(
                "max-result-bytes must be between 1 and {MAX_TRANSFER_BYTES}, got {}",
                self.max_result_bytes
            ));
        }
        if self.max_host_bytes == 0 || self.max_host_bytes > MAX_TRANSFER_BYTES {
            return Err(format!(
                "max-host-bytes must be between 1 and {MAX_TRANSFER_BYTES}, got {}",
                self.max_host_bytes
            ));
        }
        if self.timeout > MAX_TIMEOUT {
            return Err(format!(
                "timeout must be at most {}, got {}",
                humantime_serde::re::humantime::format_duration(MAX_TIMEOUT),
                humantime_serde::re::humantime::format_duration(self.timeout)
            ));
        }
        Ok(())
    }
}

/// Why the limiter refused to grow memory; surfaces as the invocation's failure.
#[derive(Debug, thiserror::Error)]
#[error(
    "memory limit exceeded: the plugin asked for {wanted} bytes of linear memory in all, its cap is {cap}"
)]
pub struct MemoryCapExceeded {
    pub wanted: usize,
    pub cap: u64,
}

/// Caps the instance's linear memories *together* (a component may have several core
/// modules, each with its own memory) and records the peak of that sum.
pub struct StoreLimiter {
    cap: u64,
    memory: usize,
    tables: usize,
    pub peak: usize,
}

impl StoreLimiter {
    pub fn new(cap: u64) -> Self {
        Self {
            cap,
            memory: 0,
            tables: 0,
            peak: 0,
        }
    }
}

impl wasmtime::ResourceLimiter for StoreLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // A new memory arrives with `current` 0, so the sum covers every memory.
        let total = self.memory.saturating_sub(current).saturating_add(desired);
        if total as u64 > self.cap {
            return Err(wasmtime::Error::new(MemoryCapExceeded {
                wanted: total,
                cap: self.cap,
            }));
        }
        self.memory = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.tables.saturating_sub(current).saturating_add(desired);
        if total > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        self.tables = total;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn memories_count_together() {
        let mut l = StoreLimiter::new(100);
        assert!(l.memory_growing(0, 60, None).is_ok());
        assert!(l.memory_growing(0, 30, None).is_ok(), "a second memory");
        assert!(l.memory_growing(30, 40, None).is_ok(), "grows by 10: 100");
        let e = l.memory_growing(0, 1, None).expect_err("101 bytes in all");
        assert!(e.to_string().contains("cap is 100"), "{e}");
        assert_eq!(l.peak, 100);
    }
}
