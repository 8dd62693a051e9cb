//! The dependency rules of `docs/architecture.md`, checked: the crate graph from
//! `cargo metadata` and `cargo tree`, and the `use` paths inside crates. A rule broken in
//! the code fails here (and so in CI); a rule changed on purpose is changed in the doc
//! and in the tables below together.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::workspace_root;

const WORKSPACE_CRATES: [&str; 6] = [
    "aura-contract",
    "aura-services",
    "aura-runtime",
    "aura-reference",
    "aura-host",
    "aura-sdk",
];

/// Rules 1–5: the workspace crates each may depend on (normal dependencies).
fn allowed(krate: &str) -> Option<&'static [&'static str]> {
    Some(match krate {
        "aura-contract" => &[],
        "aura-services" => &["aura-contract"],
        "aura-runtime" => &["aura-contract", "aura-services"],
        "aura-reference" => &["aura-contract", "aura-services"],
        "aura-host" => &[
            "aura-contract",
            "aura-services",
            "aura-runtime",
            "aura-reference",
        ],
        "aura-sdk" => &["aura-contract"],
        // Plugins (shipped and test-only) see the host only through WIT: the SDK, or the
        // contract's names alone (a plugin built against a frozen contract version).
        _ => &["aura-sdk", "aura-contract"],
    })
}

fn cargo(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every workspace package with the workspace crates it depends on, by kind.
fn workspace_dependencies() -> BTreeMap<String, Vec<(String, String)>> {
    let meta: Value =
        serde_json::from_str(&cargo(&["metadata", "--format-version", "1", "--no-deps"]))
            .expect("metadata json");
    let members: BTreeSet<String> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| p["name"].as_str().map(String::from))
        .collect();
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter_map(|d| {
                    let name = d["name"].as_str()?;
                    let kind = d["kind"].as_str().unwrap_or("normal");
                    members
                        .contains(name)
                        .then(|| (name.to_string(), kind.to_string()))
                })
                .collect();
            (p["name"].as_str().unwrap_or_default().to_string(), deps)
        })
        .collect()
}

#[test]
fn crates_depend_only_on_what_the_rules_allow() {
    let deps = workspace_dependencies();
    for krate in WORKSPACE_CRATES {
        assert!(deps.contains_key(krate), "{krate} is not in the workspace");
    }
    for (krate, uses) in &deps {
        let allowed = allowed(krate).expect("a rule");
        for (dep, kind) in uses.iter().filter(|(_, k)| k != "dev") {
            assert!(
                allowed.contains(&dep.as_str()),
                "{krate} depends on {dep} ({kind}); docs/architecture.md allows only {allowed:?}"
            );
        }
    }
}

#[test]
fn the_contract_needs_nothing_but_serde() {
    let meta: Value =
        serde_json::from_str(&cargo(&["metadata", "--format-version", "1", "--no-deps"]))
            .expect("metadata json");
    let contract = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == "aura-contract")
        .expect("aura-contract");
    let normal: Vec<&str> = contract["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .filter(|d| d["kind"].is_null())
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(
        normal,
        ["serde"],
        "aura-contract must stay dependency-light"
    );
}

/// Rule 4: a plugin author's `cargo test` compiles none of the host's heavy parts.
#[test]
fn the_sdk_with_testing_pulls_no_host_runtime() {
    let tree = cargo(&[
        "tree",
        "-p",
        "aura-sdk",
        "--features",
        "testing",
        "-e",
        "normal",
        "--prefix",
        "none",
        "--target",
        "all",
    ]);
    for heavy in [
        "wasmtime",
        "rdkafka",
        "temporalio",
        "cudarc",
        "aura-host",
        "neo4rs",
    ] {
        assert!(
            !tree.lines().any(|l| l.starts_with(heavy)),
            "aura-sdk[testing] pulls {heavy}:\n{tree}"
        );
    }
}

/// The `crate::<module>` paths each source file of module `dir` names, outside comments
/// (a module is a folder, or `<dir>.rs` when it is one file).
fn crate_paths(dir: &Path) -> BTreeMap<PathBuf, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    if !dir.is_dir() {
        let file = dir.with_extension("rs");
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("module {}: {e}", dir.display()));
        out.insert(file, used_modules(&text));
        return out;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("source");
            out.insert(path, used_modules(&text));
        }
    }
    out
}

