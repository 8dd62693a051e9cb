//! `aura-host compare-targets` between served targets (`aura-host target serve`, each
//! with a run and a task queue of its own, on the shared services): a twin of the
//! baseline is promoted; a canary whose `persist_decision` is 300 ms slower, or whose
//! council decides differently, is rolled back with the reason; the same URL twice
//! exits 2, an unreachable canary 3 naming it.

use std::time::Duration;

use serde_json::Value;

use crate::common::{self, aura, text};

/// `compare-targets` of `canary` against `baseline` on the smoke scenario: its exit
/// code, its output and its JSON.
fn compare(baseline: &str, canary: &str) -> (Option<i32>, String, Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("canary.json");
    let scenario = common::workspace_root().join("scenarios/smoke/single_approval.toml");
    let (out, _) = common::run_within(
        aura()
            .args([
                "compare-targets",
                "--baseline",
                baseline,
                "--canary",
                canary,
            ])
            .arg("--scenario")
            .arg(&scenario)
            // Two targets on two busy cores: only a slowdown past 100 % and 50 ms counts.
            .args([
                "--rounds",
                "10",
                "--tolerance",
                "1.0",
                "--tolerance-ms",
                "50",
            ])
            .arg("--json")
            .arg(&json),
        Duration::from_secs(300),
    );
    let report = common::json_or_null(&json);
    (out.status.code(), text(&out), report)
}

#[test]
fn compare_targets_promotes_a_twin_and_rolls_back_a_slower_or_different_canary() {
    let _cpu = common::timed();
    let (_base, baseline, _d1) = common::served_target("");
    let (_twin, twin, _d2) = common::served_target("");
    let (_slow, slow, _d3) =
        common::served_target("[target.step_pauses]\npersist_decision = \"300ms\"\n");
    let (_other, other, _d4) = common::served_target("[target.council]\nagents = 1\nseed = 3\n");

    let (code, said, report) = compare(&baseline, &twin);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("verdict: promote"), "{said}");
    assert_eq!(report["verdict"], "promote", "{report}");
    assert_eq!(report["requests"], 10);
    assert!(
        report["latency"]["persist_decision"]["baseline_n"] == 10,
        "{report}"
    );

    let (code, said, report) = compare(&baseline, &slow);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("verdict: rollback"), "{said}");
    assert!(
        said.contains("persist_decision is slower on the canary"),
        "{said}"
    );
    assert_eq!(
        report["latency"]["persist_decision"]["verdict"],
        "regressed"
    );

    let (code, said, report) = compare(&baseline, &other);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("decided differently"), "{said}");
    assert!(
        report["differences"]
            .as_array()
            .is_some_and(|d| !d.is_empty()),
        "{report}"
    );

    let (code, said, _) = compare(&baseline, &baseline);
    assert_eq!(code, Some(2), "the same deployment twice: {said}");

    let nowhere = format!("http://127.0.0.1:{}", common::free_port());
    let (code, said, _) = compare(&baseline, &nowhere);
    assert_eq!(code, Some(3), "{said}");
    assert!(said.contains(&format!("the canary at {nowhere}")), "{said}");
}
