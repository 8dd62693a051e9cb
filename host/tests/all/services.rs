//! Round trips through each service trait against the real local servers.

use crate::common;

use std::time::Duration;

use aura_services::kafka::KafkaEvents;
use aura_services::namespace::{self, RunId, RunNamespace};
use aura_services::redis::RedisCache;
use aura_services::temporal::TemporalWorkflows;
use aura_services::{
    Cache, Cypher, EventBus, GraphValue, KeyTtl, OutgoingEvent, ReadLimit, Workflows, graph,
};

#[tokio::test]
async fn redis_get_set_ttl_pipeline_scan_and_delete() {
    let config = common::config();
    let redis = RedisCache::connect(&config.services.redis)
        .await
        .expect("connect");
    let prefix = format!("{}:", common::unique("t"));
    let key = format!("{prefix}one");

    assert_eq!(redis.get(&key).await.expect("get"), None);
    assert_eq!(redis.ttl(&key).await.expect("ttl"), KeyTtl::Missing);
    redis.set(&key, "v1", None).await.expect("set");
    assert_eq!(redis.get(&key).await.expect("get").as_deref(), Some("v1"));
    assert_eq!(redis.ttl(&key).await.expect("ttl"), KeyTtl::Persistent);

    let many: Vec<(String, String)> = (0..25)
        .map(|i| (format!("{prefix}k{i}"), i.to_string()))
        .collect();
    redis
        .set_many(&many, Some(Duration::from_secs(60)))
        .await
        .expect("pipeline");
    match redis.ttl(&format!("{prefix}k7")).await.expect("ttl") {
        KeyTtl::Expires(left) => assert!(
            left > Duration::from_secs(50) && left <= Duration::from_secs(60),
            "{left:?}"
        ),
        other => panic!("expected a TTL, got {other:?}"),
    }
    let mut keys = redis.scan_prefix(&prefix, 1000).await.expect("scan");
    keys.sort();
    assert_eq!(keys.len(), 26);
    assert_eq!(redis.scan_prefix(&prefix, 5).await.expect("scan").len(), 5);

    assert_eq!(redis.delete_prefix(&prefix).await.expect("delete"), 26);
    assert!(
        redis
            .scan_prefix(&prefix, 1000)
            .await
            .expect("scan")
            .is_empty()
    );
}

#[tokio::test]
async fn redis_probe_reports_role_memory_and_hit_rate() {
    let config = common::config();
    let redis = RedisCache::connect(&config.services.redis)
        .await
        .expect("connect");
    let key = common::unique("hit");
    redis
        .set(&key, "x", Some(Duration::from_secs(30)))
        .await
        .expect("set");
    redis.get(&key).await.expect("hit");
    let facts = redis.probe().await.expect("probe");
    assert!(
        facts
            .version
            .as_deref()
            .is_some_and(|v| v.starts_with("Redis ")),
        "{facts:?}"
    );
    assert_eq!(facts.details["role"], "master");
    assert!(
        facts.details["used_memory"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    let rate = facts.details["keyspace_hit_rate"]
        .as_f64()
        .expect("a hit rate after a hit");
    assert!((0.0..=1.0).contains(&rate));
}

#[tokio::test]
async fn kafka_topics_publish_and_group_read_with_headers() {
    let config = common::config();
    let mut kafka_config = config.services.kafka.clone();
    kafka_config.session_timeout = Duration::from_secs(2);
    let kafka = KafkaEvents::connect(&kafka_config).await.expect("connect");
    let topic = common::unique("topic");
    kafka.ensure_topic(&topic, 1).await.expect("create");
    kafka
        .ensure_topic(&topic, 1)
        .await
        .expect("creating twice is fine");
    assert!(kafka.list_topics().await.expect("list").contains(&topic));

    for i in 0..3 {
        kafka
            .publish(OutgoingEvent {
                topic: topic.clone(),
                key: format!("req-{i}"),
                payload: format!("{{\"n\":{i}}}").into_bytes(),
                headers: [("aura-run-id".to_string(), "r1".to_string())].into(),
            })
            .await
            .expect("publish");
    }
    let group = common::unique("group");
    let events = kafka
        .read(&topic, &group, 3, Duration::from_secs(20))
        .await
        .expect("read");
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].key.as_deref(), Some("req-0"));
    assert_eq!(events[2].payload, b"{\"n\":2}");
    assert_eq!(
        events[1].headers.get("aura-run-id").map(String::as_str),
        Some("r1")
    );

    // The newest: the last two of the topic, and all three when asked for more than
    // there are (the read ends at the end it saw, whatever its wait).
    let latest = kafka
        .read_latest(
            &topic,
            None,
            ReadLimit::messages(2),
            Duration::from_secs(20),
        )
        .await
        .expect("read latest");
    let keys: Vec<_> = latest.iter().filter_map(|e| e.key.as_deref()).collect();
    assert_eq!(keys, ["req-1", "req-2"]);
    let all = kafka
        .read_latest(
            &topic,
            None,
            ReadLimit::messages(10),
            Duration::from_secs(20),
        )
        .await
        .expect("read latest");
    assert_eq!(all.len(), 3, "{all:?}");
    let keyed = kafka
        .read_latest(
            &topic,
            Some("req-2"),
            ReadLimit::messages(1),
            Duration::from_secs(20),
        )
        .await
        .expect("read latest by key");
    assert_eq!(keyed.len(), 1);
    assert_eq!(keyed[0].payload, b"{\"n\":2}");

    // The group committed what it read: nothing new for it now.
    let again = kafka
        .read(&topic, &group, 1, Duration::from_secs(3))
        .await
        .expect("read again");
    assert!(again.is_empty(), "{again:?}");

    kafka
        .delete_topics(std::slice::from_ref(&topic))
        .await
        .expect("delete");
    assert!(!kafka.list_topics().await.expect("list").contains(&topic));
}

