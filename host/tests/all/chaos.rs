//! The chaos engine against real servers: every test runs on an environment of its own
//! (`PrivateEnv`), since its faults kill and pause servers the other tests use.

use std::time::Duration;

use serde_json::Value;

use crate::common::{self, PrivateEnv, run_within, text};
use crate::run::{assert_valid_report, junit_cases};

/// Two requests the target approves, and `faults` (TOML) to inject meanwhile.
fn scenario(id: &str, faults: &str) -> String {
    format!(
        r#"id = "{id}"
name = "{id}"
required_services = ["redis", "graph", "kafka", "temporal"]
max_execution_time = "60s"

[[gpu_requests]]
request_id = "c1"
team = "platform"
gpu_count = 1
memory_gb = 16
priority = 6
duration_minutes = 30

[[gpu_requests]]
request_id = "c2"
team = "nlp"
gpu_count = 1
memory_gb = 40
priority = 7
duration_minutes = 30

[[validation_rules]]
plugin = "decision_persistence"

{faults}
"#
    )
}

/// Runs `scenario` on `env` (with `extra` arguments) and returns the exit code, the JSON
/// report and the output.
fn run_scenario(
    env: &PrivateEnv,
    name: &str,
    scenario: &str,
    extra: &[&str],
) -> (Option<i32>, Value, String) {
    let file = env.path(&format!("{name}.toml"));
    std::fs::write(&file, scenario).expect("write the scenario");
    let json = env.path(&format!("{name}.json"));
    let (file, json_arg) = (file.to_string_lossy(), json.to_string_lossy());
    let mut args = vec!["run", "--quiet", "--scenario", &file, "--json", &json_arg];
    args.extend_from_slice(extra);
    let (out, _) = run_within(&mut env.cmd(&args), Duration::from_secs(180));
    let report = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    (out.status.code(), report, text(&out))
}

/// A connection of our own to the environment's Redis, to read it independently.
fn redis_of(env: &PrivateEnv) -> redis::Connection {
    let config = std::fs::read_to_string(&env.config).expect("config");
    let url = config
        .lines()
        .find_map(|l| l.strip_prefix("url = \"redis://"))
        .and_then(|l| l.strip_suffix('"'))
        .expect("the private Redis");
    redis::Client::open(format!("redis://{url}"))
        .and_then(|c| c.get_connection())
        .expect("connected")
}

fn up(env: &PrivateEnv) {
    let (out, _) = run_within(&mut env.cmd(&["env", "up"]), Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

fn step<'a>(report: &'a Value, request: &str, step: &str) -> &'a Value {
    report["scenarios"][0]["requests"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["request_id"] == request))
        .and_then(|r| r["trace"]["steps"].as_array())
        .and_then(|steps| steps.iter().find(|s| s["step_name"] == step))
        .unwrap_or_else(|| panic!("no {step} in {request}'s trace: {report:#}"))
}

/// A pause of the graph fired by `persist_decision` of one request strikes while that
/// step runs (trace timestamps), for that request only, holds the step for its time,
/// heals, and the journal rebuilds the same fault record.
#[test]
fn a_fault_at_a_step_fires_while_that_step_runs_for_the_named_request() {
    let env = PrivateEnv::all_services();
    up(&env);
    let (code, report, out) = run_scenario(
        &env,
        "at-step",
        &scenario(
            "chaos-at-step",
            "[[faults]]\nservice = \"graph\"\naction = \"pause\"\nat_step = \"persist_decision\"\nrequest = \"c2\"\nduration = \"400ms\"\n",
        ),
        &[],
    );
    assert_eq!(code, Some(0), "{out}");
    let fault = &report["scenarios"][0]["faults"][0];
    assert_eq!(fault["action"], "pause", "{fault:#}");
    assert_eq!(fault["request_id"], "c2", "{fault:#}");
    assert_eq!(fault["step"], "persist_decision", "{fault:#}");
    let injected = fault["injected_at"].as_i64().expect("injected_at");
    let healed = fault["healed_at"].as_i64().expect("healed_at");
    assert!(healed - injected >= 400, "{fault:#}");
    assert!(
        fault["observed"]["requests"].as_u64() >= Some(1),
        "the request it hit was in flight: {fault:#}"
    );
    let hit = step(&report, "c2", "persist_decision");
    let (start, end) = (
        hit["start_time"].as_i64().expect("start"),
        hit["end_time"].as_i64().expect("end"),
    );
    assert!(
        start <= injected && injected <= end,
        "injected at {injected}, outside persist_decision [{start}, {end}]"
    );
    assert!(
        end - start >= 390,
        "the paused graph held the step: {hit:#}"
    );
    assert!(
        out.contains("PASS fault pause graph when persist_decision starts for request c2"),
        "{out}"
    );

    // The journal says the same.
    let run_id = report["run_id"].as_str().expect("run id");
    let rebuilt_json = env.path("rebuilt.json");
    let (again, _) = run_within(
        &mut env.cmd(&[
            "report",
            "--run",
            run_id,
            "--json",
            &rebuilt_json.to_string_lossy(),
        ]),
        Duration::from_secs(30),
    );
    assert!(again.status.code().is_some(), "{}", text(&again));
    let rebuilt: Value =
        serde_json::from_str(&std::fs::read_to_string(&rebuilt_json).expect("rebuilt report"))
            .expect("JSON");
    assert_eq!(
        rebuilt["scenarios"][0]["faults"],
        report["scenarios"][0]["faults"]
    );
}

