use super::super::bindings::HostError;
use super::super::bindings::api::aura::host::gpu::{Device, Host, ProbeResult};
use super::super::grants::Grants;
use super::super::state::PluginState;
use super::HostCallDeadline;
use crate::gpu;

impl Host for PluginState {
    async fn inventory(&mut self) -> wasmtime::Result<Result<Vec<Device>, HostError>> {
        let config = self.call.hub.config().gpu.clone();
        self.gpu_call("gpu.inventory", move || {
            gpu::discover(&config).map(|(devices, _)| devices.into_iter().map(to_wit).collect())
        })
        .await
    }

    async fn probe(&mut self, index: u32) -> wasmtime::Result<Result<ProbeResult, HostError>> {
        self.gpu_call("gpu.probe", move || {
            let r = gpu::probe(index);
            Ok(ProbeResult {
                index: r.index,
                usable: r.usable,
                micros: r.elapsed.map(|e| e.as_micros() as u64),
                detail: r.detail,
            })
        })
        .await
    }
}

fn to_wit(d: gpu::Device) -> Device {
    Device {
        index: d.index,
        name: d.model,
        memory_mib: d.memory_gb as u64 * 1024,
        source: d.source.name().into(),
    }
}

impl PluginState {
    /// NVML and CUDA calls block, so they run on the blocking pool, inside the
    /// plugin's deadline.
    async fn gpu_call<T: Send + 'static>(
        &mut self,
        call: &str,
        work: impl FnOnce() -> Result<T, gpu::GpuError> + Send + 'static,
    ) -> wasmtime::Result<Result<T, HostError>> {
        let grant = Grants::check_flag(self.call.grants.gpu, "gpu");
        if let Err(e) = self.call.admit(call, grant, 0) {
            return Ok(Err(e));
        }
        let ctx = &self.call;
        match tokio::time::timeout_at(ctx.deadline, tokio::task::spawn_blocking(work)).await {
            Err(_) => Err(wasmtime::Error::new(HostCallDeadline {
                call: call.to_string(),
                timeout: ctx.timeout,
            })),
            Ok(Err(join)) => Ok(Err(HostError::Unavailable(format!("{call}: {join}")))),
            Ok(Ok(Err(e))) => Ok(Err(HostError::Unavailable(e.to_string()))),
            Ok(Ok(Ok(v))) => Ok(Ok(v)),
        }
    }
}
