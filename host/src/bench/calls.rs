//! A check through a sandboxed plugin against the same check done natively: a trivial
//! one (no host call), one backed by Redis and one backed by the graph. The plugin and
//! the native client take turns, call by call, so both see the same machine.

use std::time::Duration;

use aura_contract::names;
use aura_runtime::bindings::RunContext;
use aura_runtime::{Grants, Plugin, PluginSpec};

use super::stats::{Sample, ratio, shown};
use super::{Row, Setup};

const CACHE_KEY: &str = "aura:bench:value";
const EXPECTED: &str = "expected";
const GRAPH_QUERY: &str = "MATCH (p:BenchProbe {id: 'probe'}) RETURN p.value";

pub async fn rows(setup: &Setup) -> Vec<Row> {
    vec![trivial(setup).await, cache(setup).await, graph(setup).await]
}

fn run_id() -> String {
    format!("bench-{}", std::process::id())
}

fn probe(setup: &Setup, config: &str) -> Result<Plugin, String> {
    let path = setup.wasm_dir.join("bench_probe.wasm");
    let mut spec = PluginSpec::from_path(&path);
    spec.config = config.to_string();
    spec.grants = Grants::run_read_only();
    spec.grants.cache.key_prefixes.push("aura:bench:".into());
    setup
        .runtime
        .load(spec)
        .map_err(|e| format!("not measured: {e} (run `just plugins`)"))
}

fn context(config: &str) -> RunContext {
    RunContext {
        run_id: run_id(),
        scenario: "bench".into(),
        request_ids: vec![],
        config: config.into(),
        faults: Vec::new(),
        load: None,
    }
}

/// `calls` timed plugin calls after a warm-up; `None` when one fails.
async fn through_plugin(
    setup: &Setup,
    plugin: &Plugin,
    config: &str,
    sample: &mut Sample,
) -> Result<(), String> {
    let inv = sample
        .time(async || setup.runtime.validate(plugin, context(config)).await)
        .await;
    if inv.passed() {
        Ok(())
    } else {
        Err(format!(
            "not measured: the probe's check failed: {:?}",
            inv.outcome
        ))
    }
}

const TRIVIAL: (&str, &str) = (
    "fresh store + instantiate + `validate`, trivial check (median)",
    "≤ 10 µs",
);

async fn trivial(setup: &Setup) -> Row {
    let config = "mode = \"trivial\"";
    let plugin = match probe(setup, config) {
        Ok(p) => p,
        Err(e) => return Row::unmeasured(TRIVIAL.0, TRIVIAL.1, e),
    };
    let mut sample = Sample::default();
    for i in 0..setup.calls + setup.calls / 10 {
        if i == setup.calls / 10 {
            sample = Sample::default();
        }
        if let Err(e) = through_plugin(setup, &plugin, config, &mut sample).await {
            return Row::unmeasured(TRIVIAL.0, TRIVIAL.1, e);
        }
    }
    let median = sample.median();
    Row::new(
        TRIVIAL.0,
        TRIVIAL.1,
        format!("{} (p99 {})", shown(median), shown(sample.quantile(0.99))),
        median <= Duration::from_micros(10),
    )
}

const CACHE: (&str, &str) = (
    "cache-backed check: plugin ÷ `redis` crate (medians)",
    "≤ 1.10",
);

