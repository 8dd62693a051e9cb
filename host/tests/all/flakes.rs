//! Flake classification: `run --rerun-failed` runs failed scenarios again as runs of
//! their own; one that passes there is `flaky` (in the summary, the JSON and JUnit's
//! flaky runs) and does not fail the run, one that fails again stays failed; every run
//! goes to the state dir's history, from which `aura-host flakes` counts them and the
//! next run's report marks the scenario known flaky.

use std::path::Path;

use serde_json::Value;

use crate::common::{self, run_within, text};
use crate::run::{LONG, assert_valid_report, aura_with, read_json};

/// The smoke scenario as `id`, with the hostile test validator in `mode` beside it.
fn scenario(dir: &Path, id: &str, mode: &str) -> std::path::PathBuf {
    let smoke = std::fs::read_to_string(
        common::workspace_root().join("scenarios/smoke/single_approval.toml"),
    )
    .expect("smoke");
    let smoke = smoke.replace("id = \"smoke-single-approval\"", &format!("id = \"{id}\""));
    let path = dir.join(format!("{id}.toml"));
    std::fs::write(
        &path,
        format!(
            "{smoke}\n[[validation_rules]]\nplugin = \"{}\"\nconfig = {{ mode = \"{mode}\" }}\n",
            common::plugin_wasm("hostile-plugin").display()
        ),
    )
    .expect("scenario");
    path
}

#[test]
fn a_scenario_that_passes_on_a_rerun_is_flaky_and_flakes_counts_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let state = dir.path().join("state");
    let flaky = scenario(dir.path(), "flaky-one", "pass-on-rerun");
    let broken = scenario(dir.path(), "broken-one", "markup");
    let (json, junit) = (dir.path().join("r.json"), dir.path().join("r.xml"));
    let run = || {
        let mut cmd = aura_with(&config);
        cmd.env("AURA_STATE_DIR", &state)
            .args(["run", "-q", "--rerun-failed", "2", "--scenario"])
            .arg(&flaky)
            .arg("--scenario")
            .arg(&broken)
            .arg("--json")
            .arg(&json)
            .arg("--junit")
            .arg(&junit);
        run_within(&mut cmd, LONG).0
    };
    let out = run();
    let said = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the broken one still fails: {said}"
    );
    assert!(
        said.contains("rerun 1 of 2: 2 failed scenario(s) again"),
        "{said}"
    );
    assert!(
        said.contains("rerun 2 of 2: 1 failed scenario(s) again (broken-one)"),
        "the flaky one passed the first rerun and is not run again: {said}"
    );
    assert!(said.contains("FLAKY scenario flaky-one"), "{said}");
    assert!(said.contains("1 failed, 1 flaky"), "{said}");

    assert_valid_report(&json);
    let report = read_json(&json);
    let of = |id: &str| -> Value {
        report["scenarios"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["id"] == id).cloned())
            .expect("scenario")
    };
    let (f, b) = (of("flaky-one"), of("broken-one"));
    assert_eq!(f["status"], "flaky", "{f}");
    assert_eq!(f["reruns"][0]["status"], "passed", "{f}");
    assert_eq!(b["status"], "failed", "{b}");
    let statuses: Vec<&Value> = b["reruns"]
        .as_array()
        .expect("reruns")
        .iter()
        .map(|r| &r["status"])
        .collect();
    assert_eq!(statuses, ["failed", "failed"], "{b}");
    assert_eq!(report["summary"]["flaky"], 1);
    let xml = std::fs::read_to_string(&junit).expect("junit");
    assert!(xml.contains("<flakyFailure"), "{xml}");

    let flakes = common::run(
        aura_with(&config)
            .env("AURA_STATE_DIR", &state)
            .args(["flakes", "--json"]),
    );
    assert_eq!(flakes.status.code(), Some(0), "{}", text(&flakes));
    let flakes: Value = serde_json::from_slice(&flakes.stdout).expect("json");
    let rate = |kind: &str, name: &dyn Fn(&str) -> bool| -> Value {
        flakes["rates"]
            .as_array()
            .and_then(|r| {
                r.iter()
                    .find(|r| r["kind"] == kind && r["name"].as_str().is_some_and(name))
                    .cloned()
            })
            .unwrap_or_else(|| panic!("no such {kind}: {flakes}"))
    };
    assert_eq!(flakes["runs"], 1, "reruns count with their run: {flakes}");
    let f = rate("scenario", &|n| n == "flaky-one");
    assert_eq!(
        (f["runs"].as_u64(), f["flaky"].as_u64()),
        (Some(1), Some(1)),
        "{f}"
    );
    let b = rate("scenario", &|n| n == "broken-one");
    assert_eq!(
        (b["failed"].as_u64(), b["flaky"].as_u64()),
        (Some(1), Some(0)),
        "{b}"
    );
    // The hostile validator failed the first run of flaky-one and passed its rerun.
    let v = rate("validator", &|n| {
        n.starts_with("hostile") && n.ends_with(" on flaky-one")
    });
    assert_eq!(
        (v["flaky"].as_u64(), v["failed"].as_u64()),
        (Some(1), Some(0)),
        "{v}"
    );
    assert!(
        flakes["quarantine"].as_array().is_some_and(
            |q| q.iter().any(|n| n == "flaky-one") && !q.iter().any(|n| n == "broken-one")
        ),
        "{flakes}"
    );

    // The next run's report knows it.
    let again = run();
    assert!(text(&again).contains("known flaky"), "{}", text(&again));
}
