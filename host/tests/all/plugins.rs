//! The plugin runtime against real components: hostile plugins are contained while a
//! well-behaved one in the same run passes, a plugin is swapped mid-run without a failed
//! call, and every kind of plugin runs. The sandbox needs no services: these tests run
//! on a hub whose every address never answers, without `env up`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::common::{config, plugin_wasm, unique};
use aura_host::gpus::ReferenceGpus;
use aura_runtime::bindings::{RecoveryAction, RunContext};
use aura_runtime::reload::{self, PluginSlot, ReloadEvent};
use aura_runtime::{CallFailure, Grants, Limits, PluginRuntime, PluginSpec};
use aura_services::ServiceHub;
use aura_services::config::ServicesConfig;

/// The sandbox tests need no services: every address of their hub is a listener that
/// accepts and never answers (kept open for the whole test binary), so a call that does
/// reach a service waits, and only the plugin's deadline ends it.
pub(crate) fn offline() -> ServicesConfig {
    static HOLE: OnceLock<std::net::TcpListener> = OnceLock::new();
    let hole = HOLE.get_or_init(|| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"));
    let port = hole.local_addr().expect("addr").port();
    let mut s = config().services;
    s.redis.url = format!("redis://127.0.0.1:{port}");
    s.graph.url = format!("falkor://127.0.0.1:{port}");
    s.kafka.brokers = format!("127.0.0.1:{port}");
    s.temporal.url = format!("http://127.0.0.1:{port}");
    s
}

/// A runtime on a hub with no services behind it, lent the reference GPU core as
/// `aura-host` does.
pub(crate) fn runtime() -> PluginRuntime {
    PluginRuntime::new(Arc::new(ServiceHub::new(offline())), Default::default())
        .expect("runtime")
        .with_gpu(Arc::new(ReferenceGpus(config().gpu)))
}

pub(crate) fn context(run_id: &str, config: &str) -> RunContext {
    RunContext {
        run_id: run_id.into(),
        scenario: "plugins-test".into(),
        request_ids: vec!["req-1".into()],
        config: config.into(),
        faults: Vec::new(),
        load: None,
    }
}

pub(crate) fn hostile(mode: &str, limits: Limits) -> PluginSpec {
    let mut spec = PluginSpec::from_path(&plugin_wasm("hostile-plugin"));
    spec.name = format!("hostile-{mode}");
    spec.config = format!("mode = \"{mode}\"");
    spec.limits = limits;
    spec
}

pub(crate) fn tight() -> Limits {
    Limits {
        memory_bytes: 32 << 20,
        timeout: Duration::from_secs(1),
        ..Limits::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_plugins_fail_their_own_result_and_nothing_else() {
    let rt = runtime();
    let run = unique("hostile");
    // The slow host call reads a topic from a broker that never answers.
    let mut oversized = tight();
    oversized.memory_bytes = 128 << 20;
    let specs = vec![
        hostile("well-behaved", tight()),
        hostile("infinite-loop", tight()),
        hostile("memory-bomb", tight()),
        hostile("recursion", tight()),
        hostile("panic", tight()),
        hostile("oversized-result", oversized),
        hostile("open-file", tight()),
        hostile("open-socket", tight()),
        hostile("read-env", tight()),
        hostile("cache-write", tight()),
        hostile("key-outside-prefix", tight()),
        hostile("batch-outside-grant", tight()),
        hostile("topic-outside-allow-list", tight()),
        hostile("slow-host-call", tight()),
        hostile("sleep", tight()),
    ];
    let plugins: Vec<_> = specs
        .into_iter()
        .map(|s| rt.load(s).expect("loads"))
        .collect();
    // All at once, in one runtime, as one run would.
    let calls = plugins
        .iter()
        .map(|p| rt.validate(p, context(&run, &p.spec.config)));
    let results = futures::future::join_all(calls).await;
    let by_name = |name: &str| {
        results
            .iter()
            .find(|r| r.plugin == format!("hostile-{name}"))
            .expect("ran")
    };
    let failure = |name: &str| by_name(name).outcome.clone().expect_err(name);

    assert!(
        by_name("well-behaved").passed(),
        "{:?}",
        by_name("well-behaved")
    );
    assert_eq!(
        failure("infinite-loop"),
        CallFailure::Timeout(Duration::from_secs(1))
    );
    assert!(
        matches!(failure("memory-bomb"), CallFailure::MemoryExhausted(m) if m.contains("cap is 33554432"))
    );
    // Deep recursion ends either on the engine's stack limit or, for a Rust guest with
    // big frames, off the bottom of its stack in linear memory; both name the stack.
    let recursion = failure("recursion");
    assert!(
        recursion == CallFailure::StackOverflow || recursion.to_string().contains("stack overflow"),
        "{recursion:?}"
    );
    assert!(
        matches!(failure("panic"), CallFailure::Panicked(m) if m.contains("hostile plugin panicked on purpose")),
        "{:?}",
        failure("panic")
    );
    assert!(
        matches!(failure("oversized-result"), CallFailure::ResultTooLarge { max, .. } if max == 1 << 20)
    );
    assert!(
        matches!(failure("slow-host-call"), CallFailure::HostCallTimeout(m) if m.contains("events.read on kafka at 127.0.0.1:")),
        "{:?}",
        failure("slow-host-call")
    );
    // Blocked in WASI past its deadline: abandoned, and reported as such.
    assert!(
        matches!(failure("sleep"), CallFailure::Abandoned { limit, after } if limit == Duration::from_secs(1) && after < Duration::from_secs(3)),
        "{:?}",
        failure("sleep")
    );
    let slow = by_name("slow-host-call").cost.wall;
    assert!(
        slow < Duration::from_secs(3),
        "the deadline cut the host call: {slow:?}"
    );
    // Ambient authority and grants: the plugin ran and reports the host refused it.
    for (mode, check) in [
        ("open-file", "file access refused"),
        ("open-socket", "socket refused"),
        ("read-env", "environment empty"),
        ("cache-write", "cache write denied"),
        ("key-outside-prefix", "key outside prefix denied"),
        ("batch-outside-grant", "batched keys denied"),
        ("batch-outside-grant", "batched workflows denied"),
        ("topic-outside-allow-list", "topic denied"),
    ] {
        let inv = by_name(mode);
        let result = inv.outcome.as_ref().expect(mode);
        let c = result.checks.iter().find(|c| c.name == check).expect(check);
        assert!(c.passed, "{mode}: {c:?}");
    }
    let denied = by_name("cache-write").outcome.as_ref().expect("ran").checks[0]
        .actual
        .clone();
    assert!(
        denied.contains("cache.access = \\\"write\\\"")
            || denied.contains("cache.access = \"write\""),
        "{denied}"
    );
    assert_eq!(by_name("key-outside-prefix").cost.denied_calls, 1);
    // A batch is denied as a whole, naming the one item outside the grant.
    let batch = by_name("batch-outside-grant");
    let checks = &batch.outcome.as_ref().expect("ran").checks;
    assert!(checks[0].actual.contains("secret:other-team"), "{checks:?}");
    assert!(
        checks[1].actual.contains("aura-other-run-req-1"),
        "{checks:?}"
    );
    assert_eq!(batch.cost.denied_calls, 2);

    // The host is still up and serves the next call normally.
    let again = rt
        .validate(&plugins[0], context(&run, "mode = \"well-behaved\""))
        .await;
    assert!(again.passed(), "{again:?}");
}

#[tokio::test]
async fn a_fuel_budget_stops_a_loop_deterministically() {
    let rt = runtime();
    let mut limits = tight();
    limits.fuel = Some(5_000_000);
    let plugin = rt.load(hostile("infinite-loop", limits)).expect("loads");
    let inv = rt
        .validate(&plugin, context("fuel", &plugin.spec.config))
        .await;
    assert_eq!(
        inv.outcome.expect_err("stopped"),
        CallFailure::FuelExhausted(5_000_000)
    );
    assert_eq!(inv.cost.fuel, 5_000_000);
}

#[tokio::test]
async fn a_call_records_its_cost() {
    let rt = runtime();
    let plugin = rt
        .load(PluginSpec::from_path(&plugin_wasm("smoke-validator")))
        .expect("loads");
    let inv = rt.validate(&plugin, context("cost", "")).await;
    assert!(inv.passed(), "{inv:?}");
    assert!(
        inv.cost.fuel > 0 && inv.cost.peak_memory_bytes > 0,
        "{:?}",
        inv.cost
    );
    assert!(
        inv.cost.bytes_out > 0 && inv.cost.bytes_in > 0,
        "{:?}",
        inv.cost
    );
    assert_eq!(inv.cost.host_calls, 1, "one log line: {:?}", inv.cost);
}

#[tokio::test]
async fn each_shipped_kind_runs() {
    let rt = runtime();
    let backoff = rt
        .load(PluginSpec::from_path(&plugin_wasm("exponential-backoff")))
        .expect("loads");
    let failure = |attempt| aura_runtime::bindings::Failure {
        service: "redis".into(),
        operation: "get".into(),
        attempt,
        error: "refused".into(),
        elapsed_ms: 0,
    };
    let first = rt.decide(&backoff, context("kinds", ""), failure(1)).await;
    assert_eq!(first.outcome, Ok(RecoveryAction::Retry(100)));
    let third = rt.decide(&backoff, context("kinds", ""), failure(3)).await;
    assert_eq!(third.outcome, Ok(RecoveryAction::Retry(400)));
    let late = rt.decide(&backoff, context("kinds", ""), failure(9)).await;
    assert!(
        matches!(late.outcome, Ok(RecoveryAction::Abort(_))),
        "{late:?}"
    );

    let burst = rt
        .load(PluginSpec::from_path(&plugin_wasm("burst-generator")))
        .expect("loads");
    let a = rt
        .generate(&burst, context("kinds", "requests = 5"), 42)
        .await;
    let b = rt
        .generate(&burst, context("kinds", "requests = 5"), 42)
        .await;
    let scenario = a.outcome.clone().expect("generates");
    assert_eq!(scenario.requests.len(), 5);
    assert_eq!(a.outcome, b.outcome, "same seed, same scenario");
    let bad = rt
        .generate(&burst, context("kinds", "requests = 0"), 1)
        .await;
    assert!(matches!(bad.outcome, Err(CallFailure::Returned(m)) if m.contains("config")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_is_swapped_mid_run_without_a_failed_call() {
    let rt = Arc::new(runtime());
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("validator.wasm");
    let replace = |from: &std::path::Path| {
        let tmp = dir.path().join("incoming.tmp");
        std::fs::copy(from, &tmp).expect("copy");
        std::fs::rename(&tmp, &path).expect("rename");
    };
    replace(&plugin_wasm("smoke-validator"));
    let mut spec = PluginSpec::from_path(&path);
    spec.config = "mode = \"well-behaved\"".into();
    spec.grants = Grants::default();
    let slot = PluginSlot::new(rt.load(spec).expect("loads"));
    let first = slot.get().digest.clone();
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let _watcher = reload::watch(rt.clone(), vec![slot.clone()], tx).expect("watch");

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let caller = {
        let (rt, slot, stop) = (rt.clone(), slot.clone(), stop.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let plugin = slot.get();
                let inv = rt
                    .validate(&plugin, context("swap", &plugin.spec.config))
                    .await;
                assert!(inv.passed(), "a call failed during the swap: {inv:?}");
                seen.push(inv.digest);
            }
            seen
        })
    };
    replace(&plugin_wasm("hostile-plugin"));
    let swapped = next_event(&mut events).await;
    let ReloadEvent::Swapped { new_digest, .. } = &swapped else {
        panic!("{swapped:?}")
    };
    let second = new_digest.clone();

    // A broken version is refused and the current one keeps serving.
    std::fs::write(dir.path().join("incoming.tmp"), b"not wasm").expect("write");
    std::fs::rename(dir.path().join("incoming.tmp"), &path).expect("rename");
    let refused = next_event(&mut events).await;
    assert!(
        matches!(&refused, ReloadEvent::Refused { error, .. } if error.contains("not a WebAssembly file")),
        "{refused:?}"
    );
    assert_eq!(slot.get().digest, second);

    // Let calls run on the new version before stopping.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline && caller.is_finished() {
        tokio::task::yield_now().await;
    }
    let check = rt
        .validate(&slot.get(), context("swap", "mode = \"well-behaved\""))
        .await;
    assert!(check.passed() && check.digest == second, "{check:?}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = caller.await.expect("caller");
    assert!(seen.contains(&first), "calls ran on the first version");
    assert!(!seen.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_compiles_only_the_functions_that_changed() {
    let cache = tempfile::tempdir().expect("tempdir");
    let options = aura_runtime::RuntimeOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    };
    let rt = PluginRuntime::new(Arc::new(ServiceHub::new(offline())), options).expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("validator.wasm");
    let original = std::fs::read(plugin_wasm("smoke-validator")).expect("read");
    let functions = |what: &str| {
        let files = walk(&cache.path().join("functions"));
        assert!(files > 0, "{what}: no compiled function was cached");
        files
    };
    let load = |bytes: &[u8]| {
        std::fs::write(&path, bytes).expect("write");
        let mut spec = PluginSpec::from_path(&path);
        spec.config = "mode = \"well-behaved\"".into();
        rt.load(spec).expect("loads")
    };
    let first = load(&original);
    let cached = functions("first version");

    // The same code with one more custom section: a new component whose functions are
    // nearly all found compiled (a few trampolines and adapters are compiled again).
    let mut second = original.clone();
    second.extend_from_slice(&[0, 5, 4, b'n', b'e', b'x', b't']);
    let second = load(&second);
    assert_ne!(first.digest, second.digest);
    let again = functions("second version") - cached;
    assert!(
        again * 5 < cached,
        "{again} of {cached} functions compiled again"
    );
    let inv = rt
        .validate(&second, context("incremental", &second.spec.config))
        .await;
    assert!(inv.passed(), "{inv:?}");
}

/// Files under `dir`, at any depth.
fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    walk(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

async fn next_event(events: &mut tokio::sync::mpsc::UnboundedReceiver<ReloadEvent>) -> ReloadEvent {
    tokio::time::timeout(Duration::from_secs(30), events.recv())
        .await
        .expect("a reload event within 30 s")
        .expect("watcher alive")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpu_inventory_is_granted_or_denied_by_the_manifest() {
    let rt = runtime();
    let granted = rt.load(hostile("gpu-inventory", tight())).expect("loads");
    let inv = rt
        .validate(&granted, context("gpu", &granted.spec.config))
        .await;
    let check = &inv.outcome.as_ref().expect("ran").checks[0];
    assert!(check.passed, "{check:?}");
    assert_eq!(check.actual, "8 device(s) from declared", "{check:?}");

    let mut spec = hostile("gpu-inventory", tight());
    spec.name = "gpu-no-permission".into();
    spec.grants = Grants::default();
    let denied = rt.load(spec).expect("loads");
    let inv = rt
        .validate(&denied, context("gpu", &denied.spec.config))
        .await;
    let check = &inv.outcome.as_ref().expect("ran").checks[0];
    assert!(!check.passed, "{check:?}");
    assert!(check.actual.contains("gpu = true"), "{check:?}");
}

/// The 0.1 contract grew by addition only (0.1.1 added the batched calls, 0.1.2
/// `events.read-latest`), and 0.2 is served beside it: a component built against 0.1.2
/// (`wit/v0.1`) named at 0.1.0 and 0.1.1, as an older SDK would have built it, links
/// and runs, its host calls answered by the 0.2 implementation.
#[tokio::test]
async fn components_built_against_0_1_versions_still_load_and_run() {
    let bytes = std::fs::read(plugin_wasm("contract-v0-1")).expect("wasm");
    let built = b"aura:host/types@0.1.2";
    assert!(bytes.windows(built.len()).any(|w| w == built));
    assert_eq!(aura_runtime::bindings::PACKAGE_VERSION, "0.2.0");
    for old in ["0.1.0", "0.1.1"] {
        let mut patched = bytes.clone();
        for i in 0..patched.len().saturating_sub(built.len()) {
            if &patched[i..i + 6] == b"@0.1.2" {
                patched[i + 1..i + 6].copy_from_slice(old.as_bytes());
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(format!("v0_1_{old}.wasm"));
        std::fs::write(&path, &patched).expect("write");

        let rt = runtime();
        let facts = rt.inspect(&path).expect("inspects");
        assert_eq!(facts.package_version.as_deref(), Some(old));
        let mut spec = PluginSpec::from_path(&path);
        spec.grants.cache.key_prefixes.push("aura:compat:".into());
        let plugin = rt
            .load(spec)
            .unwrap_or_else(|e| panic!("a {old} component links: {e}"));
        let inv = rt.validate(&plugin, context("compat", "")).await;
        // Its cache read was answered by the 0.2 implementation (this runtime's Redis is
        // not running: the answer is the service layer's error, as a 0.2 plugin gets it).
        let checks = &inv.outcome.as_ref().expect("ran").checks;
        assert_eq!(checks.len(), 1, "{old}: {inv:?}");
        assert_eq!(checks[0].name, "0.1 plugin: decision cached for req-1");
        assert_eq!(inv.cost.host_calls, 1, "{old}: {inv:?}");
        assert!(checks[0].actual.contains("redis"), "{old}: {inv:?}");
    }
}