fn used_modules(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let module: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !module.is_empty() {
                used.insert(module);
            }
        }
    }
    used
}

/// Rule 6: the GPU core imports nothing else of `aura-reference`.
#[test]
fn the_gpu_core_is_a_leaf() {
    let gpu = workspace_root().join("host/reference/src/gpu");
    for (file, used) in crate_paths(&gpu) {
        let outside: Vec<&String> = used.iter().filter(|m| *m != "gpu").collect();
        assert!(
            outside.is_empty(),
            "{} imports {outside:?}: the GPU core must not know the council or the target",
            file.display()
        );
        let text = std::fs::read_to_string(&file).expect("source");
        assert!(
            !text.contains("super::super"),
            "{} reaches out of gpu/ with super::super",
            file.display()
        );
    }
}

/// Rule 7: the layers inside `aura-host`.
#[test]
fn host_modules_import_only_the_layers_below() {
    let allowed: BTreeMap<&str, &[&str]> = [
        (
            "cli",
            &[
                "bench",
                "chaos",
                "cli",
                "config",
                "dashboard",
                "environment",
                "gpus",
                "init",
                "monitor",
                "orchestrator",
                "report",
                "scheduler",
            ][..],
        ),
        ("dashboard", &["dashboard", "report"][..]),
        ("monitor", &["dashboard", "monitor", "report"][..]),
        ("bench", &["bench"][..]),
        ("chaos", &["chaos", "environment", "report"][..]),
        ("config", &["config", "environment"][..]),
        ("environment", &["environment"][..]),
        ("gpus", &["gpus"][..]),
        ("init", &["init"][..]),
        ("orchestrator", &["chaos", "orchestrator", "report"][..]),
        ("report", &["report"][..]),
        ("scheduler", &["scheduler"][..]),
    ]
    .into();
    let src = workspace_root().join("host/src");
    for (module, ok) in &allowed {
        for (file, used) in crate_paths(&src.join(module)) {
            let bad: Vec<&String> = used.iter().filter(|m| !ok.contains(&m.as_str())).collect();
            assert!(
                bad.is_empty(),
                "{} ({module}) imports {bad:?}; docs/architecture.md allows {ok:?}",
                file.display()
            );
        }
    }
}

/// Rule 8: only the CLI and the config file layer see the whole configuration.
#[test]
fn only_the_cli_and_config_name_the_whole_config() {
    let src = workspace_root().join("host/src");
    for module in [
        "bench",
        "chaos",
        "environment",
        "monitor",
        "orchestrator",
        "report",
        "scheduler",
    ] {
        for (file, _) in crate_paths(&src.join(module)) {
            let text = std::fs::read_to_string(&file).expect("source");
            assert!(
                !text.contains("AuraConfig"),
                "{} names AuraConfig; it takes its own part of the config",
                file.display()
            );
        }
    }
}

/// Rule 10: key, topic and workflow-id builders live in the contract only.
#[test]
fn names_of_the_data_model_are_written_once() {
    let root = workspace_root();
    let mut dirs = vec![
        root.join("host/src"),
        root.join("host/services/src"),
        root.join("host/runtime/src"),
        root.join("host/reference/src"),
        root.join("sdk/src"),
    ];
    // The Rust plugins (plugins/python and plugins/js hold the others' directories).
    for entry in std::fs::read_dir(root.join("plugins"))
        .expect("plugins")
        .flatten()
        .filter(|e| e.path().join("src").is_dir())
    {
        dirs.push(entry.path().join("src"));
    }
    for dir in dirs {
        for (file, _) in crate_paths(&dir) {
            let text = std::fs::read_to_string(&file).expect("source");
            for built in ["format!(\"aura:{", "format!(\"aura.{", "format!(\"aura-{"] {
                assert!(
                    !text.contains(built),
                    "{} builds a name with {built}…: use aura_contract::names",
                    file.display()
                );
            }
        }
    }
}
