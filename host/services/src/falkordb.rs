//! FalkorDB through its own protocol (the `falkordb` crate): the graph of the local profile
//! and CI. (neo4rs cannot talk to FalkorDB's Bolt listener; see SERVICES.md.)

use std::collections::BTreeMap;
use std::sync::Arc;

use aura_contract::names;

use async_trait::async_trait;
use falkordb::{
    AsyncGraph, Backoff, FalkorAsyncClient, FalkorClientBuilder, FalkorConnectionInfo, FalkorValue,
    RetryPolicy,
};
use futures::{StreamExt, TryStreamExt};

use super::graph::{
    ANSWER_ROWS, GraphStore, GraphValue, Node, QUERY_MEMORY_BYTES, Relationship, Row, node_count,
};
use super::redis::info_field;
use super::{Cypher, Endpoint, Failure, ServiceError, ServiceFacts, ServiceKind, display_address};
use crate::config::{GraphBackend, GraphConfig};

/// The module arguments a FalkorDB server is started with so that no query, a plugin's
/// above all, holds it past what the host allows: at most one row more than
/// [`ANSWER_ROWS`] per answer (the extra row tells the host it was cut, while the server
/// produces it), [`QUERY_MEMORY_BYTES`] per query, and a per-query `TIMEOUT` honoured by
/// writes as well as reads.
pub fn server_module_args() -> Vec<String> {
    [
        ("RESULTSET_SIZE", (ANSWER_ROWS + 1).to_string()),
        ("QUERY_MEM_CAPACITY", QUERY_MEMORY_BYTES.to_string()),
        ("TIMEOUT_MAX", "3600000".to_string()),
    ]
    .into_iter()
    .flat_map(|(k, v)| [k.to_string(), v])
    .collect()
}

#[derive(Clone)]
pub struct FalkorGraph {
    endpoint: Endpoint,
    database: String,
    client: FalkorAsyncClient,
    graph: AsyncGraph,
    /// Plain Redis client for what the graph API lacks (INFO, MODULE LIST, DEL): a
    /// connection per call, so a server that restarted (a fault, a restore) is reached
    /// again rather than through a broken pipe.
    redis: redis::Client,
    /// The runtime it connected on. The client replaces a dropped pooled connection on
    /// the runtime of the query that found it dropped; queries run here, so no
    /// connection belongs to a runtime that ends first (a target's worker).
    home: Option<tokio::runtime::Handle>,
}

impl FalkorGraph {
    pub async fn connect(config: &GraphConfig) -> Result<Self, ServiceError> {
        let endpoint = Endpoint::new(
            ServiceKind::Graph,
            display_address(&config.url),
            config.timeout,
        );
        let redis_url = config.url.replacen("falkor://", "redis://", 1);
        let info: FalkorConnectionInfo =
            config
                .url
                .as_str()
                .try_into()
                .map_err(|e: falkordb::FalkorDBError| {
                    endpoint.error(Failure::Address(e.to_string()))
                })?;
        let client = endpoint
            .connect(|| {
                FalkorClientBuilder::new_async()
                    .with_connection_info(info.clone())
                    .with_retry_policy(
                        RetryPolicy::read_only()
                            .max_attempts(READ_ATTEMPTS)
                            .backoff(Backoff::fixed(RETRY_DELAY)),
                    )
                    .build()
            })
            .await?;
        let redis = redis::Client::open(redis_url)
            .map_err(|e| endpoint.error(Failure::Address(e.to_string())))?;
        // Reachable now, as the graph client is.
        endpoint
            .connect(|| redis.get_multiplexed_async_connection())
            .await?;
        let graph = client.select_graph(&config.database);
        Ok(Self {
            endpoint,
            database: config.database.clone(),
            client,
            graph,
            redis,
            home: tokio::runtime::Handle::try_current().ok(),
        })
    }

    /// A handle on another graph key of the same server (per-test isolation).
    pub fn with_database(&self, database: &str) -> Self {
        Self {
            endpoint: self.endpoint.clone(),
            database: database.to_string(),
            client: self.client.clone(),
            graph: self.client.select_graph(database),
            redis: self.redis.clone(),
            home: self.home.clone(),
        }
    }

    /// A fresh plain connection (see `redis`).
    async fn plain(&self) -> Result<redis::aio::MultiplexedConnection, ServiceError> {
        self.endpoint
            .connect(|| self.redis.get_multiplexed_async_connection())
            .await
    }

    /// Drops the whole graph key. Missing graphs are not an error.
    pub async fn delete_graph(&self) -> Result<(), ServiceError> {
        let mut redis = self.plain().await?;
        let _: i64 = self
            .endpoint
            .call(
                "DEL graph",
                redis::cmd("DEL")
                    .arg(&self.database)
                    .query_async(&mut redis),
            )
            .await?;
        Ok(())
    }

