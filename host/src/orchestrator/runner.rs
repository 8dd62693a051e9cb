//! Runs one scenario's requests through a target driver and checks what came back
//! against the scenario's expected outcomes and invariants. Requests are submitted
//! together, each step under the scenario's `step_timeouts`, and awaited within the
//! scenario's `max_execution_time`: a request still undecided then is a failed check,
//! never a hang. A failed workflow or submission goes to the scenario's recovery
//! strategy, whose answer (retry after N ms, skip, degrade, abort) is acted on and
//! recorded.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::plugins::{self, Action, Configured, PluginSet};
use super::scenario::{ExpectedOutcome, Invariant, Scenario};
use crate::chaos::Expectation;
use crate::report::{Check, RequestResult, RequestStatus, RunEvent};
use aura_reference::driver::TargetDriver;
use aura_reference::{Decision, DecisionState, GpuAllocationRequest, TargetConfig};
use aura_runtime::bindings::Failure;

/// How much two leases of one device may seem to overlap (decision times stand for
/// when leases were set, a few milliseconds earlier) before it counts as shared.
const LEASE_SLACK_MS: i64 = 1_000;

/// Attempts of one request, retries included, whatever its recovery strategy says.
pub const MAX_ATTEMPTS: u32 = 100;

/// What a scenario's requests run with.
pub struct Runner<'a> {
    pub driver: &'a dyn TargetDriver,
    pub run_id: &'a str,
    pub target: &'a TargetConfig,
    pub plugins: Option<&'a PluginSet>,
    /// Called as each request finishes and each recovery action is taken.
    pub record: &'a (dyn Fn(RunEvent) + Send + Sync),
}

/// A scenario's requests and invariants, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioResult {
    pub scenario: String,
    pub requests: Vec<RequestResult>,
    pub invariants: Vec<Check>,
    pub elapsed: Duration,
    /// A recovery strategy asked to stop the run.
    pub abort: Option<String>,
}

impl ScenarioResult {
    pub fn passed(&self) -> bool {
        self.requests
            .iter()
            .all(|r| r.status != RequestStatus::Failed)
            && self.invariants.iter().all(|c| c.passed)
    }

    /// Every failed check, as `request: name: expected X, actual Y`.
    pub fn failures(&self) -> Vec<String> {
        crate::report::model::failures(&self.requests, &self.invariants)
    }
}

fn expectation_checks(e: &ExpectedOutcome, d: &Decision) -> Vec<Check> {
    let mut checks = vec![Check::new("decision", e.decision.name(), d.outcome.name())];
    if let Some(n) = e.device_count {
        checks.push(Check::new(
            "device_count",
            n.to_string(),
            d.devices.len().to_string(),
        ));
    }
    if let Some(class) = e.reason {
        let actual = d.denial.as_ref().map_or("none", |x| x.class.name());
        checks.push(Check::new("reason", class.name(), actual));
    }
    checks
}

/// Why one attempt produced no decision, as the recovery strategy is told it.
struct AttemptFailure {
    service: String,
    operation: String,
    error: String,
    /// Waiting longer cannot help: the scenario's time is up.
    final_: bool,
}

/// The service behind a workflow failure: the component of the step that failed it.
fn failing_service(step: Option<aura_contract::Step>) -> (String, String) {
    step.map_or_else(
        || ("workflow".into(), "workflow".into()),
        |s| (s.component().to_string(), s.name().to_string()),
    )
}

