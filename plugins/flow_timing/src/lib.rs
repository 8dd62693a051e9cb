//! A validator that checks how each request went through the target, from its
//! WorkflowTrace (polled until it is completed or failed): the steps are the target's
//! steps in order (steps a denial skips are there with status `skipped`), the trace
//! completed, no step failed, and every completed step took at most its timeout (the
//! scenario's timeout for that step, else the target's `step_timeout_ms`). A retried step
//! is timed by its last attempt, as its start-to-close timeout applies per attempt.
//!
//! Checks per request: `trace` (only when there is none), `step order`, `completion`,
//! `failed steps` and `step durations` (the slowest step in `actual`).
//!
//! Grants: `trace = true`.
//!
//! Configuration (every key optional; `[scenario]` and `[target]` are injected by the host
//! in a scenario):
//!
//! ```toml
//! deadline_ms = 5000       # one deadline for the whole call, for every request together
//! poll_interval_ms = 100   # between two looks at the trace
//! [scenario]
//! step_timeouts_ms = { council_vote = 2000 }
//! [target]
//! steps = ["validate_request", "load_context", ...]   # the order expected
//! step_timeout_ms = 10000
//! ```

use aura_sdk::trace::{self, StepStatus, TraceStep, WorkflowTrace};
use aura_sdk::validator::Guest;
use aura_sdk::{
    Check, Footprint, HostFacts, PluginError, Poll, RunContext, ValidationResult, check_name,
    export_validator,
};

const DEADLINE_MS: u64 = 5_000;

fn status_name(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Pending => "pending",
        StepStatus::Running => "running",
        StepStatus::Completed => "completed",
        StepStatus::Failed => "failed",
        StepStatus::Skipped => "skipped",
    }
}

fn order_check(name: &str, facts: &HostFacts, trace: &WorkflowTrace) -> Check {
    let names: Vec<&str> = trace.steps.iter().map(|s| s.step_name.as_str()).collect();
    Check::expect_eq(name, facts.target.steps.join(","), names.join(","))
}

fn failed_check(name: &str, steps: &[TraceStep]) -> Check {
    let failed: Vec<String> = steps
        .iter()
        .filter(|s| s.status == StepStatus::Failed)
        .map(|s| {
            let why = s.error_details.as_deref().unwrap_or("no error details");
            format!("{}: {why}", s.step_name)
        })
        .collect();
    let actual = if failed.is_empty() {
        "none".to_string()
    } else {
        failed.join("; ")
    };
    let message = format!("failed steps: {actual}");
    Check::expect(name, failed.is_empty(), "none", &actual, &message)
}

/// A completed step's duration in ms, with its timeout.
struct Timed<'a> {
    step: &'a str,
    ms: i64,
    limit: u64,
}

impl Timed<'_> {
    fn over(&self) -> bool {
        u64::try_from(self.ms).unwrap_or(0) > self.limit
    }

    fn describe(&self) -> String {
        format!("{} {} ms (limit {} ms)", self.step, self.ms, self.limit)
    }
}

fn durations_check(name: &str, facts: &HostFacts, steps: &[TraceStep]) -> Check {
    let timed: Vec<Timed> = steps
        .iter()
        .filter(|s| s.status == StepStatus::Completed)
        .filter_map(|s| {
            Some(Timed {
                step: &s.step_name,
                ms: s.end_time_ms?.saturating_sub(s.start_time_ms),
                limit: facts.step_timeout_ms(&s.step_name),
            })
        })
        .collect();
    let expected = "each completed step within its timeout";
    let actual = timed
        .iter()
        .max_by_key(|t| t.ms)
        .map_or("no completed steps".to_string(), |t| {
            format!("slowest: {}", t.describe())
        });
    let over: Vec<String> = timed
        .iter()
        .filter(|t| t.over())
        .map(Timed::describe)
        .collect();
    let message = format!("over their timeout: {}", over.join("; "));
    Check::expect(name, over.is_empty(), expected, actual, &message)
}

fn trace_checks(request_id: &str, facts: &HostFacts, trace: &WorkflowTrace) -> Vec<Check> {
    let name = |what: &str| check_name(request_id, what);
    vec![
        order_check(&name("step order"), facts, trace),
        Check::expect_eq(
            &name("completion"),
            "completed",
            status_name(trace.completion_status),
        ),
        failed_check(&name("failed steps"), &trace.steps),
        durations_check(&name("step durations"), facts, &trace.steps),
    ]
}