    async fn versions(&self) -> Result<String, ServiceError> {
        let mut redis = self.plain().await?;
        let info: String = self
            .endpoint
            .call(
                "INFO server",
                redis::cmd("INFO").arg("server").query_async(&mut redis),
            )
            .await?;
        let redis_version = info_field(&info, "redis_version").unwrap_or("unknown");
        let modules: redis::Value = self
            .endpoint
            .call(
                "MODULE LIST",
                redis::cmd("MODULE").arg("LIST").query_async(&mut redis),
            )
            .await?;
        let graph_version = module_version(&modules, "graph")
            .map(|v| format!("{}.{}.{}", v / 10000, v / 100 % 100, v % 100))
            .ok_or_else(|| {
                self.endpoint.protocol_error(
                    "MODULE LIST",
                    "the FalkorDB module ('graph') is not loaded in this server",
                )
            })?;
        Ok(format!("FalkorDB {graph_version} (Redis {redis_version})"))
    }
}

#[async_trait]
impl GraphStore for FalkorGraph {
    fn backend(&self) -> GraphBackend {
        GraphBackend::Falkordb
    }

    fn address(&self) -> &str {
        &self.endpoint.address
    }

    async fn query(&self, cypher: Cypher) -> Result<Vec<Row>, ServiceError> {
        let Some(home) = self.home.clone() else {
            return self.query_here(cypher).await;
        };
        let this = self.clone();
        // Ended with its caller (a step's timeout, a cancelled run), as it was inline.
        let task = AbortOnDrop(home.spawn(async move { this.query_here(cypher).await }));
        task.wait().await.map_err(|e| {
            self.endpoint
                .error(Failure::Connect(format!("graph query task: {e}")))
        })?
    }

    fn for_run(&self, run_id: &str) -> Option<Arc<dyn GraphStore>> {
        Some(Arc::new(
            self.with_database(&names::run_graph(&self.database, run_id)),
        ))
    }

    async fn delete_graph(&self) -> Result<(), ServiceError> {
        FalkorGraph::delete_graph(self).await
    }

    async fn probe(&self) -> Result<ServiceFacts, ServiceError> {
        let version = self.versions().await?;
        let nodes = node_count(self).await?;
        Ok(ServiceFacts {
            version: Some(version),
            ..ServiceFacts::default()
        }
        .with("backend", "falkordb")
        .with("database", self.database.clone())
        .with("node_count", nodes))
    }
}

/// A spawned task aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn wait(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Attempts of a query whose pooled connection the server (or a fault) had closed: the
/// client swaps in a fresh one and asks again, `RETRY_DELAY` later. More than the
/// client's pool (8), which a fault can close all at once. Only reads and idempotent
/// writes are asked again: another write may have run.
const READ_ATTEMPTS: u32 = 10;
const RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(50);

/// The client's error for a connection found closed.
fn dropped(e: &ServiceError) -> bool {
    e.to_string()
        .contains(&falkordb::FalkorDBError::ConnectionDown.to_string())
}

impl FalkorGraph {
    async fn query_here(&self, cypher: Cypher) -> Result<Vec<Row>, ServiceError> {
        match self.run_query(&cypher).await {
            // A run's graph exists once something wrote to it; reading one that nothing
            // has yet is reading an empty graph, which a write of nothing creates.
            Err(e) if cypher.read_only && e.to_string().contains("empty key") => {
                self.run_query(&Cypher::new("RETURN 1")).await?;
                self.run_query(&cypher).await
            }
            // Reads are asked again by the client (its read-only retry policy); an
            // idempotent write is asked again here, a closed connection at a time.
            Err(e) if cypher.idempotent && !cypher.read_only && dropped(&e) => {
                let mut last = e;
                for _ in 1..READ_ATTEMPTS {
                    tokio::time::sleep(RETRY_DELAY).await;
                    match self.run_query(&cypher).await {
                        Err(e) if dropped(&e) => last = e,
                        other => return other,
                    }
                }
                Err(last)
            }
            other => other,
        }
    }

