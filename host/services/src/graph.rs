//! One graph trait, two backends ([`super::falkordb`], [`super::neo4j`]). Queries are
//! parameterised Cypher in the openCypher subset both servers accept; results come back as
//! [`GraphValue`]s so callers never see a backend's own types.

use std::collections::BTreeMap;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{ServiceError, ServiceFacts};
use crate::config::{GraphBackend, GraphConfig};

/// Rows the host reads of one answer for a caller that bounds its answers (plugins).
pub const ANSWER_ROWS: usize = 10_000;

/// Memory one query may use in the server (FalkorDB's `QUERY_MEM_CAPACITY`, Neo4j's
/// `db.memory.transaction.max`): work no timeout can interrupt (a huge `range()`) ends
/// here.
pub const QUERY_MEMORY_BYTES: u64 = 128 << 20;

/// A Cypher statement with named parameters (`$name` in the text).
#[derive(Debug, Clone, PartialEq)]
pub struct Cypher {
    pub text: String,
    pub params: BTreeMap<String, GraphValue>,
    /// Run in the database's read-only mode, so a write in it is refused by the server.
    pub read_only: bool,
    /// Passed to the server, which aborts the query when it runs out (FalkorDB's
    /// per-query `TIMEOUT`): a caller's deadline ends the server's work too.
    pub timeout: Option<std::time::Duration>,
    /// Rows read at most; one more row makes the answer [`Failure::TooLarge`]. The server
    /// may still have sent more (see `RESULTSET_SIZE` in the environment).
    pub max_rows: Option<usize>,
    /// Running it twice leaves what running it once does (MERGE): a write that may be
    /// asked again when its connection turns out to have dropped.
    pub idempotent: bool,
}

impl Cypher {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            params: BTreeMap::new(),
            read_only: false,
            timeout: None,
            max_rows: None,
            idempotent: false,
        }
    }

    /// Whether `rows` rows are more than the statement may return.
    pub fn too_many(&self, rows: usize) -> bool {
        self.max_rows.is_some_and(|max| rows > max)
    }

    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    pub fn param(mut self, name: &str, value: impl Into<GraphValue>) -> Self {
        self.params.insert(name.to_string(), value.into());
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GraphValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<GraphValue>),
    Map(BTreeMap<String, GraphValue>),
    Node(Node),
    Relationship(Relationship),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub labels: Vec<String>,
    pub properties: BTreeMap<String, GraphValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relationship {
    #[serde(rename = "type")]
    pub rel_type: String,
    pub properties: BTreeMap<String, GraphValue>,
}

impl GraphValue {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// Numbers of either kind: FalkorDB answers `sum()` with a float where Neo4j gives an
    /// integer, so callers comparing aggregates should read them through this.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Int(i) => Some(*i as f64),
            Self::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }
}

macro_rules! from_value {
    ($($t:ty => $variant:ident $(as $cast:ty)?),* $(,)?) => {$(
        impl From<$t> for GraphValue {
            fn from(v: $t) -> Self { GraphValue::$variant((v $(as $cast)?).into()) }
        }
    )*};
}
from_value!(bool => Bool, i64 => Int, i32 => Int as i64, u32 => Int as i64, f64 => Float, String => String, &str => String);

impl<T: Into<GraphValue>> From<Vec<T>> for GraphValue {
    fn from(v: Vec<T>) -> Self {
        GraphValue::List(v.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<GraphValue>> From<Option<T>> for GraphValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(GraphValue::Null, Into::into)
    }
}

/// One result row: the query's column names with this row's values, in column order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub columns: Vec<String>,
    pub values: Vec<GraphValue>,
}

impl Row {
    pub fn get(&self, column: &str) -> Option<&GraphValue> {
        self.columns
            .iter()
            .position(|c| c == column)
            .and_then(|i| self.values.get(i))
    }
}

#[async_trait]
pub trait GraphStore: Send + Sync {
    fn backend(&self) -> GraphBackend;
    /// The server address (password redacted), for messages.
    fn address(&self) -> &str;
    /// Runs one statement and returns every row.
    async fn query(&self, cypher: Cypher) -> Result<Vec<Row>, ServiceError>;
    /// Server version, database and node count.
    async fn probe(&self) -> Result<ServiceFacts, ServiceError>;
    /// The run's own graph, where the backend gives each run one (FalkorDB: the graph
    /// `names::run_graph`, on this store's connection); `None` where every run shares
    /// one database (Neo4j Community has one).
    fn for_run(&self, _run_id: &str) -> Option<Arc<dyn GraphStore>> {
        None
    }
    /// Deletes this whole graph: a run's, once the run is over.
    async fn delete_graph(&self) -> Result<(), ServiceError>;
}

/// Connects the backend the configuration names.
pub async fn connect(config: &GraphConfig) -> Result<Box<dyn GraphStore>, ServiceError> {
    Ok(match config.backend {
        GraphBackend::Falkordb => Box::new(super::falkordb::FalkorGraph::connect(config).await?),
        GraphBackend::Neo4j => Box::new(super::neo4j::Neo4jGraph::connect(config).await?),
    })
}

/// Counts every node; both backends answer it, and it doubles as a round trip.
pub(super) async fn node_count(store: &(impl GraphStore + ?Sized)) -> Result<i64, ServiceError> {
    let rows = store
        .query(Cypher::new("MATCH (n) RETURN count(n) AS nodes"))
        .await?;
    Ok(rows
        .first()
        .and_then(|r| r.get("nodes"))
        .and_then(GraphValue::as_int)
        .unwrap_or(0))
}

/// One minimal round trip.
pub async fn ping(store: &(impl GraphStore + ?Sized)) -> Result<(), ServiceError> {
    store.query(Cypher::new("RETURN 1 AS one")).await.map(drop)
}
