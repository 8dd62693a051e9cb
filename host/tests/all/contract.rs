//! The versioned contract: a component built against `aura:host` 0.1 (the frozen
//! `wit/v0.1`, as every plugin shipped before 0.2 was) and one built against 0.2 are
//! verified, loaded and run side by side in one plugin set, each with its own result.

use crate::common::{self, aura, run, run_within, text};
use crate::run::{LONG, read_json};

#[test]
fn components_of_0_1_and_0_2_run_side_by_side_in_one_plugin_set() {
    common::ensure_env();
    let dir = tempfile::tempdir().expect("tempdir");
    let (old, new) = (
        common::plugin_wasm("contract-v0-1"),
        common::plugin_wasm("smoke-validator"),
    );
    let inspected = run(aura().args(["plugin", "inspect"]).arg(&old));
    assert!(
        text(&inspected)
            .contains("aura:host@0.1.2 (served: as 0.1.2, answered by the 0.2.0 implementation)"),
        "{}",
        text(&inspected)
    );
    let set = dir.path().join("set.toml");
    let grants = "grants = { graph = \"read\", cache = { access = \"read\", key-prefixes = [\"aura:{run}:\"] } }";
    std::fs::write(
        &set,
        format!(
            "[[plugin]]\nname = \"built-on-0-1\"\npath = {:?}\nkind = \"validator\"\n{grants}\n\n\
             [[plugin]]\nname = \"built-on-0-2\"\npath = {:?}\nkind = \"validator\"\n{grants}\n\
             config = {{ min_requests = 1 }}\n",
            old.display().to_string(),
            new.display().to_string()
        ),
    )
    .expect("set");
    let locked = run(aura().args(["plugin", "lock"]).arg(&set));
    assert_eq!(locked.status.code(), Some(0), "{}", text(&locked));
    let verified = run(aura().args(["plugin", "verify"]).arg(&set));
    let said = text(&verified);
    assert_eq!(verified.status.code(), Some(0), "{said}");
    assert!(
        said.contains("ok    built-on-0-1  validator  aura:host@0.1.2"),
        "{said}"
    );
    assert!(
        said.contains("ok    built-on-0-2  validator  aura:host@0.2.0"),
        "{said}"
    );

    let report = dir.path().join("report.json");
    let (out, _) = run_within(
        aura()
            .args(["run", "-q", "--plugins"])
            .arg(&set)
            .arg("--json")
            .arg(&report),
        LONG,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = read_json(&report);
    let validators: Vec<(String, bool, Vec<String>)> = report["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .flat_map(|s| s["validators"].as_array().cloned().unwrap_or_default())
        .map(|v| {
            let checks = v["checks"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .filter_map(|c| c["name"].as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            (
                v["validator"].as_str().unwrap_or("").to_string(),
                v["passed"] == true,
                checks,
            )
        })
        .collect();
    for name in ["built-on-0-1", "built-on-0-2"] {
        let runs: Vec<_> = validators.iter().filter(|(n, ..)| n == name).collect();
        assert!(!runs.is_empty(), "{name} ran: {validators:?}");
        assert!(
            runs.iter().all(|(_, passed, _)| *passed),
            "{name}: {validators:?}"
        );
    }
    // The 0.1 plugin's own checks, its cache reads answered through the 0.2 host.
    assert!(
        validators
            .iter()
            .filter(|(n, ..)| n == "built-on-0-1")
            .all(|(.., checks)| checks
                .iter()
                .all(|c| c.starts_with("0.1 plugin: decision cached for"))),
        "{validators:?}"
    );
}
