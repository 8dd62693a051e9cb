//! Backups of a deployment's stores, taken and restored over the network through the
//! services of `aura.toml`, so a backup from one environment (local, compose, a cluster)
//! restores into another: Redis as `DUMP` payloads with their TTLs; FalkorDB's graphs
//! (every one: each run namespace has its own) the same way, Neo4j's database as its nodes
//! and relationships; Kafka's topics as their messages in order. Restore reads and checks every file first, refuses a store
//! that already holds data, and removes what it wrote if a store fails half-way.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use super::EnvironmentError;
use super::snapshot::{self, KAFKA_FILE, Message, io};
use aura_services::config::GraphBackend;
use aura_services::graph::{Cypher, GraphStore, GraphValue};
use aura_services::{ServiceHub, ServiceKind};

const MANIFEST: &str = "backup.json";
const REDIS_FILE: &str = "redis.jsonl";
const GRAPH_FILE: &str = "graph.jsonl";
const FALKOR_FILE: &str = "falkordb.jsonl";
/// Nodes or relationships written per statement.
const BATCH: usize = 500;
/// A property restore adds to find a node again, removed once its relationships are in.
const MARK: &str = "_aura_backup_id";
const REDIS_WITHIN: Duration = Duration::from_secs(60);

/// A backup's description, beside its files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Backup {
    pub taken_at: chrono::DateTime<chrono::Utc>,
    /// Where it was taken from (passwords redacted).
    pub from: BTreeMap<ServiceKind, String>,
    pub keys: usize,
    /// FalkorDB's graphs (kept whole); Neo4j's nodes and relationships are counted instead.
    pub graphs: usize,
    pub nodes: usize,
    pub relationships: usize,
    pub topics: usize,
    pub messages: usize,
    /// Each file's sha256.
    pub files: BTreeMap<String, String>,
}

/// One Redis key: its name (as text, and exactly in base64: a name may be any bytes),
/// its `DUMP` payload (base64), its TTL in ms (0: none).
#[derive(Debug, Serialize, Deserialize)]
struct Key {
    key: String,
    name: String,
    dump: String,
    ttl_ms: i64,
}

/// One line of the graph file: a node, or a relationship between two nodes' ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GraphEntry {
    Node {
        id: i64,
        labels: Vec<String>,
        properties: BTreeMap<String, GraphValue>,
    },
    Relationship {
        from: i64,
        to: i64,
        #[serde(rename = "type")]
        rel_type: String,
        properties: BTreeMap<String, GraphValue>,
    },
}

fn bad(what: impl std::fmt::Display) -> EnvironmentError {
    EnvironmentError::Snapshot(what.to_string())
}

/// A Redis-protocol connection to the store of `kind` (Redis, or FalkorDB for the graph).
async fn connect(
    hub: &ServiceHub,
    kind: ServiceKind,
) -> Result<redis::aio::MultiplexedConnection, EnvironmentError> {
    let url = match kind {
        ServiceKind::Graph => hub
            .config()
            .graph
            .url
            .replacen("falkors://", "rediss://", 1)
            .replacen("falkor://", "redis://", 1),
        _ => hub.config().redis.url.clone(),
    };
    let failed = |e: redis::RedisError| {
        EnvironmentError::Service(aura_services::ServiceError::new(
            kind,
            hub.config().address(kind),
            aura_services::Failure::Connect(e.to_string()),
        ))
    };
    snapshot::bulk_connection(&url).await.map_err(failed)
}

fn falkordb(hub: &ServiceHub) -> bool {
    hub.config().graph.backend == GraphBackend::Falkordb
}

