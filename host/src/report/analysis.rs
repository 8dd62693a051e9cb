//! What a report concludes from its events: latency percentiles, data consistency per
//! validator, recommendations, and the one-line log of each event.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::model::{
    Consistency, Percentiles, Performance, RequestResult, RequestStatus, RunEvent, RunReport,
    ScenarioReport, Status,
};
use aura_services::trace::StepStatus;

pub fn log_line(event: &RunEvent) -> String {
    match event {
        RunEvent::RunStarted {
            run_id,
            scenarios,
            jobs,
            ..
        } => format!(
            "run {run_id} started: {} scenario(s), {jobs} at a time",
            scenarios.len()
        ),
        RunEvent::ScenarioStarted { scenario, .. } => format!("{scenario}: started"),
        RunEvent::RequestFinished { scenario, result } => {
            let outcome = match (&result.decision, &result.error) {
                (Some(d), _) => d.outcome.name().to_string(),
                (None, Some(e)) => format!("no decision: {e}"),
                (None, None) => "no decision".into(),
            };
            format!(
                "{scenario}: {} {outcome} in {} ms ({:?})",
                result.request_id, result.latency_ms, result.status
            )
        }
        RunEvent::Recovery(r) => format!(
            "{}: {} {} failed (attempt {}): {}; {} → {}",
            r.scenario, r.request_id, r.service, r.attempt, r.error, r.strategy, r.action
        ),
        RunEvent::ChaosScheduled(c) => format!(
            "{}: chaos seed {} drew {} fault(s): {}",
            c.scenario,
            c.seed,
            c.faults.len(),
            c.faults.join("; ")
        ),
        RunEvent::FaultInjected(f) | RunEvent::FaultEnded(f) => {
            format!("{}: fault {}", f.scenario, f.describe())
        }
        RunEvent::ValidatorFinished { scenario, result } => format!(
            "{scenario}: validator {} {} ({}/{} checks passed{})",
            result.validator,
            if result.passed { "passed" } else { "failed" },
            result.checks.iter().filter(|c| c.passed).count(),
            result.checks.len(),
            result
                .error
                .as_ref()
                .map(|e| format!("; {e}"))
                .unwrap_or_default()
        ),
        RunEvent::LoadFinished(l) => format!(
            "{}: load {} ended: {} started, {} dropped, {} decided",
            l.scenario, l.model, l.started, l.dropped, l.decided
        ),
        RunEvent::ScenarioFinished {
            scenario,
            elapsed_ms,
            ..
        } => format!("{scenario}: finished in {elapsed_ms} ms"),
        RunEvent::NotRun { scenario, reason } => format!("{scenario}: not run: {reason}"),
        RunEvent::ScenarioGenerated {
            scenario,
            generator,
            seed,
            request_ids,
        } => format!(
            "{scenario}: {generator} generated {} request(s) from seed {seed}",
            request_ids.len()
        ),
        RunEvent::ScenarioSkipped { scenario, reason } => {
            format!("{scenario}: skipped: {reason}")
        }
        RunEvent::RunFinished {
            aborted, cleanup, ..
        } => match aborted {
            Some(why) => format!("run aborted: {why}; {cleanup}"),
            None => format!("run finished; {cleanup}"),
        },
    }
}

/// p50/p95/p99/max of `values` (ms), from an HDR histogram (3 significant digits).
pub fn percentiles(values: impl IntoIterator<Item = u64>) -> Percentiles {
    let mut h = match Histogram::<u64>::new(3) {
        Ok(h) => h,
        Err(_) => return Percentiles::default(),
    };
    for v in values {
        // Auto-resizing histograms only refuse values beyond u64 precision.
        let _ = h.record(v);
    }
    if h.is_empty() {
        return Percentiles::default();
    }
    Percentiles {
        count: h.len(),
        p50_ms: h.value_at_quantile(0.50),
        p95_ms: h.value_at_quantile(0.95),
        p99_ms: h.value_at_quantile(0.99),
        max_ms: h.max(),
    }
}

pub fn performance(scenarios: &[ScenarioReport]) -> Performance {
    performance_of(scenarios.iter().flat_map(|s| &s.requests))
}

/// Request latency of the decided requests, and per step from their traces.
pub fn performance_of<'a>(requests: impl IntoIterator<Item = &'a RequestResult>) -> Performance {
    let requests: Vec<_> = requests.into_iter().collect();
    Performance {
        request_latency: percentiles(
            requests
                .iter()
                .filter(|r| r.decision.is_some())
                .map(|r| r.latency_ms),
        ),
        steps: step_latencies(requests.iter().copied())
            .into_iter()
            .map(|(name, v)| (name, percentiles(v)))
            .collect(),
    }
}

/// Each completed step's time (ms), by step name, from the requests' traces.
pub fn step_latencies<'a>(
    requests: impl IntoIterator<Item = &'a RequestResult>,
) -> BTreeMap<String, Vec<u64>> {
    let mut steps: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for step in requests
        .into_iter()
        .filter_map(|r| r.trace.as_ref())
        .flat_map(|t| &t.steps)
        .filter(|s| s.status == StepStatus::Completed)
    {
        if let Some(end) = step.end_time {
            steps
                .entry(step.step_name.clone())
                .or_default()
                .push((end - step.start_time).max(0) as u64);
        }
    }
    steps
}

