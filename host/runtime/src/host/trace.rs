use super::super::bindings::HostError;
use super::super::bindings::api::aura::host::trace::{Host, StepStatus, TraceStep, WorkflowTrace};
use super::super::grants::Grants;
use super::super::state::PluginState;
use super::{host_call, taped};
use aura_services::ServiceError;
use aura_services::trace::{self, TraceError};

impl Host for PluginState {
    async fn get(
        &mut self,
        request_id: String,
    ) -> wasmtime::Result<Result<Option<WorkflowTrace>, HostError>> {
        taped!(
            self,
            "trace.get",
            [request_id],
            async {
                let ctx = &mut self.call;
                let grant = Grants::check_flag(ctx.grants.trace, "trace");
                let (hub, run) = (ctx.hub.clone(), ctx.run_id.clone());
                let loaded = host_call!(ctx, "trace.get", grant, request_id.len(), async move {
                    let cache = hub.cache().await?;
                    match trace::load(&*cache, &run, &request_id).await {
                        Ok(t) => Ok(Ok(t)),
                        Err(TraceError::Service(e)) => Err::<_, ServiceError>(e),
                        Err(malformed) => Ok(Err(malformed.to_string())),
                    }
                })?;
                let trace = match loaded {
                    Ok(Ok(t)) => Ok(t.map(to_wit)),
                    Ok(Err(malformed)) => Err(HostError::Unavailable(malformed)),
                    Err(e) => Err(e),
                };
                let max = ctx.host_bytes_left();
                Ok(ctx.answer("trace.get", trace, |t| {
                    super::super::size::encoded(t, max) as usize
                }))
            }
            .await
        )
    }
}

fn to_wit(t: trace::WorkflowTrace) -> WorkflowTrace {
    WorkflowTrace {
        request_id: t.request_id,
        start_time_ms: t.start_time,
        steps: t
            .steps
            .into_iter()
            .map(|s| TraceStep {
                step_name: s.step_name,
                component: s.component,
                start_time_ms: s.start_time,
                end_time_ms: s.end_time,
                input_data: s.input_data.to_string(),
                output_data: s.output_data.to_string(),
                status: status(s.status),
                error_details: s.error_details,
            })
            .collect(),
        current_step: t.current_step,
        completion_status: status(t.completion_status),
    }
}

fn status(s: trace::StepStatus) -> StepStatus {
    match s {
        trace::StepStatus::Pending => StepStatus::Pending,
        trace::StepStatus::Running => StepStatus::Running,
        trace::StepStatus::Completed => StepStatus::Completed,
        trace::StepStatus::Failed => StepStatus::Failed,
        trace::StepStatus::Skipped => StepStatus::Skipped,
    }
}
