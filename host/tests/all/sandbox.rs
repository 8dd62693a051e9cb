//! The sandbox as a boundary: one test per class of attack, each with the hostile test
//! plugin (`host/tests/plugins/hostile`, a mode per attack) or a hand-written component
//! (`host/tests/plugins/hostile/*.wat`), and a well-behaved neighbour that must still pass beside
//! it. The runtime tests need no services (see `plugins::offline`); the graph and run
//! tests use the real local environment.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{aura, config, plugin_wasm, run, text, unique};
use crate::plugins::{context, hostile, offline, runtime, tight};
use aura_runtime::{CallFailure, Limits, PluginRuntime, PluginSpec, RuntimeOptions};
use aura_services::{Cypher, ServiceHub};

fn with_timeout(mode: &str, timeout: Duration) -> PluginSpec {
    hostile(mode, Limits { timeout, ..tight() })
}

// One thread: fairness must come from the host, not from spare cores.
#[tokio::test(flavor = "current_thread")]
async fn a_cpu_bound_plugin_never_spends_a_neighbours_budget() {
    let rt = runtime();
    let specs = ["neighbour", "infinite-loop", "log-flood", "denied-flood"]
        .map(|m| with_timeout(m, Duration::from_secs(2)));
    let plugins: Vec<_> = specs
        .into_iter()
        .map(|s| rt.load(s).expect("loads"))
        .collect();
    let run = unique("fair");
    let calls = plugins
        .iter()
        .map(|p| rt.validate(p, context(&run, &p.spec.config)));
    let results = futures::future::join_all(calls).await;

    assert!(results[0].passed(), "the neighbour: {:?}", results[0]);
    for hog in &results[1..] {
        assert_eq!(
            hog.outcome.clone().expect_err(&hog.plugin),
            CallFailure::Timeout(Duration::from_secs(2)),
            "{}",
            hog.plugin
        );
    }
    // Floods are counted, not written: the cost says how many lines were dropped.
    let (log, denied) = (&results[2].cost, &results[3].cost);
    assert!(log.log_lines_dropped > 0, "{log:?}");
    assert!(denied.denied_calls > 1000, "{denied:?}");
    assert!(denied.log_lines_dropped > 0, "{denied:?}");
}

// The fast path reuses pool slots, kept-resident pages and the caller's task; none of
// that may carry a plugin's state from one call to the next.
#[tokio::test]
async fn every_call_starts_from_fresh_state() {
    let rt = offline_pool(2);
    let counter = rt.load(hostile("count-calls", tight())).expect("loads");
    let run = unique("fresh");
    for round in 0..3 {
        let calls = (0..4).map(|_| rt.validate(&counter, context(&run, &counter.spec.config)));
        for r in futures::future::join_all(calls).await {
            assert!(r.passed(), "round {round}: {r:?}");
        }
    }
}

/// An offline runtime whose pool holds `instances` calls.
fn offline_pool(instances: u32) -> PluginRuntime {
    let options = RuntimeOptions {
        instances,
        ..RuntimeOptions::default()
    };
    PluginRuntime::new(Arc::new(ServiceHub::new(offline())), options).expect("runtime")
}

#[tokio::test]
async fn calls_beyond_the_pool_wait_for_a_slot() {
    let rt = offline_pool(2);
    let neighbour = rt.load(hostile("neighbour", tight())).expect("loads");
    let run = unique("pool");
    let calls = (0..8).map(|_| rt.validate(&neighbour, context(&run, &neighbour.spec.config)));
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(|r| r.passed()), "{results:?}");
    let waited = results.iter().filter(|r| !r.cost.queued.is_zero()).count();
    assert!(waited >= 6, "8 calls on 2 slots: {waited} waited");

    // A slot held to the deadline: the next call fails for want of one, by its own clock.
    let rt = offline_pool(1);
    let hog = rt
        .load(with_timeout("infinite-loop", Duration::from_secs(3)))
        .expect("loads");
    let late = rt
        .load(with_timeout("well-behaved", Duration::from_millis(300)))
        .expect("loads");
    let (h, l) = tokio::join!(
        rt.validate(&hog, context(&run, &hog.spec.config)),
        rt.validate(&late, context(&run, &late.spec.config)),
    );
    assert!(!h.passed());
    assert_eq!(
        l.outcome.expect_err("no slot"),
        CallFailure::NoSlot(Duration::from_millis(300), 1)
    );
}