/// A fault whose trigger never comes fails its scenario, naming the fault; a killed
/// server is started again (new pid) and the run's health after says ready.
#[test]
fn a_fault_that_never_fires_fails_its_scenario_and_a_kill_heals() {
    let env = PrivateEnv::all_services();
    up(&env);
    let (code, report, out) = run_scenario(
        &env,
        "never",
        &scenario(
            "chaos-never",
            "[[faults]]\nservice = \"kafka\"\naction = \"kill\"\nafter = \"50s\"\nduration = \"1s\"\n\n\
             [[faults]]\nservice = \"redis\"\naction = \"kill\"\nafter_decided = 2\nduration = \"500ms\"\n",
        ),
        &[],
    );
    assert_eq!(code, Some(1), "{out}");
    let faults = report["scenarios"][0]["faults"].as_array().expect("faults");
    assert_eq!(faults.len(), 2, "{report:#}");
    assert!(
        faults[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("never fired")),
        "{faults:#?}"
    );
    assert!(faults[0]["injected_at"].is_null(), "{faults:#?}");
    assert!(faults[1]["error"].is_null(), "{faults:#?}");
    assert_ne!(faults[1]["pid"], faults[1]["healed_pid"], "{faults:#?}");
    assert!(
        out.contains("FAIL fault kill kafka at +50s") && out.contains("never fired"),
        "{out}"
    );
    let after = report["health_after"].as_array().expect("health after");
    assert!(after.iter().all(|h| h["status"] == "ready"), "{after:#?}");
    let (check, _) = run_within(&mut env.cmd(&["check"]), Duration::from_secs(30));
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
}

/// The shipped chaos suite injects every fault it declares, and passes only with them;
/// the JSON (schema-checked) and JUnit (a test case per fault) say what struck when.
#[test]
fn the_chaos_suite_injects_every_declared_fault() {
    let env = PrivateEnv::all_services();
    up(&env);
    let (json, junit) = (env.path("suite.json"), env.path("suite.xml"));
    let (out, _) = run_within(
        &mut env.cmd(&[
            "run",
            "--quiet",
            "--suite",
            "chaos",
            "--json",
            &json.to_string_lossy(),
            "--junit",
            &junit.to_string_lossy(),
        ]),
        Duration::from_secs(300),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_valid_report(&json);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("report")).expect("JSON");
    let scenarios = report["scenarios"].as_array().expect("scenarios");
    assert!(!scenarios.is_empty());
    let mut declared = 0;
    for s in scenarios {
        let faults = s["faults"].as_array().cloned().unwrap_or_default();
        assert!(!faults.is_empty(), "{} injected nothing: {s:#}", s["id"]);
        let invariants = s["invariants"].as_array().expect("invariants");
        for when in ["before", "after"] {
            let name = format!("steady state {when} the faults");
            assert!(
                invariants
                    .iter()
                    .any(|c| c["name"] == name.as_str() && c["passed"] == true),
                "{}: no passing {name}: {invariants:#?}",
                s["id"]
            );
        }
        declared += faults.len();
        for f in &faults {
            assert!(
                f["injected_at"].is_i64() && f["healed_at"].is_i64() && f["error"].is_null(),
                "{}: {f:#}",
                s["id"]
            );
        }
    }
    // Zero lost results: every request has a status, and the journal rebuilds the same.
    for s in scenarios {
        for r in s["requests"].as_array().expect("requests") {
            assert!(r["status"].is_string(), "{r:#}");
        }
    }
    let run_id = report["run_id"].as_str().expect("run id");
    let rebuilt_json = env.path("suite-rebuilt.json");
    let (again, _) = run_within(
        &mut env.cmd(&[
            "report",
            "--run",
            run_id,
            "--json",
            &rebuilt_json.to_string_lossy(),
        ]),
        Duration::from_secs(60),
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let rebuilt: Value =
        serde_json::from_str(&std::fs::read_to_string(&rebuilt_json).expect("rebuilt"))
            .expect("JSON");
    assert_eq!(rebuilt["scenarios"], report["scenarios"]);
    // A stalled worker backs its requests up for the stall at least.
    let stalled = scenarios
        .iter()
        .find(|s| s["id"] == "chaos-temporal-worker-stall")
        .expect("the worker stall scenario");
    for r in stalled["requests"].as_array().expect("requests") {
        assert!(r["latency_ms"].as_u64() >= Some(2000), "{r:#}");
    }
    let cases = junit_cases(&junit);
    let fault_cases: Vec<&Value> = cases
        .iter()
        .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with("fault ")))
        .collect();
    assert_eq!(fault_cases.len(), declared, "{cases:#?}");
    assert!(
        fault_cases.iter().all(|c| c["passed"] == true),
        "{cases:#?}"
    );
}

