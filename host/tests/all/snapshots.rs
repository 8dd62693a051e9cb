//! `env snapshot` and `env restore` on a local profile of the test's own: a run's data
//! kept (`--keep-data`), snapshotted, the environment reset (empty), the snapshot
//! restored, and every store read back independently (Redis keys and TTLs with the
//! redis crate, FalkorDB nodes and relationships with `GRAPH.QUERY`, Kafka messages with
//! confluent-kafka, the workflow's history with the Temporal CLI) equals what it held.
//! Bad input exits 2 and touches nothing.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::common::{self, PrivateEnv, run_within, text};

/// The port in a `scheme://host:port` URL of the private config.
fn port(config: &str, key: &str) -> u16 {
    config
        .lines()
        .skip_while(|l| !l.contains(key))
        .find_map(|l| {
            l.rsplit_once(':')
                .map(|(_, p)| p.trim_end_matches('"').to_string())
        })
        .and_then(|p| p.parse().ok())
        .expect("a port")
}

/// Every key with its value dump and whether it has a TTL.
fn redis_state(port: u16) -> BTreeMap<String, (Vec<u8>, bool)> {
    let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .and_then(|c| c.get_connection())
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).expect("KEYS");
    keys.into_iter()
        .map(|k| {
            let dump: Vec<u8> = redis::cmd("DUMP").arg(&k).query(&mut conn).expect("DUMP");
            let ttl: i64 = redis::cmd("PTTL").arg(&k).query(&mut conn).expect("PTTL");
            (k, (dump, ttl > 0))
        })
        .collect()
}

/// Each graph's node and relationship counts.
fn graph_state(port: u16) -> BTreeMap<String, (i64, i64)> {
    let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .and_then(|c| c.get_connection())
        .expect("falkordb");
    let graphs: Vec<String> = redis::cmd("GRAPH.LIST")
        .query(&mut conn)
        .expect("GRAPH.LIST");
    let count = |conn: &mut redis::Connection, g: &str, q: &str| -> i64 {
        let v: redis::Value = redis::cmd("GRAPH.QUERY")
            .arg(g)
            .arg(q)
            .query(conn)
            .expect("GRAPH.QUERY");
        // [header, [[n]], stats]
        match v {
            redis::Value::Array(parts) => match parts.get(1) {
                Some(redis::Value::Array(rows)) => match rows.first() {
                    Some(redis::Value::Array(cells)) => match cells.first() {
                        Some(redis::Value::Int(n)) => *n,
                        _ => -1,
                    },
                    _ => -1,
                },
                _ => -1,
            },
            _ => -1,
        }
    };
    graphs
        .into_iter()
        .map(|g| {
            let nodes = count(&mut conn, &g, "MATCH (n) RETURN count(n)");
            let rels = count(&mut conn, &g, "MATCH ()-[r]->() RETURN count(r)");
            (g, (nodes, rels))
        })
        .collect()
}

/// Every message of every `aura.` topic: topic, partition, offset, key, value.
fn kafka_state(port: u16) -> Vec<Value> {
    let dir = common::python_packages(&[("confluent_kafka", "confluent-kafka==2.6.1")]);
    let out = Command::new("python3")
        .env("PYTHONPATH", dir)
        .arg("-c")
        .arg(
            r#"
import json, sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "snapshot-test", "enable.auto.commit": False})
md = c.list_topics(timeout=10)
out = []
for name in sorted(t for t in md.topics if t.startswith("aura.")):
    for p in sorted(md.topics[name].partitions):
        lo, hi = c.get_watermark_offsets(TopicPartition(name, p), timeout=10)
        if hi <= lo:
            continue
        c.assign([TopicPartition(name, p, lo)])
        while True:
            m = c.poll(10)
            if m is None or m.error():
                break
            out.append([name, p, m.offset(), (m.key() or b"").decode(), (m.value() or b"").decode()])
            if m.offset() >= hi - 1:
                break