#[tokio::test]
async fn the_memory_cap_counts_every_memory_of_the_instance() {
    let rt = runtime();
    let (_dir, plugin) = wat_plugin(&rt, "many_memories");
    let inv = rt.validate(&plugin, context("memories", "")).await;
    let failure = inv.outcome.expect_err("over the cap in all");
    assert!(
        matches!(&failure, CallFailure::MemoryExhausted(m) if m.contains("in all") && m.contains("cap is 67108864")),
        "{failure:?}"
    );
}

/// A hand-written component from `host/tests/plugins/hostile/`, loaded as a plugin.
fn wat_plugin(rt: &PluginRuntime, name: &str) -> (tempfile::TempDir, aura_runtime::Plugin) {
    let dir = tempfile::tempdir().expect("tempdir");
    let wasm = dir.path().join(format!("{name}.wasm"));
    let source =
        crate::common::workspace_root().join(format!("host/tests/plugins/hostile/{name}.wat"));
    std::fs::write(&wasm, wat::parse_file(&source).expect("wat")).expect("write");
    let plugin = rt.load(PluginSpec::from_path(&wasm)).expect("loads");
    (dir, plugin)
}

#[tokio::test]
async fn a_trap_before_the_plugin_runs_says_where() {
    let rt = runtime();
    let (_dir, plugin) = wat_plugin(&rt, "trapping_realloc");
    let inv = rt.validate(&plugin, context("realloc", "")).await;
    let failure = inv.outcome.expect_err("trapped");
    assert!(
        matches!(&failure, CallFailure::Panicked(m) if m.contains("cabi_realloc")),
        "{failure:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generators_strings_are_bounded_and_escaped() {
    let rt = runtime();
    let generator = |mode: &str| {
        let mut spec = PluginSpec::from_path(&plugin_wasm("hostile-generator"));
        spec.config = format!("mode = \"{mode}\"");
        rt.load(spec).expect("loads")
    };
    let (huge, forged) = (generator("huge-model"), generator("forged"));
    let huge = rt
        .generate(&huge, context("gen", &huge.spec.config), 1)
        .await;
    assert!(
        matches!(huge.outcome, Err(CallFailure::ResultTooLarge { size, max }) if size > 30 << 20 && max == 1 << 20),
        "{:?}",
        huge.outcome.as_ref().err()
    );
    let forged = rt
        .generate(&forged, context("gen", &forged.spec.config), 1)
        .await;
    let request = &forged.outcome.expect("generated").requests[0];
    let model = request.gpu_model.as_deref().unwrap_or_default();
    for text in [request.team.as_str(), model] {
        assert!(!text.contains(['\n', '\r', '\x1b']), "{text:?}");
    }
    assert_eq!(request.team, "ml\\nverdict: PASSED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_string_a_plugin_returns_is_bounded_and_escaped() {
    let rt = runtime();
    // Lifting a million checks into the host takes a while in a debug build.
    let mut roomy = tight();
    roomy.memory_bytes = 256 << 20;
    roomy.timeout = Duration::from_secs(20);
    let mut many = hostile("many-checks", roomy);
    many.config = "mode = \"many-checks\"\ncount = 1000000".into();
    let many = rt.load(many).expect("loads");
    let huge = rt.load(hostile("huge-error", roomy)).expect("loads");
    let forged = rt.load(hostile("forged-check", tight())).expect("loads");
    let run = unique("strings");
    let (many, huge, forged) = tokio::join!(
        rt.validate(&many, context(&run, &many.spec.config)),
        rt.validate(&huge, context(&run, &huge.spec.config)),
        rt.validate(&forged, context(&run, &forged.spec.config)),
    );
    // A million empty checks are as large as they look.
    assert!(
        matches!(many.outcome, Err(CallFailure::ResultTooLarge { max, .. }) if max == 1 << 20),
        "{:?}",
        many.outcome.as_ref().map(|r| r.checks.len())
    );
    // An error's text counts like a result.
    assert!(
        matches!(huge.outcome, Err(CallFailure::ResultTooLarge { size, .. }) if size > 20 << 20),
        "{:?}",
        huge.outcome.as_ref().err().map(|e| e.to_string().len())
    );
    let check = &forged.outcome.as_ref().expect("ran").checks[0];
    for field in [&check.name, &check.expected, &check.actual, &check.message] {
        assert!(
            !field.contains('\n') && !field.contains('\x1b'),
            "{field:?}"
        );
        assert!(field.contains("\\n"), "escaped, not dropped: {field:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_runs_workflow_is_denied() {
    let rt = runtime();
    let mut spec = hostile("describe-workflow", tight());
    let run = unique("wf");
    // Another run whose id starts with this one's, then a request not in the context.
    for other in [format!("aura-{run}-1-req-1"), format!("aura-{run}-req-2")] {
        spec.config = format!("mode = \"describe-workflow\"\nworkflow = \"{other}\"");
        let plugin = rt.load(spec.clone()).expect("loads");
        let inv = rt
            .validate(&plugin, context(&run, &plugin.spec.config))
            .await;
        let check = &inv.outcome.as_ref().expect("ran").checks[0];
        assert!(check.passed, "{other}: {check:?}");
    }
}

/// A plugin's graph work ends with its call, on the server too, and the host's own
/// connection answers while it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugins_graph_query_ends_with_its_deadline() {
    let hub = Arc::new(ServiceHub::new(config().services));
    let graph = hub.graph().await.expect("graph");
    // A graph key must exist for read-only queries.
    graph
        .query(Cypher::new("RETURN 1"))
        .await
        .expect("graph up");
    let rt = PluginRuntime::new(hub.clone(), RuntimeOptions::default()).expect("runtime");
    let query = |q: &str, timeout: Duration| {
        let mut spec = with_timeout("graph-query", timeout);
        spec.config = format!("mode = \"graph-query\"\nquery = {q:?}");
        rt.load(spec).expect("loads")
    };
    let cross = query(
        "UNWIND range(1,3000) AS a UNWIND range(1,3000) AS b UNWIND range(1,3000) AS c \
         WITH c WHERE c < 0 RETURN count(c)",
        Duration::from_secs(2),
    );
    let huge_list = query(
        "UNWIND range(1,300000000) AS x WITH x WHERE x < 0 RETURN count(x)",
        Duration::from_secs(20),
    );
    let many_rows = query(
        "UNWIND range(1,50000) AS x RETURN x",
        Duration::from_secs(10),
    );
    let run = unique("graph");
    let own = async {
        // The host's own queries are answered while the plugins' run.
        let started = std::time::Instant::now();
        graph
            .query(Cypher::new("RETURN 1"))
            .await
            .map(|_| started.elapsed())
    };
    let (cross, huge_list, many_rows, own) = tokio::join!(
        rt.validate(&cross, context(&run, &cross.spec.config)),
        rt.validate(&huge_list, context(&run, &huge_list.spec.config)),
        rt.validate(&many_rows, context(&run, &many_rows.spec.config)),
        own,
    );
    own.expect("the host's own query");
    // The server said `timeout` before the plugin's deadline: its work ended there.
    let check = |inv: &aura_runtime::Invocation<aura_runtime::bindings::ValidationResult>| {
        inv.outcome.as_ref().expect("ran, not cut off").checks[0].clone()
    };
    let c = check(&cross);
    assert!(c.passed && c.actual.contains("Timeout"), "{c:?}");
    // A list no timeout interrupts ends at the server's memory cap for a query, or at
    // the server timeout the host gives it (at most the graph's service timeout).
    let c = check(&huge_list);
    assert!(
        c.passed && (c.actual.contains("capacity") || c.actual.contains("Timeout")),
        "{c:?}"
    );
    let c = check(&many_rows);
    assert!(
        c.passed && c.actual.contains("more than the 10000 rows"),
        "{c:?}"
    );
    let own = hub.run_graph(&run).await.expect("graph");
    own.delete_graph().await.expect("removed");
}

/// Granted writes are bounded like reads: a plugin cannot pour unbounded data into a
/// service through its write grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granted_writes_stop_at_max_host_bytes() {
    let hub = Arc::new(ServiceHub::new(config().services));
    let rt = PluginRuntime::new(hub.clone(), RuntimeOptions::default()).expect("runtime");
    let mut spec = hostile(
        "write-flood",
        Limits {
            max_host_bytes: 4 << 20,
            ..tight()
        },
    );
    spec.grants.cache.access = aura_runtime::Access::Write;
    spec.grants.cache.key_prefixes = vec!["aura:{run}:".into()];
    let plugin = rt.load(spec).expect("loads");
    let run = unique("flood");
    let inv = rt
        .validate(&plugin, context(&run, &plugin.spec.config))
        .await;
    let check = &inv.outcome.as_ref().expect("ran").checks[0];
    assert!(check.passed, "{check:?}");
    // 4 MiB of budget: three values of 1 MiB and their keys fit, a fourth does not.
    assert!(check.actual.starts_with("3 written"), "{check:?}");
    let ns = aura_services::namespace::RunNamespace::new(
        aura_services::namespace::RunId::parse(&run).expect("id"),
    );
    assert_eq!(
        aura_services::namespace::remove(&hub, &ns).await.cache_keys,
        3
    );
}

/// `graph = "read"` reads the run's own data: another run's nodes are not there to see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_reads_see_only_the_runs_own_data() {
    let hub = Arc::new(ServiceHub::new(config().services));
    let (run, other) = (unique("mine"), unique("theirs"));
    let write = |run: String| {
        let hub = hub.clone();
        async move {
            let graph = hub.run_graph(&run).await.expect("graph");
            let create =
                Cypher::new("CREATE (:Decision {run_id: $run})").param("run", run.as_str());
            graph.query(create).await.expect("written");
            graph
        }
    };
    let (mine, theirs) = tokio::join!(write(run.clone()), write(other.clone()));
    let rt = PluginRuntime::new(hub.clone(), RuntimeOptions::default()).expect("runtime");
    let mut spec = hostile("graph-query", tight());
    spec.config = "mode = \"graph-query\"\nquery = \"MATCH (n) RETURN n.run_id\"".into();
    let plugin = rt.load(spec).expect("loads");
    let inv = rt
        .validate(&plugin, context(&run, &plugin.spec.config))
        .await;
    let check = &inv.outcome.as_ref().expect("ran").checks[0];
    assert_eq!(check.actual, "1 rows", "its own node only: {check:?}");
    for graph in [mine, theirs] {
        graph.delete_graph().await.expect("removed");
    }
}

/// Forged lines, floods and hogs in a real run: the neighbour passes in the same
/// scenario, the summary has one verdict, the log has no line a plugin wrote raw.
#[test]
fn hostile_plugins_in_a_run_fail_only_their_own_results() {
    crate::common::ensure_env();
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = "limits = { timeout = \"2s\" }\ngrants = { gpu = true }\n";
    let entries = [
        "neighbour",
        "forged-check",
        "log-flood",
        "denied-flood",
        "infinite-loop",
        "huge-error",
    ]
    .map(|mode| (mode, mode, extra));
    let manifest = crate::common::hostile_set(dir.path(), &entries);
    let report = dir.path().join("report.json");
    let out = run(aura()
        .args(["run", "--plugins"])
        .arg(&manifest)
        .arg("--json")
        .arg(&report)
        .args(["--scenario", "scenarios/smoke/single_approval.toml"]));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let verdicts: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("verdict"))
        .collect();
    assert_eq!(verdicts, ["verdict: FAILED"], "{stdout}");
    assert!(
        !stdout
            .lines()
            .any(|l| l.trim_start().starts_with("PASS validator forged")),
        "{stdout}"
    );
    assert!(
        !all.contains('\x1b'),
        "no escape sequence a plugin sent: {all}"
    );
    for line in stderr.lines() {
        assert!(!line.trim_start().starts_with("verdict"), "forged: {line}");
        assert!(
            !line.contains("aura_host: FORGED") || line.contains("flood"),
            "{line}"
        );
    }
    assert!(
        stderr.lines().count() < 1000,
        "{} log lines",
        stderr.lines().count()
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("json");
    let validators = json["scenarios"][0]["validators"]
        .as_array()
        .expect("validators");
    let by_name = |n: &str| {
        validators
            .iter()
            .find(|v| v["validator"] == n)
            .unwrap_or_else(|| panic!("{n} in {json}"))
    };
    assert_eq!(by_name("neighbour")["passed"], true, "{json}");
    for hostile in [
        "forged-check",
        "log-flood",
        "denied-flood",
        "infinite-loop",
        "huge-error",
    ] {
        assert_eq!(by_name(hostile)["passed"], false, "{hostile}");
    }
    let error = by_name("huge-error")["error"].as_str().expect("error");
    assert!(error.len() < 1000, "{} bytes of error", error.len());
}

/// A recovery strategy's answers are a plugin's: a retry after `u64::MAX` ms passes the
/// deadline (it does not overflow the host's clock), and an abort's reason cannot print
/// the host's verdict.
#[test]
fn a_hostile_recovery_strategy_fails_only_its_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config =
        crate::common::queue_config(dir.path(), "step_pause = \"200ms\"\nstep_attempts = 1\n");
    crate::common::plugins_built();
    for (mode, wanted) in [
        ("retry-never", "would pass the scenario's deadline"),
        ("forged-abort", "gave up\\nverdict: PASSED\\u{1b}[2J"),
    ] {
        let scenario = dir.path().join(format!("{mode}.toml"));
        std::fs::write(
            &scenario,
            format!(
                "id = \"hostile-recovery-{mode}\"\nname = \"x\"\n\
                 required_services = [\"redis\", \"graph\", \"kafka\", \"temporal\"]\n\
                 max_execution_time = \"30s\"\n[step_timeouts]\ncouncil_vote = \"50ms\"\n\
                 [recovery]\nplugin = \"hostile_recovery\"\nconfig = {{ mode = \"{mode}\" }}\n\
                 [[gpu_requests]]\nrequest_id = \"r-1\"\nteam = \"platform\"\ngpu_count = 1\n\
                 memory_gb = 16\npriority = 5\nduration_minutes = 30\n"
            ),
        )
        .expect("scenario");
        let mut cmd = aura();
        cmd.arg("--config")
            .arg(&config)
            .arg("run")
            .arg("--scenario")
            .arg(&scenario);
        let (out, _) = crate::common::run_within(&mut cmd, Duration::from_secs(120));
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{mode}: {all}");
        assert!(all.contains(wanted), "{mode}: {all}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let verdicts: Vec<&str> = stdout
            .lines()
            .filter(|l| l.starts_with("verdict"))
            .collect();
        assert_eq!(verdicts.len(), 1, "{mode}: {stdout}");
        assert_ne!(verdicts[0], "verdict: PASSED", "{mode}: {stdout}");
    }
}