/// `run --seed` replays a `[chaos]` schedule: the same seed draws the same faults, word
/// for word, another seed others; every drawn fault strikes and heals.
#[test]
fn the_same_seed_draws_the_same_fault_schedule() {
    let env = PrivateEnv::all_services();
    up(&env);
    let text = scenario(
        "chaos-seeded",
        "[chaos]\nfaults = 3\nstart = [\"0ms\", \"50ms\"]\nduration = [\"100ms\", \"300ms\"]\n\
         services = [\"redis\", \"graph\", \"kafka\"]\nactions = [\"pause\"]\n",
    );
    let schedule = |seed: &str| {
        let (code, report, out) =
            run_scenario(&env, &format!("seed-{seed}"), &text, &["--seed", seed]);
        assert_eq!(code, Some(0), "{out}");
        assert!(
            out.contains(&format!("`run --seed {seed}` draws them again")),
            "{out}"
        );
        let s = &report["scenarios"][0];
        assert_eq!(s["chaos"]["seed"], seed.parse::<u64>().expect("seed"));
        let faults = s["faults"].as_array().expect("faults");
        assert_eq!(faults.len(), 3, "{s:#}");
        assert!(
            faults.iter().all(|f| f["healed_at"].is_i64()),
            "{faults:#?}"
        );
        s["chaos"]["faults"].clone()
    };
    let first = schedule("7");
    assert_eq!(schedule("7"), first);
    assert_ne!(schedule("8"), first);
}

/// No hang: each server paused, then each killed, for all of a scenario's
/// `max_execution_time` ends the run by its deadline with the request reported, the
/// service it was stuck on named, and the server healed (ready after the run).
#[test]
fn a_server_held_down_past_the_deadline_ends_the_run_on_time_naming_it() {
    let _cpu = common::timed();
    let env = PrivateEnv::all_services();
    up(&env);
    for action in ["pause", "kill"] {
        // Stuck, or failed fast: either way the request's error names the service.
        for service in ["redis", "graph", "kafka", "temporal"] {
            let named = service;
            let id = format!("hang-{action}-{service}");
            let text = scenario(
                &id,
                &format!(
                    "[[faults]]\nservice = \"{service}\"\naction = \"{action}\"\nduration = \"3s\"\n"
                ),
            )
            .replace("max_execution_time = \"60s\"", "max_execution_time = \"3s\"");
            let started = std::time::Instant::now();
            let (code, report, out) = run_scenario(&env, &id, &text, &[]);
            // The deadline, the target's start and the run's own bounded cleanup.
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{id}: {:?}\n{out}",
                started.elapsed()
            );
            assert_eq!(code, Some(1), "{id}: {out}");
            let s = &report["scenarios"][0];
            let requests = s["requests"].as_array().expect("requests");
            assert_eq!(requests.len(), 2, "{id}: every request reported: {s:#}");
            // The request says where it is stuck (the step and its service, or how far
            // it got between steps); the fault's line names the service either way.
            assert!(
                requests.iter().all(|r| r["error"]
                    .as_str()
                    .is_some_and(|e| e.contains(named) || e.contains("between steps"))),
                "{id}: {named} not named: {requests:#?}"
            );
            assert!(
                out.contains(&format!("fault {action} {named} at the start")),
                "{id}: {out}"
            );
            assert!(s["faults"][0]["healed_at"].is_i64(), "{id}: {s:#}");
            let after = report["health_after"].as_array().expect("health after");
            assert!(
                after.iter().all(|h| h["status"] == "ready"),
                "{id}: {after:#?}"
            );
        }
    }
}