#[tokio::test]
async fn temporal_namespace_and_probe() {
    let config = common::config();
    let temporal = TemporalWorkflows::connect(&config.services.temporal)
        .await
        .expect("connect");
    let ns = temporal.check_namespace().await.expect("default namespace");
    assert_eq!(ns.name, "default");
    let facts = temporal.probe().await.expect("probe");
    assert!(
        facts
            .version
            .as_deref()
            .is_some_and(|v| v.starts_with("Temporal Server 1.")),
        "{facts:?}"
    );
    assert_eq!(facts.details["serving_status"], "SERVING");

    let mut missing = config.services.temporal.clone();
    missing.namespace = common::unique("no-such-namespace");
    let other = TemporalWorkflows::connect(&missing).await.expect("connect");
    let err = other
        .check_namespace()
        .await
        .expect_err("unknown namespace");
    assert!(err.to_string().contains(&missing.namespace), "{err}");
}

/// Writes data for two runs into every store; cleaning one removes exactly its data.
#[tokio::test]
async fn cleanup_removes_exactly_one_runs_data() {
    let config = common::config();
    let graph = graph::connect(&config.services.graph).await.expect("graph");
    let redis = RedisCache::connect(&config.services.redis)
        .await
        .expect("redis");
    let kafka = KafkaEvents::connect(&config.services.kafka)
        .await
        .expect("kafka");
    let runs: Vec<RunNamespace> = (0..2)
        .map(|_| RunNamespace::new(RunId::parse(&common::unique("run")).expect("valid id")))
        .collect();
    // Each run's nodes live in its own graph (FalkorDB).
    let run_graph = |ns: &RunNamespace| {
        graph
            .for_run(ns.run_id().as_str())
            .expect("a graph per run")
    };
    for ns in &runs {
        let run = ns.run_id().as_str();
        run_graph(ns)
            .query(
                Cypher::new(format!(
                    "CREATE (:Request {{{p}: $run}})-[:DECIDED_BY]->(:Decision {{{p}: $run}})",
                    p = aura_contract::names::RUN_ID_PROPERTY
                ))
                .param("run", run),
            )
            .await
            .expect("graph write");
        redis
            .set(&ns.key("ctx"), "window", None)
            .await
            .expect("redis write");
        kafka
            .ensure_topic(&ns.topic("gpu.allocation.decided"), 1)
            .await
            .expect("topic");
    }
    let (gone, kept) = (&runs[0], &runs[1]);
    let report = namespace::cleanup(gone, Some(graph.as_ref()), Some(&redis), Some(&kafka)).await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.graph_nodes, 2);
    assert_eq!(report.cache_keys, 1);
    assert_eq!(report.topics, [gone.topic("gpu.allocation.decided")]);

    let count = |ns: &RunNamespace| {
        Cypher::new("MATCH (n) WHERE n.run_id = $run RETURN count(n) AS n")
            .param("run", ns.run_id().as_str())
    };
    let left = run_graph(gone).query(count(gone)).await.expect("count");
    assert_eq!(left[0].get("n"), Some(&GraphValue::Int(0)));
    let other = run_graph(kept).query(count(kept)).await.expect("count");
    assert_eq!(other[0].get("n"), Some(&GraphValue::Int(2)));
    assert_eq!(redis.get(&gone.key("ctx")).await.expect("get"), None);
    assert_eq!(
        redis.get(&kept.key("ctx")).await.expect("get").as_deref(),
        Some("window")
    );
    let topics = kafka.list_topics().await.expect("topics");
    assert!(!topics.contains(&gone.topic("gpu.allocation.decided")));
    assert!(topics.contains(&kept.topic("gpu.allocation.decided")));

    // The CLI's `env reset --run` is the same cleanup.
    let out = common::run(common::aura().args(["env", "reset", "--run", kept.run_id().as_str()]));
    assert!(out.status.success(), "{}", common::text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!(
            "run {}: removed 2 graph nodes, 1 Redis keys, 1 Kafka topics",
            kept.run_id()
        )),
        "{}",
        common::text(&out)
    );
    assert_eq!(redis.get(&kept.key("ctx")).await.expect("get"), None);
}
