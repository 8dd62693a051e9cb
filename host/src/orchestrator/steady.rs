//! The steady-state probe of a scenario with faults, before its first fault and after
//! its last heal: every service it requires answers readiness, and one probe request
//! goes through the target to a decision. The probe is a request the target denies at
//! validation (priority out of range): it touches every store without leasing a device.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::scenario::Scenario;
use crate::report::Check;
use aura_reference::driver::TargetDriver;
use aura_reference::{DecisionState, GpuAllocationRequest};
use aura_services::{ServiceHub, ServiceStatus, health};

/// The most a probe waits for its decision.
const PROBE_WAIT: Duration = Duration::from_secs(15);

/// `when`: `before` or `after`; the probe's request id is `steady-state-<when>`.
pub async fn probe(
    hub: &ServiceHub,
    driver: &dyn TargetDriver,
    s: &Scenario,
    when: &str,
    deadline: Instant,
) -> Check {
    let name = format!("steady state {when} the faults");
    let expected = "every required service ready; the probe request decided";
    let report = health::check(hub.config(), &s.required_services).await;
    let down: Vec<String> = report
        .services
        .iter()
        .filter(|r| r.status != ServiceStatus::Ready)
        .map(|r| format!("{} not ready", r.service))
        .collect();
    let request = GpuAllocationRequest {
        request_id: format!("steady-state-{when}"),
        team: "aura-host".into(),
        gpu_count: 1,
        gpu_model: None,
        memory_gb: 1,
        priority: 11,
        duration_minutes: 1,
    };
    let wait = PROBE_WAIT.min(deadline.saturating_duration_since(Instant::now()));
    let decided = async {
        driver
            .submit_with(&request, &BTreeMap::new())
            .await
            .map_err(|e| format!("probe not submitted: {e}"))?;
        match driver.decision(&request.request_id, wait).await {
            Ok(DecisionState::Decided { .. }) => Ok(()),
            Ok(other) => Err(format!("probe {other:?}")),
            Err(e) => Err(format!("probe: {e}")),
        }
    };
    let probe = if wait.is_zero() {
        Err(format!(
            "probe not sent: the scenario's max_execution_time ({}) was spent",
            humantime::format_duration(s.max_execution_time)
        ))
    } else {
        tokio::time::timeout(wait, decided)
            .await
            .unwrap_or_else(|_| Err(format!("probe undecided within {wait:?}")))
    };
    let mut problems = down;
    if let Err(e) = probe {
        problems.push(e);
    }
    let actual = if problems.is_empty() {
        expected.to_string()
    } else {
        problems.join("; ")
    };
    Check::new(name, expected, actual)
}