/// Resource faults through the services: every GPU leased away denies an approval for
/// capacity, and gives the leases back; Redis out of memory fails the workflow's writes
/// until it heals, and its settings are restored.
#[test]
fn resource_faults_exhaust_gpus_and_redis_memory_and_heal() {
    let env = PrivateEnv::all_services();
    up(&env);
    let one = |id: &str, faults: &str, expected: &str| {
        format!(
            "id = \"{id}\"\nname = \"{id}\"\n\
             required_services = [\"redis\", \"graph\", \"kafka\", \"temporal\"]\n\
             max_execution_time = \"30s\"\n\
             [recovery]\nplugin = \"exponential_backoff\"\nconfig = {{ base_ms = 300, max_attempts = 8 }}\n\
             [[gpu_requests]]\nrequest_id = \"r1\"\nteam = \"platform\"\ngpu_count = 1\n\
             memory_gb = 16\npriority = 6\nduration_minutes = 30\n\
             [[expected_outcomes]]\nrequest_id = \"r1\"\n{expected}\n{faults}"
        )
    };
    let (code, report, out) = run_scenario(
        &env,
        "gpus",
        &one(
            "chaos-gpus",
            "[[faults]]\naction = \"exhaust_gpus\"\nduration = \"2s\"\n",
            "decision = \"denied\"\nreason = \"capacity_short\"",
        ),
        &[],
    );
    assert_eq!(code, Some(0), "{out}");
    let fault = &report["scenarios"][0]["faults"][0];
    assert_eq!(fault["service"], "gpus", "{fault:#}");
    assert!(
        fault["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("leased 8 of 8")),
        "{fault:#}"
    );

    let (code, report, out) = run_scenario(
        &env,
        "oom",
        &one(
            "chaos-oom",
            "[[faults]]\nservice = \"redis\"\naction = \"exhaust_memory\"\nduration = \"1500ms\"\n",
            "decision = \"approved\"",
        ),
        &[],
    );
    assert_eq!(code, Some(0), "{out}");
    let fault = &report["scenarios"][0]["faults"][0];
    assert!(
        fault["detail"]
            .as_str()
            .is_some_and(|d| d.contains("→ 1 byte")),
        "{fault:#}"
    );
    let recoveries = report["recoveries"].as_array().expect("recoveries");
    assert!(
        recoveries
            .iter()
            .any(|r| r["error"].as_str().is_some_and(|e| e.contains("OOM"))),
        "a write failed with OOM meanwhile: {recoveries:#?}"
    );
    let mut conn = redis_of(&env);
    let max: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .query(&mut conn)
        .expect("CONFIG GET");
    assert_eq!(
        max.get(1).map(String::as_str),
        Some("0"),
        "restored: {max:?}"
    );
}

/// Network faults through the fault proxy: a 300 ms latency on the graph makes
/// `persist_decision` last at least that long; a Redis partition fails Redis calls
/// while it holds (the recovery strategy retries) and they succeed once it heals. Only
/// the faulted services go through the proxy; a run without network faults has none.
#[test]
fn network_faults_go_through_the_fault_proxy() {
    let _cpu = common::timed();
    let env = PrivateEnv::all_services();
    up(&env);
    let (code, report, out) = run_scenario(
        &env,
        "latency",
        &scenario(
            "chaos-latency",
            "[[faults]]\nservice = \"graph\"\naction = \"latency\"\nlatency = \"300ms\"\n\
             at_step = \"persist_decision\"\nrequest = \"c1\"\nduration = \"5s\"\n",
        ),
        &[],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("network faults go through the fault proxy: graph via 127.0.0.1:"),
        "{out}"
    );
    let hit = step(&report, "c1", "persist_decision");
    let took = hit["end_time"].as_i64().expect("end") - hit["start_time"].as_i64().expect("start");
    assert!(
        took >= 300,
        "persist_decision took {took} ms under 300 ms latency: {hit:#}"
    );

    let partition = scenario(
        "chaos-partition",
        "[recovery]\nplugin = \"exponential_backoff\"\nconfig = { base_ms = 300, max_attempts = 10 }\n\n\
         [[faults]]\nservice = \"redis\"\naction = \"partition\"\nat_step = \"cache_context\"\nnth = 1\nduration = \"3s\"\n",
    )
    .replace("[[validation_rules]]", "[[validation_rules]]\nplugin = \"context_caching\"\n\n[[validation_rules]]");
    let (code, report, out) = run_scenario(&env, "partition", &partition, &[]);
    assert_eq!(code, Some(0), "{out}");
    let fault = &report["scenarios"][0]["faults"][0];
    assert!(fault["healed_at"].is_i64(), "{fault:#}");
    // The step's own retries are in its trace: the attempt the partition held failed.
    // `nth = 1` is whichever request reached the step first; the fault names it.
    let first = fault["request_id"]
        .as_str()
        .expect("the request the fault hit");
    let hit = step(&report, first, "cache_context");
    assert!(
        hit["error_details"]
            .as_str()
            .is_some_and(|e| e.contains("earlier attempt") && e.contains("redis")),
        "a Redis call failed while partitioned: {hit:#}\n{out}"
    );
    assert_eq!(hit["status"], "completed", "and succeeded after: {hit:#}");
    let requests = report["scenarios"][0]["requests"]
        .as_array()
        .expect("requests");
    assert!(
        requests.iter().all(|r| r["status"] == "passed"),
        "{requests:#?}"
    );

    let (code, _, out) = run_scenario(&env, "direct", &scenario("chaos-none", ""), &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("fault proxy"), "{out}");
}

/// The compose stack has Toxiproxy in front of every service: a proxy named as the
/// chaos engine looks for it, its port published, its upstream a service of the stack;
/// Kafka advertises a listener at the proxy; the compose config points the host at the
/// proxy's API.
#[test]
fn the_compose_stack_has_toxiproxy_in_front_of_every_service() {
    let root = crate::common::workspace_root();
    let compose = std::fs::read_to_string(root.join("docker-compose.dev.yml")).expect("compose");
    let proxies: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(root.join("docs/compose/toxiproxy.json")).expect("toxiproxy.json"),
    )
    .expect("JSON");
    let names = aura_services::ServiceKind::ALL
        .map(aura_host::chaos::proxy_name)
        .into_iter()
        .chain([aura_host::chaos::worker_proxy_name()]);
    for name in names {
        let p = proxies
            .iter()
            .find(|p| p["name"] == name.as_str())
            .unwrap_or_else(|| panic!("no proxy {name} in toxiproxy.json"));
        let port = p["listen"]
            .as_str()
            .and_then(|l| l.rsplit_once(':'))
            .map(|(_, port)| port.to_string())
            .expect("listen host:port");
        assert!(
            compose.contains(&format!("\"{port}:{port}\"")),
            "{name}: port {port} not published"
        );
        let upstream = p["upstream"].as_str().expect("upstream");
        let host = upstream.split(':').next().unwrap_or_default();
        assert!(
            compose.contains(&format!("\n  {host}:\n")),
            "{name}: upstream {upstream} is no service of the stack"
        );
        if name == aura_host::chaos::proxy_name(aura_services::ServiceKind::Kafka) {
            assert!(
                compose.contains(&format!("PROXIED://localhost:{port}")),
                "Kafka must advertise a listener at the proxy's port {port}"
            );
        }
    }
    let config = std::fs::read_to_string(root.join("docs/aura.compose.toml")).expect("config");
    assert!(
        config.contains("fault_proxy = \"http://127.0.0.1:8474\""),
        "{config}"
    );
    assert!(compose.contains("\"8474:8474\""));
}

