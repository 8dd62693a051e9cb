//! A deployed target (`aura-host target serve` in a process of its own) driven over
//! HTTP: `run --target` runs the `prod-smoke` suite in the run's own namespace and
//! removes it, refuses faults and plugins that would write outside it; `monitor
//! --target` probes it and alerts when it is gone; `verify-rollback` holds it to a run
//! from before (verified; leftovers planted in its namespace or a council that decides
//! differently are not).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::common::{self, aura, run_within, text};
use crate::run::{LONG, read_json};

/// The served target's own namespace (its run id), from `/health`.
fn namespace_of(url: &str) -> String {
    let body = common::http_get(url.trim_start_matches("http://"), "/health");
    let health: Value = serde_json::from_str(&body).expect("health JSON");
    health["run_id"].as_str().expect("run_id").to_string()
}

fn redis() -> redis::Connection {
    redis::Client::open("redis://127.0.0.1:16379")
        .and_then(|c| c.get_connection())
        .expect("redis")
}

/// Keys under `aura:<namespace>:`.
fn keys_of(namespace: &str) -> Vec<String> {
    redis::cmd("KEYS")
        .arg(format!("aura:{namespace}:*"))
        .query(&mut redis())
        .expect("KEYS")
}

fn aura_in(dir: &Path) -> std::process::Command {
    let mut cmd = aura();
    cmd.arg("--config").arg(dir.join("aura.toml"));
    cmd
}

#[test]
fn a_run_against_a_deployed_target_passes_in_its_own_namespace_and_leaves_nothing() {
    let _cpu = common::timed();
    let (_target, url, dir) = common::served_target("");
    let own = namespace_of(&url);
    let run_id = common::unique("deployed");
    let json = dir.path().join("run.json");
    let (out, _) = run_within(
        aura_in(dir.path())
            .args([
                "run",
                "--target",
                &url,
                "--suite",
                "prod-smoke",
                "--run-id",
                &run_id,
            ])
            .arg("--json")
            .arg(&json),
        LONG,
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let report = read_json(&json);
    let scenario = &report["scenarios"][0];
    assert_eq!(scenario["id"], "prod-smoke");
    assert_eq!(scenario["requests"].as_array().map(Vec::len), Some(8));
    assert!(
        scenario["validators"]
            .as_array()
            .is_some_and(|v| v.len() == 6 && v.iter().all(|v| v["passed"] == true)),
        "{scenario}"
    );
    let ns = scenario["namespace"].as_str().expect("namespace");
    assert!(ns.starts_with(&run_id), "{ns}");
    assert!(said.contains("data: removed"), "{said}");
    assert_eq!(keys_of(ns), Vec::<String>::new(), "the run's data removed");
    assert_eq!(
        keys_of(&own),
        Vec::<String>::new(),
        "the target's own untouched"
    );

    // A namespace that is no run id is refused by the target.
    let refused = common::http_post(
        url.trim_start_matches("http://"),
        "/requests?run=Not_A_Run",
        &[],
        r#"{"request_id": "x", "team": "t", "gpu_count": 1, "memory_gb": 1, "priority": 1, "duration_minutes": 1}"#,
    );
    assert!(refused.contains(" 400 Bad Request"), "{refused}");
    assert!(refused.contains("run: "), "{refused}");

    // Faults strike the in-process target's services: refused, nothing run.
    let chaos = common::workspace_root().join("scenarios/chaos/redis_kill.toml");
    let (out, _) = run_within(
        aura_in(dir.path())
            .args(["run", "--target", &url, "--scenario"])
            .arg(&chaos),
        LONG,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("injects faults: they need the in-process target"),
        "{}",
        text(&out)
    );

    // A plugin granted writes beyond the run's namespace is not let near a deployment.
    let set = dir.path().join("set.toml");
    std::fs::write(
        &set,
        format!(
            "[[plugin]]\nname = \"decision_persistence\"\npath = {:?}\nkind = \"validator\"\n\
             grants = {{ graph = \"read\", cache = {{ access = \"write\", key-prefixes = [\"aura:\"] }} }}\n",
            common::plugin_wasm("decision_persistence").display().to_string()
        ),
    )
    .expect("set");
    let locked = run_within(aura_in(dir.path()).args(["plugin", "lock"]).arg(&set), LONG).0;
    assert_eq!(locked.status.code(), Some(0), "{}", text(&locked));
    let (out, _) = run_within(
        aura_in(dir.path())
            .args(["run", "--target", &url, "--plugins"])
            .arg(&set)
            .args(["--suite", "prod-smoke"]),
        LONG,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out)
            .contains("plugin decision_persistence is granted cache write on key prefix \"aura:\""),
        "{}",
        text(&out)
    );

    let nowhere = format!("http://127.0.0.1:{}", common::free_port());
    let (out, _) = run_within(
        aura_in(dir.path()).args(["run", "--target", &nowhere, "--suite", "prod-smoke"]),
        LONG,
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("the target at {nowhere}")),
        "{}",
        text(&out)
    );
}

