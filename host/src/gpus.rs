//! The reference target's GPU core lent to plugins: aura-runtime's [`GpuAccess`] over
//! `aura_reference::gpu` (NVML or the declared inventory, and the council kernel's
//! probe). The runtime links no CUDA of its own; this is where the two meet.

use aura_reference::gpu;
use aura_runtime::{GpuAccess, GpuDevice, GpuProbe};

/// The reference target's GPU core as the plugins' `gpu` interface.
pub struct ReferenceGpus(pub gpu::GpuConfig);

impl GpuAccess for ReferenceGpus {
    fn inventory(&self) -> Result<Vec<GpuDevice>, String> {
        let (devices, _) = gpu::discover(&self.0).map_err(|e| e.to_string())?;
        Ok(devices
            .into_iter()
            .map(|d| GpuDevice {
                index: d.index,
                model: d.model,
                memory_mib: u64::from(d.memory_gb) * 1024,
                source: d.source.name().into(),
            })
            .collect())
    }

    fn probe(&self, index: u32) -> GpuProbe {
        let r = gpu::probe(index);
        GpuProbe {
            index: r.index,
            usable: r.usable,
            micros: r.elapsed.map(|e| e.as_micros() as u64),
            detail: r.detail,
        }
    }
}