/// A workflow that fails after leasing its devices gives them back (the compensation
/// step, in its trace), and `expect failed_cleanly` holds: the failures name the graph
/// and nothing half-written is left. A lease nobody should hold fails
/// `no_leaked_leases`, naming it.
#[test]
fn a_failed_workflow_releases_its_leases_and_fails_cleanly() {
    let env = PrivateEnv::all_services();
    up(&env);
    let file =
        crate::common::workspace_root().join("scenarios/chaos/graph_partition_fails_cleanly.toml");
    let text = std::fs::read_to_string(&file).expect("the shipped scenario");
    let (code, report, out) = run_scenario(&env, "clean", &text, &[]);
    assert_eq!(code, Some(0), "{out}");
    let s = &report["scenarios"][0];
    for r in s["requests"].as_array().expect("requests") {
        assert_eq!(r["status"], "degraded", "{r:#}");
        assert!(
            r["error"].as_str().is_some_and(|e| e.contains("graph")),
            "{r:#}"
        );
        let steps = r["trace"]["steps"].as_array().expect("trace");
        let released = steps
            .iter()
            .find(|st| st["step_name"] == aura_contract::step::RELEASE_DEVICES)
            .unwrap_or_else(|| panic!("no compensation in {r:#}"));
        assert_eq!(released["status"], "completed", "{released:#}");
    }
    let invariants = s["invariants"].as_array().expect("invariants");
    for name in ["no_leaked_leases", "expect failed_cleanly"] {
        let c = invariants
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name}: {invariants:#?}"));
        assert_eq!(c["passed"], true, "{c:#}");
    }
    assert!(out.contains("DEGRADED clean-1:"), "{out}");

    // A lease held by no request of the run leaked.
    let run_id = format!("leak{}", std::process::id());
    let mut conn = redis_of(&env);
    let key = aura_contract::names::lease_key(&format!("{run_id}-1"), "gpu-7");
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("ghost")
        .arg("EX")
        .arg(60)
        .query(&mut conn)
        .expect("SET");
    let leaky = scenario(
        "chaos-leak",
        "[[invariants]]\nkind = \"no_leaked_leases\"\n",
    );
    let (code, report, out) = run_scenario(&env, "leak", &leaky, &["--run-id", &run_id]);
    assert_eq!(code, Some(1), "{out}");
    let invariants = report["scenarios"][0]["invariants"]
        .as_array()
        .expect("invariants");
    assert!(
        invariants.iter().any(|c| c["name"] == "no_leaked_leases"
            && c["passed"] == false
            && c["actual"]
                .as_str()
                .is_some_and(|a| a.contains("gpu-7 held by ghost"))),
        "{invariants:#?}"
    );
}

