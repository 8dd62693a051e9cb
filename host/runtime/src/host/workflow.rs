use super::super::bindings::HostError;
use super::super::bindings::api::aura::host::workflow::{
    ActivitySummary, Execution, ExecutionStatus, Host,
};
use super::super::state::PluginState;
use futures::StreamExt;

use super::{batch_too_large, grant_each, host_call, host_error, taped};
use aura_services::temporal::ExecutionSummary;

impl Host for PluginState {
    async fn describe(
        &mut self,
        workflow_id: String,
    ) -> wasmtime::Result<Result<Execution, HostError>> {
        taped!(
            self,
            "workflow.describe",
            [workflow_id],
            async {
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
            .await
        )
    }

    async fn describe_many(
        &mut self,
        workflow_ids: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<Result<Execution, HostError>>, HostError>> {
        const CALL: &str = "workflow.describe-many";
        taped!(
            self,
            CALL,
            [workflow_ids],
            async {
                let ctx = &mut self.call;
                let grant = grant_each(&workflow_ids, |id| ctx.grants.check_workflow(id));
                let bytes = workflow_ids.iter().map(String::len).sum();
                if let Some(e) = batch_too_large(CALL, workflow_ids.len()) {
                    return Ok(ctx.admit(CALL, grant, bytes).and(Err(e)));
                }
                let hub = ctx.hub.clone();
                let summaries = host_call!(ctx, CALL, grant, bytes, async move {
                    let workflows = hub.workflows().await?;
                    let each = futures::stream::iter(workflow_ids).map(|id| {
                        let workflows = workflows.clone();
                        async move { workflows.describe_execution(&id).await }
                    });
                    Ok(each.buffered(CONCURRENT_READS).collect::<Vec<_>>().await)
                })?;
                let executions = summaries.map(|all| {
                    all.into_iter()
                        .map(|s| s.map(to_wit).map_err(host_error))
                        .collect::<Vec<_>>()
                });
                let max = ctx.host_bytes_left();
                Ok(ctx.answer(CALL, executions, |e| {
                    super::super::size::encoded(e, max) as usize
                }))
            }
            .await
        )
    }
}

/// Histories read at once for one `describe-many`.
const CONCURRENT_READS: usize = 8;

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