impl Runner<'_> {
    /// Submits every request of `scenario`, waits for the decisions and checks them.
    pub async fn run(&self, scenario: &Scenario) -> ScenarioResult {
        let started = Instant::now();
        let deadline = started
            .checked_add(scenario.max_execution_time)
            .unwrap_or_else(|| started + Duration::from_secs(365 * 86_400));
        self.run_until(scenario, deadline).await
    }

    /// [`Self::run`] by `deadline` instead of the scenario's own time from now.
    pub async fn run_until(&self, scenario: &Scenario, deadline: Instant) -> ScenarioResult {
        let started = Instant::now();
        let expected: BTreeMap<&str, &ExpectedOutcome> = scenario
            .expected_outcomes
            .iter()
            .map(|e| (e.request_id.as_str(), e))
            .collect();
        let strategy = self.plugins.and_then(|p| p.recovery(&scenario.id));
        let outcomes = futures::future::join_all(scenario.gpu_requests.iter().map(|r| {
            let e = expected.get(r.request_id.as_str()).copied();
            self.run_one(scenario, r, e, deadline, strategy)
        }))
        .await;
        let (requests, aborts): (Vec<_>, Vec<_>) = outcomes.into_iter().unzip();
        let invariants = scenario
            .invariants
            .iter()
            .filter_map(|i| invariant(i, &requests))
            .collect();
        ScenarioResult {
            scenario: scenario.id.clone(),
            requests,
            invariants,
            elapsed: started.elapsed(),
            abort: aborts.into_iter().flatten().next(),
        }
    }

    async fn attempt(
        &self,
        scenario: &Scenario,
        r: &GpuAllocationRequest,
        deadline: Instant,
    ) -> Result<Decision, AttemptFailure> {
        let fail = |service: &str, operation: &str, error: String, final_: bool| AttemptFailure {
            service: service.into(),
            operation: operation.into(),
            error,
            final_,
        };
        let submit = self.driver.submit_with(r, &scenario.step_timeouts);
        match tokio::time::timeout_at(deadline.into(), submit).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(fail(
                    "temporal",
                    "submit",
                    format!("not submitted: {e}"),
                    false,
                ));
            }
            Err(_) => {
                return Err(fail(
                    "temporal",
                    "submit",
                    format!(
                        "not submitted within the scenario's {}: temporal did not answer",
                        humantime::format_duration(scenario.max_execution_time)
                    ),
                    true,
                ));
            }
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.driver.decision(&r.request_id, wait).await {
            Ok(DecisionState::Decided { decision }) => Ok(*decision),
            Ok(DecisionState::Pending) => {
                // Where it is stuck names the service that holds it; between steps,
                // the last one it finished says how far it got.
                let trace = self.driver.trace(&r.request_id).await.ok().flatten();
                let stuck = trace
                    .as_ref()
                    .and_then(|t| t.current_step.as_deref())
                    .and_then(aura_contract::Step::parse);
                let (service, step) = failing_service(stuck);
                let within = format!(
                    "no decision within the scenario's {}",
                    humantime::format_duration(scenario.max_execution_time)
                );
                let after = trace.as_ref().and_then(|t| {
                    t.steps
                        .iter()
                        .filter(|s| s.end_time.is_some())
                        .max_by_key(|s| s.end_time)
                        .map(|s| s.step_name.clone())
                });
                let error = match (stuck, after) {
                    (Some(_), _) => format!("{within}; still in {step}, on {service}"),
                    (None, Some(last)) => format!("{within}; between steps, after {last}"),
                    (None, None) => format!("{within}; no step started"),
                };
                Err(fail(&service, &step, error, true))
            }
            Ok(DecisionState::Failed { reason, step }) => {
                let (service, step) = failing_service(step);
                Err(fail(
                    &service,
                    &step,
                    format!("workflow failed: {reason}"),
                    false,
                ))
            }
            Ok(DecisionState::Unknown) => Err(fail(
                "workflow",
                "decision",
                "the target does not know it".into(),
                false,
            )),
            Err(e) => Err(fail("temporal", "decision", e.to_string(), false)),
        }
    }

    /// One request, retried as the recovery strategy says; the result and, when the
    /// strategy said abort, why.
    pub(in crate::orchestrator) async fn run_one(
        &self,
        scenario: &Scenario,
        r: &GpuAllocationRequest,
        expected: Option<&ExpectedOutcome>,
        deadline: Instant,
        strategy: Option<&Configured>,
    ) -> (RequestResult, Option<String>) {
        let submitted_at = Instant::now();
        let mut result = RequestResult {
            request_id: r.request_id.clone(),
            status: RequestStatus::Failed,
            decision: None,
            error: None,
            latency_ms: 0,
            attempts: 0,
            checks: Vec::new(),
            trace: None,
            failed_in: None,
        };
        let mut abort = None;
        loop {
            result.attempts += 1;
            let failure = match self.attempt(scenario, r, deadline).await {
                Ok(decision) => {
                    // Earlier attempts' failures are in the recovery records.
                    result.error = None;
                    result.failed_in = None;
                    if let Some(e) = expected {
                        result.checks = expectation_checks(e, &decision);
                    }
                    let ok = result.checks.iter().all(|c| c.passed);
                    result.status = if ok {
                        RequestStatus::Passed
                    } else {
                        RequestStatus::Failed
                    };
                    result.decision = Some(decision);
                    break;
                }
                Err(f) => f,
            };
            result.error = Some(failure.error.clone());
            result.failed_in = Some(format!("{}/{}", failure.service, failure.operation));
            let (Some(strategy), Some(set), false) = (strategy, self.plugins, failure.final_)
            else {
                break;
            };
            if result.attempts >= MAX_ATTEMPTS {
                // A strategy's answers are a plugin's: one that says "retry" forever is
                // cut here, not by the deadline after thousands of workflows.
                result.error = Some(format!(
                    "{}; gave up after {MAX_ATTEMPTS} attempts, the recovery strategy still asking to retry",
                    result.error.unwrap_or_default()
                ));
                break;
            }
            let (action, record) = plugins::recover(
                &set.runtime,
                strategy,
                self.run_id,
                scenario,
                self.target,
                &r.request_id,
                Failure {
                    service: failure.service,
                    operation: failure.operation,
                    attempt: result.attempts,
                    error: failure.error,
                    elapsed_ms: submitted_at.elapsed().as_millis() as u64,
                },
            )
            .await;
            (self.record)(RunEvent::Recovery(record));
            match action {
                // A strategy's wait is the plugin's number: `checked_add`, since
                // `u64::MAX` ms is past any instant.
                Action::Retry(wait)
                    if Instant::now()
                        .checked_add(wait)
                        .is_some_and(|t| t < deadline) =>
                {
                    // The strategy's backoff, not synchronisation: the next attempt
                    // starts a new workflow run either way.
                    tokio::time::sleep(wait).await;
                }
                Action::Retry(wait) => {
                    result.error = Some(format!(
                        "{}; a retry after {} ms would pass the scenario's deadline",
                        result.error.unwrap_or_default(),
                        wait.as_millis()
                    ));
                    break;
                }
                Action::Skip => {
                    result.status = RequestStatus::Skipped;
                    break;
                }
                Action::Degrade(_) => {
                    result.status = RequestStatus::Degraded;
                    break;
                }
                Action::Abort(why) => {
                    abort = Some(format!(
                        "recovery strategy {} aborted the run: {why}",
                        strategy.plugin.name()
                    ));
                    break;
                }
                Action::Fail => break,
            }
        }
        result.latency_ms = submitted_at.elapsed().as_millis() as u64;
        if result.status == RequestStatus::Failed && allowed_by(scenario.expect.as_ref(), &result) {
            result.status = RequestStatus::Degraded;
        }
        result.trace = self.driver.trace(&r.request_id).await.ok().flatten();
        (self.record)(RunEvent::RequestFinished {
            scenario: scenario.id.clone(),
            result: Box::new(result.clone()),
        });
        (result, abort)
    }
}

