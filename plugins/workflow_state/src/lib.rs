//! A validator that checks each request's Temporal workflow (`aura-<run>-<request>`,
//! described until it is no longer running): it completed, its output equals (as JSON)
//! the decision cached in Redis at `aura:<run>:decision:<request>`, and no activity took
//! more attempts than its retry policy allows. An activity over the bound is named with
//! its attempts and last failure.
//!
//! Checks per request: `workflow status`, `workflow output` (when completed) and
//! `activity attempts`; `workflow status` fails alone when the workflow cannot be
//! described, and `cached decision` replaces `workflow output` when Redis has none.
//!
//! Grants: `workflow = true`, `cache = { access = "read", key-prefixes = ["aura:{run}:"] }`.
//!
//! Configuration (every key optional; `[target]` is injected by the host in a scenario):
//!
//! ```toml
//! deadline_ms = 5000       # one deadline for the whole call, for every request together
//! poll_interval_ms = 100   # between two looks at the workflow
//! max_attempts = 3         # attempts allowed per activity (default: [target] step_attempts)
//! [target]
//! step_attempts = 3
//! ```

use aura_sdk::footprint::status_name;
use aura_sdk::validator::Guest;
use aura_sdk::workflow::{ActivitySummary, Execution, ExecutionStatus};
use aura_sdk::{
    Check, Footprint, PluginError, Poll, RunContext, ValidationResult, check_name,
    export_validator, json_check,
};
use serde::Deserialize;

const DEADLINE_MS: u64 = 5_000;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Config {
    max_attempts: Option<u32>,
}

fn attempts_check(name: &str, max_attempts: u32, activities: &[ActivitySummary]) -> Check {
    let expected = format!("at most {max_attempts} attempts per activity");
    let over: Vec<String> = activities
        .iter()
        .filter(|a| a.attempts > max_attempts)
        .map(|a| {
            let last = a.last_failure.as_deref().unwrap_or("no failure recorded");
            format!(
                "{}: {} attempts (last failure: {last})",
                a.activity_type, a.attempts
            )
        })
        .collect();
    let actual = match activities.iter().max_by_key(|a| a.attempts) {
        Some(a) if over.is_empty() => format!("at most {} ({})", a.attempts, a.activity_type),
        Some(_) => over.join("; "),
        None => "no activities".to_string(),
    };
    let message = format!("over {max_attempts} attempts: {}", over.join("; "));
    Check::expect(name, over.is_empty(), &expected, actual, &message)
}

fn output_check(fp: &Footprint, request_id: &str, execution: &Execution) -> Check {
    let name = check_name(request_id, "workflow output");
    let what = "the cached decision";
    let output = match execution.output.as_deref().map(serde_json::from_str) {
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            let message = format!("the workflow's output is not JSON: {e}");
            return Check::expect(&name, false, what, "not JSON", &message);
        }
        None => {
            let message = "the workflow completed without an output";
            return Check::expect(&name, false, what, "no output", message);
        }
    };
    match fp.persisted_decision(request_id) {
        Ok(cached) => json_check(&name, what, &cached, &output),
        Err(check) => check,
    }
}

fn checks(fp: &Footprint, max_attempts: u32, request_id: &str) -> Vec<Check> {
    let name = |what: &str| check_name(request_id, what);
    let status = name("workflow status");
    let execution = match fp.execution(request_id) {
        Poll::Ready(e) | Poll::Pending(Some(e)) => e,
        Poll::Pending(None) => {
            let message = format!("{} was not described", fp.workflow_id(request_id));
            return vec![Check::expect(
                &status,
                false,
                "completed",
                "unknown",
                &message,
            )];
        }
        Poll::Failed(e) => return vec![Check::host_failure(&status, "completed", &e)],
    };
    let mut checks = vec![Check::expect_eq(
        &status,
        "completed",
        status_name(execution.status),
    )];
    if execution.status == ExecutionStatus::Completed {
        checks.push(output_check(fp, request_id, &execution));
    }
    checks.push(attempts_check(
        &name("activity attempts"),
        max_attempts,
        &execution.activities,
    ));
    checks
}

struct WorkflowState;

impl Guest for WorkflowState {
    fn validate(ctx: RunContext) -> Result<ValidationResult, PluginError> {
        let config: Config = ctx.config()?;
        let fp = Footprint::new(&ctx, DEADLINE_MS)?;
        let max_attempts = config.max_attempts.unwrap_or(fp.facts.target.step_attempts);
        Ok(fp.check_each(|request_id| checks(&fp, max_attempts, request_id)))
    }
}

export_validator!(WorkflowState);

#[cfg(test)]
mod tests {
    use super::*;

    fn activity(name: &str, attempts: u32, last: Option<&str>) -> ActivitySummary {
        ActivitySummary {
            activity_type: name.into(),
            attempts,
            failures: attempts - 1,
            last_failure: last.map(str::to_string),
        }
    }

    #[test]
    fn retries_within_the_policy_pass() {
        let activities = [
            activity("validate_request", 1, None),
            activity("persist_decision", 3, Some("graph unavailable")),
        ];
        let check = attempts_check("r: activity attempts", 3, &activities);
        assert!(check.passed, "{check:?}");
        assert_eq!(check.actual, "at most 3 (persist_decision)");
    }

    #[test]
    fn an_activity_over_the_bound_is_named_with_its_last_failure() {
        let activities = [
            activity("validate_request", 1, None),
            activity("publish_decision", 4, Some("kafka: timed out")),
        ];
        let check = attempts_check("r: activity attempts", 3, &activities);
        assert!(!check.passed);
        assert_eq!(
            check.actual,
            "publish_decision: 4 attempts (last failure: kafka: timed out)"
        );
        assert!(attempts_check("r", 3, &[]).passed);
    }

    #[test]
    fn max_attempts_is_optional() {
        let parse = |text: &str| toml_config(text).map(|c| c.max_attempts);
        assert_eq!(parse(""), Some(None));
        assert_eq!(
            parse("max_attempts = 5\n[target]\nsteps = []"),
            Some(Some(5))
        );
    }

    fn toml_config(text: &str) -> Option<Config> {
        let ctx = RunContext {
            run_id: "r".into(),
            scenario: "s".into(),
            request_ids: vec![],
            config: text.into(),
            faults: Vec::new(),
            load: None,
        };
        ctx.config().ok()
    }
}