async fn cache(setup: &Setup) -> Row {
    let url = setup.services.redis.url.clone();
    let native = async {
        let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
        let mut conn = tokio::time::timeout(
            Duration::from_secs(5),
            client.get_multiplexed_async_connection(),
        )
        .await
        .map_err(|_| format!("Redis at {url} did not answer"))?
        .map_err(|e| e.to_string())?;
        redis::cmd("SET")
            .arg(CACHE_KEY)
            .arg(EXPECTED)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(conn)
    };
    let mut conn = match native.await {
        Ok(c) => c,
        Err(e) => {
            return Row::unmeasured(
                CACHE.0,
                CACHE.1,
                format!("not measured: {e} (run `aura-host env up`)"),
            );
        }
    };
    let config =
        format!("mode = \"cache-check\"\nkey = \"{CACHE_KEY}\"\nexpected = \"{EXPECTED}\"");
    let plugin = match probe(setup, &config) {
        Ok(p) => p,
        Err(e) => return Row::unmeasured(CACHE.0, CACHE.1, e),
    };
    let (mut through, mut direct) = (Sample::default(), Sample::default());
    for i in 0..setup.calls + setup.calls / 10 {
        if i == setup.calls / 10 {
            (through, direct) = (Sample::default(), Sample::default());
        }
        if let Err(e) = through_plugin(setup, &plugin, &config, &mut through).await {
            return Row::unmeasured(CACHE.0, CACHE.1, e);
        }
        let got: Result<Option<String>, _> = direct
            .time(async || {
                redis::cmd("GET")
                    .arg(CACHE_KEY)
                    .query_async(&mut conn)
                    .await
            })
            .await;
        if got.as_ref().ok().and_then(|v| v.as_deref()) != Some(EXPECTED) {
            return Row::unmeasured(
                CACHE.0,
                CACHE.1,
                format!("not measured: GET answered {got:?}"),
            );
        }
    }
    let _: Result<(), _> = redis::cmd("DEL")
        .arg(CACHE_KEY)
        .query_async(&mut conn)
        .await;
    compared(CACHE, &through, &direct)
}

fn compared(row: (&'static str, &'static str), through: &Sample, direct: &Sample) -> Row {
    let r = ratio(through, direct);
    Row::new(
        row.0,
        row.1,
        format!(
            "{r:.2} ({} ÷ {})",
            shown(through.median()),
            shown(direct.median())
        ),
        r <= 1.10,
    )
}

const GRAPH: (&str, &str) = (
    "graph-backed check: plugin ÷ `falkordb` crate (medians)",
    "≤ 1.10",
);

async fn graph(setup: &Setup) -> Row {
    let services = &setup.services;
    if services.graph.backend != aura_services::config::GraphBackend::Falkordb {
        return Row::unmeasured(
            GRAPH.0,
            GRAPH.1,
            "not measured: the graph backend is not FalkorDB",
        );
    }
    let database = names::run_graph(&services.graph.database, &run_id());
    let url = services.graph.url.clone();
    let native = async {
        let info: falkordb::FalkorConnectionInfo = url
            .as_str()
            .try_into()
            .map_err(|e: falkordb::FalkorDBError| e.to_string())?;
        let client = falkordb::FalkorClientBuilder::new_async()
            .with_connection_info(info)
            .build()
            .await
            .map_err(|e| e.to_string())?;
        let mut graph = client.select_graph(&database);
        graph
            .query("CREATE (:BenchProbe {id: 'probe', value: 'expected'})")
            .execute()
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(graph)
    };
    let mut graph = match tokio::time::timeout(Duration::from_secs(10), native).await {
        Ok(Ok(g)) => g,
        Ok(Err(e)) => {
            return Row::unmeasured(
                GRAPH.0,
                GRAPH.1,
                format!("not measured: FalkorDB at {url}: {e}"),
            );
        }
        Err(_) => {
            return Row::unmeasured(
                GRAPH.0,
                GRAPH.1,
                format!("not measured: FalkorDB at {url} did not answer"),
            );
        }
    };
    let config =
        format!("mode = \"graph-check\"\nquery = \"{GRAPH_QUERY}\"\nexpected = \"{EXPECTED}\"");
    let row = match probe(setup, &config) {
        Ok(plugin) => {
            let (mut through, mut direct) = (Sample::default(), Sample::default());
            let mut failed = None;
            for i in 0..setup.calls + setup.calls / 10 {
                if i == setup.calls / 10 {
                    (through, direct) = (Sample::default(), Sample::default());
                }
                if let Err(e) = through_plugin(setup, &plugin, &config, &mut through).await {
                    failed = Some(e);
                    break;
                }
                let rows = direct
                    .time(async || {
                        let answer = graph.ro_query(GRAPH_QUERY).execute().await?;
                        futures::TryStreamExt::try_collect::<Vec<_>>(answer.data).await
                    })
                    .await;
                if !rows.as_ref().is_ok_and(|r| r.len() == 1) {
                    failed = Some(format!("not measured: the direct query answered {rows:?}"));
                    break;
                }
            }
            match failed {
                Some(e) => Row::unmeasured(GRAPH.0, GRAPH.1, e),
                None => compared(GRAPH, &through, &direct),
            }
        }
        Err(e) => Row::unmeasured(GRAPH.0, GRAPH.1, e),
    };
    let _ = graph.delete().await;
    row
}
