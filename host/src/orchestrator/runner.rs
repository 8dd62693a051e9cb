//! Runs one scenario's requests through a target driver and checks what came back
//! against the scenario's expected outcomes and invariants. Requests are submitted
//! together and awaited within the scenario's `max_execution_time`; a request still
//! undecided then is a failed check, never a hang.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::scenario::{ExpectedOutcome, Invariant, Scenario};
use crate::target::data::class_name;
use crate::target::driver::TargetDriver;
use crate::target::request::Outcome;
use crate::target::{Decision, DecisionState};

/// One comparison of expected with actual.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub expected: String,
    pub actual: String,
}

impl Check {
    fn new(
        name: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Self {
        let (expected, actual) = (expected.into(), actual.into());
        Self {
            name: name.into(),
            passed: expected == actual,
            expected,
            actual,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestResult {
    pub request_id: String,
    pub decision: Option<Decision>,
    /// Why there is no decision (submission refused, workflow failed, deadline passed).
    pub error: Option<String>,
    pub latency: Duration,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioResult {
    pub scenario: String,
    pub requests: Vec<RequestResult>,
    pub invariants: Vec<Check>,
    pub elapsed: Duration,
}

impl ScenarioResult {
    pub fn passed(&self) -> bool {
        self.requests
            .iter()
            .all(|r| r.error.is_none() && r.checks.iter().all(|c| c.passed))
            && self.invariants.iter().all(|c| c.passed)
    }

    /// Every failed check, as `request: name: expected X, actual Y`.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.requests {
            if let Some(e) = &r.error {
                out.push(format!("{}: {e}", r.request_id));
            }
            for c in r.checks.iter().filter(|c| !c.passed) {
                out.push(format!(
                    "{}: {}: expected {}, actual {}",
                    r.request_id, c.name, c.expected, c.actual
                ));
            }
        }
        for c in self.invariants.iter().filter(|c| !c.passed) {
            out.push(format!(
                "invariant {}: expected {}, actual {}",
                c.name, c.expected, c.actual
            ));
        }
        out
    }
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Approved => "approved",
        Outcome::Denied => "denied",
    }
}

fn expectation_checks(e: &ExpectedOutcome, d: &Decision) -> Vec<Check> {
    let mut checks = vec![Check::new(
        "decision",
        outcome_name(e.decision),
        outcome_name(d.outcome),
    )];
    if let Some(n) = e.device_count {
        checks.push(Check::new(
            "device_count",
            n.to_string(),
            d.devices.len().to_string(),
        ));
    }
    if let Some(class) = e.reason {
        let actual = d
            .denial
            .as_ref()
            .map_or("none".to_string(), |x| class_name(x.class));
        checks.push(Check::new("reason", class_name(class), actual));
    }
    checks
}

/// Submits every request of `scenario`, waits for the decisions and checks them.
pub async fn run(driver: &dyn TargetDriver, scenario: &Scenario) -> ScenarioResult {
    let started = Instant::now();
    let deadline = started + scenario.max_execution_time;
    let expected: BTreeMap<&str, &ExpectedOutcome> = scenario
        .expected_outcomes
        .iter()
        .map(|e| (e.request_id.as_str(), e))
        .collect();
    let requests = futures::future::join_all(scenario.gpu_requests.iter().map(|r| {
        let e = expected.get(r.request_id.as_str()).copied();
        run_one(driver, r, e, deadline, scenario.max_execution_time)
    }))
    .await;
    let invariants = scenario
        .invariants
        .iter()
        .map(|i| invariant(i, &requests))
        .collect();
    ScenarioResult {
        scenario: scenario.id.clone(),
        requests,
        invariants,
        elapsed: started.elapsed(),
    }
}

async fn run_one(
    driver: &dyn TargetDriver,
    r: &crate::target::GpuAllocationRequest,
    expected: Option<&ExpectedOutcome>,
    deadline: Instant,
    limit: Duration,
) -> RequestResult {
    let submitted_at = Instant::now();
    let mut result = RequestResult {
        request_id: r.request_id.clone(),
        decision: None,
        error: None,
        latency: Duration::ZERO,
        checks: Vec::new(),
    };
    if let Err(e) = driver.submit(r).await {
        result.error = Some(format!("not submitted: {e}"));
        return result;
    }
    let wait = deadline.saturating_duration_since(Instant::now());
    result.latency = submitted_at.elapsed();
    match driver.decision(&r.request_id, wait).await {
        Ok(DecisionState::Decided { decision }) => {
            result.latency = submitted_at.elapsed();
            if let Some(e) = expected {
                result.checks = expectation_checks(e, &decision);
            }
            result.decision = Some(*decision);
        }
        Ok(DecisionState::Pending) => {
            result.error = Some(format!("no decision within the scenario's {limit:?}"))
        }
        Ok(DecisionState::Failed { reason }) => {
            result.error = Some(format!("workflow failed: {reason}"))
        }
        Ok(DecisionState::Unknown) => result.error = Some("the target does not know it".into()),
        Err(e) => result.error = Some(e.to_string()),
    }
    result
}

fn invariant(i: &Invariant, requests: &[RequestResult]) -> Check {
    let decisions: Vec<&Decision> = requests
        .iter()
        .filter_map(|r| r.decision.as_ref())
        .collect();
    match i {
        Invariant::NoDoubleAllocation => {
            let mut holders: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for d in &decisions {
                for g in &d.devices {
                    holders
                        .entry(g.id.as_str())
                        .or_default()
                        .push(d.request_id.as_str());
                }
            }
            let shared: Vec<String> = holders
                .iter()
                .filter(|(_, who)| who.len() > 1)
                .map(|(g, who)| format!("{g} held by {}", who.join(" and ")))
                .collect();
            let actual = if shared.is_empty() {
                "none".to_string()
            } else {
                shared.join("; ")
            };
            Check::new("no_double_allocation", "none", actual)
        }
        Invariant::MaxApproved { count } => {
            let approved = decisions.iter().filter(|d| d.approved()).count() as u32;
            let mut c = Check::new(
                "max_approved",
                format!("at most {count}"),
                approved.to_string(),
            );
            c.passed = approved <= *count;
            c
        }
        Invariant::AllDecidedWithin { within } => {
            let slowest = requests.iter().map(|r| r.latency).max().unwrap_or_default();
            let undecided = requests.iter().filter(|r| r.decision.is_none()).count();
            let mut c = Check::new(
                "all_decided_within",
                format!("all within {within:?}"),
                format!("{undecided} undecided, slowest {slowest:?}"),
            );
            c.passed = undecided == 0 && slowest <= *within;
            c
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::GpuAllocationRequest;
    use crate::target::request::AllocatedDevice;

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
            error: None,
            latency: Duration::from_millis(5),
            checks: Vec::new(),
        }
    }

    #[test]
    fn a_device_held_twice_breaks_the_invariant_and_says_by_whom() {
        let rs = [decided("a", &["gpu-1"]), decided("b", &["gpu-1", "gpu-2"])];
        let c = invariant(&Invariant::NoDoubleAllocation, &rs);
        assert!(!c.passed);
        assert_eq!(c.actual, "gpu-1 held by a and b");
        let ok = invariant(&Invariant::NoDoubleAllocation, &rs[..1]);
        assert!(ok.passed, "{ok:?}");
    }

    #[test]
    fn max_approved_and_decided_within() {
        let rs = [
            decided("a", &["g"]),
            decided("b", &["h"]),
            decided("c", &[]),
        ];
        assert!(!invariant(&Invariant::MaxApproved { count: 1 }, &rs).passed);
        assert!(invariant(&Invariant::MaxApproved { count: 2 }, &rs).passed);
        let within = |ms| Invariant::AllDecidedWithin {
            within: Duration::from_millis(ms),
        };
        assert!(invariant(&within(10), &rs).passed);
        assert!(!invariant(&within(1), &rs).passed);
    }
}