#[test]
fn the_monitor_probes_a_deployed_target_and_alerts_once_it_is_gone() {
    let _cpu = common::timed();
    let (_target, url, dir) = common::served_target("");
    let (out, _) = run_within(
        aura_in(dir.path()).args([
            "monitor",
            "--target",
            &url,
            "--interval",
            "1s",
            "--cycles",
            "2",
            "--name",
            "deployed",
        ]),
        LONG,
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains(&format!("the target at {url}")), "{said}");
    assert!(said.contains("cycle 2 passed"), "{said}");

    let alerts = dir.path().join("alerts.jsonl");
    let file = dir.path().join("monitor.toml");
    std::fs::write(
        &file,
        format!(
            "[[rule]]\nname = \"probe-failing\"\nwhen = {{ kind = \"probe_failing\" }}\n\n\
             [[notify]]\ncommand = [\"sh\", \"-c\", \"cat >> {}\"]\n",
            alerts.display()
        ),
    )
    .expect("monitor file");
    let nowhere = format!("http://127.0.0.1:{}", common::free_port());
    let (out, _) = run_within(
        aura_in(dir.path()).arg("monitor").arg(&file).args([
            "--target",
            &nowhere,
            "--interval",
            "1s",
            "--cycles",
            "2",
            "--name",
            "gone",
        ]),
        LONG,
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "an alert still firing: {said}");
    assert!(said.contains("cycle 1 FAILED"), "{said}");
    assert!(said.contains("Connection refused"), "{said}");
    let sent = std::fs::read_to_string(&alerts).unwrap_or_default();
    let firing: Vec<Value> = sent
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|m: &Value| m["status"] == "firing")
        .collect();
    assert_eq!(firing.len(), 1, "fired once over two cycles: {sent}");
    assert_eq!(firing[0]["commonLabels"]["alertname"], "probe-failing");

    // A drill cannot pause a deployed target's step from here.
    std::fs::write(
        &file,
        "[drill]\nstep = \"persist_decision\"\npause = \"100ms\"\n",
    )
    .expect("drill");
    let (out, _) = run_within(
        aura_in(dir.path())
            .arg("monitor")
            .arg(&file)
            .args(["--target", &url, "--cycles", "1"]),
        LONG,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("[drill]"), "{}", text(&out));
}

/// `verify-rollback` of `url` against run `before`: exit code, output, JSON.
fn verify(dir: &Path, url: &str, before: &str, extra: &[&str]) -> (Option<i32>, String, Value) {
    let json = dir.join("verify.json");
    let _ = std::fs::remove_file(&json);
    let (out, _) = run_within(
        aura_in(dir)
            .args([
                "verify-rollback",
                "--target",
                url,
                "--before",
                before,
                "--settle",
                "1s",
            ])
            // Two targets on two busy cores: only a slowdown past 100 % and 50 ms counts.
            .args(["--tolerance", "1.0", "--tolerance-ms", "50"])
            .args(extra)
            .arg("--json")
            .arg(&json),
        Duration::from_secs(300),
    );
    let report = common::json_or_null(&json);
    (out.status.code(), text(&out), report)
}

