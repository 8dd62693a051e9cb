use aura_services::config::ConfigError;
use serde::{Deserialize, Serialize};

/// `[gpu]` in aura.toml: where the inventory comes from and where the council runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GpuConfig {
    pub inventory: InventorySource,
    pub compute: ComputePreference,
    /// The declared inventory, used when NVML is absent (`auto`) or chosen (`declared`).
    pub devices: Vec<DeclaredDevice>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InventorySource {
    /// NVML when it loads, the declared devices otherwise.
    Auto,
    Nvml,
    Declared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ComputePreference {
    /// CUDA when a driver and a device are present, the CPU otherwise.
    Auto,
    Cpu,
    Cuda,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredDevice {
    pub id: String,
    pub model: String,
    pub memory_gb: u32,
}

impl Default for GpuConfig {
    fn default() -> Self {
        let device = |i: usize, model: &str, memory_gb| DeclaredDevice {
            id: format!("gpu-{i}"),
            model: model.into(),
            memory_gb,
        };
        Self {
            inventory: InventorySource::Auto,
            compute: ComputePreference::Auto,
            devices: (0..4)
                .map(|i| device(i, "A100", 40))
                .chain((4..8).map(|i| device(i, "H100", 80)))
                .collect(),
        }
    }
}

impl GpuConfig {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self
            .devices
            .iter()
            .any(|d| d.id.is_empty() || d.memory_gb == 0)
        {
            return Err(ConfigError::Invalid {
                field: "gpu.devices".into(),
                reason: "every device needs an id and memory_gb > 0".into(),
            });
        }
        Ok(())
    }
}
