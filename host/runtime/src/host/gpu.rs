use std::sync::Arc;

use super::super::bindings::HostError;
use super::super::bindings::api::aura::host::gpu::{Device, Host, ProbeResult};
use super::super::gpu_access::GpuAccess;
use super::super::grants::Grants;
use super::super::state::PluginState;
use super::{HostCallDeadline, taped};

impl Host for PluginState {
    async fn inventory(&mut self) -> wasmtime::Result<Result<Vec<Device>, HostError>> {
        taped!(
            self,
            "gpu.inventory",
            [],
            async {
                self.gpu_call("gpu.inventory", |gpus| {
                    gpus.inventory().map(|devices| {
                        devices
                            .into_iter()
                            .map(|d| Device {
                                index: d.index,
                                name: d.model,
                                memory_mib: d.memory_mib,
                                source: d.source,
                            })
                            .collect()
                    })
                })
                .await
            }
            .await
        )
    }

    async fn probe(&mut self, index: u32) -> wasmtime::Result<Result<ProbeResult, HostError>> {
        taped!(
            self,
            "gpu.probe",
            [index],
            async {
                self.gpu_call("gpu.probe", move |gpus| {
                    let r = gpus.probe(index);
                    Ok(ProbeResult {
                        index: r.index,
                        usable: r.usable,
                        micros: r.micros,
                        detail: r.detail,
                    })
                })
                .await
            }
            .await
        )
    }
}

impl PluginState {
    /// NVML and CUDA calls block, so they run on the blocking pool, inside the
    /// plugin's deadline.
    async fn gpu_call<T: Send + 'static>(
        &mut self,
        call: &str,
        work: impl FnOnce(&dyn GpuAccess) -> Result<T, String> + Send + 'static,
    ) -> wasmtime::Result<Result<T, HostError>> {
        let grant = Grants::check_flag(self.call.grants.gpu, "gpu");
        if let Err(e) = self.call.admit(call, grant, 0) {
            return Ok(Err(e));
        }
        let ctx = &self.call;
        let Some(gpus) = ctx.gpu.clone() else {
            return Ok(Err(HostError::Unavailable(format!(
                "{call}: this host gives plugins no GPU access"
            ))));
        };
        let work = move || work(Arc::as_ref(&gpus));
        match tokio::time::timeout_at(ctx.deadline, tokio::task::spawn_blocking(work)).await {
            Err(_) => Err(wasmtime::Error::new(HostCallDeadline {
                call: call.to_string(),
                timeout: ctx.limits.timeout,
                waiting_on: None,
            })),
            Ok(Err(join)) => Ok(Err(HostError::Unavailable(format!("{call}: {join}")))),
            Ok(Ok(Err(e))) => Ok(Err(HostError::Unavailable(e))),
            Ok(Ok(Ok(v))) => Ok(Ok(v)),
        }
    }
}