#[test]
fn verify_rollback_holds_a_deployment_to_its_run_from_before() {
    let _cpu = common::timed();
    let (_target, url, dir) = common::served_target("");
    let (_other, other, _d) = common::served_target("[target.council]\nabstain_below = 0.99\n");
    let before = common::unique("before");
    let (out, _) = run_within(
        aura_in(dir.path()).args([
            "run",
            "--target",
            &url,
            "--suite",
            "prod-smoke",
            "--run-id",
            &before,
        ]),
        LONG,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let (code, said, report) = verify(dir.path(), &url, &before, &[]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("verdict: verified"), "{said}");
    assert_eq!(report["verdict"], "verified", "{report}");
    assert_eq!(report["requests"], 8, "{report}");
    assert_eq!(
        report["latency"]["persist_decision"]["baseline_n"], 8,
        "{report}"
    );

    // What a failed version would leave: a lease no approval holds, a decision never
    // published, both in the target's own namespace.
    let own = namespace_of(&url);
    let _: () = redis::cmd("SET")
        .arg(format!("aura:{own}:lease:gpu-ghost"))
        .arg("ghost-request")
        .query(&mut redis())
        .expect("plant a lease");
    let _: redis::Value = redis::cmd("GRAPH.QUERY")
        .arg(format!("aura:{own}"))
        .arg(format!(
            "CREATE (:Decision {{run_id: '{own}', request_id: 'ghost-decision', outcome: 'approved'}})"
        ))
        .query(
            &mut redis::Client::open("redis://127.0.0.1:16380")
                .and_then(|c| c.get_connection())
                .expect("falkordb"),
        )
        .expect("plant a decision");
    let (code, said, report) = verify(dir.path(), &url, &before, &[]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("verdict: not verified"), "{said}");
    assert!(said.contains("gpu-ghost held by ghost-request"), "{said}");
    assert!(said.contains("without an event"), "{said}");
    assert_eq!(
        report["orphan_leases"][0],
        "gpu-ghost held by ghost-request"
    );
    assert_eq!(report["decisions_without_events"][0], "ghost-decision");

    // A deployment whose council decides otherwise (every agent abstains: no quorum) is
    // not the one from before.
    let (code, said, report) = verify(dir.path(), &other, &before, &[]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("decided differently"), "{said}");
    assert!(
        report["differences"]
            .as_array()
            .is_some_and(|d| !d.is_empty()),
        "{report}"
    );

    // The before run did not run the smoke suite: nothing to hold it to.
    let (code, said, _) = verify(dir.path(), &url, &before, &["--suite", "smoke"]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("did not run smoke-single-approval"), "{said}");
}

/// The run ends its own workflows, never the deployment's: the served target's queue
/// serves both. A request of the target's own, held 8 s before `allocate_devices`, is
/// still running after a run against the target (one denied at validation, never
/// reaching that step) has ended and cleaned up.
#[test]
fn a_run_against_a_deployed_target_leaves_the_deployments_own_workflows_running() {
    let _cpu = common::timed();
    let (_target, url, dir) =
        common::served_target("[target.step_pauses]\nallocate_devices = \"8s\"\n");
    let addr = url.trim_start_matches("http://");
    let own = common::unique("own");
    let submitted = common::http_post(
        addr,
        "/requests",
        &[],
        &format!(
            r#"{{"request_id": "{own}", "team": "platform", "gpu_count": 1, "memory_gb": 16, "priority": 5, "duration_minutes": 5}}"#
        ),
    );
    assert!(submitted.contains(" 202 "), "{submitted}");
    let scenario = dir.path().join("denied.toml");
    std::fs::write(
        &scenario,
        r#"id = "denied-at-validation"
name = "denied"
required_services = ["redis", "graph", "kafka", "temporal"]
max_execution_time = "30s"

[[gpu_requests]]
request_id = "invalid"
team = "platform"
gpu_count = 1
memory_gb = 16
priority = 11
duration_minutes = 5

[[expected_outcomes]]
request_id = "invalid"
decision = "denied"
reason = "invalid_request"
"#,
    )
    .expect("scenario");
    let (out, _) = run_within(
        aura_in(dir.path())
            .args(["run", "--target", &url, "--scenario"])
            .arg(&scenario),
        LONG,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let state = common::http_get(addr, &format!("/requests/{own}/decision?wait_ms=2000"));
    assert!(state.contains("\"pending\""), "still running: {state}");
}

/// Whatever answers at the URL cannot take the host's memory: an answer past the
/// driver's bound (16 MiB) is a target not ready, named.
#[test]
fn a_target_answering_without_end_is_not_ready() {
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(|| async { "x".repeat(17 * 1024 * 1024) }),
    );
    let url = format!("http://{}", common::serve(app));
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, _) = run_within(
        aura()
            .args(["run", "--target", &url, "--suite", "prod-smoke"])
            .current_dir(dir.path()),
        LONG,
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("at most 16777216 bytes"),
        "{}",
        text(&out)
    );
}