fn checks(fp: &Footprint, request_id: &str) -> Vec<Check> {
    let name = check_name(request_id, "trace");
    let expected = "a finished WorkflowTrace";
    match fp.poll(|| match trace::get(request_id) {
        Ok(Some(t))
            if matches!(
                t.completion_status,
                StepStatus::Completed | StepStatus::Failed
            ) =>
        {
            Poll::Ready(t)
        }
        Ok(t) => Poll::Pending(t),
        Err(e) => Poll::Failed(e),
    }) {
        Poll::Ready(t) | Poll::Pending(Some(t)) => trace_checks(request_id, &fp.facts, &t),
        Poll::Pending(None) => {
            let actual = format!("none after {} ms", fp.deadline_ms());
            let message = format!("the run has no trace of {request_id}");
            vec![Check::expect(&name, false, expected, actual, &message)]
        }
        Poll::Failed(e) => vec![Check::host_failure(&name, expected, &e)],
    }
}

struct FlowTiming;

impl Guest for FlowTiming {
    fn validate(ctx: RunContext) -> Result<ValidationResult, PluginError> {
        let fp = Footprint::new(&ctx, DEADLINE_MS)?;
        Ok(fp.check_each(|request_id| checks(&fp, request_id)))
    }
}

export_validator!(FlowTiming);

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, status: StepStatus, start: i64, end: i64) -> TraceStep {
        TraceStep {
            step_name: name.into(),
            component: "c".into(),
            start_time_ms: start,
            end_time_ms: Some(end),
            input_data: "null".into(),
            output_data: "null".into(),
            status,
            error_details: None,
        }
    }

    fn trace(steps: Vec<TraceStep>) -> WorkflowTrace {
        WorkflowTrace {
            request_id: "r".into(),
            start_time_ms: 0,
            steps,
            current_step: None,
            completion_status: StepStatus::Completed,
        }
    }

    fn denial() -> Vec<TraceStep> {
        use StepStatus::{Completed, Skipped};
        vec![
            step("validate_request", Completed, 0, 5),
            step("load_context", Skipped, 6, 6),
            step("council_vote", Skipped, 6, 6),
            step("allocate_devices", Skipped, 6, 6),
            step("persist_decision", Completed, 6, 40),
            step("cache_context", Completed, 41, 50),
            step("publish_decision", Completed, 51, 2600),
        ]
    }

    #[test]
    fn a_denial_with_skipped_steps_is_in_order() {
        let checks = trace_checks("r", &HostFacts::default(), &trace(denial()));
        assert!(checks.iter().all(|c| c.passed), "{checks:?}");
        assert_eq!(
            checks[3].actual,
            "slowest: publish_decision 2549 ms (limit 10000 ms)"
        );
    }

    #[test]
    fn a_scenario_timeout_applies_to_its_step_only() {
        let mut facts = HostFacts::default();
        facts
            .scenario
            .step_timeouts_ms
            .insert("publish_decision".into(), 2000);
        facts
            .scenario
            .step_timeouts_ms
            .insert("persist_decision".into(), 10);
        let check = durations_check("r: step durations", &facts, &denial());
        assert!(!check.passed);
        assert_eq!(
            check.message,
            "over their timeout: persist_decision 34 ms (limit 10 ms); \
             publish_decision 2549 ms (limit 2000 ms)"
        );
    }

    #[test]
    fn order_failures_and_completion_are_reported() {
        let mut steps = denial();
        steps.swap(0, 1);
        steps[6].status = StepStatus::Failed;
        steps[6].error_details = Some("kafka at localhost:9092: timed out".into());
        let mut t = trace(steps);
        t.completion_status = StepStatus::Failed;
        let checks = trace_checks("r", &HostFacts::default(), &t);
        let failed: Vec<(&str, &str)> = checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| (c.name.as_str(), c.actual.as_str()))
            .collect();
        assert_eq!(
            failed,
            [
                (
                    "r: step order",
                    "load_context,validate_request,council_vote,allocate_devices,\
                     persist_decision,cache_context,publish_decision"
                ),
                ("r: completion", "failed"),
                (
                    "r: failed steps",
                    "publish_decision: kafka at localhost:9092: timed out"
                ),
            ]
        );
    }
}