/// Backs up the configured stores into `dir` (which must not exist or be empty).
pub async fn take(hub: &ServiceHub, dir: &Path) -> Result<Backup, EnvironmentError> {
    if dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        return Err(bad(format!(
            "{}: not empty; back up into a new directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
    let keys = read_keys(&mut connect(hub, ServiceKind::Redis).await?, None).await?;
    write_lines(&dir.join(REDIS_FILE), &keys)?;
    let (graphs, graph) = match falkordb(hub) {
        true => {
            let mut conn = connect(hub, ServiceKind::Graph).await?;
            let names: Vec<Vec<u8>> = redis::cmd("GRAPH.LIST")
                .query_async(&mut conn)
                .await
                .map_err(|e| bad(format!("graph: GRAPH.LIST: {e}")))?;
            (read_keys(&mut conn, Some(names)).await?, Vec::new())
        }
        false => (Vec::new(), read_graph(&*hub.graph().await?).await?),
    };
    write_lines(&dir.join(FALKOR_FILE), &graphs)?;
    write_lines(&dir.join(GRAPH_FILE), &graph)?;
    let messages = snapshot::read_topics(hub).await?;
    let topics = snapshot::write_messages(&dir.join(KAFKA_FILE), &messages)?;
    let nodes = graph
        .iter()
        .filter(|e| matches!(e, GraphEntry::Node { .. }))
        .count();
    let backup = Backup {
        taken_at: chrono::Utc::now(),
        from: [ServiceKind::Redis, ServiceKind::Graph, ServiceKind::Kafka]
            .into_iter()
            .map(|k| (k, hub.config().address(k)))
            .collect(),
        keys: keys.len(),
        graphs: graphs.len(),
        nodes,
        relationships: graph.len() - nodes,
        topics,
        messages: messages.len(),
        files: snapshot::digests(dir)?,
    };
    let text = serde_json::to_string_pretty(&backup).unwrap_or_default();
    std::fs::write(dir.join(MANIFEST), text).map_err(io("write the backup's manifest"))?;
    Ok(backup)
}

fn write_lines<T: Serialize>(path: &Path, items: &[T]) -> Result<(), EnvironmentError> {
    let lines: Vec<String> = items
        .iter()
        .map(|i| serde_json::to_string(i).unwrap_or_default())
        .collect();
    std::fs::write(path, lines.join("\n")).map_err(io(format!("write {}", path.display())))
}

fn read_lines<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, EnvironmentError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l).map_err(|e| bad(format!("{}:{}: {e}", path.display(), n + 1)))
        })
        .collect()
}

/// Each key's `DUMP` and TTL: those `names` lists, or every key (`SCAN`).
async fn read_keys(
    conn: &mut redis::aio::MultiplexedConnection,
    names: Option<Vec<Vec<u8>>>,
) -> Result<Vec<Key>, EnvironmentError> {
    let read = async {
        let mut cursor: Option<u64> = names.is_none().then_some(0);
        let mut names = names.unwrap_or_default();
        while let Some(at) = cursor {
            let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(at)
                .arg("COUNT")
                .arg(1000)
                .query_async(conn)
                .await?;
            names.extend(batch);
            cursor = (next != 0).then_some(next);
        }
        names.sort();
        names.dedup();
        let mut keys = Vec::new();
        for name in names {
            let dump: Option<Vec<u8>> = redis::cmd("DUMP").arg(&name).query_async(conn).await?;
            let ttl: i64 = redis::cmd("PTTL").arg(&name).query_async(conn).await?;
            // Gone (expired) between SCAN and DUMP: nothing to keep.
            let Some(dump) = dump else { continue };
            keys.push(Key {
                key: String::from_utf8_lossy(&name).into_owned(),
                name: B64.encode(&name),
                dump: B64.encode(dump),
                ttl_ms: ttl.max(0),
            });
        }
        Ok::<_, redis::RedisError>(keys)
    };
    tokio::time::timeout(REDIS_WITHIN, read)
        .await
        .map_err(|_| bad(format!("not read within {REDIS_WITHIN:?}")))?
        .map_err(|e| bad(e.to_string()))
}

fn int(v: Option<&GraphValue>) -> Option<i64> {
    v.and_then(GraphValue::as_int)
}

fn map(v: Option<&GraphValue>) -> BTreeMap<String, GraphValue> {
    match v {
        Some(GraphValue::Map(m)) => m.clone(),
        _ => BTreeMap::new(),
    }
}

