//! What a cycle's probe run measured: per series one value (medians over its requests,
//! so one slow request does not make a cycle), the failed checks, and why it did not
//! pass.

use std::collections::BTreeMap;

use super::config::{ERROR_RATE, REQUEST, Series, VALIDATION_FAILURES};
use crate::report::model::{RequestStatus, RunReport, Status};

#[derive(Debug, Default, PartialEq)]
pub struct Measured {
    pub values: BTreeMap<Series, f64>,
    /// `validator: check` of every failed check (a validator that errored counts).
    pub failed_checks: Vec<String>,
    /// Why the probe did not pass; None when it did.
    pub failure: Option<String>,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    (!v.is_empty()).then(|| super::baseline::median(&mut v))
}

pub fn measure(report: &RunReport) -> Measured {
    let requests: Vec<_> = report.scenarios.iter().flat_map(|s| &s.requests).collect();
    let mut values = BTreeMap::new();
    if let Some(m) = median(requests.iter().map(|r| r.latency_ms as f64).collect()) {
        values.insert(Series::named(REQUEST), m);
    }
    // Each step's time per request (its attempts added up), then the median.
    let mut steps: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in &requests {
        let mut per: BTreeMap<&str, f64> = BTreeMap::new();
        for s in r.trace.iter().flat_map(|t| &t.steps) {
            if let Some(end) = s.end_time {
                *per.entry(s.step_name.as_str()).or_default() += (end - s.start_time) as f64;
            }
        }
        for (step, ms) in per {
            steps.entry(step).or_default().push(ms);
        }
    }
    for (step, ms) in steps {
        if let Some(m) = median(ms) {
            values.insert(Series::step(step), m);
        }
    }
    if !requests.is_empty() {
        let failed = requests
            .iter()
            .filter(|r| r.status == RequestStatus::Failed)
            .count();
        values.insert(
            Series::named(ERROR_RATE),
            failed as f64 / requests.len() as f64,
        );
    }
    let mut failed_checks = Vec::new();
    for v in report.scenarios.iter().flat_map(|s| &s.validators) {
        if let Some(e) = &v.error {
            failed_checks.push(format!("{}: {e}", v.validator));
        }
        for c in v.checks.iter().filter(|c| !c.passed) {
            failed_checks.push(format!("{}: {}", v.validator, c.name));
        }
    }
    values.insert(
        Series::named(VALIDATION_FAILURES),
        failed_checks.len() as f64,
    );
    let failure = match report.status {
        Status::Passed | Status::Flaky => None,
        _ => Some(
            report
                .aborted
                .clone()
                .or_else(|| {
                    report
                        .scenarios
                        .iter()
                        .flat_map(|s| &s.requests)
                        .find_map(|r| r.error.clone())
                })
                .or_else(|| failed_checks.first().map(|c| format!("failed {c}")))
                .unwrap_or_else(|| format!("the probe run is {}", report.status.word())),
        ),
    };
    Measured {
        values,
        failed_checks,
        failure,
    }
}