pub fn consistency(scenarios: &[ScenarioReport]) -> Vec<Consistency> {
    let mut by: BTreeMap<String, Consistency> = BTreeMap::new();
    for s in scenarios {
        for v in &s.validators {
            let c = by
                .entry(v.validator.clone())
                .or_insert_with(|| Consistency {
                    validator: v.validator.clone(),
                    scenarios: 0,
                    passed: true,
                    checks: 0,
                    failed_checks: 0,
                    failed_requests: 0,
                    requests: 0,
                    first_failure: None,
                });
            let looked_at: Vec<&str> = s
                .requests
                .iter()
                .filter(|r| r.status == RequestStatus::Passed || r.status == RequestStatus::Failed)
                .map(|r| r.request_id.as_str())
                .collect();
            let failed = v.checks.iter().filter(|c| !c.passed);
            c.scenarios += 1;
            c.passed &= v.passed;
            c.checks += v.checks.len() as u32;
            c.failed_checks += failed.clone().count() as u32;
            c.requests += looked_at.len() as u32;
            c.failed_requests += if v.error.is_some() {
                looked_at.len() as u32
            } else {
                looked_at
                    .iter()
                    .filter(|r| failed.clone().any(|c| c.name.starts_with(&format!("{r}:"))))
                    .count() as u32
            };
            if c.first_failure.is_none() {
                c.first_failure = v
                    .error
                    .clone()
                    .or_else(|| v.checks.iter().find(|c| !c.passed).map(|c| c.diff()));
            }
        }
    }
    by.into_values().collect()
}

/// What to look at, per validator that failed: the place its store usually goes wrong.
fn hint(validator: &str) -> &'static str {
    match validator {
        "decision_persistence" => "check the graph database and the persist_decision step",
        "context_caching" => "check Redis memory/evictions and the context TTL",
        "event_propagation" => "consider the Kafka lag or the broker's health",
        "flow_timing" => {
            "a step ran over its timeout: consider service latency or the step timeouts"
        }
        "council_consensus" => "the persisted votes and the decision disagree: check the council",
        "workflow_state" => "check the Temporal worker and activity retries",
        _ => "see its failed checks",
    }
}

pub fn recommendations(r: &RunReport) -> Vec<String> {
    let mut out = Vec::new();
    for c in r.consistency.iter().filter(|c| !c.passed) {
        out.push(format!(
            "{} failed for {}/{} requests: {}; {}",
            c.validator,
            c.failed_requests,
            c.requests,
            c.first_failure.as_deref().unwrap_or("no result"),
            hint(&c.validator)
        ));
    }
    for before in &r.health_before {
        let after = r.health_after.iter().find(|a| a.service == before.service);
        if let Some(a) = after.filter(|a| a.status != before.status) {
            out.push(format!(
                "{} was {} before the run and {} after{}; results after it changed may be its fault",
                before.service,
                before.status,
                a.status,
                a.error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
            ));
        }
    }
    let mut by_service: BTreeMap<&str, u32> = BTreeMap::new();
    for rec in &r.recoveries {
        *by_service.entry(rec.service.as_str()).or_default() += 1;
    }
    for (service, n) in by_service {
        out.push(format!(
            "{n} recovery action(s) for {service} failures: look at {service} before trusting timings"
        ));
    }
    let not_run = r
        .scenarios
        .iter()
        .filter(|s| matches!(s.status, Status::NotRun | Status::Incomplete))
        .count();
    if not_run > 0 {
        out.push(format!(
            "{not_run} scenario(s) did not run to the end; rerun them once the cause is fixed"
        ));
    }
    if r.summary.skipped > 0 {
        out.push(format!(
            "{} scenario(s) skipped: they declare faults the host does not inject yet, so they test nothing the others do not",
            r.summary.skipped
        ));
    }
    out
}

/// Fills in what each of the scenario's faults saw while it held (until `end` for one
/// not healed): the requests in flight in the window, their steps with a failed attempt
/// that overlap it by component, and the recovery decisions journaled in it by service.
pub fn observe(s: &mut ScenarioReport, recovered_at: &[(i64, String, String)], end: i64) {
    for f in &mut s.faults {
        let Some(from) = f.injected_at else { continue };
        let to = f.healed_at.unwrap_or(end);
        let mut o = super::model::Observed::default();
        for r in &s.requests {
            o.requests += u32::from(r.in_flight(from, to));
            let Some(t) = &r.trace else { continue };
            for step in &t.steps {
                let stop = step.end_time.unwrap_or(to);
                if step.start_time <= to && stop >= from && step.error_details.is_some() {
                    *o.step_errors.entry(step.component.clone()).or_default() += 1;
                }
            }
        }
        for (at, scenario, service) in recovered_at {
            if *scenario == s.id && (from..=to).contains(at) {
                *o.recoveries.entry(service.clone()).or_default() += 1;
            }
        }
        f.observed = Some(o);
    }
}