/// Every node and relationship of `graph` (Neo4j's way of backing up: FalkorDB's graphs
/// are kept whole), ids as the server gave them.
pub async fn read_graph(graph: &dyn GraphStore) -> Result<Vec<GraphEntry>, EnvironmentError> {
    let nodes = graph
        .query(
            Cypher::new(
                "MATCH (n) RETURN id(n) AS id, labels(n) AS labels, properties(n) AS props",
            )
            .read_only(),
        )
        .await?;
    let rels = graph
        .query(
            Cypher::new(
                "MATCH (a)-[r]->(b) RETURN id(a) AS a, id(b) AS b, type(r) AS t, properties(r) AS props",
            )
            .read_only(),
        )
        .await?;
    let mut out = Vec::new();
    for row in nodes {
        let labels = match row.get("labels") {
            Some(GraphValue::List(l)) => l
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        out.push(GraphEntry::Node {
            id: int(row.get("id")).ok_or_else(|| bad("graph: a node without an id"))?,
            labels,
            properties: map(row.get("props")),
        });
    }
    for row in rels {
        out.push(GraphEntry::Relationship {
            from: int(row.get("a")).ok_or_else(|| bad("graph: a relationship without ends"))?,
            to: int(row.get("b")).ok_or_else(|| bad("graph: a relationship without ends"))?,
            rel_type: row
                .get("t")
                .and_then(|t| t.as_str())
                .unwrap_or_default()
                .to_string(),
            properties: map(row.get("props")),
        });
    }
    Ok(out)
}

/// A backup's files read and checked: what restoring it would write.
struct Checked {
    backup: Backup,
    keys: Vec<Kept>,
    graphs: Vec<Kept>,
    graph: Vec<GraphEntry>,
    messages: Vec<Message>,
}

fn check(dir: &Path) -> Result<Checked, EnvironmentError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| bad(format!("{}: {e} (not a backup)", path.display())))?;
    let backup: Backup =
        serde_json::from_str(&text).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    snapshot::check_digests(dir, &backup.files)?;
    let keys = decode(dir, REDIS_FILE)?;
    let graphs = decode(dir, FALKOR_FILE)?;
    let graph = read_lines::<GraphEntry>(&dir.join(GRAPH_FILE))?;
    for e in &graph {
        let names = match e {
            GraphEntry::Node { labels, .. } => labels.clone(),
            GraphEntry::Relationship { rel_type, .. } => vec![rel_type.clone()],
        };
        if let Some(n) = names.iter().find(|n| !valid_name(n)) {
            return Err(bad(format!(
                "{GRAPH_FILE}: label or type {n:?}: not a plain name"
            )));
        }
    }
    let messages = snapshot::read_messages(&dir.join(KAFKA_FILE))?;
    Ok(Checked {
        backup,
        keys,
        graphs,
        graph,
        messages,
    })
}

/// The keys kept in `file` of `dir`, their dumps decoded.
fn decode(dir: &Path, file: &str) -> Result<Vec<Kept>, EnvironmentError> {
    read_lines::<Key>(&dir.join(file))?
        .into_iter()
        .map(|k| {
            let field = |what: &str, text: &str| {
                B64.decode(text)
                    .map_err(|e| bad(format!("{file}: key {:?}: {what}: {e}", k.key)))
            };
            Ok(Kept {
                name: field("name", &k.name)?,
                dump: field("dump", &k.dump)?,
                ttl_ms: k.ttl_ms,
                key: k.key.clone(),
            })
        })
        .collect()
}

/// A key as restore writes it.
struct Kept {
    key: String,
    name: Vec<u8>,
    dump: Vec<u8>,
    ttl_ms: i64,
}

