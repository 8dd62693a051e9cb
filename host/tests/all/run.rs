//! Orchestrated runs end to end on the real local services: the smoke suite with the
//! shipped validators and its JSON/JUnit reports (JUnit read by junitparser, the parser
//! CI result publishers use), a wrong expectation, each validator catching the fault it
//! is for, a recovery strategy's retries, a killed run's journal and Ctrl-C.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::common::{aura, run_within, text};
use aura_host::config::AuraConfig;
use aura_host::orchestrator::plugins::{self, PluginSet};
use aura_host::orchestrator::runner::Runner;
use aura_host::orchestrator::{Scenario, suite};
use aura_host::report::{RunEvent, ValidatorResult};
use aura_reference::Target;
use aura_reference::driver::InProcess;
use aura_runtime::PluginRuntime;
use aura_services::namespace::{RunId, RunNamespace};
use aura_services::{Cypher, ServiceHub};
use serde_json::Value;

/// Past this a run is taken as hung, not slow: a cold compile of a 12–18 MB Python or
/// JavaScript component alone took 65 s (debug host, idle 2-core machine), and several at
/// once under the whole suite's load took more than 180 s.
pub(crate) const LONG: Duration = Duration::from_secs(300);

pub(crate) fn aura_with(config: &Path) -> Command {
    common::ensure_env();
    common::plugins_built();
    let mut cmd = aura();
    cmd.arg("--config").arg(config);
    cmd
}

pub(crate) fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("json file")).expect("json")
}

/// The Python packages the report checks use (PyPI): junitparser, the JUnit parser CI
/// result publishers use, and jsonschema; installed once under target/.
fn python_path() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        common::python_packages(&[
            ("junitparser", "junitparser==3.2.0"),
            ("jsonschema", "jsonschema==4.23.0"),
        ])
    })
}

