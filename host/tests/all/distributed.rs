//! `run --distributed` on the real local services: two `aura-host worker` processes
//! share a load's slices; the one running them is killed mid-run, its slices are retried
//! on the other, and the run completes with every request exactly once: in the report,
//! and as a Temporal workflow (none submitted twice, none lost).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, Killed};
use crate::run::{assert_valid_report, aura_with, read_json};

/// Workflow executions on `queue`, as the `temporal` CLI counts them.
fn executions(queue: &str) -> Option<u64> {
    let url = aura_host::config::AuraConfig::default()
        .services
        .temporal
        .url;
    let address = url.trim_start_matches("http://").to_string();
    let out = Command::new(common::tools_dir().join("venv/bin/temporal"))
        .args(["workflow", "count", "--address", &address, "--query"])
        .arg(format!("TaskQueue='{queue}'"))
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .strip_prefix("Total:")?
        .trim()
        .parse()
        .ok()
}

#[test]
fn a_killed_worker_s_slices_finish_on_another_with_every_request_exactly_once() {
    let _cpu = common::heavy();
    let dir = tempfile::tempdir().expect("tempdir");
    let base = common::unique("dq");
    let config = dir.path().join("aura.toml");
    std::fs::write(&config, format!("[target]\ntask_queue = \"{base}\"\n")).expect("config");
    let state = dir.path().join("state");
    let scenario = dir.path().join("spread.toml");
    std::fs::write(
        &scenario,
        r#"id = "load-spread"
name = "spread over workers"
required_services = ["redis", "graph", "kafka", "temporal"]
max_execution_time = "120s"

[load]
model = "open"
stages = [{ rate = 10, duration = "15s" }]

[load.template]
gpu_count = 1

[[invariants]]
kind = "no_double_allocation"

[[validation_rules]]
plugin = "decision_persistence"
"#,
    )
    .expect("scenario");
    let queue = common::unique("runs");
    let aura = || {
        let mut cmd = aura_with(&config);
        cmd.env("AURA_STATE_DIR", &state);
        cmd
    };
    let first = common::worker(aura(), &queue);
    let run_id = common::unique("spread");
    let json = dir.path().join("r.json");
    let mut run = Killed(
        aura()
            .args([
                "run",
                "-q",
                "--run-id",
                &run_id,
                "--distributed",
                "--slices",
                "2",
            ])
            .args(["--task-queue", &queue, "--scenario"])
            .arg(&scenario)
            .arg("--json")
            .arg(&json)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the run"),
    );
    // Both slices are on the first worker: once it has sent results, it is killed.
    let journal = state.join("runs").join(&run_id).join("journal.jsonl");
    let deadline = Instant::now() + Duration::from_secs(90);
    while std::fs::read_to_string(&journal).map_or(0, |j| j.matches("\"request_finished\"").count())
        < 20
    {
        assert!(
            Instant::now() < deadline,
            "no results from the first worker"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _second = common::worker(aura(), &queue);
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(150);
    let status = loop {
        if let Some(s) = run.0.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "the run did not end");
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = run.0.wait_with_output_lossy();
    assert_eq!(status.code(), Some(0), "{out}");
    assert_valid_report(&json);
    let report = read_json(&json);
    let sc = &report["scenarios"][0];
    // In the order they finished: sorted, each of the 150 once.
    let mut ids: Vec<u64> = sc["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter_map(|r| {
            r["request_id"]
                .as_str()?
                .strip_prefix("load-")?
                .parse()
                .ok()
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=150).collect::<Vec<u64>>(), "every request once");
    assert_eq!(sc["load"]["scheduled"], 150, "{}", sc["load"]);
    assert_eq!(sc["load"]["decided"], 150, "{}", sc["load"]);
    assert_eq!(sc["validators"][0]["requests"], 150);
    // None submitted twice: one workflow per request on the run's task queue.
    let run_queue = format!("{base}-{run_id}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let counted = loop {
        let n = executions(&run_queue).unwrap_or(0);
        if n >= 150 || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(counted, 150, "workflows on {run_queue}");
}

trait Lossy {
    fn wait_with_output_lossy(&mut self) -> String;
}

impl Lossy for std::process::Child {
    fn wait_with_output_lossy(&mut self) -> String {
        use std::io::Read;
        let mut text = String::new();
        if let Some(mut o) = self.stdout.take() {
            let _ = o.read_to_string(&mut text);
        }
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut text);
        }
        text
    }
}