    async fn run_query(&self, cypher: &Cypher) -> Result<Vec<Row>, ServiceError> {
        let mut graph = self.graph.clone();
        let operation = if cypher.read_only {
            "GRAPH.RO_QUERY"
        } else {
            "GRAPH.QUERY"
        };
        // The server stops when the host stops waiting: the caller's time, at most the
        // endpoint's.
        let server_timeout = cypher
            .timeout
            .map_or(self.endpoint.timeout, |t| t.min(self.endpoint.timeout));
        let run = async {
            let mut builder = if cypher.read_only {
                graph.ro_query(&cypher.text)
            } else {
                graph.query(cypher.text.as_str())
            };
            for (name, value) in &cypher.params {
                builder = builder.with_param(name, to_falkor(value));
            }
            builder = builder.with_timeout(server_timeout.as_millis().clamp(1, 3_600_000) as i64);
            let result = builder.execute().await?;
            let columns: Vec<String> = result.header.iter().map(|c| c.to_string()).collect();
            // One row past the maximum is enough to know the answer is too large.
            let keep = cypher.max_rows.map_or(usize::MAX, |m| m.saturating_add(1));
            let rows: Vec<falkordb::Row> = result.data.take(keep).try_collect().await?;
            Ok::<_, falkordb::FalkorDBError>((columns, rows))
        };
        let (columns, rows) =
            self.endpoint
                .call(operation, run)
                .await
                .map_err(|e| match e.failure {
                    Failure::Operation { detail, .. } if detail.contains("timed out") => {
                        self.endpoint.error(Failure::Timeout(server_timeout))
                    }
                    _ => e,
                })?;
        if cypher.too_many(rows.len()) {
            return Err(self.endpoint.error(Failure::TooLarge {
                operation: operation.into(),
                max: cypher.max_rows.unwrap_or_default(),
                unit: "rows",
            }));
        }
        rows.into_iter()
            .map(|row| {
                let values = row
                    .into_values()
                    .into_iter()
                    .map(from_falkor)
                    .collect::<Result<Vec<_>, String>>()
                    .map_err(|e| self.endpoint.protocol_error(operation, e))?;
                Ok(Row {
                    columns: columns.clone(),
                    values,
                })
            })
            .collect()
    }
}

/// Finds `ver` of module `name` in a MODULE LIST reply (RESP2 arrays or RESP3 maps).
fn module_version(reply: &redis::Value, name: &str) -> Option<i64> {
    let redis::Value::Array(modules) = reply else {
        return None;
    };
    modules.iter().find_map(|m| {
        let pairs: Vec<(&redis::Value, &redis::Value)> = match m {
            redis::Value::Array(kv) => kv
                .chunks(2)
                .filter_map(|c| Some((c.first()?, c.get(1)?)))
                .collect(),
            redis::Value::Map(kv) => kv.iter().map(|(k, v)| (k, v)).collect(),
            _ => return None,
        };
        let field = |key: &str| {
            pairs.iter().find_map(|(k, v)| match k {
                redis::Value::BulkString(b) if b == key.as_bytes() => Some(*v),
                redis::Value::SimpleString(s) if s == key => Some(*v),
                _ => None,
            })
        };
        let is_it = match field("name")? {
            redis::Value::BulkString(b) => b == name.as_bytes(),
            redis::Value::SimpleString(s) => s == name,
            _ => false,
        };
        match (is_it, field("ver")?) {
            (true, redis::Value::Int(v)) => Some(*v),
            _ => None,
        }
    })
}

fn to_falkor(value: &GraphValue) -> FalkorValue {
    match value {
        GraphValue::Null => FalkorValue::None,
        GraphValue::Bool(b) => FalkorValue::Bool(*b),
        GraphValue::Int(i) => FalkorValue::I64(*i),
        GraphValue::Float(f) => FalkorValue::F64(*f),
        GraphValue::String(s) => FalkorValue::String(s.clone()),
        GraphValue::List(l) => FalkorValue::Array(l.iter().map(to_falkor).collect()),
        GraphValue::Map(m)
        | GraphValue::Node(Node { properties: m, .. })
        | GraphValue::Relationship(Relationship { properties: m, .. }) => {
            FalkorValue::Map(m.iter().map(|(k, v)| (k.clone(), to_falkor(v))).collect())
        }
    }
}

fn from_falkor(value: FalkorValue) -> Result<GraphValue, String> {
    let props = |p: std::collections::HashMap<String, FalkorValue>| {
        p.into_iter()
            .map(|(k, v)| Ok((k, from_falkor(v)?)))
            .collect::<Result<BTreeMap<_, _>, String>>()
    };
    Ok(match value {
        FalkorValue::None => GraphValue::Null,
        FalkorValue::Bool(b) => GraphValue::Bool(b),
        FalkorValue::I64(i) => GraphValue::Int(i),
        FalkorValue::F64(f) => GraphValue::Float(f),
        FalkorValue::String(s) => GraphValue::String(s),
        FalkorValue::Array(a) => {
            GraphValue::List(a.into_iter().map(from_falkor).collect::<Result<_, _>>()?)
        }
        FalkorValue::Map(m) => GraphValue::Map(props(m)?),
        FalkorValue::Node(n) => GraphValue::Node(Node {
            labels: n.labels,
            properties: props(n.properties)?,
        }),
        FalkorValue::Edge(e) => GraphValue::Relationship(Relationship {
            rel_type: e.relationship_type,
            properties: props(e.properties)?,
        }),
        other => return Err(format!("value type not supported by aura-host: {other:?}")),
    })
}