/// A label or type written into a statement: letters, digits and `_` only.
fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= 128 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Restores the backup in `dir` into the configured stores, each of which must be empty.
pub async fn restore(hub: &ServiceHub, dir: &Path) -> Result<Backup, EnvironmentError> {
    let checked = check(dir)?;
    let mut conn = connect(hub, ServiceKind::Redis).await?;
    let mut falkor = match falkordb(hub) {
        true => Some(connect(hub, ServiceKind::Graph).await?),
        false => None,
    };
    if falkor.is_none() && !checked.graphs.is_empty() {
        return Err(bad(format!(
            "{}: its graphs are FalkorDB's; aura.toml names a {} graph",
            dir.display(),
            hub.config().graph.backend
        )));
    }
    let graph = hub.graph().await?;
    let events = hub.events().await?;
    let held = held(&mut conn, falkor.as_mut(), &*graph, &*events, &checked).await?;
    if !held.is_empty() {
        return Err(bad(format!(
            "restore into empty stores only: {} (nothing was written)",
            held.join("; ")
        )));
    }
    let mut written = write_keys(&mut conn, &checked.keys, false).await;
    if let (Ok(()), Some(f)) = (&written, falkor.as_mut()) {
        written = write_keys(f, &checked.graphs, true).await;
    }
    if written.is_ok() {
        written = write_graph(&*graph, &checked.graph).await;
    }
    if written.is_ok() {
        written = snapshot::publish_messages(hub, checked.messages.clone()).await;
    }
    let Err(e) = written else {
        return Ok(checked.backup);
    };
    // Nothing half-restored: what this restore wrote is removed (the stores were empty).
    let mut left = Vec::new();
    if let Err(u) = redis::cmd("FLUSHDB").query_async::<()>(&mut conn).await {
        left.push(format!("redis: {u}"));
    }
    if let Some(f) = falkor.as_mut() {
        for g in &checked.graphs {
            let _ = redis::cmd("DEL").arg(&g.name).query_async::<()>(f).await;
        }
    }
    if let Err(u) = graph.query(Cypher::new("MATCH (n) DETACH DELETE n")).await {
        left.push(format!("graph: {u}"));
    }
    let topics: Vec<String> = checked.messages.iter().map(|m| m.topic.clone()).collect();
    if let Err(u) = events.delete_topics(&topics).await {
        left.push(format!("kafka: {u}"));
    }
    Err(EnvironmentError::Restore(match left.is_empty() {
        true => format!(
            "restoring {} failed, what it wrote is removed: {e}",
            dir.display()
        ),
        false => format!(
            "restoring {} failed ({e}) and removing what it wrote did too: {}",
            dir.display(),
            left.join("; ")
        ),
    }))
}

/// What the stores already hold that a restore would write into: one line each.
async fn held(
    conn: &mut redis::aio::MultiplexedConnection,
    falkor: Option<&mut redis::aio::MultiplexedConnection>,
    graph: &dyn GraphStore,
    events: &dyn aura_services::EventBus,
    checked: &Checked,
) -> Result<Vec<String>, EnvironmentError> {
    let mut held = Vec::new();
    let size: i64 = redis::cmd("DBSIZE")
        .query_async(conn)
        .await
        .map_err(|e| bad(format!("redis: {e}")))?;
    if size > 0 {
        held.push(format!("redis holds {size} key(s)"));
    }
    if let Some(f) = falkor {
        let names: Vec<String> = redis::cmd("GRAPH.LIST")
            .query_async(f)
            .await
            .map_err(|e| bad(format!("graph: GRAPH.LIST: {e}")))?;
        // An empty graph of the same name (one a connection created) is replaced.
        let mut full = Vec::new();
        for name in names
            .iter()
            .filter(|n| checked.graphs.iter().any(|g| g.name == n.as_bytes()))
        {
            let answer: redis::Value = redis::cmd("GRAPH.QUERY")
                .arg(name)
                .arg("MATCH (n) RETURN count(n)")
                .query_async(&mut *f)
                .await
                .map_err(|e| bad(format!("graph {name}: {e}")))?;
            if first_int(&answer) != Some(0) {
                full.push(name.as_str());
            }
        }
        if let Some(first) = full.first() {
            held.push(format!(
                "falkordb holds {} of its graph(s) ({first}, ...)",
                full.len()
            ));
        }
    } else {
        let nodes = graph
            .query(Cypher::new("MATCH (n) RETURN count(n) AS n").read_only())
            .await?;
        let nodes = nodes.first().and_then(|r| int(r.get("n"))).unwrap_or(0);
        if nodes > 0 {
            held.push(format!("the graph holds {nodes} node(s)"));
        }
    }
    let existing = events.list_topics().await?;
    let clash: std::collections::BTreeSet<&str> = checked
        .messages
        .iter()
        .map(|m| m.topic.as_str())
        .filter(|t| existing.iter().any(|e| e == t))
        .collect();
    if let Some(first) = clash.first() {
        held.push(format!(
            "kafka has {} of its topic(s) ({first}, ...)",
            clash.len()
        ));
    }
    Ok(held)
}

