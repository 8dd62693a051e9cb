use super::super::bindings::HostError;
use super::super::bindings::api::aura::host::gpu::{Device, Host, ProbeResult};
use super::super::grants::Grants;
use super::super::state::PluginState;

/// Until the CUDA core exists (`gpu/`), the host has no inventory to offer; a granted call
/// says so rather than pretending there are no GPUs.
const NO_INVENTORY: &str =
    "this host has no GPU inventory yet (the CUDA/NVML core is not built in)";

impl Host for PluginState {
    async fn inventory(&mut self) -> wasmtime::Result<Result<Vec<Device>, HostError>> {
        Ok(self.gpu_call("gpu.inventory"))
    }

    async fn probe(&mut self, _index: u32) -> wasmtime::Result<Result<ProbeResult, HostError>> {
        Ok(self.gpu_call("gpu.probe"))
    }
}

impl PluginState {
    fn gpu_call<T>(&mut self, call: &str) -> Result<T, HostError> {
        let grant = Grants::check_flag(self.call.grants.gpu, "gpu");
        self.call.admit(call, grant, 0)?;
        Err(HostError::Unavailable(NO_INVENTORY.into()))
    }
}
