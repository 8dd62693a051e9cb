//! `GpuAllocationWorkflow`: the seven steps as Temporal local activities. Workflow code
//! must be deterministic, so it only sequences activities and decides from their results;
//! the step policy (timeout, attempts, backoff) travels in the input. A workflow that
//! fails after leasing devices releases them (`release_devices`) before it fails.
//!
//! Local, as Temporal advises for short steps that need no routing to other workers:
//! each runs in the worker that runs the workflow and is recorded in its history as a
//! marker (type, final attempt, result or failure), so a request costs the server two
//! workflow tasks instead of sixteen tasks (docs/performance.md).

use std::time::Duration;

use temporalio_common::RetryPolicy;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{LocalActivityOptions, WorkflowContext, WorkflowResult};

use super::activities::AllocationActivities;
use super::request::{Decision, Denial, DenialClass, Outcome};
use super::steps::{AllocationInput, CouncilInput, PersistInput, StepOptions};
use aura_contract::{Step, names};

#[workflow]
#[derive(Default)]
pub struct GpuAllocationWorkflow;

/// The activity options of `step`: its own timeout when the submitter set one.
fn options(o: &StepOptions, step: Step) -> LocalActivityOptions {
    let timeout_ms = o
        .step_timeouts_ms
        .get(step.name())
        .copied()
        .unwrap_or(o.timeout_ms);
    let retry = RetryPolicy::builder()
        .initial_interval(Duration::from_millis(o.retry_interval_ms.max(1)))
        .backoff_coefficient(2.0)
        .maximum_attempts(o.attempts.max(1))
        .build();
    LocalActivityOptions::builder()
        .start_to_close_timeout(Duration::from_millis(timeout_ms.max(1)))
        .retry_policy(retry)
        .build()
}

#[workflow_methods]
impl GpuAllocationWorkflow {
    // `names::WORKFLOW_TYPE`; the macro needs a literal.
    #[run(name = "GpuAllocationWorkflow")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: AllocationInput,
    ) -> WorkflowResult<Decision> {
        let opts = |step| options(&input.options, step);
        let checked = ctx
            .execute_local_activity(
                AllocationActivities::validate_request,
                input.clone(),
                opts(Step::ValidateRequest),
            )
            .await?;
        let mut decision = Decision {
            run_id: input.run_id.clone(),
            request_id: input.request.request_id.clone(),
            workflow_id: names::workflow_id(&input.run_id, &input.request.request_id),
            outcome: Outcome::Denied,
            denial: checked.denial.clone(),
            votes: Vec::new(),
            quorum: false,
            approve_weight: 0.0,
            deny_weight: 0.0,
            devices: Vec::new(),
            decided_at: checked.at,
            request: input.request.clone(),
        };
        let mut skipped: Vec<Step> = Vec::new();
        if decision.denial.is_some() {
            skipped.extend([Step::LoadContext, Step::CouncilVote, Step::AllocateDevices]);
        } else {
            let window = ctx
                .execute_local_activity(
                    AllocationActivities::load_context,
                    input.clone(),
                    opts(Step::LoadContext),
                )
                .await?;
            let council = ctx
                .execute_local_activity(
                    AllocationActivities::council_vote,
                    CouncilInput {
                        input: input.clone(),
                        window,
                    },
                    opts(Step::CouncilVote),
                )
                .await?;
            let v = council.verdict;
            decision.votes = v.votes;
            decision.quorum = v.quorum;
            decision.approve_weight = v.approve_weight;
            decision.deny_weight = v.deny_weight;
            decision.decided_at = council.at;
            if !v.approve {
                let (class, why) = if v.quorum {
                    (DenialClass::CouncilRejected, "the council voted to deny")
                } else {
                    (
                        DenialClass::NoQuorum,
                        "too few agents were confident enough to vote",
                    )
                };
                decision.denial = Some(Denial {
                    class,
                    message: format!(
                        "{why} (approve {:.3} vs deny {:.3})",
                        v.approve_weight, v.deny_weight
                    ),
                });
                skipped.push(Step::AllocateDevices);
            } else {
                let allocation = ctx
                    .execute_local_activity(
                        AllocationActivities::allocate_devices,
                        input.clone(),
                        opts(Step::AllocateDevices),
                    )
                    .await?;
                decision.devices = allocation.devices;
                decision.denial = allocation.denial;
                decision.decided_at = allocation.at;
                if decision.denial.is_none() {
                    decision.outcome = Outcome::Approved;
                }
            }
        }
        let recorded = record(ctx, &input.options, &decision, skipped).await;
        if recorded.is_err() && !decision.devices.is_empty() {
            // A saga's compensation: a decision that was never recorded holds no device.
            // Its own failure is in the trace; the step's failure is what the workflow
            // reports.
            let _ = ctx
                .execute_local_activity(
                    AllocationActivities::release_devices,
                    decision.clone(),
                    options(&input.options, Step::AllocateDevices),
                )
                .await;
        }
        recorded.map(|()| decision)
    }
}

/// The decision written to the graph, the cache and the topic, in that order.
async fn record(
    ctx: &mut WorkflowContext<GpuAllocationWorkflow>,
    o: &StepOptions,
    decision: &Decision,
    skipped: Vec<Step>,
) -> WorkflowResult<()> {
    ctx.execute_local_activity(
        AllocationActivities::persist_decision,
        PersistInput {
            decision: decision.clone(),
            skipped,
        },
        options(o, Step::PersistDecision),
    )
    .await?;
    ctx.execute_local_activity(
        AllocationActivities::cache_context,
        decision.clone(),
        options(o, Step::CacheContext),
    )
    .await?;
    ctx.execute_local_activity(
        AllocationActivities::publish_decision,
        decision.clone(),
        options(o, Step::PublishDecision),
    )
    .await?;
    Ok(())
}