print(json.dumps(out))
"#,
        )
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The workflow's history, as the Temporal CLI shows it.
fn history(env: &PrivateEnv, port: u16, workflow: &str) -> Vec<Value> {
    let out = Command::new(common::tools_dir().join("venv/bin/temporal"))
        .args(["workflow", "show", "--workflow-id", workflow, "-o", "json"])
        .args(["--address", &format!("127.0.0.1:{port}")])
        .output()
        .expect("temporal");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let _ = env;
    shown["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|e| serde_json::json!([e["eventId"], e["eventType"]]))
        .collect()
}

/// What a run kept: keys with a TTL, a graph with nodes and relationships, messages.
fn holds_a_run(
    redis: &BTreeMap<String, (Vec<u8>, bool)>,
    graphs: &BTreeMap<String, (i64, i64)>,
    messages: &[Value],
) {
    assert!(
        redis.values().any(|(_, ttl)| *ttl),
        "keys with a TTL: {:?}",
        redis.keys()
    );
    assert!(graphs.values().any(|(n, r)| *n > 0 && *r > 0), "{graphs:?}");
    assert!(!messages.is_empty(), "messages");
}

#[test]
fn a_snapshot_restored_after_a_reset_gives_back_every_store() {
    let env = PrivateEnv::all_services();
    let config = std::fs::read_to_string(&env.config).expect("config");
    let (redis_port, graph_port, kafka_port, temporal_port) = (
        port(&config, "[services.redis]"),
        port(&config, "[services.graph]"),
        port(&config, "[services.kafka]"),
        port(&config, "[services.temporal]"),
    );
    let within = Duration::from_secs(300);
    let up = run_within(&mut env.cmd(&["env", "up"]), within).0;
    assert_eq!(up.status.code(), Some(0), "{}", text(&up));
    let run_id = common::unique("kept");
    let ran = run_within(
        &mut env.cmd(&["run", "--keep-data", "--run-id", &run_id, "-q"]),
        within,
    )
    .0;
    assert_eq!(ran.status.code(), Some(0), "{}", text(&ran));
    let workflow = format!("aura-{run_id}-1-smoke-req-1");
    let before = (
        redis_state(redis_port),
        graph_state(graph_port),
        kafka_state(kafka_port),
        history(&env, temporal_port, &workflow),
    );
    holds_a_run(&before.0, &before.1, &before.2);
    assert!(before.3.len() > 5, "a history: {:?}", before.3);

    let taken = run_within(&mut env.cmd(&["env", "snapshot", "kept"]), within).0;
    assert_eq!(taken.status.code(), Some(0), "{}", text(&taken));
    let reset = run_within(&mut env.cmd(&["env", "reset"]), within).0;
    assert_eq!(reset.status.code(), Some(0), "{}", text(&reset));
    assert!(redis_state(redis_port).is_empty(), "reset empties Redis");
    assert!(kafka_state(kafka_port).is_empty(), "reset empties Kafka");

    let restored = run_within(&mut env.cmd(&["env", "restore", "kept"]), within).0;
    assert_eq!(restored.status.code(), Some(0), "{}", text(&restored));
    let after = (
        redis_state(redis_port),
        graph_state(graph_port),
        kafka_state(kafka_port),
        history(&env, temporal_port, &workflow),
    );
    assert_eq!(
        after.0.keys().collect::<Vec<_>>(),
        before.0.keys().collect::<Vec<_>>()
    );
    assert_eq!(after.0, before.0, "the same values and TTLs");
    assert_eq!(after.1, before.1, "the same graphs");
    assert_eq!(after.2, before.2, "the same messages, in order");
    assert_eq!(after.3, before.3, "the same history");

    // A scenario that starts from the snapshot: the run restores it first.
    let reset = run_within(&mut env.cmd(&["env", "reset"]), within).0;
    assert_eq!(reset.status.code(), Some(0), "{}", text(&reset));
    let scenario = env.path("from-snapshot.toml");
    std::fs::write(
        &scenario,
        "id = \"from-snapshot\"\nname = \"from a snapshot\"\n[data]\nsnapshot = \"kept\"\n\
         [[gpu_requests]]\nrequest_id = \"s-1\"\nteam = \"t\"\ngpu_count = 1\nmemory_gb = 16\n\
         priority = 5\nduration_minutes = 5\n",
    )
    .expect("scenario");
    let scenario_arg = scenario.to_string_lossy().to_string();
    let from = run_within(&mut env.cmd(&["run", "--scenario", &scenario_arg]), within).0;
    assert_eq!(from.status.code(), Some(0), "{}", text(&from));
    assert!(
        text(&from).contains("restored snapshot kept"),
        "{}",
        text(&from)
    );
    let kept = redis_state(redis_port);
    assert!(
        before.0.keys().all(|k| kept.contains_key(k)),
        "the snapshot's keys are back: {:?}",
        kept.keys()
    );
    // Input that does not check out restores nothing: what the environment holds now
    // (a key written after the restore) is still there.
    let mut redis = redis::Client::open(format!("redis://127.0.0.1:{redis_port}"))
        .and_then(|c| c.get_connection())
        .expect("redis");
    let _: () = redis::cmd("SET")
        .arg("written-after")
        .arg("1")
        .query(&mut redis)
        .expect("SET");
    let bad = run_within(
        &mut env.cmd(&[
            "run",
            "--scenario",
            &scenario_arg,
            "--plugin",
            "no_such_plugin",
        ]),
        within,
    )
    .0;
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(!text(&bad).contains("restored snapshot"), "{}", text(&bad));
    assert!(
        redis_state(redis_port).contains_key("written-after"),
        "a refused run restored the snapshot"
    );
    let _: () = redis::cmd("DEL")
        .arg("written-after")
        .query(&mut redis)
        .expect("DEL");

    // Bad input exits 2 and changes nothing.
    let again = run_within(&mut env.cmd(&["env", "snapshot", "kept"]), within).0;
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(
        text(&again).contains("snapshot kept exists"),
        "{}",
        text(&again)
    );
    let missing = run_within(&mut env.cmd(&["env", "restore", "nope"]), within).0;
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    let snapshot = env.state.join("snapshots/kept");
    let manifest = snapshot.join("manifest.json");
    let original = std::fs::read_to_string(&manifest).expect("manifest");
    let mut m: Value = serde_json::from_str(&original).expect("manifest JSON");
    m["versions"]["redis"] = Value::from("Redis server v=1.0.0");
    std::fs::write(&manifest, m.to_string()).expect("edit the manifest");
    let other = run_within(&mut env.cmd(&["env", "restore", "kept"]), within).0;
    assert_eq!(other.status.code(), Some(2), "{}", text(&other));
    assert!(
        text(&other).contains("was taken from redis \"Redis server v=1.0.0\""),
        "{}",
        text(&other)
    );
    std::fs::write(&manifest, original).expect("put the manifest back");
    std::fs::write(snapshot.join("kafka.jsonl"), "not what was kept").expect("corrupt");
    let corrupt = run_within(&mut env.cmd(&["env", "restore", "kept"]), within).0;
    assert_eq!(corrupt.status.code(), Some(2), "{}", text(&corrupt));
    assert!(
        text(&corrupt).contains("kafka.jsonl does not match its digest"),
        "{}",
        text(&corrupt)
    );
    assert_eq!(redis_state(redis_port), before.0, "nothing touched");
}

/// Keys of the private Redis whose name holds `part`; none while it does not answer.
fn keys_with(port: u16, part: &str) -> Option<usize> {
    let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)))
        .ok()?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("*{part}*"))
        .query(&mut conn)
        .ok()?;
    Some(keys.len())
}

