//! The devices the target allocates: from NVML on a GPU machine (name, memory,
//! utilisation, temperature, ECC), or the inventory declared in `[gpu]` otherwise.

use serde::{Deserialize, Serialize};

use super::GpuError;
use super::config::{GpuConfig, InventorySource};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// Stable id used in leases, the graph and events (`gpu-<index>` for NVML devices).
    pub id: String,
    pub index: u32,
    pub model: String,
    pub memory_gb: u32,
    pub utilisation_pct: Option<u32>,
    pub temperature_c: Option<u32>,
    /// Uncorrected ECC errors since the driver loaded; `None` where ECC is off.
    pub ecc_uncorrected: Option<u64>,
    pub source: Source,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Nvml,
    Declared,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Self::Nvml => "nvml",
            Self::Declared => "declared",
        }
    }
}

impl Device {
    /// A device with uncorrected ECC errors is not offered for allocation.
    pub fn healthy(&self) -> bool {
        self.ecc_uncorrected.unwrap_or(0) == 0
    }
}

/// The inventory and, when NVML was wanted but is absent, why.
pub fn discover(config: &GpuConfig) -> Result<(Vec<Device>, Option<String>), GpuError> {
    match config.inventory {
        InventorySource::Declared => Ok((declared(config), None)),
        InventorySource::Nvml => nvml().map(|d| (d, None)),
        InventorySource::Auto => match nvml() {
            Ok(devices) if !devices.is_empty() => Ok((devices, None)),
            Ok(_) => Ok((declared(config), Some("NVML reports no devices".into()))),
            Err(e) => Ok((declared(config), Some(aura_services::error_chain(&e)))),
        },
    }
}

fn declared(config: &GpuConfig) -> Vec<Device> {
    config
        .devices
        .iter()
        .enumerate()
        .map(|(i, d)| Device {
            id: d.id.clone(),
            index: i as u32,
            model: d.model.clone(),
            memory_gb: d.memory_gb,
            utilisation_pct: None,
            temperature_c: None,
            ecc_uncorrected: None,
            source: Source::Declared,
        })
        .collect()
}

fn nvml() -> Result<Vec<Device>, GpuError> {
    use nvml_wrapper::Nvml;
    use nvml_wrapper::enum_wrappers::device::{EccCounter, MemoryError, TemperatureSensor};

    let unavailable = GpuError::Nvml;
    let nvml = Nvml::init().map_err(unavailable)?;
    let count = nvml.device_count().map_err(unavailable)?;
    let mut devices = Vec::with_capacity(count as usize);
    for index in 0..count {
        let d = nvml.device_by_index(index).map_err(unavailable)?;
        let memory = d.memory_info().map_err(unavailable)?;
        devices.push(Device {
            id: format!("gpu-{index}"),
            index,
            model: d.name().map_err(unavailable)?,
            memory_gb: (memory.total / (1 << 30)) as u32,
            utilisation_pct: d.utilization_rates().ok().map(|u| u.gpu),
            temperature_c: d.temperature(TemperatureSensor::Gpu).ok(),
            ecc_uncorrected: d
                .total_ecc_errors(MemoryError::Uncorrected, EccCounter::Volatile)
                .ok(),
            source: Source::Nvml,
        });
    }
    Ok(devices)
}
