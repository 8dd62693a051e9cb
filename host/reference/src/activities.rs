//! The steps as Temporal activities. Each attempt runs inside an `aura.step` span (the
//! trace layer turns it into a TraceStep), bounded a little inside the activity's own
//! timeout so the trace records the timeout before Temporal does, and fails with the
//! step's typed error, retryable or not.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use temporalio_macros::activities;
use temporalio_sdk::ApplicationFailure;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tracing::Instrument;
use tracing::field::Empty;
use tracing::instrument::WithSubscriber;

use super::TargetCore;
use super::request::Decision;
use super::steps::{
    Allocation, AllocationInput, Checked, CouncilInput, CouncilOutput, PersistInput, Published,
    StepError,
};
use aura_contract::Step;
use aura_services::trace::STEP_SPAN;

pub struct AllocationActivities {
    core: Arc<TargetCore>,
}

impl AllocationActivities {
    pub fn new(core: Arc<TargetCore>) -> Self {
        Self { core }
    }
}

/// One attempt of a step (or of the compensation), as its span records it.
struct Attempt<'a> {
    name: &'static str,
    component: &'static str,
    run_id: &'a str,
    request_id: &'a str,
    last: bool,
}

impl<'a> Attempt<'a> {
    fn of(step: Step, input: &'a AllocationInput) -> Self {
        Self::for_request(step, &input.run_id, &input.request.request_id)
    }

    fn for_request(step: Step, run_id: &'a str, request_id: &'a str) -> Self {
        Self {
            name: step.name(),
            component: step.component(),
            run_id,
            request_id,
            last: false,
        }
    }
}

impl TargetCore {
    async fn traced<I, O, F>(
        &self,
        ctx: &ActivityContext,
        step: Attempt<'_>,
        payload: &I,
        body: F,
    ) -> Result<O, ActivityError>
    where
        I: Serialize,
        O: Serialize,
        F: Future<Output = Result<O, StepError>>,
    {
        let info = ctx.info();
        let max_attempts = info
            .retry_policy
            .as_ref()
            .map_or(1, |p| p.maximum_attempts());
        let terminal = max_attempts != 0 && info.attempt >= max_attempts;
        let input = serde_json::json!({
            "attempt": info.attempt,
            "payload": payload,
        })
        .to_string();
        let span = tracing::dispatcher::with_default(&self.dispatch, || {
            tracing::info_span!(
                target: "aura::target",
                STEP_SPAN,
                run_id = %step.run_id,
                request_id = %step.request_id,
                step = step.name,
                component = step.component,
                input = %input,
                terminal,
                last = step.last,
                output = Empty,
                error = Empty,
            )
        });
        let pause = self.config.pause_before(step.name);
        let started = std::time::Instant::now();
        // The budget covers the pause too: a pause longer than the step's timeout is a
        // step that overran it.
        let timeout = step_budget(info, self.config.step_timeout);
        let result = async {
            let paused_body = async {
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                body.await
            };
            match tokio::time::timeout(timeout, paused_body).await {
                Ok(r) => r,
                Err(_) => Err(StepError::Timeout {
                    step: step.name.into(),
                    timeout_ms: timeout.as_millis() as u64,
                    waiting_on: step
                        .component
                        .parse::<aura_services::ServiceKind>()
                        .ok()
                        .map(|kind| format!("{kind} at {}", self.hub.config().address(kind))),
                }),
            }
        }
        .instrument(span.clone())
        .with_subscriber(self.dispatch.clone())
        .await;
        self.metrics
            .step(step.name, started.elapsed(), result.is_err());
        match &result {
            Ok(out) => {
                let out = serde_json::to_string(out).unwrap_or_default();
                span.record("output", out.as_str());
            }
            Err(e) => {
                self.metrics.store_error(e.service());
                if !e.retryable() {
                    span.record("terminal", true);
                }
                span.record("error", aura_services::error_chain(e).as_str());
            }
        }
        drop(span);
        // The step names the failure: a local activity's failure reaches the workflow
        // without the activity's type, and the driver reports which step failed.
        result.map_err(|e| {
            let non_retryable = !e.retryable();
            let failure = ApplicationFailure::builder(e)
                .type_name(step.name.to_string())
                .non_retryable(non_retryable)
                .build();
            ActivityError::application(failure)
        })
    }
}