#[test]
fn the_dr_drill_destroys_the_environment_restores_it_and_validates_every_decision() {
    // Every server stopped, started and restored: the machine is the drill's.
    let _cpu = common::heavy();
    let env = PrivateEnv::all_services();
    let config = std::fs::read_to_string(&env.config).expect("config");
    let redis_port = port(&config, "[services.redis]");
    // The drill's own bound (300 s), its start and its cleanup.
    let within = Duration::from_secs(420);
    let up = run_within(&mut env.cmd(&["env", "up"]), within).0;
    assert_eq!(up.status.code(), Some(0), "{}", text(&up));
    let json = env.path("dr.json");
    let run_id = common::unique("dr");
    let mut drill = env
        .cmd(&["run", "--suite", "dr", "--run-id", &run_id, "-q", "--json"])
        .arg(&json)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run --suite dr");
    // While it runs, the decisions' keys appear, then the disaster empties Redis: seen
    // from outside, not taken from the run's word.
    let (mut written, mut destroyed) = (false, false);
    let deadline = std::time::Instant::now() + within;
    while !destroyed && std::time::Instant::now() < deadline {
        if drill.try_wait().expect("wait").is_some() {
            break;
        }
        match keys_with(redis_port, "dr-approve-1") {
            Some(n) if n > 0 => written = true,
            Some(0) if written => destroyed = true,
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = drill.wait_with_output().expect("run output");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        written && destroyed,
        "keys written {written}, then gone {destroyed}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("report")).expect("JSON");
    let fault = &report["scenarios"][0]["faults"][0];
    assert_eq!(fault["action"], "disaster", "{fault}");
    assert_eq!(fault["service"], "environment", "{fault}");
    assert!(fault["healed_at"].is_i64(), "{fault}");
    let detail = fault["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("every store emptied") && detail.contains("restored"),
        "{detail}"
    );
    // Every validator ran on every request after the restore, and passed.
    let validators = report["scenarios"][0]["validators"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(validators.len(), 6, "{validators:?}");
    assert!(
        validators.iter().all(|v| v["passed"] == true
            && v["requests"] == 4
            && v["checks"].as_array().is_some_and(|c| !c.is_empty())),
        "{validators:?}"
    );
    assert!(
        !env.state
            .join("snapshots")
            .read_dir()
            .is_ok_and(|mut d| d
                .any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("dr-")))),
        "the drill's snapshot is removed once restored"
    );
}

#[test]
fn a_backup_of_one_environment_restores_into_another() {
    let (from, to) = (PrivateEnv::all_services(), PrivateEnv::all_services());
    let ports = |env: &PrivateEnv| {
        let config = std::fs::read_to_string(&env.config).expect("config");
        (
            port(&config, "[services.redis]"),
            port(&config, "[services.graph]"),
            port(&config, "[services.kafka]"),
        )
    };
    // An empty graph (one a connection opened) holds nothing to compare.
    let graphs = |g| {
        let mut all = graph_state(g);
        all.retain(|_, counts| *counts != (0, 0));
        all
    };
    let state = |(r, g, k): (u16, u16, u16)| (redis_state(r), graphs(g), kafka_state(k));
    let within = Duration::from_secs(300);
    let up = run_within(&mut from.cmd(&["env", "up"]), within).0;
    assert_eq!(up.status.code(), Some(0), "{}", text(&up));
    let ran = run_within(&mut from.cmd(&["run", "--keep-data", "-q"]), within).0;
    assert_eq!(ran.status.code(), Some(0), "{}", text(&ran));
    let dir = from.path("backup");
    let dir_arg = dir.to_string_lossy().to_string();
    let taken = run_within(&mut from.cmd(&["backup", "create", &dir_arg]), within).0;
    assert_eq!(taken.status.code(), Some(0), "{}", text(&taken));
    let before = state(ports(&from));
    holds_a_run(&before.0, &before.1, &before.2);

    // Elsewhere: another environment, without Temporal, which a backup does not hold.
    let up = run_within(
        &mut to.cmd(&["env", "up", "redis", "graph", "kafka"]),
        within,
    )
    .0;
    assert_eq!(up.status.code(), Some(0), "{}", text(&up));
    let restored = run_within(&mut to.cmd(&["backup", "restore", &dir_arg]), within).0;
    assert_eq!(restored.status.code(), Some(0), "{}", text(&restored));
    let after = state(ports(&to));
    assert_eq!(after.0, before.0, "the same keys, values and TTLs");
    assert_eq!(after.1, before.1, "the same graphs");
    assert_eq!(after.2, before.2, "the same messages, in order");

    // Into stores that hold data: refused, nothing written.
    let again = run_within(&mut to.cmd(&["backup", "restore", &dir_arg]), within).0;
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(
        text(&again).contains("restore into empty stores only"),
        "{}",
        text(&again)
    );
    // A file changed since: refused before anything is read into a store.
    std::fs::write(dir.join("redis.jsonl"), "{}").expect("corrupt");
    let reset = run_within(&mut to.cmd(&["env", "reset"]), within).0;
    assert_eq!(reset.status.code(), Some(0), "{}", text(&reset));
    let corrupt = run_within(&mut to.cmd(&["backup", "restore", &dir_arg]), within).0;
    assert_eq!(corrupt.status.code(), Some(2), "{}", text(&corrupt));
    assert!(
        text(&corrupt).contains("redis.jsonl does not match its digest"),
        "{}",
        text(&corrupt)
    );
    assert!(redis_state(ports(&to).0).is_empty(), "nothing written");
    let into_existing = run_within(&mut from.cmd(&["backup", "create", &dir_arg]), within).0;
    assert_eq!(
        into_existing.status.code(),
        Some(2),
        "{}",
        text(&into_existing)
    );
}
