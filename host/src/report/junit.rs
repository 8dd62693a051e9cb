//! JUnit XML (quick-junit): one test suite per scenario, one test case for the
//! scenario's own expectations (outcomes and invariants), one per threshold, one for
//! its load (its figures as output), one per fault and one per validator. A
//! failure's message is the first expected/actual difference, its text all of them;
//! scenarios that did not run are skipped test cases saying why.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::model::{RunReport, ScenarioReport, Status};

fn failed(messages: &[String]) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    status
        .set_message(messages.first().cloned().unwrap_or_default())
        .set_description(messages.join("\n"));
    status
}

/// A failure of `s`: in a flaky scenario (it passed when run again), a success with the
/// failed first attempt as a flaky run, as CI result pages show them.
fn failed_in(s: &ScenarioReport, messages: &[String]) -> TestCaseStatus {
    if s.status != Status::Flaky {
        return failed(messages);
    }
    let mut first = quick_junit::TestRerun::new(NonSuccessKind::Failure);
    first
        .set_message(messages.first().cloned().unwrap_or_default())
        .set_description(messages.join("\n"));
    let mut passed = TestCaseStatus::success();
    if let TestCaseStatus::Success { flaky_runs } = &mut passed {
        flaky_runs.push(first);
    }
    passed
}

fn case(s: &ScenarioReport, name: &str, status: TestCaseStatus, ms: f64) -> TestCase {
    let mut tc = TestCase::new(name, status);
    tc.set_classname(format!("{}.{}", s.suite, s.id))
        .set_time(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    tc
}

fn suite(s: &ScenarioReport) -> TestSuite {
    let mut ts = TestSuite::new(format!("{}.{}", s.suite, s.id));
    if matches!(
        s.status,
        Status::NotRun | Status::Incomplete | Status::Skipped
    ) {
        let mut skipped = TestCaseStatus::skipped();
        skipped.set_message(s.note.clone().unwrap_or_else(|| "not run".into()));
        ts.add_test_case(case(s, "outcomes", skipped, 0.0));
        return ts;
    }
    let failures = s.failures();
    let status = if failures.is_empty() {
        TestCaseStatus::success()
    } else {
        failed_in(s, &failures)
    };
    ts.add_test_case(case(s, "outcomes", status, s.elapsed_ms as f64));
    // Each threshold its own case, so a CI page shows which held and what was measured.
    for c in s
        .invariants
        .iter()
        .filter(|c| c.name.starts_with("threshold "))
    {
        let status = if c.passed {
            TestCaseStatus::success()
        } else {
            failed(&[c.diff()])
        };
        let mut tc = case(s, &c.name, status, 0.0);
        tc.set_system_out(format!("measured {}", c.actual));
        ts.add_test_case(tc);
    }
    if let Some(l) = &s.load {
        let status = match &l.stopped {
            None => TestCaseStatus::success(),
            Some(why) => failed(&[format!("the load stopped early: {why}")]),
        };
        let mut tc = case(s, "load", status, s.elapsed_ms as f64);
        tc.set_system_out(l.lines());
        ts.add_test_case(tc);
    }
    for f in &s.faults {
        let status = if f.held() {
            TestCaseStatus::success()
        } else {
            failed(&[f.describe()])
        };
        let held = f.injected_at.zip(f.healed_at).map_or(0, |(a, b)| b - a);
        let name = format!("fault {} {} {}", f.index, f.action, f.service);
        let mut tc = case(s, &name, status, held as f64);
        tc.set_system_out(f.describe());
        ts.add_test_case(tc);
    }
    for v in &s.validators {
        let mut messages: Vec<String> = v.error.iter().cloned().collect();
        messages.extend(v.checks.iter().filter(|c| !c.passed).map(|c| c.diff()));
        let status = if v.passed {
            TestCaseStatus::success()
        } else {
            failed_in(s, &messages)
        };
        ts.add_test_case(case(s, &v.validator, status, v.wall_ms));
    }
    ts
}

pub fn render(r: &RunReport) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new(format!("aura-host run {}", r.run_id));
    report.set_time(Duration::from_millis(r.duration_ms));
    for s in &r.scenarios {
        report.add_test_suite(suite(s));
    }
    report.to_string()
}
