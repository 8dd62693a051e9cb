//! Plugin runtime costs (criterion). Needs the plugins built (`just plugins`) and, for
//! the cache-backed comparison, the local Redis (`aura-host env up`); without it that
//! group is skipped with a message.
//!
//!   cargo bench -p aura-host --bench plugins

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aura_host::config::AuraConfig;
use aura_runtime::bindings::RunContext;
use aura_runtime::{Grants, Plugin, PluginRuntime, PluginSpec};
use aura_services::ServiceHub;
use criterion::{Criterion, criterion_group, criterion_main};

fn wasm(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} missing: run `just plugins` first",
        path.display()
    );
    path
}

fn probe(runtime: &PluginRuntime, config: &str) -> Plugin {
    let mut spec = PluginSpec::from_path(&wasm("bench_probe"));
    spec.config = config.to_string();
    spec.grants = Grants::run_read_only();
    spec.grants.cache.key_prefixes.push("aura:bench:".into());
    runtime.load(spec).expect("bench_probe loads")
}

fn ctx(config: &str) -> RunContext {
    RunContext {
        run_id: "bench-run-1".into(),
        scenario: "bench".into(),
        request_ids: vec![],
        config: config.into(),
        faults: Vec::new(),
        load: None,
    }
}

/// The check the trivial plugin makes, natively.
fn run_id_well_formed(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Mean time per iteration of `f`, for the printed ratios.
fn mean(rt: &tokio::runtime::Runtime, n: u32, mut f: impl AsyncFnMut()) -> Duration {
    let start = Instant::now();
    rt.block_on(async {
        for _ in 0..n {
            f().await;
        }
    });
    start.elapsed() / n
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    let config = AuraConfig::default();
    let runtime = PluginRuntime::new(
        Arc::new(ServiceHub::new(config.services.clone())),
        Default::default(),
    )
    .expect("runtime");

    let trivial_cfg = "mode = \"trivial\"";
    let trivial = probe(&runtime, trivial_cfg);
    c.bench_function("plugin/instantiate (pooling, fresh store)", |b| {
        b.to_async(&rt).iter(|| async {
            runtime
                .instantiate_only(&trivial)
                .await
                .expect("instantiates")
        })
    });
    c.bench_function("plugin/host->guest call (instantiate + validate)", |b| {
        b.to_async(&rt).iter(|| async {
            let inv = runtime.validate(&trivial, ctx(trivial_cfg)).await;
            assert!(inv.passed());
        })
    });
    // The same two costs for a Python plugin (componentize-py: CPython is inside the
    // component) and a JavaScript one (componentize-js: StarlingMonkey), and what loading
    // each (compiling its Wasm) takes once.
    for (lang, plugin) in [("python", "hostile_py"), ("js", "hostile_js")] {
        let cfg = "mode = \"well-behaved\"";
        let mut spec = PluginSpec::from_path(&wasm(plugin));
        spec.config = cfg.to_string();
        let started = Instant::now();
        let loaded = runtime.load(spec).expect("loads");
        println!(
            "{lang}/load (compile the component, once): {:?}",
            started.elapsed()
        );
        c.bench_function(&format!("{lang}/instantiate (pooling, fresh store)"), |b| {
            b.to_async(&rt).iter(|| async {
                runtime
                    .instantiate_only(&loaded)
                    .await
                    .expect("instantiates")
            })
        });
        c.bench_function(
            &format!("{lang}/host->guest call (instantiate + validate)"),
            |b| {
                b.to_async(&rt).iter(|| async {
                    let inv = runtime.validate(&loaded, ctx(cfg)).await;
                    assert!(inv.passed());
                })
            },
        );
    }
    let logs_cfg = "mode = \"log-many\"\ncount = 1000";
    let logs = probe(&runtime, logs_cfg);
    c.bench_function("plugin/guest->host import x1000 (log)", |b| {
        b.to_async(&rt).iter(|| async {
            let inv = runtime.validate(&logs, ctx(logs_cfg)).await;
            assert!(inv.passed());
        })
    });
    c.bench_function("native/trivial check", |b| {
        b.iter(|| run_id_well_formed(std::hint::black_box("bench-run-1")))
    });

    let n = 2000;
    let wasm_call = mean(&rt, n, async || {
        runtime.validate(&trivial, ctx(trivial_cfg)).await;
    });
    let native = mean(&rt, n * 100, async || {
        std::hint::black_box(run_id_well_formed(std::hint::black_box("bench-run-1")));
    });
    let with_logs = mean(&rt, n / 10, async || {
        runtime.validate(&logs, ctx(logs_cfg)).await;
    });
    println!(
        "ratio: trivial check as a Wasm validator {:?} vs native {:?} = {:.0}x; one guest->host import ≈ {:?}",
        wasm_call,
        native,
        wasm_call.as_secs_f64() / native.as_secs_f64().max(1e-12),
        with_logs.saturating_sub(wasm_call) / 1000,
    );

    cache_backed(c, &rt, &runtime, &config);
}

fn cache_backed(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    runtime: &PluginRuntime,
    config: &AuraConfig,
) {
    let url = config.services.redis.url.clone();
    let direct = rt.block_on(async {
        let client = redis::Client::open(url.as_str()).ok()?;
        let mut conn = tokio::time::timeout(
            Duration::from_secs(2),
            client.get_multiplexed_async_connection(),
        )
        .await
        .ok()?
        .ok()?;
        redis::cmd("SET")
            .arg("aura:bench:value")
            .arg("expected")
            .query_async::<()>(&mut conn)
            .await
            .ok()?;
        Some(conn)
    });
    let Some(mut conn) = direct else {
        println!(
            "skipping the cache-backed comparison: Redis at {url} is not reachable (run `aura-host env up`)"
        );
        return;
    };
    let cfg = "mode = \"cache-check\"\nkey = \"aura:bench:value\"\nexpected = \"expected\"";
    let plugin = probe(runtime, cfg);
    c.bench_function("cache check/through the plugin", |b| {
        b.to_async(rt).iter(|| async {
            let inv = runtime.validate(&plugin, ctx(cfg)).await;
            assert!(inv.passed(), "{inv:?}");
        })
    });
    c.bench_function("cache check/redis crate directly", |b| {
        b.to_async(rt).iter(|| {
            let mut conn = conn.clone();
            async move {
                let v: Option<String> = redis::cmd("GET")
                    .arg("aura:bench:value")
                    .query_async(&mut conn)
                    .await
                    .expect("GET");
                assert_eq!(v.as_deref(), Some("expected"));
            }
        })
    });
    let n = 1000;
    let through = mean(rt, n, async || {
        runtime.validate(&plugin, ctx(cfg)).await;
    });
    let straight = mean(rt, n, async || {
        let _: Option<String> = redis::cmd("GET")
            .arg("aura:bench:value")
            .query_async(&mut conn)
            .await
            .expect("GET");
    });
    println!(
        "ratio: cache-backed check through the plugin {:?} vs the redis crate {:?} = {:.2}x",
        through,
        straight,
        through.as_secs_f64() / straight.as_secs_f64().max(1e-12)
    );
}

criterion_group! {
    name = plugin_benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(30);
    targets = benches
}
criterion_main!(plugin_benches);
