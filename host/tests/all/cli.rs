//! The `aura-host` binary against real servers: readiness, failures, bad configuration,
//! and a private environment's whole life (up, a killed service, down).

use crate::common;

use std::path::Path;
use std::time::Duration;

use crate::common::{aura, run, run_within, text};
use serde_json::Value;

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(out)))
}

fn service<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["service"] == name))
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

#[test]
fn check_reports_all_four_services_ready_with_versions() {
    common::ensure_env();
    let out = run(aura().args(["check", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["ready"], true);
    for (name, version) in [
        ("redis", "Redis "),
        ("graph", "FalkorDB "),
        ("kafka", "tansu "),
        ("temporal", "Temporal Server "),
    ] {
        let s = service(&report, name);
        assert_eq!(s["status"], "ready", "{s}");
        assert_eq!(s["required"], true, "{s}");
        assert!(
            s["version"]
                .as_str()
                .is_some_and(|v| v.starts_with(version)),
            "{s}"
        );
        assert!(s["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{s}");
    }
    assert!(service(&report, "graph")["details"]["node_count"].is_i64());
    assert!(service(&report, "kafka")["details"]["brokers"].is_array());
    assert_eq!(
        service(&report, "temporal")["details"]["serving_status"],
        "SERVING"
    );

    let human = run(aura().arg("check"));
    assert_eq!(human.status.code(), Some(0), "{}", text(&human));
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("ready: every required service is ready")
    );
}

/// A listener that accepts connections (the kernel completes the handshake) and never
/// answers: the check must report it within the timeout, not hang.
#[test]
fn black_holed_services_time_out_instead_of_hanging() {
    let hole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = hole.local_addr().expect("addr").port();
    let (out, _) = run_within(
        aura().args([
            "--timeout",
            "1s",
            "--redis-url",
            &format!("redis://127.0.0.1:{port}"),
            "--graph-url",
            &format!("falkor://127.0.0.1:{port}"),
            "--kafka-brokers",
            &format!("127.0.0.1:{port}"),
            "--temporal-url",
            &format!("http://127.0.0.1:{port}"),
            "check",
            "--json",
        ]),
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let report = json(&out);
    for name in ["redis", "graph", "kafka", "temporal"] {
        let s = service(&report, name);
        assert_eq!(s["status"], "timed_out", "{s}");
        assert!(s["error"].as_str().is_some_and(|e| e.contains(&port.to_string()) && e.contains("no answer within 1s")), "{s}");
        // Each service is bounded by its own timeout (plus scheduling slack), checked concurrently.
        assert!(
            s["checked_in_ms"].as_f64().is_some_and(|ms| ms < 3000.0),
            "{s}"
        );
    }
    drop(hole);
}

#[test]
fn an_unreachable_optional_service_does_not_fail_the_check() {
    common::ensure_env();
    let port = common::free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("aura.toml");
    std::fs::write(
        &config,
        format!("[services.temporal]\nurl = \"http://127.0.0.1:{port}\"\nrequired = false\ntimeout = \"2s\"\n"),
    )
    .expect("write");
    let out = run(aura()
        .arg("--config")
        .arg(&config)
        .args(["check", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = json(&out);
    let temporal = service(&report, "temporal");
    assert_eq!(temporal["status"], "unreachable", "{temporal}");
    assert_eq!(temporal["required"], false);
}

fn bad_config(contents: &str) -> (std::process::Output, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("aura.toml");
    std::fs::write(&path, contents).expect("write");
    let out = run(aura().arg("--config").arg(&path).arg("check"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stderr)
}

#[test]
fn malformed_config_files_exit_2_with_file_line_and_field() {
    let cases: [(&str, &str, &[&str]); 4] = [
        (
            "[services.redis]\nurl = \"redis://127.0.0.1:1\"\ntimeout = 5\n",
            ":3:",
            &["services.redis.timeout"],
        ),
        (
            "[services.kafka]\nbrokers = \"127.0.0.1:1\"\nbrokerz = \"x\"\n",
            ":3:",
            &["brokerz"],
        ),
        ("\n\n[services.graph\nurl = 1\n", ":3:", &[]),
        (
            "[services.graph]\nbackend = \"arangodb\"\n",
            ":2:",
            &["services.graph.backend", "arangodb"],
        ),
    ];
    for (contents, line, words) in cases {
        let (out, stderr) = bad_config(contents);
        assert_eq!(out.status.code(), Some(2), "{contents:?}\n{}", text(&out));
        assert!(
            stderr.contains("aura.toml") && stderr.contains(line),
            "{contents:?}: {stderr}"
        );
        for w in words {
            assert!(stderr.contains(w), "{contents:?}: missing {w}: {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn invalid_values_and_missing_files_exit_2() {
    let (out, stderr) = bad_config("[services.temporal]\nurl = \"grpc://x:1\"\n");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr.contains("services.temporal.url") && stderr.contains("grpc"),
        "{stderr}"
    );

    let out = run(aura().args(["--config", "/nonexistent/aura.toml", "check"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/aura.toml"));

    let out = run(aura().args(["env", "reset", "--run", "bad*id"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid run id 'bad*id'"));
}

fn recorded_pids(state_dir: &Path) -> Vec<(String, u32)> {
    let text = std::fs::read_to_string(state_dir.join("env.json")).expect("env.json");
    let state: Value = serde_json::from_str(&text).expect("env.json is JSON");
    state["services"]
        .as_object()
        .expect("services")
        .iter()
        .map(|(k, v)| (k.clone(), v["pid"].as_u64().expect("pid") as u32))
        .collect()
}

/// A whole environment of its own (own ports, own state dir): up, ready, a killed
/// service turns `check` to exit 3 naming it, `down` leaves no process behind.
#[test]
fn private_environment_up_kill_check_down() {
    let private = common::PrivateEnv::all_services();
    let env = |args: &[&str]| private.cmd(args);
    let state = &private.state;

    let up = run(&mut env(&["env", "up"]));
    assert_eq!(up.status.code(), Some(0), "{}", text(&up));
    let pids = recorded_pids(state);
    assert_eq!(pids.len(), 4, "{pids:?}");
    assert!(pids.iter().all(|(_, pid)| common::pid_alive(*pid)));
    let again = run(&mut env(&["env", "up"]));
    assert!(
        String::from_utf8_lossy(&again.stdout)
            .matches("already running")
            .count()
            == 4,
        "{}",
        text(&again)
    );

    let ready = run(&mut env(&["check"]));
    assert_eq!(ready.status.code(), Some(0), "{}", text(&ready));
    let status = run(&mut env(&["env", "status"]));
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));

    let (_, redis_pid) = pids
        .iter()
        .find(|(k, _)| k == "redis")
        .cloned()
        .expect("redis pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(redis_pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill redis");
    let (killed, _) = run_within(&mut env(&["check", "--json"]), Duration::from_secs(30));
    assert_eq!(killed.status.code(), Some(3), "{}", text(&killed));
    let report = json(&killed);
    assert_eq!(service(&report, "redis")["status"], "unreachable");
    for other in ["graph", "kafka", "temporal"] {
        assert_eq!(service(&report, other)["status"], "ready", "{report}");
    }
    let human = run(&mut env(&["check"]));
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("NOT READY: redis"),
        "{}",
        text(&human)
    );
    let status = run(&mut env(&["env", "status"]));
    assert_eq!(status.status.code(), Some(3), "{}", text(&status));

    let down = run(&mut env(&["env", "down"]));
    assert_eq!(down.status.code(), Some(0), "{}", text(&down));
    let down_text = String::from_utf8_lossy(&down.stdout);
    assert!(
        down_text.contains("redis") && down_text.contains("was not running"),
        "{down_text}"
    );
    assert_eq!(down_text.matches("stopped").count(), 3, "{down_text}");
    for (name, pid) in &pids {
        assert!(
            !common::pid_alive(*pid),
            "{name} (pid {pid}) still running after env down"
        );
    }
    assert!(!state.join("env.json").exists());
}

/// The local Temporal keeps its state in a file in its data dir: killed and started
/// again by `env up`, it still has the workflows it had.
#[test]
fn a_killed_temporal_restarts_with_its_workflows() {
    let address = format!("127.0.0.1:{}", common::free_port());
    let private = common::PrivateEnv::new(&format!(
        "[services.temporal]\nurl = \"http://{address}\"\n"
    ));
    let env = |args: &[&str]| private.cmd(args);
    let state = &private.state;
    let up = run(&mut env(&["env", "up", "temporal"]));
    assert_eq!(up.status.code(), Some(0), "{}", text(&up));
    let recorded: Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("env.json")).expect("env.json"))
            .expect("env.json is JSON");
    let temporal = &recorded["services"]["temporal"];
    let binary = temporal["binary"].as_str().expect("binary").to_string();
    let pid = temporal["pid"].as_u64().expect("pid") as u32;
    let cli = |args: &[&str]| {
        let mut cmd = std::process::Command::new(&binary);
        cmd.args(args).args(["--address", &address]);
        run(&mut cmd)
    };
    // Nothing polls this queue: the workflow stays running, on the server only.
    let started = cli(&[
        "workflow",
        "start",
        "--task-queue",
        "nobody-polls",
        "--type",
        "Kept",
        "--workflow-id",
        "kept-1",
    ]);
    assert_eq!(started.status.code(), Some(0), "{}", text(&started));

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill temporal");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while common::pid_alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "temporal outlived SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let again = run(&mut env(&["env", "up", "temporal"]));
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("started"),
        "{}",
        text(&again)
    );

    let described = cli(&[
        "workflow",
        "describe",
        "--workflow-id",
        "kept-1",
        "-o",
        "json",
    ]);
    assert_eq!(described.status.code(), Some(0), "{}", text(&described));
    let described: Value = serde_json::from_slice(&described.stdout).expect("JSON");
    assert_eq!(
        described["workflowExecutionInfo"]["status"], "WORKFLOW_EXECUTION_STATUS_RUNNING",
        "{described}"
    );
    let down = run(&mut env(&["env", "down"]));
    assert_eq!(down.status.code(), Some(0), "{}", text(&down));
}

/// The state letter of `pid` in /proc (`T` when stopped).
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim_start().chars().next()
}

/// `env fault` on an environment of its own: a paused Redis is stopped while the fault
/// holds and continued when Ctrl-C cuts it short; a killed one is started again with a
/// new pid; `check` says ready after each; a server not running is refused.
#[test]
fn env_fault_pauses_and_kills_a_server_and_heals_it() {
    let private = common::PrivateEnv::new(&format!(
        "[services.redis]\nurl = \"redis://127.0.0.1:{}\"\ntimeout = \"2s\"\n",
        common::free_port()
    ));
    let env = |args: &[&str]| private.cmd(args);
    let state = &private.state;
    let redis_pid = || {
        recorded_pids(state)
            .into_iter()
            .find(|(k, _)| k == "redis")
            .map(|(_, pid)| pid)
            .expect("redis pid")
    };
    let up = run(&mut env(&["env", "up", "redis"]));
    assert_eq!(up.status.code(), Some(0), "{}", text(&up));
    let pid = redis_pid();

    let pause = env(&["env", "fault", "pause", "redis", "--for", "60s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn env fault");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while process_state(pid) != Some('T') {
        assert!(std::time::Instant::now() < deadline, "redis never paused");
        std::thread::sleep(Duration::from_millis(10));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pause.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("interrupt");
    let paused = pause.wait_with_output().expect("env fault");
    assert_eq!(paused.status.code(), Some(0), "{}", text(&paused));
    let said = String::from_utf8_lossy(&paused.stdout);
    assert!(
        said.contains("pause redis") && said.contains("cut short"),
        "{said}"
    );
    assert_ne!(process_state(pid), Some('T'), "redis still stopped");
    let ready = run(&mut env(&["check", "--service", "redis"]));
    assert_eq!(ready.status.code(), Some(0), "{}", text(&ready));

    let killed = run(&mut env(&[
        "env", "fault", "kill", "redis", "--for", "100ms",
    ]));
    assert_eq!(killed.status.code(), Some(0), "{}", text(&killed));
    let healed = redis_pid();
    assert_ne!(healed, pid);
    assert!(!common::pid_alive(pid) && common::pid_alive(healed));
    let ready = run(&mut env(&["check", "--service", "redis"]));
    assert_eq!(ready.status.code(), Some(0), "{}", text(&ready));

    let down = run(&mut env(&["env", "down"]));
    assert_eq!(down.status.code(), Some(0), "{}", text(&down));
    let refused = run(&mut env(&["env", "fault", "pause", "redis"]));
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("redis is not running"),
        "{}",
        text(&refused)
    );
}

mod plugin_cli {
    use super::common::{aura, plugin_wasm, run, text};

    const WAT_OTHER_WORLD: &str = r#"(component
        (core module $m (func (export "f")))
        (core instance $i (instantiate $m))
        (func (export "hello") (canon lift (core func $i "f"))))"#;
    const WAT_NEWER_PACKAGE: &str = r#"(component
        (import "aura:host/log@0.3.0" (instance))
        (core module $m (func (export "f")))
        (core instance $i (instantiate $m))
        (func (export "validate") (canon lift (core func $i "f"))))"#;

    /// A validator that imports an interface no part of the host provides (what
    /// componentize-js adds unless told not to).
    const WAT_UNPROVIDED_IMPORT: &str = r#"(component
        (import "aura:host/log@0.2.0" (instance))
        (import "wasi:http/types@0.2.3" (instance))
        (core module $m (func (export "f")))
        (core instance $i (instantiate $m))
        (func (export "validate") (canon lift (core func $i "f"))))"#;

    /// One interface at the host's version, one at a newer one: any of them decides.
    const WAT_MIXED_PACKAGE: &str = r#"(component
        (import "aura:host/log@0.1.0" (instance))
        (import "aura:host/graph@0.3.0" (instance))
        (core module $m (func (export "f")))
        (core instance $i (instantiate $m))
        (func (export "validate") (canon lift (core func $i "f"))))"#;

    fn expect_bad_input(args: &[&str], wanted: &[&str]) {
        let out = run(aura().args(args));
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {all}");
        for w in wanted {
            assert!(all.contains(w), "{args:?}: wanted {w:?} in: {all}");
        }
        assert!(!all.contains("panicked"), "{all}");
    }

    #[test]
    fn a_built_validator_gets_a_verdict() {
        super::common::ensure_env();
        let wasm = plugin_wasm("smoke-validator");
        let out = run(aura().args(["run", "--plugin"]).arg(&wasm));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(text(&out).contains("verdict: PASSED"), "{}", text(&out));
    }

    #[test]
    fn a_failing_plugin_set_exits_1_with_the_reason() {
        super::common::ensure_env();
        let dir = tempfile::tempdir().expect("tempdir");
        let manifest = super::common::hostile_set(dir.path(), &[("panicky", "panic", "")]);
        let out = run(aura().args(["run", "--plugins"]).arg(&manifest));
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            text(&out).contains("hostile plugin panicked on purpose"),
            "{}",
            text(&out)
        );
        assert!(text(&out).contains("verdict: FAILED"), "{}", text(&out));
    }

    #[test]
    fn bad_plugins_exit_2_with_what_is_wrong() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = |name: &str| dir.path().join(name).display().to_string();
        std::fs::write(p("notes.wasm"), "hello").expect("write");
        std::fs::write(p("core.wasm"), b"\0asm\x01\0\0\0").expect("write");
        std::fs::write(
            p("other.wasm"),
            wat::parse_str(WAT_OTHER_WORLD).expect("wat"),
        )
        .expect("write");
        std::fs::write(
            p("newer.wasm"),
            wat::parse_str(WAT_NEWER_PACKAGE).expect("wat"),
        )
        .expect("write");
        std::fs::write(
            p("mixed.wasm"),
            wat::parse_str(WAT_MIXED_PACKAGE).expect("wat"),
        )
        .expect("write");
        std::fs::write(
            p("unprovided.wasm"),
            wat::parse_str(WAT_UNPROVIDED_IMPORT).expect("wat"),
        )
        .expect("write");
        expect_bad_input(
            &["run", "--plugin", &p("unprovided.wasm")],
            &[
                "unprovided.wasm",
                "imports what this host does not provide: wasi:http/types@0.2.3",
                "--disable http fetch-event",
            ],
        );
        expect_bad_input(
            &["run", "--plugin", &p("missing.wasm")],
            &["missing.wasm", "not found"],
        );
        // A bare name is looked up in the plugins dir too, and both places are named.
        expect_bad_input(
            &["run", "--plugin", "no_such_plugin.wasm"],
            &[
                "plugin no_such_plugin.wasm not found",
                "target/wasm32-wasip2/release/no_such_plugin.wasm",
            ],
        );
        expect_bad_input(
            &["run", "--plugin", &p("notes.wasm")],
            &["notes.wasm", "not a WebAssembly file"],
        );
        expect_bad_input(
            &["run", "--plugin", &p("core.wasm")],
            &["core.wasm", "core WebAssembly module"],
        );
        expect_bad_input(
            &["run", "--plugin", &p("other.wasm")],
            &["other.wasm", "exports hello"],
        );
        expect_bad_input(
            &["run", "--plugin", &p("mixed.wasm")],
            &[
                "mixed.wasm",
                "wants aura:host@0.3.0",
                "serves aura:host 0.1.2, 0.2.0",
            ],
        );
        expect_bad_input(
            &["plugin", "inspect", &p("newer.wasm")],
            &[
                "newer.wasm",
                "wants aura:host@0.3.0",
                "serves aura:host 0.1.2, 0.2.0",
            ],
        );
    }

    #[test]
    fn bad_manifests_exit_2_naming_file_line_field_or_digest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wasm = plugin_wasm("smoke-validator").display().to_string();
        let manifest = dir.path().join("set.toml");
        std::fs::write(
            &manifest,
            format!("[[plugin]]\nname = \"smoke\"\npath = {wasm:?}\nsha256 = \"{}\"\nkind = \"validator\"\n[plugin.limits]\ntimeout = 5\n", "ab".repeat(32)),
        )
        .expect("write");
        let m = manifest.display().to_string();
        expect_bad_input(&["run", "--plugins", &m], &["set.toml:7", "limits.timeout"]);
        let wrong = "ab".repeat(32);
        std::fs::write(
            &manifest,
            format!("[[plugin]]\nname = \"smoke\"\npath = {wasm:?}\nsha256 = \"{wrong}\"\nkind = \"validator\"\n"),
        )
        .expect("write");
        let actual = aura_runtime::digest(&std::fs::read(&wasm).expect("wasm"));
        expect_bad_input(&["run", "--plugins", &m], &["smoke", &wrong, &actual]);
    }

    #[test]
    fn inspect_names_world_version_and_digest() {
        let wasm = plugin_wasm("exponential-backoff");
        let out = run(aura().args(["plugin", "inspect"]).arg(&wasm));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let digest = aura_runtime::digest(&std::fs::read(&wasm).expect("wasm"));
        for w in [
            "aura:host/recovery-strategy",
            "aura:host@0.2.0 (served: the latest contract)",
            &digest,
            "decide",
        ] {
            assert!(text(&out).contains(w), "{w}: {}", text(&out));
        }
    }

    /// `plugin new` → build → run, for every kind.
    #[test]
    fn scaffolded_plugins_build_and_run() {
        let _cpu = super::common::busy();
        let dir = tempfile::tempdir().expect("tempdir");
        let target = super::common::workspace_root().join("target/scaffold");
        for kind in ["validator", "recovery-strategy", "scenario-generator"] {
            let name = format!("my-{kind}");
            let out = run(aura()
                .args(["plugin", "new", &name, "--kind", kind, "--dir"])
                .arg(dir.path()));
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
            let krate = dir.path().join(&name);
            let build = std::process::Command::new(env!("CARGO"))
                .args(["build", "--release", "--target", "wasm32-wasip2"])
                .current_dir(&krate)
                .env("CARGO_TARGET_DIR", &target)
                .output()
                .expect("cargo");
            assert!(
                build.status.success(),
                "{kind}: {}",
                String::from_utf8_lossy(&build.stderr)
            );
            let wasm = target.join(format!(
                "wasm32-wasip2/release/{}.wasm",
                name.replace('-', "_")
            ));
            // One call in the sandbox, as the SDK's `testing` makes it.
            let extra: &[&str] = match kind {
                "validator" => &["--request", "req-1"],
                "recovery-strategy" => &[
                    "--failure",
                    r#"{"service":"redis","operation":"get","attempt":1,"error":"refused","elapsed_ms":0}"#,
                ],
                _ => &["--seed", "7"],
            };
            let out = run(aura().args(["plugin", "call"]).arg(&wasm).args(extra));
            assert_eq!(out.status.code(), Some(0), "{kind}: {}", text(&out));
            let answer: serde_json::Value =
                serde_json::from_slice(&out.stdout).expect("one JSON object");
            assert_eq!(answer["kind"], *kind, "{answer}");
            assert!(
                answer["outcome"]["Ok"].is_object() || answer["outcome"]["Ok"].is_string(),
                "{answer}"
            );
            // The recordings it ships say what its skeleton does, host answers included.
            let replays: Vec<_> = std::fs::read_dir(krate.join("replays"))
                .expect("replays/")
                .flatten()
                .map(|e| e.path())
                .collect();
            assert!(!replays.is_empty(), "{kind} ships recordings");
            for file in replays {
                let out = run(aura()
                    .args(["plugin", "test"])
                    .arg(&wasm)
                    .arg("--replay")
                    .arg(&file));
                let failing = file.ends_with("undecided.jsonl");
                assert_eq!(
                    out.status.code(),
                    Some(if failing { 1 } else { 0 }),
                    "{}: {}",
                    file.display(),
                    text(&out)
                );
                assert!(
                    text(&out).contains("(the same result as recorded)"),
                    "{}: {}",
                    file.display(),
                    text(&out)
                );
            }
        }
        let again = run(aura()
            .args([
                "plugin",
                "new",
                "my-validator",
                "--kind",
                "validator",
                "--dir",
            ])
            .arg(dir.path()));
        assert_eq!(again.status.code(), Some(2), "{}", text(&again));
        // The scaffold's own test, as its author runs it: the SDK's `testing` drives this
        // binary (`.cargo/config.toml`), and the test passes on the first try.
        let test = std::process::Command::new(env!("CARGO"))
            .arg("test")
            .current_dir(dir.path().join("my-validator"))
            .env("CARGO_TARGET_DIR", &target)
            .env("AURA_HOST_BIN", env!("CARGO_BIN_EXE_aura-host"))
            .output()
            .expect("cargo test");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&test.stdout),
            String::from_utf8_lossy(&test.stderr)
        );
        assert!(test.status.success(), "{all}");
        assert!(
            all.contains("my_validator_runs_in_the_host ... ok"),
            "{all}"
        );
    }
}

