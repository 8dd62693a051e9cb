//! The human summary of a run: one line per scenario, every failure with expected and
//! actual, latency percentiles, recoveries, recommendations and the verdict.

use std::fmt::Write;

use super::model::{RequestStatus, RunReport, Status};

/// Failures listed per scenario and per validator; a load scenario can have thousands.
const SHOWN: usize = 20;

fn mark(s: Status) -> &'static str {
    match s {
        Status::Passed => "PASS",
        Status::Failed => "FAIL",
        Status::Flaky => "FLAKY",
        Status::NotRun | Status::Incomplete | Status::Aborted | Status::Skipped => "SKIP",
    }
}

/// One scenario's result line and its failures, as printed while the run goes.
pub fn scenario_lines(s: &super::model::ScenarioReport) -> String {
    let mut out = format!(
        "{} scenario {} · {} request(s) · {:.1} s",
        mark(s.status),
        s.id,
        s.requests.len(),
        s.elapsed_ms as f64 / 1000.0
    );
    if let Some(note) = &s.note {
        let _ = write!(out, " · {note}");
    }
    if s.known_flaky {
        out.push_str(" · known flaky (`aura-host flakes`)");
    }
    for r in &s.reruns {
        let _ = write!(out, "\n    rerun {}: {}", r.run_id, r.status.word());
    }
    if let Some(c) = &s.chaos {
        let _ = write!(
            out,
            "\n    chaos seed {} drew {} fault(s); `run --seed {}` draws them again",
            c.seed,
            c.faults.len(),
            c.seed
        );
    }
    for f in &s.faults {
        let ok = if f.held() { "PASS" } else { "FAIL" };
        let _ = write!(out, "\n    {ok} fault {}", f.describe());
    }
    let state = super::state::changes(&super::state::scenario(
        s.state_before.as_ref(),
        s.state_after.as_ref(),
    ));
    if !state.is_empty() {
        let _ = write!(out, "\n    state: {state}");
    }
    for why in s.state_after.iter().flat_map(|a| &a.unread) {
        let _ = write!(out, "\n    state unread: {why}");
    }
    if let Some(l) = &s.load {
        let _ = write!(out, "\n{}", l.lines());
    }
    // Broken thresholds are among the failures below; those that held are shown too.
    for c in s
        .invariants
        .iter()
        .filter(|c| c.passed && c.name.starts_with("threshold "))
    {
        let _ = write!(out, "\n    PASS {} (measured {})", c.name, c.actual);
    }
    let failures = s.failures();
    for f in failures.iter().take(SHOWN) {
        let _ = write!(out, "\n    FAIL {f}");
    }
    if failures.len() > SHOWN {
        let _ = write!(
            out,
            "\n    ... and {} more failure(s); the JSON report has every one",
            failures.len() - SHOWN
        );
    }
    for r in s
        .requests
        .iter()
        .filter(|r| r.status == RequestStatus::Degraded)
    {
        let why = match (&r.decision, &r.error) {
            (Some(d), _) => d.denial.as_ref().map_or_else(
                || d.outcome.name().to_string(),
                |x| format!("denied {}", x.class.name()),
            ),
            (None, Some(e)) => e.clone(),
            (None, None) => "no decision".into(),
        };
        let _ = write!(out, "\n    DEGRADED {}: {why}", r.request_id);
    }
    for v in &s.validators {
        let passed = v.checks.iter().filter(|c| c.passed).count();
        let _ = write!(
            out,
            "\n    {} validator {} · {passed}/{} checks",
            if v.passed { "PASS" } else { "FAIL" },
            v.validator,
            v.checks.len()
        );
        if v.calls > 1 {
            let _ = write!(
                out,
                " · {} request(s) in {} call(s), {:.0} ms",
                v.requests, v.calls, v.wall_ms
            );
        }
        if let Some(e) = &v.error {
            let _ = write!(out, " · {e}");
        }
        let failed: Vec<_> = v.checks.iter().filter(|c| !c.passed).collect();
        for c in failed.iter().take(SHOWN) {
            let _ = write!(out, "\n        FAIL {}", c.diff());
        }
        if failed.len() > SHOWN {
            let _ = write!(out, "\n        ... and {} more", failed.len() - SHOWN);
        }
    }
    out
}

/// What a run came to, in one line: scenarios by status, requests, validator runs.
pub fn counts(s: &super::model::Summary) -> String {
    // Flaky only when there is some: most runs never rerun anything.
    let flaky = if s.flaky > 0 {
        format!(", {} flaky", s.flaky)
    } else {
        String::new()
    };
    format!(
        "{} scenario(s): {} passed, {} failed{flaky}, {} incomplete, {} not run, {} skipped · {} request(s) · {} validator run(s), {} failed",
        s.scenarios,
        s.passed,
        s.failed,
        s.incomplete,
        s.not_run,
        s.skipped,
        s.requests,
        s.validator_runs,
        s.failed_validator_runs
    )
}

/// The summary; `with_scenarios` repeats each scenario's lines (a rebuilt report; a
/// live run has printed them as they finished).
pub fn render(r: &RunReport, with_scenarios: bool) -> String {
    let s = &r.summary;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {} · {} · {:.1} s",
        r.run_id,
        counts(s),
        r.duration_ms as f64 / 1000.0
    );
    for sc in r.scenarios.iter().filter(|_| with_scenarios) {
        let _ = writeln!(out, "{}", scenario_lines(sc));
    }
    let l = &r.performance.request_latency;
    if l.count > 0 {
        let _ = writeln!(
            out,
            "latency: p50 {} ms · p95 {} ms · p99 {} ms · max {} ms ({} decided)",
            l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms, l.count
        );
    }
    for rec in &r.recoveries {
        let _ = writeln!(
            out,
            "recovery: {} {} {} failed (attempt {}): {} → {}",
            rec.scenario, rec.request_id, rec.service, rec.attempt, rec.strategy, rec.action
        );
    }
    let system = super::state::changes(&super::state::services(&r.health_before, &r.health_after));
    if !system.is_empty() {
        let _ = writeln!(out, "system: {system}");
    }
    for h in r.health_after.iter().filter(|h| h.status != "ready") {
        let _ = writeln!(
            out,
            "after the run: {} {}{}",
            h.service,
            h.status,
            h.error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
    }
    if !r.recommendations.is_empty() {
        let _ = writeln!(out, "recommendations:");
        for rec in &r.recommendations {
            let _ = writeln!(out, "  - {rec}");
        }
    }
    if let Some(c) = &r.cleanup {
        let _ = writeln!(out, "data: {c}");
    }
    if let Some(why) = &r.aborted {
        let _ = writeln!(out, "aborted: {why}");
    }
    if let Some(e) = &r.journal_error {
        let _ = writeln!(out, "journal: incomplete, a write failed: {e}");
    }
    let _ = write!(out, "verdict: {}", r.status.word());
    out
}
