//! `AuraDistributedScenario`: one scenario's slices as activities, all at once, each
//! retried on another worker when its worker stops heartbeating.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use temporalio_common::RetryPolicy;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowResult};

use super::slice::SliceActivities;
use crate::orchestrator::scenario::Scenario;
use crate::report::LoadRecord;

/// What one slice runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceInput {
    /// The run whose target task queue the workers' targets poll.
    pub run_id: String,
    /// The scenario's namespace (`<run>-<n>`).
    pub namespace: String,
    pub scenario: Scenario,
    pub index: u32,
    pub of: u32,
    /// When the load's schedule began and when the scenario must end (ms since the
    /// epoch), the same for every slice and every attempt.
    pub origin_ms: i64,
    pub deadline_ms: i64,
    /// The run's `--seed`, for a load's template.
    pub seed: Option<u64>,
}

/// What a slice did; its requests came back on the scenario's stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceOutput {
    pub index: u32,
    pub requests: u32,
    /// A load's figures for this slice's arrivals.
    pub load: Option<LoadRecord>,
    /// A recovery strategy's reason to abort (none run in slices), or a slice's own.
    pub abort: Option<String>,
}

/// A worker that has not said it is alive for this long is taken for dead, and its
/// slice is started again elsewhere.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// How much longer than the scenario's time one attempt of a slice may take (reading the
/// traces of requests still pending, sending the last results).
const ATTEMPT_MARGIN: Duration = Duration::from_secs(60);

#[workflow]
#[derive(Default)]
pub struct DistributedScenarioWorkflow;

#[workflow_methods]
impl DistributedScenarioWorkflow {
    #[run(name = "AuraDistributedScenario")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        slices: Vec<SliceInput>,
    ) -> WorkflowResult<Vec<SliceOutput>> {
        let longest = slices
            .iter()
            .map(|s| s.scenario.max_execution_time)
            .max()
            .unwrap_or(Duration::from_secs(300));
        // A margin past the scenario's time: an attempt cut short at its deadline would be
        // retried with nothing left to do.
        let options = ActivityOptions::with_start_to_close_timeout(longest + ATTEMPT_MARGIN)
            .heartbeat_timeout(HEARTBEAT)
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_attempts(5)
                    .initial_interval(Duration::from_millis(200))
                    .build(),
            )
            .build();
        let running = slices
            .into_iter()
            .map(|s| ctx.execute_activity(SliceActivities::run_slice, s, options.clone()));
        let mut out = Vec::new();
        for done in futures::future::join_all(running).await {
            out.push(done?);
        }
        Ok(out)
    }
}