/// An expectation that does not hold fails its scenario with a message naming the
/// fault, the service and the request: `recovered` under a graph partition longer than
/// the requests can wait.
#[test]
fn an_expectation_that_does_not_hold_names_the_fault_the_service_and_the_request() {
    let env = PrivateEnv::all_services();
    up(&env);
    let text = scenario(
        "chaos-unrecovered",
        "[expect]\noutcome = \"recovered\"\nwithin = \"5s\"\n\n\
         [[faults]]\nservice = \"graph\"\naction = \"partition\"\nat_step = \"persist_decision\"\n\
         request = \"c2\"\nduration = \"4s\"\n",
    )
    .replace(
        "max_execution_time = \"60s\"",
        "max_execution_time = \"4s\"",
    );
    let (code, report, out) = run_scenario(&env, "unrecovered", &text, &[]);
    assert_eq!(code, Some(1), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("FAIL invariant expect recovered"))
        .unwrap_or_else(|| panic!("no failed expectation: {out}"));
    for part in ["partition graph", "c2 (", "on graph"] {
        assert!(line.contains(part), "{part} not in: {line}");
    }
    assert_eq!(report["scenarios"][0]["status"], "failed");

    // A fault's own expectation covers the requests in flight while it held.
    let per_fault = |within: &str| {
        scenario(
            "chaos-per-fault",
            &format!(
                "[[faults]]\nservice = \"redis\"\naction = \"pause\"\nat_step = \"load_context\"\n\
                 nth = 1\nduration = \"1s\"\nexpect = {{ outcome = \"recovered\", within = \"{within}\" }}\n"
            ),
        )
    };
    let (code, report, out) = run_scenario(&env, "per-fault-ok", &per_fault("30s"), &[]);
    assert_eq!(code, Some(0), "{out}");
    let invariants = report["scenarios"][0]["invariants"]
        .as_array()
        .expect("invariants");
    assert!(
        invariants.iter().any(|c| c["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("expect recovered after fault 0 (pause redis"))
            && c["passed"] == true),
        "{invariants:#?}"
    );
    let (code, _, out) = run_scenario(&env, "per-fault-late", &per_fault("1ms"), &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("FAIL invariant expect recovered after fault 0 (pause redis")
            && out.contains("decided after"),
        "{out}"
    );
}
