//! The GPUs a plugin's `gpu` interface reaches. The embedder provides them, so the
//! runtime links no CUDA or NVML of its own: aura-host hands it the reference target's GPU
//! core; a runtime without one answers `unavailable`.

/// Blocking calls (NVML, CUDA) are fine: the runtime runs them on the blocking pool,
/// inside the calling plugin's deadline.
pub trait GpuAccess: Send + Sync {
    /// The devices, or why they cannot be listed.
    fn inventory(&self) -> Result<Vec<GpuDevice>, String>;
    /// Launches a small kernel on device `index` and checks its answer.
    fn probe(&self, index: u32) -> GpuProbe;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuDevice {
    pub index: u32,
    pub model: String,
    pub memory_mib: u64,
    /// Where the device is known from (`nvml`, `declared`).
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuProbe {
    pub index: u32,
    pub usable: bool,
    pub micros: Option<u64>,
    pub detail: String,
}
