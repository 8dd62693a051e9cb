//! What happens around a run, as an operator meets it: a killed run's workflows never
//! come back to life, `env reset --run` removes every namespace of a run, a run id names
//! one run, and a closed stdout does not end a run half-way. Real local services.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{self, aura, run, run_within, text, unique};
use aura_contract::names;
use aura_services::namespace::RunId;
use aura_services::{Cypher, GraphValue, ServiceHub};

const LONG: Duration = Duration::from_secs(180);

fn aura_with(config: &std::path::Path) -> std::process::Command {
    common::ensure_env();
    common::plugins_built();
    let mut cmd = aura();
    cmd.arg("--config").arg(config);
    cmd
}

/// Every key, topic and graph node of run `run` and its namespaces `run-<n>`.
async fn leftovers(hub: &ServiceHub, run: &str) -> Vec<String> {
    let mut left = Vec::new();
    let keys = hub
        .cache()
        .await
        .expect("redis")
        .scan_prefix(&names::key_family_prefix(run), 10_000)
        .await
        .expect("scan");
    left.extend(
        keys.into_iter()
            .filter(|k| names::run_of_key(k).is_some_and(|ns| names::is_namespace_of(run, ns))),
    );
    let topics = hub
        .events()
        .await
        .expect("kafka")
        .list_topics()
        .await
        .expect("topics");
    left.extend(
        topics
            .into_iter()
            .filter(|t| names::run_of_topic(t).is_some_and(|ns| names::is_namespace_of(run, ns))),
    );
    for ns in [run.to_string(), names::scenario_namespace(run, 1)] {
        let graph = hub.run_graph(&ns).await.expect("graph");
        let rows = graph
            .query(Cypher::new("MATCH (n) RETURN count(n) AS n").read_only())
            .await
            .expect("count");
        if let Some(GraphValue::Int(n)) = rows.first().and_then(|r| r.get("n"))
            && *n > 0
        {
            left.push(format!("{n} node(s) in {ns}'s graph"));
        }
        graph
            .delete_graph()
            .await
            .expect("the probe's empty graph removed");
    }
    left
}

async fn status(hub: &ServiceHub, workflow_id: &str) -> String {
    hub.workflows()
        .await
        .expect("temporal")
        .describe_execution(workflow_id)
        .await
        .map(|e| e.status)
        .unwrap_or_else(|e| format!("not found: {e}"))
}

