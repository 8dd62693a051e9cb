//! Validators written in Python (componentize-py, the Python SDK in `sdk/python`),
//! built by the project's plugin step: the shipped example passes a smoke run and,
//! made to fail, shows expected and actual; a hostile one is held by the same sandbox
//! as the Rust plugins (a loop by the timeout, a memory bomb by the memory cap, a socket
//! refused) and fails only its own results.

use serde_json::Value;

use crate::common::{self, run_within, text};
use crate::run::{LONG, aura_with, read_json};

/// The smoke scenario with `rules` (TOML `[[validation_rules]]`) instead of its own.
pub(crate) fn smoke_with(dir: &std::path::Path, rules: &str) -> std::path::PathBuf {
    let smoke = std::fs::read_to_string(
        common::workspace_root().join("scenarios/smoke/single_approval.toml"),
    )
    .expect("smoke");
    let own = smoke.find("[[validation_rules]]").unwrap_or(smoke.len());
    let path = dir.join("python.toml");
    std::fs::write(&path, format!("{}\n{rules}", &smoke[..own])).expect("scenario");
    path
}

pub(crate) fn validator<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["scenarios"][0]["validators"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["validator"] == name))
        .unwrap_or_else(|| panic!("no validator {name}: {report}"))
}

#[test]
fn the_python_example_passes_a_smoke_run_and_made_to_fail_shows_expected_and_actual() {
    let _cpu = common::busy();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let json = dir.path().join("r.json");
    let (out, _) = run_within(
        aura_with(&config)
            .args(["run", "-q", "--plugin", "decision_agreement", "--json"])
            .arg(&json),
        LONG,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("PASS validator decision_agreement · 2/2 checks"),
        "{}",
        text(&out)
    );
    let report = read_json(&json);
    let v = validator(&report, "decision_agreement");
    let names: Vec<&str> = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["smoke-req-1: graph outcome", "smoke-req-1: cache outcome"]
    );

    let failing = smoke_with(
        dir.path(),
        "[[validation_rules]]\nplugin = \"decision_agreement\"\nconfig = { expect_outcome = \"denied\" }\n",
    );
    let (out, _) = run_within(
        aura_with(&config)
            .args(["run", "-q", "--scenario"])
            .arg(&failing)
            .arg("--json")
            .arg(&json),
        LONG,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = read_json(&json);
    let v = validator(&report, "decision_agreement");
    assert_eq!(v["passed"], false);
    for check in v["checks"].as_array().expect("checks") {
        assert_eq!(
            (&check["expected"], &check["actual"]),
            (&Value::from("denied"), &Value::from("approved")),
            "{check}"
        );
    }
    assert!(
        text(&out).contains("smoke-req-1: graph outcome: expected denied, actual approved"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_hostile_python_validator_fails_only_its_own_results() {
    let _cpu = common::busy();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let limits = "limits = { timeout = \"3s\" }\n";
    let manifest = common::plugin_set(
        dir.path(),
        "hostile_py",
        &[
            ("py-neighbour", "well-behaved", limits),
            ("py-loop", "loop", limits),
            ("py-memory-bomb", "memory-bomb", limits),
            ("py-socket", "open-socket", limits),
        ],
    );
    let json = dir.path().join("r.json");
    let (out, _) = run_within(
        aura_with(&config)
            .args(["run", "-q", "--plugins"])
            .arg(&manifest)
            .arg("--json")
            .arg(&json),
        LONG,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = read_json(&json);
    assert_eq!(
        validator(&report, "py-neighbour")["passed"],
        true,
        "{report}"
    );
    let error = |name: &str| {
        let v = validator(&report, name);
        assert_eq!(v["passed"], false, "{v}");
        v["error"].as_str().unwrap_or_default().to_lowercase()
    };
    let looped = error("py-loop");
    assert!(looped.contains("3s") || looped.contains("time"), "{looped}");
    let bomb = error("py-memory-bomb");
    assert!(bomb.contains("memory"), "{bomb}");
    let socket = validator(&report, "py-socket");
    assert_eq!(
        socket["passed"], true,
        "the sandbox refused the socket: {socket}"
    );
    assert!(
        socket["checks"][0]["actual"]
            .as_str()
            .is_some_and(|a| a.starts_with("refused")),
        "{socket}"
    );
}

/// `plugin new --lang python` writes a validator whose own `test.sh` builds it
/// (componentize-py, the SDK and the WIT it was given) and runs it in this host, a
/// passing and a failing case; the other kinds' plugins are written whole and their
/// `app.py` compiles (building each would cost CI a CPython compile apiece).
/// A scaffolded plugin's `test.sh` (build, calls, replays) passes in this host, its
/// toolchain named by `tool` (an environment variable and its value).
fn own_test_passes(plugin: &std::path::Path, tool: (&str, &std::path::Path)) {
    let (tested, _) = run_within(
        std::process::Command::new("bash")
            .arg(plugin.join("test.sh"))
            .env(tool.0, tool.1)
            .env("AURA_HOST_BIN", env!("CARGO_BIN_EXE_aura-host")),
        LONG,
    );
    assert_eq!(tested.status.code(), Some(0), "{}", text(&tested));
    assert!(
        text(&tested).contains("runs in aura-host as expected"),
        "{}",
        text(&tested)
    );
}

#[test]
fn a_scaffolded_python_plugin_passes_its_own_test() {
    let _cpu = common::busy();
    let tools = common::plugins_built()
        .join("../../plugin-tools/bin/componentize-py")
        .canonicalize()
        .expect("componentize-py installed by the plugin step");
    let dir = tempfile::tempdir().expect("tempdir");
    for kind in ["validator", "recovery-strategy", "scenario-generator"] {
        let name = format!("py-{kind}");
        let made = common::run(
            common::aura()
                .args([
                    "plugin", "new", &name, "--kind", kind, "--lang", "python", "--dir",
                ])
                .arg(dir.path()),
        );
        assert_eq!(made.status.code(), Some(0), "{}", text(&made));
        let plugin = dir.path().join(&name);
        for file in [
            "aura_sdk/names.py",
            "wit/aura-host.wit",
            "build.sh",
            "test.sh",
            "plugin.toml",
        ] {
            assert!(plugin.join(file).exists(), "{kind}: no {file}");
        }
        let compiled = common::run(
            std::process::Command::new("python3")
                .args(["-m", "py_compile"])
                .arg(plugin.join("app.py")),
        );
        assert!(compiled.status.success(), "{kind}: {}", text(&compiled));
    }
    own_test_passes(
        &dir.path().join("py-validator"),
        ("COMPONENTIZE_PY", &tools),
    );
    let bad = common::run(common::aura().args([
        "plugin",
        "new",
        "Bad",
        "--kind",
        "validator",
        "--lang",
        "python",
    ]));
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
}
