//! Validators written in JavaScript (componentize-js, the JS SDK in `sdk/js`), built by
//! the project's plugin step: the shipped example passes a smoke run and, made to fail,
//! shows expected and actual; a hostile one is held by the same sandbox as the Rust and
//! Python plugins (a loop by the timeout, a memory bomb by the memory cap; `fetch` has
//! no network to reach and ends only its own call) and fails only its own results.

use serde_json::Value;

use crate::common::{self, run_within, text};
use crate::python::{smoke_with, validator};
use crate::run::{LONG, aura_with, read_json};

#[test]
fn the_js_example_passes_a_smoke_run_and_made_to_fail_shows_expected_and_actual() {
    let _cpu = common::busy();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let json = dir.path().join("r.json");
    let (out, _) = run_within(
        aura_with(&config)
            .args(["run", "-q", "--plugin", "decision_agreement_js", "--json"])
            .arg(&json),
        LONG,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = read_json(&json);
    let v = validator(&report, "decision_agreement_js");
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
    assert_eq!(v["passed"], true, "{v}");

    let failing = smoke_with(
        dir.path(),
        "[[validation_rules]]\nplugin = \"decision_agreement_js\"\nconfig = { expect_outcome = \"denied\" }\n",
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
    let v = validator(&report, "decision_agreement_js");
    for check in v["checks"].as_array().expect("checks") {
        assert_eq!(
            (&check["expected"], &check["actual"]),
            (&Value::from("denied"), &Value::from("approved")),
            "{check}"
        );
    }
}

#[test]
fn a_hostile_js_validator_fails_only_its_own_results() {
    let _cpu = common::busy();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let limits = "limits = { timeout = \"3s\" }\n";
    let manifest = common::plugin_set(
        dir.path(),
        "hostile_js",
        &[
            ("js-neighbour", "well-behaved", limits),
            ("js-loop", "loop", limits),
            ("js-memory-bomb", "memory-bomb", limits),
            ("js-fetch", "fetch", limits),
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
    assert!(text(&out).contains("verdict: FAILED"), "{}", text(&out));
    let report = read_json(&json);
    assert_eq!(
        validator(&report, "js-neighbour")["passed"],
        true,
        "{report}"
    );
    let error = |name: &str| {
        let v = validator(&report, name);
        assert_eq!(v["passed"], false, "{v}");
        v["error"].as_str().unwrap_or_default().to_lowercase()
    };
    let looped = error("js-loop");
    assert!(looped.contains("3s") || looped.contains("time"), "{looped}");
    let bomb = error("js-memory-bomb");
    assert!(bomb.contains("memory"), "{bomb}");
    // No WASI HTTP is linked into a JS plugin: its `fetch` ends its own call, nothing is sent.
    let fetched = validator(&report, "js-fetch");
    assert_eq!(fetched["passed"], false, "{fetched}");
    assert_eq!(fetched["host_calls"], 0, "{fetched}");
}

/// `plugin new --lang js|ts` writes a plugin of each kind whole (the SDK with its
/// generated names, the WIT, `package.json`, `build.sh`, `test.sh`): each `app.js`
/// parses and each `app.ts` type-checks against the contract's types (`build.sh
/// --check`: jco, then tsc); the TypeScript validator builds into a component, and a
/// type error stops its build with tsc's message. Their `test.sh` (the component run
/// in this host, its recordings replayed) were run by hand: each costs the debug host
/// a minute or more of compiling a 12 MB component, beside the timing-sensitive tests.
#[test]
fn scaffolded_js_and_ts_plugins_build_and_a_type_error_stops_the_ts_build() {
    let modules = common::plugins_built()
        .join("../../plugin-tools/js/node_modules")
        .canonicalize()
        .expect("the JS toolchain installed by the plugin step");
    let dir = tempfile::tempdir().expect("tempdir");
    let new = |name: &str, kind: &str, lang: &str| {
        let made = common::run(
            common::aura()
                .args([
                    "plugin", "new", name, "--kind", kind, "--lang", lang, "--dir",
                ])
                .arg(dir.path()),
        );
        assert_eq!(made.status.code(), Some(0), "{}", text(&made));
        let plugin = dir.path().join(name);
        for file in [
            "aura_sdk/names.js",
            "aura_sdk/index.js",
            "wit/aura-host.wit",
            "package.json",
            "build.sh",
            "test.sh",
        ] {
            assert!(plugin.join(file).exists(), "{name}: no {file}");
        }
        plugin
    };
    let build = |plugin: &std::path::Path, args: &[&str]| {
        common::run(
            std::process::Command::new("bash")
                .arg(plugin.join("build.sh"))
                .args(args)
                .env("NODE_MODULES", &modules),
        )
    };
    for kind in ["validator", "recovery-strategy", "scenario-generator"] {
        let js = new(&format!("js-{kind}"), kind, "js");
        let parsed = common::run(
            std::process::Command::new("node")
                .arg("--check")
                .arg(js.join("app.js")),
        );
        assert!(parsed.status.success(), "{kind}: {}", text(&parsed));
        let ts = new(&format!("ts-{kind}"), kind, "ts");
        let checked = build(&ts, &["--check"]);
        assert!(checked.status.success(), "{kind}: {}", text(&checked));
        assert!(ts.join("app.js").exists(), "{kind}: tsc wrote no app.js");
    }

    // The TypeScript validator builds into a component (tsc, then componentize-js).
    let validator = dir.path().join("ts-validator");
    let built = build(&validator, &[]);
    assert!(built.status.success(), "{}", text(&built));
    let wasm = std::fs::read(validator.join("ts_validator.wasm")).expect("the component");
    assert!(wasm.starts_with(b"\0asm"), "a WebAssembly binary");

    // A number where the cache wants a key: tsc stops the build, naming file and line.
    let app = validator.join("app.ts");
    let source = std::fs::read_to_string(&app).expect("app.ts");
    let typed_wrong = source.replace(
        "get(names.decisionKey(ctx.runId, requestId))",
        "get(requestId.length)",
    );
    assert_ne!(typed_wrong, source, "the validator reads the cache by key");
    std::fs::write(&app, typed_wrong).expect("write app.ts");
    let stopped = build(&validator, &[]);
    assert_ne!(stopped.status.code(), Some(0), "{}", text(&stopped));
    assert!(
        text(&stopped).contains("app.ts(") && text(&stopped).contains("error TS2345"),
        "{}",
        text(&stopped)
    );
}

/// `sdk/js/types` is jco's TypeScript output for the WIT as it stands: a contract
/// changed without running `host/scripts/js-types.sh` fails here.
#[test]
fn the_typescript_types_are_generated_from_the_wit() {
    common::plugins_built();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = common::workspace_root();
    let made = common::run(
        std::process::Command::new("bash")
            .arg(root.join("host/scripts/js-types.sh"))
            .arg(dir.path()),
    );
    assert!(made.status.success(), "{}", text(&made));
    let files = |base: &std::path::Path| -> Vec<(String, String)> {
        let mut all = Vec::new();
        for sub in ["", "interfaces"] {
            for entry in std::fs::read_dir(base.join(sub))
                .expect("types dir")
                .flatten()
            {
                if entry.path().is_file() {
                    let name = format!("{sub}/{}", entry.file_name().to_string_lossy());
                    all.push((name, std::fs::read_to_string(entry.path()).expect("read")));
                }
            }
        }
        all.sort();
        all
    };
    let (fresh, shipped) = (files(dir.path()), files(&root.join("sdk/js/types")));
    assert!(
        fresh.iter().any(|(n, t)| n == "/validator.d.ts"
            && t.contains("export function validate(ctx: RunContext): ValidationResult;")),
        "{fresh:?}"
    );
    assert!(
        fresh == shipped,
        "sdk/js/types is stale: run host/scripts/js-types.sh"
    );
}
