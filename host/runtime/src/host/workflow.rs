use super::super::bindings::HostError;
use super::super::bindings::api::aura::host::workflow::{
    ActivitySummary, Execution, ExecutionStatus, Host,
};
use super::super::state::PluginState;
use super::host_call;
use aura_services::temporal::ExecutionSummary;

impl Host for PluginState {
    async fn describe(
        &mut self,
        workflow_id: String,
    ) -> wasmtime::Result<Result<Execution, HostError>> {
        let ctx = &mut self.call;
        let grant = ctx.grants.check_workflow(&workflow_id);
        let hub = ctx.hub.clone();
        let summary = host_call!(
            ctx,
            "workflow.describe",
            grant,
            workflow_id.len(),
            async move {
                hub.workflows()
                    .await?
                    .describe_execution(&workflow_id)
                    .await
            }
        )?;
        let max = ctx.host_bytes_left();
        Ok(ctx.answer("workflow.describe", summary.map(to_wit), |e| {
            super::super::size::encoded(e, max) as usize
        }))
    }
}

fn to_wit(s: ExecutionSummary) -> Execution {
    let status = match s.status.as_str() {
        "RUNNING" => ExecutionStatus::Running,
        "COMPLETED" => ExecutionStatus::Completed,
        "FAILED" => ExecutionStatus::Failed,
        "CANCELED" => ExecutionStatus::Canceled,
        "TERMINATED" => ExecutionStatus::Terminated,
        "CONTINUED_AS_NEW" => ExecutionStatus::ContinuedAsNew,
        "TIMED_OUT" => ExecutionStatus::TimedOut,
        _ => ExecutionStatus::Unknown,
    };
    Execution {
        workflow_id: s.workflow_id,
        status,
        output: s.result,
        history_length: s.history_length,
        activities: s
            .activities
            .into_iter()
            .map(|a| ActivitySummary {
                activity_type: a.activity_type,
                attempts: a.attempts,
                failures: a.failures,
                last_failure: a.last_failure,
            })
            .collect(),
    }
}
