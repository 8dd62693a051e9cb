//! The service layer: connections to the real services, each behind a small trait:
//! [`GraphStore`] (FalkorDB or Neo4j), [`Cache`] (Redis), [`EventBus`] (Kafka) and
//! [`Workflows`] (Temporal), shared through one [`ServiceHub`] per process. Every call is
//! bounded by the service's timeout and every error names the service, its address and
//! what failed. Beside them: their configuration ([`config`]), readiness ([`health`]),
//! the WorkflowTrace model and store ([`trace`]) and run namespaces ([`namespace`]).
//! It knows no caller: nothing here imports the plugin runtime, the system under test or
//! the orchestrator.

// The async-trait futures of the graph backends nest deeply.
#![recursion_limit = "256"]

pub mod config;
mod error;
pub mod falkordb;
pub mod graph;
pub mod health;
pub mod hub;
pub mod kafka;
pub mod namespace;
pub mod neo4j;
pub mod redis;
pub mod temporal;
pub mod trace;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use error::{Endpoint, Failure, ServiceError, error_chain};
pub use graph::{Cypher, GraphStore, GraphValue, Row};
pub use health::{ReadinessReport, ServiceReport, ServiceStatus};
pub use hub::ServiceHub;
pub use kafka::{Event, EventBus, OutgoingEvent, ReadLimit};
pub use redis::{Cache, KeyTtl};
pub use temporal::Workflows;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    Redis,
    Graph,
    Kafka,
    Temporal,
}

impl ServiceKind {
    pub const ALL: [ServiceKind; 4] = [Self::Redis, Self::Graph, Self::Kafka, Self::Temporal];

    pub fn name(self) -> &'static str {
        match self {
            Self::Redis => "redis",
            Self::Graph => "graph",
            Self::Kafka => "kafka",
            Self::Temporal => "temporal",
        }
    }
}

impl std::fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ServiceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!("unknown service '{s}' (expected redis, graph, kafka or temporal)")
            })
    }
}

/// What a readiness probe learned about a server beyond "it answered".
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ServiceFacts {
    /// Server software and version, as the server reports it.
    pub version: Option<String>,
    /// Service-specific facts (role, memory, node count, topics, serving status...).
    pub details: BTreeMap<String, serde_json::Value>,
}

impl ServiceFacts {
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }
}

/// Redacts the password of a URL for messages and reports.
pub fn display_address(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