/// A run killed (SIGKILL) with a workflow in flight: a later run's worker never executes
/// it (each run has its own task queue), the next run's start terminates it, and
/// `env reset --run` leaves nothing of the run in any store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_runs_workflows_never_come_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "step_pause = \"300ms\"\n");
    let killed = unique("killed");
    let hub = ServiceHub::new(common::config().services);
    let workflow = names::workflow_id(&names::scenario_namespace(&killed, 1), "smoke-req-1");
    let mut child = aura_with(&config)
        .args(["run", "-q", "--run-id", &killed])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn run");
    let deadline = Instant::now() + LONG;
    while status(&hub, &workflow).await != "RUNNING" {
        assert!(Instant::now() < deadline, "{workflow} never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    // The next run on the same configuration: its worker polls its own queue, and at its
    // start it terminates the killed run's open workflow (the journal says it was killed).
    let (out, _) = run_within(aura_with(&config).args(["run", "-q"]), LONG);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        status(&hub, &workflow).await,
        "TERMINATED",
        "ended, never executed by the later run's worker"
    );

    let (out, _) = run_within(
        aura_with(&config).args(["env", "reset", "--run", &killed]),
        LONG,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let left = leftovers(&hub, &killed).await;
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// `env reset --run RUN` removes the namespaces `RUN-<n>` a multi-scenario run wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_removes_every_namespace_of_a_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let kept = unique("kept");
    let (out, _) = run_within(
        aura_with(&config).args([
            "run",
            "-q",
            "--suite",
            "integration",
            "--keep-data",
            "--run-id",
            &kept,
        ]),
        LONG,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let hub = ServiceHub::new(common::config().services);
    let keys = hub
        .cache()
        .await
        .expect("redis")
        .scan_prefix(&names::key_prefix(&names::scenario_namespace(&kept, 2)), 10)
        .await
        .expect("scan");
    assert!(
        !keys.is_empty(),
        "--keep-data kept the second scenario's keys"
    );
    let (out, _) = run_within(
        aura_with(&config).args(["env", "reset", "--run", &kept]),
        LONG,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for ns in [
        names::scenario_namespace(&kept, 1),
        names::scenario_namespace(&kept, 2),
    ] {
        assert!(stdout.contains(&format!("run {ns}: removed")), "{stdout}");
    }
    let left = leftovers(&hub, &kept).await;
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_run_id_names_one_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let id = unique("once");
    let (first, _) = run_within(
        aura_with(&config).args(["run", "-q", "--run-id", &id]),
        LONG,
    );
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let again = run(aura_with(&config).args(["run", "-q", "--run-id", &id]));
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(
        text(&again).contains("run id already used"),
        "{}",
        text(&again)
    );
    let journal = common::shared_state_dir().join(format!("runs/{id}/journal.jsonl"));
    let starts = std::fs::read_to_string(&journal)
        .expect("journal")
        .matches("\"run_started\"")
        .count();
    assert_eq!(starts, 1, "one run in the journal");
    let _ = RunId::parse(&id).expect("valid");
}

/// `aura-host run | head -1`: the reader goes away after one line; the run carries on
/// to its end (exit 0, data cleaned), and `report` with a closed stdout still writes
/// its file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_does_not_end_a_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let mut child = aura_with(&config)
        .args(["run", "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn run");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    // The reader is dropped here: stdout is a closed pipe from now on.
    let run_id = first
        .strip_prefix("run ")
        .and_then(|r| r.split_whitespace().next())
        .expect("run id")
        .to_string();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "the run's own exit code");
    let hub = ServiceHub::new(common::config().services);
    let left = leftovers(&hub, &run_id).await;
    assert!(left.is_empty(), "cleaned up: {left:?}");

    let json = dir.path().join("report.json");
    let mut report = aura_with(&config);
    report
        .args(["report", "--run", &run_id, "--json"])
        .arg(&json);
    // `>&-`: the command starts with no stdout at all.
    let mut closed = std::process::Command::new("sh");
    closed
        .arg("-c")
        .arg("exec \"$@\" >&-")
        .arg("sh")
        .arg(report.get_program())
        .args(report.get_args())
        .current_dir(common::workspace_root());
    for (key, value) in report.get_envs() {
        match value {
            Some(v) => closed.env(key, v),
            None => closed.env_remove(key),
        };
    }
    let out = run(&mut closed);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(json.exists(), "the report file was written");
}

/// A scenario larger than `run.max_requests` is refused before anything runs.
#[test]
fn an_oversized_scenario_is_refused_before_it_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "[run]\nmax_requests = 2\n");
    let out = run(aura_with(&config).args(["run", "--scenario", "scenarios/e2e/mixed_burst.toml"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("gpu_requests: 12 requests, more than run.max_requests (2)"),
        "{all}"
    );
    assert!(
        !all.contains("journal"),
        "refused before the run began: {all}"
    );
}

/// `max_execution_time` bounds the scenario with its validators: one that loops is cut
/// at what is left of the scenario's time, not at its own longer deadline.
#[test]
fn a_scenarios_deadline_bounds_its_validators() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let smoke = std::fs::read_to_string(
        common::workspace_root().join("scenarios/smoke/single_approval.toml"),
    )
    .expect("smoke scenario");
    let scenario = dir.path().join("short.toml");
    std::fs::write(
        &scenario,
        smoke.replace(
            "max_execution_time = \"60s\"",
            "max_execution_time = \"4s\"",
        ),
    )
    .expect("write");
    let manifest = common::hostile_set(
        dir.path(),
        &[("loop", "infinite-loop", "limits = { timeout = \"60s\" }\n")],
    );
    let json = dir.path().join("report.json");
    let (out, _) = run_within(
        aura_with(&config)
            .args(["run", "--plugins"])
            .arg(&manifest)
            .arg("--scenario")
            .arg(&scenario)
            .arg("--json")
            .arg(&json),
        LONG,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("report")).expect("json");
    let error = report["scenarios"][0]["validators"][0]["error"]
        .as_str()
        .expect("the loop failed")
        .to_string();
    assert!(error.starts_with("deadline of "), "{error}");
    assert!(
        !error.contains("deadline of 60s"),
        "cut at the scenario's time: {error}"
    );
}

/// A graph that stops answering mid-run (SIGSTOP): the run ends within the bound it
/// printed, its failures name the graph and its address, and the other stores are
/// cleaned of its data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_graph_is_named_and_the_run_still_ends_on_time() {
    let graph = common::PrivateServer::falkordb();
    let address = format!("falkor://127.0.0.1:{}", graph.port);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(
        dir.path(),
        &format!(
            "step_pause = \"300ms\"\n[services.graph]\nurl = \"{address}\"\ntimeout = \"1s\"\n"
        ),
    );
    let smoke = std::fs::read_to_string(
        common::workspace_root().join("scenarios/smoke/single_approval.toml"),
    )
    .expect("smoke scenario");
    let mut files = Vec::new();
    for n in 1..=2 {
        let path = dir.path().join(format!("s{n}.toml"));
        let text = smoke
            .replace("smoke-single-approval", &format!("hung-graph-{n}"))
            .replace(
                "max_execution_time = \"60s\"",
                "max_execution_time = \"10s\"",
            );
        std::fs::write(&path, text).expect("write");
        files.push(path);
    }
    let run_id = unique("hung");
    let json = dir.path().join("report.json");
    let mut cmd = aura_with(&config);
    cmd.args(["run", "-q", "--run-id", &run_id, "--json"])
        .arg(&json);
    for f in &files {
        cmd.arg("--scenario").arg(f);
    }
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn run");
    // The bound is promised on the first line: it counts from there, not from the
    // process's start (a loaded CI machine takes seconds to get that far).
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout);
        let mut all = String::new();
        let _ = lines.read_line(&mut all);
        let promised_at = Instant::now();
        let _ = std::io::Read::read_to_string(&mut lines, &mut all);
        (all, promised_at)
    });
    let journal = common::shared_state_dir().join(format!("runs/{run_id}/journal.jsonl"));
    while !std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("\"scenario_started\"")) {
        assert!(started.elapsed() < LONG, "no scenario started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    graph.freeze();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    let ended = Instant::now();
    graph.thaw();
    let (stdout, promised_at) = reader.join().expect("stdout read");
    let took = ended - promised_at;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let promised = stdout
        .lines()
        .next()
        .and_then(|l| l.split(" · ends within ").nth(1))
        .and_then(|r| r.split(" · ").next())
        .and_then(|d| humantime::parse_duration(d).ok())
        .unwrap_or_else(|| panic!("no bound in: {stdout}"));
    assert!(
        took <= promised,
        "ended after {took:?}, promised {promised:?}"
    );
    let report = std::fs::read_to_string(&json).expect("report");
    assert!(
        report.contains(&format!("graph at {address}")),
        "failures name the graph: {report}"
    );
    assert!(
        !report.contains("did not finish within") || report.contains("waiting on graph"),
        "{report}"
    );
    let hub = ServiceHub::new(common::config().services);
    let mut left = leftovers(&hub, &run_id).await;
    left.retain(|l| !l.contains("graph"));
    assert!(left.is_empty(), "Redis and Kafka cleaned: {left:?}");
}
