//! The sandbox's fuzz harness (proptest, run by `cargo test` in CI for a bounded number
//! of cases: `PROPTEST_CASES`, 64 by default): arbitrary values through every host
//! interface under arbitrary grants and limits, arbitrary `[grants]`/`[limits]`
//! manifests, and arbitrary plugin output through the escaping and size checks. The
//! property is always the same: no panic, and nothing unbounded or unescaped comes out.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use crate::bindings::api::aura::host::{cache, events, gpu, graph, log, trace, workflow};
use crate::grants::{Access, CacheGrant, EventsGrant, Grants};
use crate::host::{CallContext, Meter};
use crate::limits::Limits;
use crate::state::PluginState;
use aura_services::ServiceHub;
use aura_services::config::ServicesConfig;

/// A hub whose every address refuses connections at once (a port bound, then closed),
/// with short timeouts: a granted call reaches the service layer and fails fast.
fn refusing_hub() -> Arc<ServiceHub> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9);
    let mut s = ServicesConfig::default();
    s.redis.url = format!("redis://127.0.0.1:{port}");
    s.graph.url = format!("falkor://127.0.0.1:{port}");
    s.kafka.brokers = format!("127.0.0.1:{port}");
    s.temporal.url = format!("http://127.0.0.1:{port}");
    let short = Duration::from_millis(50);
    s.redis.timeout = short;
    s.graph.timeout = short;
    s.kafka.timeout = short;
    s.temporal.timeout = short;
    Arc::new(ServiceHub::new(s))
}

fn access() -> impl Strategy<Value = Access> {
    prop_oneof![Just(Access::None), Just(Access::Read), Just(Access::Write)]
}

fn grants() -> impl Strategy<Value = Grants> {
    (
        access(),
        access(),
        prop::collection::vec(".{0,12}", 0..3),
        access(),
        prop::collection::vec(".{0,12}", 0..3),
        any::<(bool, bool, bool)>(),
    )
        .prop_map(
            |(graph, ca, prefixes, ea, topics, (workflow, trace, gpu))| {
                let mut g = Grants::default();
                g.graph = graph;
                g.cache = CacheGrant {
                    access: ca,
                    key_prefixes: prefixes,
                };
                g.events = EventsGrant { access: ea, topics };
                (g.workflow, g.trace, g.gpu) = (workflow, trace, gpu);
                g
            },
        )
}

fn graph_value() -> impl Strategy<Value = graph::Value> {
    prop_oneof![
        Just(graph::Value::Null),
        any::<bool>().prop_map(graph::Value::Boolean),
        any::<i64>().prop_map(graph::Value::Integer),
        any::<f64>().prop_map(graph::Value::Float),
        ".{0,16}".prop_map(graph::Value::Text),
        ".{0,16}".prop_map(graph::Value::Json),
    ]
}

#[derive(Debug, Clone)]
struct Calls {
    text: Vec<String>,
    numbers: (u32, u32, u64),
    params: Vec<(String, graph::Value)>,
}

fn calls() -> impl Strategy<Value = Calls> {
    (
        prop::collection::vec(any::<String>(), 6),
        any::<(u32, u32, u64)>(),
        prop::collection::vec((".{0,8}", graph_value()), 0..4),
    )
        .prop_map(|(text, numbers, params)| Calls {
            text,
            numbers,
            params,
        })
}

/// Every host function once, with the arbitrary values; errors are fine, panics not.
async fn call_everything(state: &mut PluginState, c: Calls) {
    let t = |i: usize| c.text[i].clone();
    let (n, m, big) = c.numbers;
    let _ = log::Host::log(state, log::Level::Warn, t(0)).await;
    let _ = cache::Host::get(state, t(1)).await;
    let _ = cache::Host::exists(state, t(1)).await;
    let _ = cache::Host::ttl(state, t(2)).await;
    let _ = cache::Host::scan_prefix(state, t(2), n).await;
    let _ = cache::Host::list_head(state, t(3), m).await;
    let _ = cache::Host::set(state, t(3), t(4), Some(big)).await;
    let _ = events::Host::read(state, t(4), Some(t(5)), n, m % 50).await;
    let _ = events::Host::publish(state, t(5), t(0), t(1)).await;
    let _ = graph::Host::query(state, t(0), c.params.clone()).await;
    let _ = graph::Host::execute(state, t(1), c.params).await;
    let _ = workflow::Host::describe(state, t(2)).await;
    let _ = trace::Host::get(state, t(3)).await;
    let _ = gpu::Host::inventory(state).await;
    let _ = gpu::Host::probe(state, n).await;
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn host_interfaces_take_any_value_under_any_grant(
        grants in grants(),
        run in "[a-z0-9-]{0,10}",
        calls in calls(),
        max_host_bytes in 1u64..1_000_000,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
        let Ok(rt) = rt else { return Ok(()) };
        let hub = refusing_hub();
        rt.block_on(async {
            let limits = Limits {
                timeout: Duration::from_millis(20),
                max_host_bytes,
                ..Limits::default()
            };
            let call = CallContext {
                plugin: "fuzz".into(),
                run_id: run.clone(),
                grants: grants.for_call(&run, &["req-1".into()]),
                hub,
                gpu: None,
                deadline: tokio::time::Instant::now() + limits.timeout,
                limits,
                meter: Meter::default(),
                tape: None,
            };
            let Ok(mut state) = PluginState::new(call, &Grants::default(), limits.memory_bytes)
            else {
                return Ok(());
            };
            call_everything(&mut state, calls).await;
            prop_assert!(state.call.meter.bytes_in <= max_host_bytes);
            Ok::<(), TestCaseError>(())
        })?;
    }

    #[test]
    fn any_manifest_entry_parses_or_is_refused(text in any::<String>(), toml_like in
        r#"(\[grants\]|\[limits\]|graph = "(read|write|x)"|memory-bytes = [0-9]{1,12}|timeout = "[0-9]{1,6}(ms|s|h)"|max-result-bytes = -?[0-9]{1,12}|cache = \{ access = "read", key-prefixes = \[".{0,6}"\] \}|fuel = [0-9]{1,20}|\n){0,12}"#) {
        for source in [text, toml_like] {
            if let Ok(limits) = toml::from_str::<Limits>(&source) {
                let _ = limits.validate();
            }
            if let Ok(grants) = toml::from_str::<Grants>(&source) {
                let g = grants.for_call("r", &[]);
                let _ = g.check_cache(Access::Write, &source);
                let _ = g.check_topic(Access::Read, &source);
                let _ = g.check_workflow(&source);
            }
            let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let path = dir.path().join("set.toml");
            std::fs::write(&path, format!("[[plugin]]\n{source}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let _ = crate::manifest::load(&path);
        }
    }

    #[test]
    fn plugin_text_comes_out_escaped_and_bounded(text in any::<String>(), max in 1usize..200) {
        let shown = crate::text::escape(&text, max);
        prop_assert!(crate::text::is_clean(&shown), "{shown:?}");
        prop_assert!(shown.len() <= max + 40, "{} > {max}", shown.len());
    }
}