/// Whether the scenario's `[expect]` accepts this failed request: a denial of an
/// allowed class (`degraded`), or no decision with a failure that names its service
/// (`failed_cleanly`, whose stores the run checks afterwards).
fn allowed_by(expect: Option<&Expectation>, r: &RequestResult) -> bool {
    match (expect, &r.decision) {
        (Some(Expectation::Degraded { allowed }), Some(d)) => d
            .denial
            .as_ref()
            .is_some_and(|x| allowed.contains(&x.class)),
        (Some(Expectation::FailedCleanly), None) => r.error.as_deref().is_some_and(|e| {
            aura_services::ServiceKind::ALL
                .iter()
                .any(|s| e.contains(&s.to_string()))
        }),
        _ => false,
    }
}

/// The check of an invariant over the requests alone; `None` for one that reads the
/// stores (the run checks it).
pub(in crate::orchestrator) fn invariant(
    i: &Invariant,
    requests: &[RequestResult],
) -> Option<Check> {
    let decisions: Vec<&Decision> = requests
        .iter()
        .filter_map(|r| r.decision.as_ref())
        .collect();
    match i {
        Invariant::NoDoubleAllocation => {
            // A lease lasts the request's duration from its decision; a device may pass
            // from one request to the next once it ends (a load reuses every device).
            let mut holders: BTreeMap<&str, Vec<(i64, i64, &str)>> = BTreeMap::new();
            for d in &decisions {
                let minutes = i64::from(d.request.duration_minutes);
                let end = d.decided_at.saturating_add(minutes.saturating_mul(60_000));
                for g in &d.devices {
                    holders.entry(g.id.as_str()).or_default().push((
                        d.decided_at,
                        end,
                        d.request_id.as_str(),
                    ));
                }
            }
            let mut shared = Vec::new();
            for (g, mut held) in holders {
                held.sort();
                let mut latest: Option<(i64, &str)> = None;
                for (start, end, who) in held {
                    // A second's slack: the lease was set a little before the decision.
                    if let Some((until, by)) = latest
                        && start < until - LEASE_SLACK_MS
                    {
                        shared.push(format!("{g} held by {by} and {who}"));
                    }
                    if latest.is_none_or(|(until, _)| end > until) {
                        latest = Some((end, who));
                    }
                }
            }
            let actual = if shared.is_empty() {
                "none".to_string()
            } else {
                shared.join("; ")
            };
            Some(Check::new("no_double_allocation", "none", actual))
        }
        Invariant::MaxApproved { count } => {
            let approved = decisions.iter().filter(|d| d.approved()).count() as u32;
            let mut c = Check::new(
                "max_approved",
                format!("at most {count}"),
                approved.to_string(),
            );
            c.passed = approved <= *count;
            Some(c)
        }
        Invariant::AllDecidedWithin { within } => {
            let slowest = Duration::from_millis(
                requests
                    .iter()
                    .map(|r| r.latency_ms)
                    .max()
                    .unwrap_or_default(),
            );
            let undecided = requests.iter().filter(|r| r.decision.is_none()).count();
            let mut c = Check::new(
                "all_decided_within",
                format!("all within {within:?}"),
                format!("{undecided} undecided, slowest {slowest:?}"),
            );
            c.passed = undecided == 0 && slowest <= *within;
            Some(c)
        }
        Invariant::NoLeakedLeases => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aura_reference::GpuAllocationRequest;
    use aura_reference::request::{AllocatedDevice, Outcome};

    /// What ends a run's workflows skips those whose request was decided: they completed.
    #[test]
    fn only_undecided_requests_workflows_are_left_to_end() {
        use crate::report::RunEvent;
        use crate::report::model::PlannedScenario;
        let events = [
            RunEvent::RunStarted {
                run_id: "r".into(),
                started_at: 0,
                command: String::new(),
                jobs: 1,
                scenarios: vec![PlannedScenario {
                    id: "a".into(),
                    name: "a".into(),
                    suite: "smoke".into(),
                    namespace: "r-1".into(),
                }],
                health: Vec::new(),
            },
            RunEvent::ScenarioStarted {
                scenario: "a".into(),
                workflows: vec!["aura-r-1-q1".into(), "aura-r-1-q2".into()],
                state: None,
            },
            RunEvent::RequestFinished {
                scenario: "a".into(),
                result: Box::new(decided("q1", &["gpu-0"])),
            },
        ];
        assert_eq!(crate::report::workflows(&events), ["aura-r-1-q2"]);
    }

    fn decided(id: &str, devices: &[&str]) -> RequestResult {
        let request = GpuAllocationRequest {
            request_id: id.into(),
            team: "t".into(),
            gpu_count: devices.len() as u32,
            gpu_model: None,
            memory_gb: 1,
            priority: 5,
            duration_minutes: 1,
        };
        RequestResult {
            request_id: id.into(),
            decision: Some(Decision {
                run_id: "r".into(),
                request_id: id.into(),
                workflow_id: "w".into(),
                outcome: if devices.is_empty() {
                    Outcome::Denied
                } else {
                    Outcome::Approved
                },
                denial: None,
                votes: Vec::new(),
                quorum: true,
                approve_weight: 1.0,
                deny_weight: 0.0,
                devices: devices
                    .iter()
                    .map(|g| AllocatedDevice {
                        id: g.to_string(),
                        model: "m".into(),
                        memory_gb: 1,
                    })
                    .collect(),
                decided_at: 0,
                request,
            }),
            status: RequestStatus::Passed,
            error: None,
            latency_ms: 5,
            attempts: 1,
            checks: Vec::new(),
            trace: None,
            failed_in: None,
        }
    }

    #[test]
    fn a_device_held_twice_breaks_the_invariant_and_says_by_whom() {
        let rs = [decided("a", &["gpu-1"]), decided("b", &["gpu-1", "gpu-2"])];
        let c = invariant(&Invariant::NoDoubleAllocation, &rs).expect("a check");
        assert!(!c.passed);
        assert_eq!(c.actual, "gpu-1 held by a and b");
        let ok = invariant(&Invariant::NoDoubleAllocation, &rs[..1]).expect("a check");
        assert!(ok.passed, "{ok:?}");
    }

    #[test]
    fn a_device_passes_on_once_its_lease_ended_but_not_before() {
        let at = |id: &str, ms: i64| {
            let mut r = decided(id, &["gpu-1"]);
            if let Some(d) = r.decision.as_mut() {
                d.decided_at = ms;
            }
            r
        };
        // Leases of one minute: the next holder 61 s later is a reuse, 30 s later a
        // double allocation.
        let reused = [at("a", 0), at("b", 61_000)];
        let c = invariant(&Invariant::NoDoubleAllocation, &reused).expect("a check");
        assert!(c.passed, "{c:?}");
        let shared = [at("a", 0), at("b", 30_000)];
        let c = invariant(&Invariant::NoDoubleAllocation, &shared).expect("a check");
        assert_eq!(c.actual, "gpu-1 held by a and b");
    }

    #[test]
    fn max_approved_and_decided_within() {
        let rs = [
            decided("a", &["g"]),
            decided("b", &["h"]),
            decided("c", &[]),
        ];
        let passed = |i: &Invariant| invariant(i, &rs).is_some_and(|c| c.passed);
        assert!(!passed(&Invariant::MaxApproved { count: 1 }));
        assert!(passed(&Invariant::MaxApproved { count: 2 }));
        let within = |ms| Invariant::AllDecidedWithin {
            within: Duration::from_millis(ms),
        };
        assert!(passed(&within(10)));
        assert!(!passed(&within(1)));
        assert!(invariant(&Invariant::NoLeakedLeases, &rs).is_none());
    }
}