mod target_cli {
    use super::*;

    /// A `target serve` process, stopped with SIGTERM when dropped.
    struct Served(std::process::Child);

    impl Drop for Served {
        fn drop(&mut self) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.0.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while self.0.try_wait().ok().flatten().is_none() {
                if std::time::Instant::now() > deadline {
                    let _ = self.0.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    #[test]
    fn serve_answers_requests_and_trace_shows_all_seven_steps() {
        common::ensure_env();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("aura.toml");
        std::fs::write(
            &config,
            format!("[target]\ntask_queue = \"{}\"\n", common::unique("cli")),
        )
        .expect("config");
        let port = common::free_port();
        let run_id = common::unique("cli");
        let mut serve = aura();
        serve
            .arg("--config")
            .arg(&config)
            .args(["target", "serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--run-id", &run_id])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let _served = Served(serve.spawn().expect("serve"));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "target serve did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }

        let id = common::unique("req");
        let (submitted, _) = run_within(
            aura()
                .args(["target", "submit", "--target", &url, "--team", "vision"])
                .args(["--request-id", &id, "--priority", "9"]),
            Duration::from_secs(90),
        );
        assert_eq!(submitted.status.code(), Some(0), "{}", text(&submitted));
        let stdout = String::from_utf8_lossy(&submitted.stdout);
        assert!(stdout.contains(&format!("{id} approved: gpu-")), "{stdout}");

        stores_hold_the_decision(&run_id, &id);

        let waterfall = run(aura().args(["trace", &id, "--run-id", &run_id]));
        assert_eq!(waterfall.status.code(), Some(0), "{}", text(&waterfall));
        let out = String::from_utf8_lossy(&waterfall.stdout);
        for step in aura_contract::Step::ALL {
            let (component, step) = (step.component(), step.name());
            let line = out
                .lines()
                .find(|l| l.starts_with(step))
                .unwrap_or_else(|| panic!("no {step} line in:\n{out}"));
            assert!(
                line.contains(component) && line.contains("completed"),
                "{line}"
            );
            assert!(line.contains(" ms"), "{line}");
        }
        assert!(out.contains("· completed ·"), "{out}");

        // Without --run-id the run is found; through the API the trace is the same.
        let found = run(aura().args(["trace", &id, "--json"]));
        assert_eq!(found.status.code(), Some(0), "{}", text(&found));
        let via_api = run(aura().args(["trace", &id, "--json", "--target", &url]));
        assert_eq!(json(&found), json(&via_api));

        let missing = run(aura().args(["trace", "no-such-request"]));
        assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
        assert!(text(&missing).contains("no trace for request 'no-such-request'"));

        let bad = run(aura()
            .args(["target", "submit", "--target", &url, "--team", "x"])
            .args(["--request-id", "bad id!"]));
        assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
        assert!(text(&bad).contains("request_id"), "{}", text(&bad));
    }

    /// The served target's decision is in the graph, in Redis, on Kafka and a completed
    /// Temporal workflow.
    fn stores_hold_the_decision(run_id: &str, request_id: &str) {
        use aura_services::{Cypher, ServiceHub};
        let rt = tokio::runtime::Runtime::new().expect("tokio");
        rt.block_on(async {
            let hub = ServiceHub::new(common::config().services);
            let rows = hub
                .run_graph(run_id)
                .await
                .expect("graph")
                .query(
                    Cypher::new(
                        "MATCH (:Request {run_id: $run, request_id: $id})-[:DECIDED_BY]->(d:Decision) \
                         RETURN d.outcome AS outcome",
                    )
                    .param("run", run_id)
                    .param("id", request_id),
                )
                .await
                .expect("match");
            assert_eq!(rows.len(), 1, "{rows:?}");
            let cached = hub
                .cache()
                .await
                .expect("redis")
                .get(&aura_contract::names::decision_key(run_id, request_id))
                .await
                .expect("get");
            assert!(cached.is_some_and(|c| c.contains("\"approved\"")));
            let events = hub
                .events()
                .await
                .expect("kafka")
                .read(
                    &aura_contract::names::decided_topic(run_id),
                    &common::unique("g"),
                    1,
                    Duration::from_secs(20),
                )
                .await
                .expect("read");
            assert_eq!(events.first().and_then(|e| e.key.as_deref()), Some(request_id));
            let execution = hub
                .workflows()
                .await
                .expect("temporal")
                .describe_execution(&aura_contract::names::workflow_id(run_id, request_id))
                .await
                .expect("describe");
            assert_eq!(execution.status, "COMPLETED");
        });
    }
}

mod scenario_cli {
    use super::*;

    #[test]
    fn a_bad_scenario_exits_2_and_a_dead_service_exits_3() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bad.toml");
        std::fs::write(
            &file,
            common::WRONG_SCENARIO.replace("gpu_count = 1", "gpu_count = \"one\""),
        )
        .expect("w");
        let out = run(aura().args(["run", "--scenario"]).arg(&file));
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            text(&out).contains("bad.toml:10:") && text(&out).contains("gpu_count"),
            "{}",
            text(&out)
        );

        let dead = format!(
            "[services.redis]\nurl = \"redis://127.0.0.1:{}\"\ntimeout = \"1s\"\n",
            common::free_port()
        );
        let config = common::queue_config(dir.path(), &dead);
        std::fs::write(&file, common::WRONG_SCENARIO).expect("w");
        let (out, _) = run_within(
            aura()
                .arg("--config")
                .arg(&config)
                .args(["run", "--scenario"])
                .arg(&file),
            Duration::from_secs(60),
        );
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        assert!(text(&out).contains("not ready: redis"), "{}", text(&out));
    }
}

// `aura-host bench` measures every row it promises (figures from a debug build say
// little; what is tested is that each row is measured, end to end, on the real services).
#[test]
fn bench_measures_every_goal_row() {
    let _cpu = common::busy();
    common::ensure_env();
    common::plugin_wasm("bench-probe");
    let out = run(aura().args([
        "bench",
        "--calls",
        "10",
        "--requests",
        "3",
        "--validation-requests",
        "3",
        "--json",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON rows");
    assert_eq!(rows.len(), 11, "{}", text(&out));
    for row in &rows {
        assert!(
            row["met"].is_boolean(),
            "not measured: {row}\n{}",
            text(&out)
        );
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("debug build"));
}