/// Runs a Python script with the report-checking packages; its stdout.
fn python(script: &str, args: &[&Path]) -> Vec<u8> {
    let out = Command::new("python3")
        .args(["-c", script])
        .args(args)
        .env("PYTHONPATH", python_path())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Validates a report against the documented schema (`docs/results.schema.json`).
pub(crate) fn assert_valid_report(json: &Path) {
    let schema = common::workspace_root().join("docs/results.schema.json");
    python(
        "import json, sys, jsonschema\n\
         schema = json.load(open(sys.argv[1]))\n\
         jsonschema.Draft202012Validator.check_schema(schema)\n\
         jsonschema.Draft202012Validator(schema).validate(json.load(open(sys.argv[2])))",
        &[&schema, json],
    );
}

/// Every test case of a JUnit file as junitparser reads it.
pub(crate) fn junit_cases(path: &Path) -> Vec<Value> {
    let script = r#"
import json, sys
from junitparser import JUnitXml
cases = []
for suite in JUnitXml.fromfile(sys.argv[1]):
    for case in suite:
        cases.append({
            "suite": suite.name, "name": case.name, "classname": case.classname,
            "passed": case.is_passed, "skipped": case.is_skipped,
            "messages": [r.message or "" for r in case.result],
            "texts": [r.text or "" for r in case.result],
        })
print(json.dumps(cases))
"#;
    serde_json::from_slice(&python(script, &[path])).expect("cases as json")
}

const SIX: [&str; 6] = [
    "decision_persistence",
    "context_caching",
    "event_propagation",
    "flow_timing",
    "council_consensus",
    "workflow_state",
];

#[test]
fn the_smoke_suite_passes_end_to_end_and_its_reports_validate_and_rebuild() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let run_id = common::unique("smoke");
    let (json, junit) = (dir.path().join("r.json"), dir.path().join("r.xml"));
    let (out, _) = run_within(
        aura_with(&config)
            .args(["run", "--run-id", &run_id, "--json"])
            .arg(&json)
            .arg("--junit")
            .arg(&junit),
        LONG,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for v in SIX {
        assert!(stdout.contains(&format!("PASS validator {v}")), "{stdout}");
    }
    assert!(stdout.contains("verdict: PASSED"), "{stdout}");

    assert_valid_report(&json);
    let report = read_json(&json);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["status"], "passed");
    let scenario = &report["scenarios"][0];
    assert_eq!(scenario["id"], "smoke-single-approval");
    assert_eq!(scenario["namespace"], format!("{run_id}-1"));
    assert_eq!(scenario["validators"].as_array().map(Vec::len), Some(6));
    assert_eq!(
        scenario["requests"][0]["trace"]["steps"]
            .as_array()
            .map(Vec::len),
        Some(7)
    );
    assert_eq!(report["performance"]["request_latency"]["count"], 1);
    assert_eq!(report["health_before"].as_array().map(Vec::len), Some(4));
    assert!(
        report["cleanup"]
            .as_str()
            .is_some_and(|c| c.starts_with("removed"))
    );

    let cases = junit_cases(&junit);
    let names: Vec<&str> = cases.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names.len(), 7, "{cases:?}");
    assert!(names.contains(&"outcomes") && SIX.iter().all(|v| names.contains(v)));
    assert!(cases.iter().all(|c| c["passed"] == true), "{cases:?}");
    assert_eq!(cases[0]["classname"], "smoke.smoke-single-approval");

    // The journal rebuilds the same report; the trace comes from it after cleanup.
    let rebuilt = dir.path().join("again.json");
    let (out, _) = run_within(
        aura_with(&config)
            .args(["report", "--run", &run_id, "--json"])
            .arg(&rebuilt),
        LONG,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(read_json(&rebuilt), report);
    let (out, _) = run_within(
        aura_with(&config).args(["trace", "smoke-req-1", "--run", &run_id]),
        LONG,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for step in aura_contract::Step::names() {
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(step),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn a_wrong_expectation_exits_1_with_a_junit_failure_naming_request_expected_and_actual() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let file = dir.path().join("wrong.toml");
    let wrong = format!(
        "{}\n[[validation_rules]]\nplugin = \"decision_persistence\"\n",
        common::WRONG_SCENARIO
    );
    std::fs::write(&file, wrong).expect("scenario");
    let junit = dir.path().join("wrong.xml");
    let (out, _) = run_within(
        aura_with(&config)
            .args(["run", "--scenario"])
            .arg(&file)
            .arg("--junit")
            .arg(&junit),
        LONG,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let cases = junit_cases(&junit);
    let outcomes = cases
        .iter()
        .find(|c| c["name"] == "outcomes")
        .expect("outcomes case");
    assert_eq!(outcomes["passed"], false);
    assert_eq!(
        outcomes["messages"][0],
        "wrong-req-1: decision: expected denied, actual approved"
    );
    // The validator looks at the data, which is right: it passes.
    let v = cases
        .iter()
        .find(|c| c["name"] == "decision_persistence")
        .expect("validator case");
    assert_eq!(v["passed"], true, "{cases:?}");
}

/// The design card's literal command, from the repository root and from a subdirectory:
/// the bare name is found in the plugins dir and the smoke suite in `scenarios/`, both
/// under the project root found from where it runs. (The only test on the default task
/// queue, so no other test's worker takes its workflows.)
#[test]
fn run_plugin_runs_the_default_scenario_with_that_validator_alone() {
    common::ensure_env();
    common::plugins_built();
    let root = common::workspace_root();
    for dir in [root.clone(), root.join("host/src")] {
        let mut cmd = aura();
        cmd.env_remove("AURA_PROJECT_DIR").current_dir(&dir);
        let (out, _) = run_within(
            cmd.args(["run", "--plugin", "decision_persistence.wasm"]),
            LONG,
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "from {}: {}",
            dir.display(),
            text(&out)
        );
        assert_validator_alone(&String::from_utf8_lossy(&out.stdout));
    }
}

fn assert_validator_alone(stdout: &str) {
    assert!(
        stdout.contains("PASS scenario smoke-single-approval"),
        "{stdout}"
    );
    assert!(
        stdout.contains("PASS validator decision_persistence · 6/6 checks"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("event_propagation"),
        "only the given validator: {stdout}"
    );
    assert!(stdout.contains("verdict: PASSED"), "{stdout}");
}

/// A scenario that names a generator runs the generated requests through the target and
/// validates each like a written one; the same seed gives the same requests, `--seed`
/// another set.
#[test]
fn a_generator_scenario_validates_its_generated_requests_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let scenario = common::workspace_root().join("scenarios/e2e/generated_burst.toml");
    let requests = |json: &Path, seed: Option<&str>| {
        let mut cmd = aura_with(&config);
        cmd.args(["run", "-q", "--scenario"])
            .arg(&scenario)
            .arg("--json")
            .arg(json);
        if let Some(seed) = seed {
            cmd.args(["--seed", seed]);
        }
        let (out, _) = run_within(&mut cmd, LONG);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert_valid_report(json);
        let v = read_json(json);
        let sc = &v["scenarios"][0];
        assert_eq!(sc["status"], "passed", "{sc}");
        for validator in &SIX {
            let r = sc["validators"]
                .as_array()
                .expect("validators")
                .iter()
                .find(|r| r["validator"] == *validator)
                .unwrap_or_else(|| panic!("{validator} did not run: {sc}"));
            assert_eq!(r["passed"], true, "{r}");
        }
        let mut asked: Vec<String> = sc["requests"]
            .as_array()
            .expect("requests")
            .iter()
            .map(|r| r["decision"]["request"].to_string())
            .collect();
        asked.sort();
        asked
    };
    let first = requests(&dir.path().join("a.json"), None);
    assert_eq!(first.len(), 6, "{first:?}");
    assert_eq!(
        first,
        requests(&dir.path().join("b.json"), None),
        "same seed, same requests"
    );
    assert_ne!(
        first,
        requests(&dir.path().join("c.json"), Some("8")),
        "another seed"
    );
}

/// `run --request` validates requests an earlier run decided and kept, through the
/// orchestrator: the kept decision passes, a request that was never made fails.
#[test]
fn run_request_validates_an_earlier_runs_kept_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let first = dir.path().join("first.json");
    let (out, _) = run_within(
        aura_with(&config)
            .args(["run", "-q", "--keep-data", "--json"])
            .arg(&first),
        LONG,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ns = read_json(&first)["scenarios"][0]["namespace"]
        .as_str()
        .expect("namespace")
        .to_string();
    let validate = |request: &str, json: &Path| {
        let (out, _) = run_within(
            aura_with(&config)
                .args([
                    "run",
                    "-q",
                    "--plugin",
                    "decision_persistence",
                    "--request",
                    request,
                ])
                .args(["--run-id", &ns, "--json"])
                .arg(json),
            LONG,
        );
        (out, read_json(json))
    };
    let (out, v) = validate("smoke-req-1", &dir.path().join("kept.json"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_valid_report(&dir.path().join("kept.json"));
    let sc = &v["scenarios"][0];
    assert_eq!(sc["namespace"], ns.as_str(), "{sc}");
    assert_eq!(
        sc["validators"][0]["validator"], "decision_persistence",
        "{sc}"
    );
    assert_eq!(sc["validators"][0]["passed"], true, "{sc}");
    assert_eq!(
        sc["requests"],
        serde_json::json!([]),
        "nothing was submitted: {sc}"
    );
    let (out, v) = validate("never-made", &dir.path().join("never.json"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(v["scenarios"][0]["validators"][0]["passed"], false, "{v}");
    let alone =
        common::run(aura_with(&config).args(["run", "--request", "smoke-req-1", "--run-id", &ns]));
    assert_eq!(
        alone.status.code(),
        Some(2),
        "no validator, no verdict: {}",
        text(&alone)
    );
    assert!(
        text(&alone).contains("needs at least one validator"),
        "{}",
        text(&alone)
    );
    let reset = common::run(aura().args(["env", "reset", "--run", &ns]));
    assert_eq!(reset.status.code(), Some(0), "{}", text(&reset));
}

/// Runs the smoke scenario through a target on `config` (no plugins) and returns the
/// scenario and the run id its data is under.
async fn smoke_run(config: &AuraConfig) -> (Scenario, RunId) {
    let root = common::workspace_root().join("scenarios");
    let (_, scenario) = suite::load(&root, "smoke")
        .expect("smoke")
        .into_iter()
        .next()
        .expect("a smoke scenario");
    let run = RunId::parse(&common::unique("v")).expect("run id");
    let target = Arc::new(
        Target::start(
            Arc::new(ServiceHub::new(config.services.clone())),
            &config.target,
            &config.gpu,
            run.clone(),
        )
        .await
        .expect("target"),
    );
    let driver = InProcess::new(target.clone());
    let record = |_: RunEvent| {};
    let result = Runner {
        driver: &driver,
        run_id: run.as_str(),
        target: &config.target,
        plugins: None,
        record: &record,
    }
    .run(&scenario)
    .await;
    assert!(result.passed(), "{:?}", result.failures());
    drop(driver);
    if let Ok(t) = Arc::try_unwrap(target) {
        t.stop().await;
    }
    (scenario, run)
}

/// The six shipped validators on the scenario's requests, by name.
async fn validate(
    config: &AuraConfig,
    scenario: &Scenario,
    run: &RunId,
) -> BTreeMap<String, ValidatorResult> {
    let runtime = Arc::new(
        PluginRuntime::new(
            Arc::new(ServiceHub::new(config.services.clone())),
            Default::default(),
        )
        .expect("runtime"),
    );
    let set = PluginSet::resolve(
        runtime.clone(),
        common::plugins_built(),
        std::slice::from_ref(scenario),
        &[],
        None,
    )
    .expect("the shipped validators load");
    let ids: Vec<String> = scenario
        .gpu_requests
        .iter()
        .map(|r| r.request_id.clone())
        .collect();
    let mut out = BTreeMap::new();
    for v in set.validators(&scenario.id) {
        let r = plugins::validate(
            &runtime,
            v,
            run.as_str(),
            scenario,
            &config.target,
            &ids,
            None,
        )
        .await;
        out.insert(r.validator.clone(), r);
    }
    assert_eq!(out.len(), 6, "{:?}", out.keys());
    out
}

fn failed_checks(r: &ValidatorResult) -> Vec<String> {
    r.checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.diff())
        .collect()
}

fn assert_only_failed(results: &BTreeMap<String, ValidatorResult>, failing: &str) {
    for (name, r) in results {
        if name == failing {
            assert!(!r.passed, "{name} should fail: {r:?}");
        } else {
            assert!(
                r.passed && !r.checks.is_empty(),
                "{name} should pass: {r:?}"
            );
        }
    }
}

fn own_queue() -> AuraConfig {
    let mut c = common::config();
    c.target.task_queue = common::unique("aura-run");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deleted_decision_node_fails_decision_persistence_and_nothing_else() {
    common::plugins_built();
    let config = own_queue();
    let (scenario, run) = smoke_run(&config).await;
    let graph = ServiceHub::new(config.services.clone())
        .run_graph(run.as_str())
        .await
        .expect("graph");
    graph
        .query(
            Cypher::new("MATCH (d:Decision {run_id: $run, request_id: $req}) DETACH DELETE d")
                .param("run", run.as_str())
                .param("req", "smoke-req-1"),
        )
        .await
        .expect("delete behind the target's back");
    let results = validate(&config, &scenario, &run).await;
    assert_only_failed(&results, "decision_persistence");
    let failed = failed_checks(&results["decision_persistence"]);
    assert!(
        failed
            .iter()
            .any(|f| f.starts_with("smoke-req-1: decision node")),
        "{failed:?}"
    );
    let _ = aura_services::namespace::remove(
        &ServiceHub::new(config.services.clone()),
        &RunNamespace::new(run),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_kafka_fails_event_propagation_after_its_deadline_not_hanging() {
    common::plugins_built();
    let mut kafka = common::PrivateServer::kafka();
    let mut config = own_queue();
    config.services.kafka.brokers = kafka.address();
    config.services.kafka.timeout = Duration::from_secs(2);
    let (scenario, run) = smoke_run(&config).await;
    kafka.kill();
    let results = validate(&config, &scenario, &run).await;
    assert_only_failed(&results, "event_propagation");
    let ep = &results["event_propagation"];
    // A result with checks, not the plugin killed at its 10 s limit.
    assert_eq!(ep.error, None, "{ep:?}");
    let failed = failed_checks(ep);
    assert!(
        failed
            .iter()
            .any(|f| f.starts_with("smoke-req-1: event: expected an event within 2000 ms")),
        "{failed:?}"
    );
    let _ = aura_services::namespace::remove(
        &ServiceHub::new(own_queue().services),
        &RunNamespace::new(run),
    )
    .await;
}

const RETRIED: &str = r#"
id = "retried"
name = "A step that always times out"
required_services = ["redis", "graph", "kafka", "temporal"]
max_execution_time = "60s"

[step_timeouts]
council_vote = "50ms"

[recovery]
plugin = "exponential_backoff"
config = { base_ms = 100, max_attempts = 2 }

[[gpu_requests]]
request_id = "retried-1"
team = "platform"
gpu_count = 1
memory_gb = 16
priority = 5
duration_minutes = 30
"#;

#[test]
fn a_recovery_strategys_retries_and_abort_are_in_the_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Every step pauses 200 ms, so council_vote always overruns its 50 ms.
    let config = common::queue_config(dir.path(), "step_pause = \"200ms\"\nstep_attempts = 1\n");
    let file = dir.path().join("retried.toml");
    std::fs::write(&file, RETRIED).expect("scenario");
    let json = dir.path().join("r.json");
    let (out, _) = run_within(
        aura_with(&config)
            .args(["run", "--scenario"])
            .arg(&file)
            .arg("--json")
            .arg(&json),
        LONG,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_valid_report(&json);
    let report = read_json(&json);
    assert_eq!(report["status"], "aborted", "{report:#}");
    let actions: Vec<&str> = report["recoveries"]
        .as_array()
        .expect("recoveries")
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert_eq!(actions.len(), 3, "{report:#}");
    assert_eq!(actions[..2], ["retry after 100 ms", "retry after 200 ms"]);
    assert!(
        actions[2].starts_with("abort: gave up after 2 attempts"),
        "{actions:?}"
    );
    let first = &report["recoveries"][0];
    assert_eq!(first["service"], "council");
    assert_eq!(first["strategy"], "exponential_backoff");
    assert_eq!(report["scenarios"][0]["requests"][0]["attempts"], 3);
    assert!(String::from_utf8_lossy(&out.stdout).contains("recovery: retried retried-1 council failed (attempt 1): exponential_backoff → retry after 100 ms"), "{}", text(&out));
}

/// Starts `run --suite integration` slowed down, waits until its journal has a finished
/// request, then sends `signal`; returns the run id and the process's output.
fn interrupt_mid_run(
    dir: &Path,
    signal: nix::sys::signal::Signal,
) -> (String, std::process::Output) {
    let config = common::queue_config(dir, "step_pause = \"300ms\"\n");
    let run_id = common::unique("cut");
    let child = aura_with(&config)
        .args([
            "run",
            "--suite",
            "integration",
            "--jobs",
            "1",
            "--run-id",
            &run_id,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn run");
    let journal = common::shared_state_dir().join(format!("runs/{run_id}/journal.jsonl"));
    let deadline = Instant::now() + LONG;
    while !std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("\"request_finished\"")) {
        assert!(Instant::now() < deadline, "no request finished in {LONG:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, signal).expect("signal");
    (run_id, child.wait_with_output().expect("wait"))
}

#[test]
fn a_killed_runs_journal_rebuilds_its_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (run_id, out) = interrupt_mid_run(dir.path(), nix::sys::signal::Signal::SIGKILL);
    assert_eq!(out.status.code(), None, "killed by a signal");
    let json = dir.path().join("r.json");
    let junit = dir.path().join("r.xml");
    let config = common::queue_config(dir.path(), "");
    let (out, _) = run_within(
        aura_with(&config)
            .args(["report", "--run", &run_id, "--json"])
            .arg(&json)
            .arg("--junit")
            .arg(&junit),
        LONG,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("verdict: INCOMPLETE"),
        "{}",
        text(&out)
    );
    assert_valid_report(&json);
    let report = read_json(&json);
    assert_eq!(report["status"], "incomplete");
    let requests: usize = report["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .map(|s| s["requests"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(
        requests >= 1,
        "what finished before the kill is there: {report:#}"
    );
    assert!(junit_cases(&junit).iter().any(|c| c["skipped"] == true));
}

#[test]
fn ctrl_c_stops_the_run_cleanly_and_reports_what_did_not_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (run_id, out) = interrupt_mid_run(dir.path(), nix::sys::signal::Signal::SIGINT);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("aborted: interrupted (Ctrl-C)"), "{stdout}");
    assert!(stdout.contains("verdict: ABORTED"), "{stdout}");
    let journal = common::shared_state_dir().join(format!("runs/{run_id}/journal.jsonl"));
    let report = aura_host::report::load(&journal).expect("journal");
    assert_eq!(report.status, aura_host::report::Status::Aborted);
    assert!(report.summary.not_run >= 1, "{:?}", report.summary);
    assert!(report.scenarios.iter().any(|s| {
        s.note
            .as_deref()
            .is_some_and(|n| n.contains("interrupted (Ctrl-C)"))
    }));
    assert!(report.cleanup.is_some_and(|c| c.starts_with("removed")));
}

/// `--soak` runs round after round until its time is up, each a run of its own, and
/// fails when a round failed.
#[test]
fn soak_runs_rounds_until_its_time_is_up_and_fails_with_a_failed_round() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let smoke = common::workspace_root().join("scenarios/smoke/single_approval.toml");
    let (out, _) = run_within(
        aura_with(&config)
            .args(["run", "-q", "--soak", "1ms", "--seed", "7", "--scenario"])
            .arg(&smoke),
        LONG,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("soak: 1 round(s) in "), "{stdout}");
    assert!(stdout.contains(", 0 failed"), "{stdout}");
    let wrong = dir.path().join("wrong.toml");
    std::fs::write(&wrong, common::WRONG_SCENARIO).expect("scenario");
    let (out, _) = run_within(
        aura_with(&config)
            .args(["run", "-q", "--soak", "1ms", "--scenario"])
            .arg(&wrong),
        LONG,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("soak: 1 round(s) in ") && stdout.contains(", 1 failed"),
        "{}",
        text(&out)
    );
}

/// A threshold that holds passes; one that breaks exits 1 naming the metric, the limit
/// and the measured value; a typo in one is refused before anything runs.
#[test]
fn thresholds_decide_the_exit_code_and_name_what_they_measured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let smoke = std::fs::read_to_string(
        common::workspace_root().join("scenarios/smoke/single_approval.toml"),
    )
    .expect("smoke");
    let with = |name: &str, thresholds: &str| {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, format!("{smoke}\n[thresholds]\n{thresholds}\n")).expect("write");
        let (out, _) = run_within(
            aura_with(&config)
                .args(["run", "-q", "--scenario"])
                .arg(&path),
            LONG,
        );
        out
    };
    let held = with(
        "held",
        "\"request_latency\" = [\"p(95) < 1m\"]\n\"errors\" = [\"rate < 0.01\"]\n\"validation_failures\" = [\"count == 0\"]",
    );
    assert_eq!(held.status.code(), Some(0), "{}", text(&held));
    let broken = with("broken", "\"request_latency\" = [\"p(95) < 1ms\"]");
    assert_eq!(broken.status.code(), Some(1), "{}", text(&broken));
    let stdout = String::from_utf8_lossy(&broken.stdout);
    assert!(
        stdout.contains(
            "FAIL invariant threshold request_latency p(95) < 1ms: expected p(95) < 1ms, actual "
        ),
        "{stdout}"
    );
    let typo = with("typo", "\"request_latncy\" = [\"p(95) < 1s\"]");
    assert_eq!(typo.status.code(), Some(2), "{}", text(&typo));
    assert!(
        String::from_utf8_lossy(&typo.stderr).contains("thresholds.request_latncy"),
        "{}",
        text(&typo)
    );
}
