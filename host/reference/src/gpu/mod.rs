//! The CUDA core: the GPU inventory (NVML or declared), batched council inference on
//! CUDA with a CPU implementation of the same maths, and a device probe. With no GPU the
//! core says so once (a warning naming why) and runs everything on the CPU.

pub mod cfc;
mod config;
mod inventory;
mod kernel;

use std::time::Duration;

use serde::Serialize;

pub use config::{ComputePreference, DeclaredDevice, GpuConfig, InventorySource};
pub use inventory::{Device, Source, discover};

use cfc::Batch;

/// GPU and CPU council logits agree within this (absolute). Both compute in f32 in the
/// same order without fused multiply-add; what remains is the difference between the
/// CUDA and Rust `expf`/`tanhf`, a few ulps per step over at most 17 steps.
pub const LOGIT_TOLERANCE: f32 = 1e-4;

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("NVML")]
    Nvml(#[source] nvml_wrapper::error::NvmlError),
    /// A CUDA driver or NVRTC call failed.
    #[error("CUDA: {what}")]
    Cuda {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// CUDA cannot be used here, for a reason of the host's own.
    #[error("CUDA: {0}")]
    Unusable(String),
    #[error("gpu: no device with index {0}")]
    NoDevice(u32),
}

pub type ComputeError = GpuError;

/// Where council inference runs.
pub enum Compute {
    Cpu,
    Cuda(kernel::CudaCouncil),
}

impl Compute {
    /// CUDA device 0 when wanted and present; the CPU otherwise, with the reason.
    pub fn detect(preference: ComputePreference) -> Result<(Self, Option<String>), GpuError> {
        match preference {
            ComputePreference::Cpu => Ok((Self::Cpu, None)),
            ComputePreference::Cuda => kernel::CudaCouncil::new(0).map(|k| (Self::Cuda(k), None)),
            ComputePreference::Auto => match kernel::CudaCouncil::new(0) {
                Ok(k) => Ok((Self::Cuda(k), None)),
                Err(e) => Ok((Self::Cpu, Some(aura_services::error_chain(&e)))),
            },
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Cuda(_) => "cuda",
        }
    }

    pub fn council_logits(
        &self,
        weights: &[f32],
        agents: usize,
        batch: &Batch,
    ) -> Result<Vec<f32>, GpuError> {
        match self {
            Self::Cpu => Ok(cfc::forward_all(weights, agents, batch)),
            Self::Cuda(k) => k.logits(weights, agents, batch).map(|(l, _)| l),
        }
    }
}

/// What the core found at start-up, for `/ready` and logs.
#[derive(Debug, Clone, Serialize)]
pub struct GpuStatus {
    pub compute: &'static str,
    pub cuda_device: Option<String>,
    pub inventory_source: &'static str,
    pub devices: usize,
    pub healthy_devices: usize,
    /// Why the CPU path or the declared inventory is in use, when it was not asked for.
    pub fallbacks: Vec<String>,
}

pub struct GpuCore {
    pub devices: Vec<Device>,
    pub compute: std::sync::Arc<Compute>,
    pub status: GpuStatus,
}

impl GpuCore {
    pub fn start(config: &GpuConfig) -> Result<Self, GpuError> {
        let (devices, nvml_fallback) = inventory::discover(config)?;
        let (compute, cuda_fallback) = Compute::detect(config.compute)?;
        let fallbacks: Vec<String> = [
            nvml_fallback.map(|r| format!("declared inventory in use: {r}")),
            cuda_fallback.map(|r| format!("council runs on the CPU: {r}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        // Said once per process: a process that starts many targets (a monitor's
        // cycles, a soak's rounds) finds the same machine each time.
        static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        let mut said = SAID
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for f in &fallbacks {
            if !said.contains(f) {
                tracing::warn!(target: "aura::gpu", "no GPU: {f}");
                said.push(f.clone());
            }
        }
        drop(said);
        let status = GpuStatus {
            compute: compute.name(),
            cuda_device: match &compute {
                Compute::Cuda(k) => Some(k.device().to_string()),
                Compute::Cpu => None,
            },
            inventory_source: devices.first().map_or("declared", |d| d.source.name()),
            devices: devices.len(),
            healthy_devices: devices.iter().filter(|d| d.healthy()).count(),
            fallbacks,
        };
        Ok(Self {
            devices,
            compute: std::sync::Arc::new(compute),
            status,
        })
    }
}

/// The result of launching a small kernel on a device.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub index: u32,
    pub usable: bool,
    pub elapsed: Option<Duration>,
    pub detail: String,
}

/// One agent's weights for a probe: any fixed values do, the CPU and the kernel just
/// have to agree on them.
fn probe_weights() -> Vec<f32> {
    (0..cfc::WEIGHTS_PER_AGENT)
        .map(|i| ((i % 13) as f32 - 6.0) * 0.03)
        .collect()
}

/// Launches the council kernel on one sequence on CUDA device `index` and checks it
/// against the CPU; with no CUDA the report says so (usable = false).
pub fn probe(index: u32) -> ProbeReport {
    let weights = probe_weights();
    let mut batch = Batch::default();
    batch.push(&[(1.0, [0.5; cfc::INPUTS]), (2.0, [0.25; cfc::INPUTS])]);
    let expected = cfc::forward_all(&weights, 1, &batch);
    let report = |usable, elapsed, detail: String| ProbeReport {
        index,
        usable,
        elapsed,
        detail,
    };
    let kernel = match kernel::CudaCouncil::new(index as usize) {
        Ok(k) => k,
        Err(e) => return report(false, None, aura_services::error_chain(&e)),
    };
    match kernel.logits(&weights, 1, &batch) {
        Ok((got, elapsed)) => {
            let (Some(g), Some(e)) = (got.first(), expected.first()) else {
                return report(false, Some(elapsed), "the kernel returned no logit".into());
            };
            let diff = (g - e).abs();
            if diff <= LOGIT_TOLERANCE {
                report(
                    true,
                    Some(elapsed),
                    format!("{} agrees with the CPU (|Δ| = {diff:e})", kernel.device()),
                )
            } else {
                report(
                    false,
                    Some(elapsed),
                    format!("{} disagrees with the CPU by {diff:e}", kernel.device()),
                )
            }
        }
        Err(e) => report(false, None, aura_services::error_chain(&e)),
    }
}