/// The first cell of a `GRAPH.QUERY` answer: `[header, [[cell, ..], ..], stats]`.
fn first_int(answer: &redis::Value) -> Option<i64> {
    let redis::Value::Array(parts) = answer else {
        return None;
    };
    let Some(redis::Value::Array(rows)) = parts.get(1) else {
        return None;
    };
    let Some(redis::Value::Array(cells)) = rows.first() else {
        return None;
    };
    match cells.first() {
        Some(redis::Value::Int(n)) => Some(*n),
        _ => None,
    }
}

/// `RESTORE`s each key; `replace`: over a key that exists (checked empty before).
async fn write_keys(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &[Kept],
    replace: bool,
) -> Result<(), EnvironmentError> {
    for k in keys {
        let mut cmd = redis::cmd("RESTORE");
        cmd.arg(&k.name).arg(k.ttl_ms).arg(k.dump.as_slice());
        if replace {
            cmd.arg("REPLACE");
        }
        cmd.query_async::<()>(conn)
            .await
            .map_err(|e| EnvironmentError::Restore(format!("RESTORE {:?}: {e}", k.key)))?;
    }
    Ok(())
}

/// Writes `entries` into `graph` as new nodes and relationships, linked as they were.
pub async fn write_graph(
    graph: &dyn GraphStore,
    entries: &[GraphEntry],
) -> Result<(), EnvironmentError> {
    let mut nodes: BTreeMap<Vec<String>, Vec<GraphValue>> = BTreeMap::new();
    let mut rels: BTreeMap<String, Vec<GraphValue>> = BTreeMap::new();
    for e in entries {
        match e {
            GraphEntry::Node {
                id,
                labels,
                properties,
            } => {
                let mut props = properties.clone();
                props.insert(MARK.into(), GraphValue::Int(*id));
                nodes
                    .entry(labels.clone())
                    .or_default()
                    .push(GraphValue::Map(props));
            }
            GraphEntry::Relationship {
                from,
                to,
                rel_type,
                properties,
            } => {
                let row = BTreeMap::from([
                    ("from".to_string(), GraphValue::Int(*from)),
                    ("to".to_string(), GraphValue::Int(*to)),
                    ("props".to_string(), GraphValue::Map(properties.clone())),
                ]);
                rels.entry(rel_type.clone())
                    .or_default()
                    .push(GraphValue::Map(row));
            }
        }
    }
    let failed = |e: aura_services::ServiceError| EnvironmentError::Restore(format!("graph: {e}"));
    for (labels, batch) in nodes {
        let labels: String = labels.iter().map(|l| format!(":`{l}`")).collect();
        for chunk in batch.chunks(BATCH) {
            let text = format!("UNWIND $rows AS row CREATE (n{labels}) SET n = row");
            graph
                .query(Cypher::new(text).param("rows", chunk.to_vec()))
                .await
                .map_err(failed)?;
        }
    }
    for (rel_type, batch) in rels {
        for chunk in batch.chunks(BATCH) {
            let text = format!(
                "UNWIND $rows AS row MATCH (a {{{MARK}: row.from}}), (b {{{MARK}: row.to}}) \
                 CREATE (a)-[r:`{rel_type}`]->(b) SET r = row.props"
            );
            graph
                .query(Cypher::new(text).param("rows", chunk.to_vec()))
                .await
                .map_err(failed)?;
        }
    }
    graph
        .query(Cypher::new(format!(
            "MATCH (n) WHERE n.{MARK} IS NOT NULL REMOVE n.{MARK}"
        )))
        .await
        .map_err(failed)?;
    Ok(())
}