/// The step's own deadline: 90% of what is left of the attempt's timeout.
fn step_budget(
    info: &temporalio_sdk::activities::ActivityInfo,
    fallback: std::time::Duration,
) -> std::time::Duration {
    info.deadline
        .and_then(|d| d.duration_since(std::time::SystemTime::now()).ok())
        .unwrap_or(fallback)
        .mul_f64(0.9)
}

// Activity names are the steps' wire names (`Step::name`); the macro needs literals.
#[activities]
impl AllocationActivities {
    #[activity(name = "validate_request")]
    pub async fn validate_request(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: AllocationInput,
    ) -> Result<Checked, ActivityError> {
        let step = Attempt::of(Step::ValidateRequest, &input);
        let core = &self.core;
        core.traced(&ctx, step, &input.request, async {
            Ok(core.validate(&input))
        })
        .await
    }

    #[activity(name = "load_context")]
    pub async fn load_context(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: AllocationInput,
    ) -> Result<Vec<crate::request::ContextEntry>, ActivityError> {
        let step = Attempt::of(Step::LoadContext, &input);
        let core = &self.core;
        core.traced(&ctx, step, &input.run_id, core.load_context(&input))
            .await
    }

    #[activity(name = "council_vote")]
    pub async fn council_vote(
        self: Arc<Self>,
        ctx: ActivityContext,
        c: CouncilInput,
    ) -> Result<CouncilOutput, ActivityError> {
        let step = Attempt::of(Step::CouncilVote, &c.input);
        let core = &self.core;
        let window = c.window.len();
        core.traced(
            &ctx,
            step,
            &serde_json::json!({ "context_entries": window }),
            async { core.council_vote(&c) },
        )
        .await
    }

    #[activity(name = "allocate_devices")]
    pub async fn allocate_devices(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: AllocationInput,
    ) -> Result<Allocation, ActivityError> {
        let step = Attempt::of(Step::AllocateDevices, &input);
        let core = &self.core;
        core.traced(&ctx, step, &input.request, core.allocate(&input))
            .await
    }

    #[activity(name = "persist_decision")]
    pub async fn persist_decision(
        self: Arc<Self>,
        ctx: ActivityContext,
        p: PersistInput,
    ) -> Result<(), ActivityError> {
        let d = &p.decision;
        let core = &self.core;
        let skipped: Vec<(String, String)> = p
            .skipped
            .iter()
            .map(|s| (s.name().to_string(), s.component().to_string()))
            .collect();
        core.traces.steps_skipped(
            &d.run_id,
            &d.request_id,
            &skipped,
            chrono::Utc::now().timestamp_millis(),
        );
        let step = Attempt::for_request(Step::PersistDecision, &d.run_id, &d.request_id);
        core.traced(&ctx, step, &d.outcome, core.persist(&p)).await
    }

    #[activity(name = "cache_context")]
    pub async fn cache_context(
        self: Arc<Self>,
        ctx: ActivityContext,
        d: Decision,
    ) -> Result<(), ActivityError> {
        let step = Attempt::for_request(Step::CacheContext, &d.run_id, &d.request_id);
        let core = &self.core;
        core.traced(&ctx, step, &d.outcome, core.cache_context(&d))
            .await
    }

    #[activity(name = "publish_decision")]
    pub async fn publish_decision(
        self: Arc<Self>,
        ctx: ActivityContext,
        d: Decision,
    ) -> Result<Published, ActivityError> {
        let step = Attempt {
            last: true,
            ..Attempt::for_request(Step::PublishDecision, &d.run_id, &d.request_id)
        };
        let core = &self.core;
        let result = core.traced(&ctx, step, &d.outcome, core.publish(&d)).await;
        if result.is_ok() {
            core.metrics.decision(&d);
        }
        result
    }

    /// The compensation of a workflow that failed after leasing devices.
    #[activity(name = "release_devices")]
    pub async fn release_devices(
        self: Arc<Self>,
        ctx: ActivityContext,
        d: Decision,
    ) -> Result<u64, ActivityError> {
        let step = Attempt {
            name: aura_contract::step::RELEASE_DEVICES,
            component: aura_contract::step::RELEASE_DEVICES_COMPONENT,
            run_id: &d.run_id,
            request_id: &d.request_id,
            last: false,
        };
        let core = &self.core;
        let devices: Vec<&str> = d.devices.iter().map(|g| g.id.as_str()).collect();
        core.traced(&ctx, step, &devices, core.release(&d)).await
    }
}
