use serde::Serialize;

use aura_contract::names::RUN_ID_PROPERTY;

use super::RunNamespace;
use crate::{
    Cache, Cypher, EventBus, GraphStore, GraphValue, ServiceError, ServiceHub, ServiceKind,
};

/// What a cleanup removed, and what it could not: each store is cleaned on its own, so
/// one that is down keeps only its own data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CleanupReport {
    pub graph_nodes: i64,
    pub cache_keys: u64,
    pub topics: Vec<String>,
    /// The stores that could not be cleaned, and why; the others were.
    pub failed: Vec<StoreFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreFailure {
    pub service: ServiceKind,
    pub error: String,
}

impl CleanupReport {
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }

    fn failed(&mut self, service: ServiceKind, e: &ServiceError) {
        self.failed.push(StoreFailure {
            service,
            error: e.to_string(),
        });
    }
}

/// Removes exactly this run's data from every store, through the process's hub: the
/// stores at once, each on its own (a store that cannot be reached is listed as failed).
pub async fn remove(hub: &ServiceHub, ns: &RunNamespace) -> CleanupReport {
    let (graph, cache, events) = tokio::join!(hub.graph(), hub.cache(), hub.events());
    let mut report = cleanup(
        ns,
        graph.as_deref().ok(),
        cache.as_deref().ok(),
        events.as_deref().ok(),
    )
    .await;
    for (service, e) in [
        (ServiceKind::Graph, graph.err()),
        (ServiceKind::Redis, cache.err()),
        (ServiceKind::Kafka, events.err()),
    ] {
        if let Some(e) = e {
            report.failed(service, &e);
        }
    }
    report
}

/// Removes exactly this run's data from each store given, the stores at once.
pub async fn cleanup(
    ns: &RunNamespace,
    graph: Option<&dyn GraphStore>,
    cache: Option<&dyn Cache>,
    events: Option<&dyn EventBus>,
) -> CleanupReport {
    let run = ns.run_id().as_str();
    let (nodes, keys, topics) = tokio::join!(
        async {
            match graph {
                Some(g) => Some(clean_graph(g, run).await),
                None => None,
            }
        },
        async {
            match cache {
                Some(c) => Some(c.delete_prefix(&ns.key_prefix()).await),
                None => None,
            }
        },
        async {
            match events {
                Some(e) => Some(clean_topics(e, &ns.topic_prefix()).await),
                None => None,
            }
        },
    );
    let mut report = CleanupReport::default();
    match nodes {
        Some(Ok(n)) => report.graph_nodes = n,
        Some(Err(e)) => report.failed(ServiceKind::Graph, &e),
        None => {}
    }
    match keys {
        Some(Ok(n)) => report.cache_keys = n,
        Some(Err(e)) => report.failed(ServiceKind::Redis, &e),
        None => {}
    }
    match topics {
        Some(Ok(t)) => report.topics = t,
        Some(Err(e)) => report.failed(ServiceKind::Kafka, &e),
        None => {}
    }
    report
}

/// The run's own graph, dropped whole, or where runs share a database its nodes.
async fn clean_graph(graph: &dyn GraphStore, run: &str) -> Result<i64, ServiceError> {
    if let Some(own) = graph.for_run(run) {
        let nodes = count(
            own.as_ref(),
            Cypher::new("MATCH (n) RETURN count(n) AS nodes").read_only(),
        )
        .await?;
        own.delete_graph().await?;
        return Ok(nodes);
    }
    let count_nodes = Cypher::new(format!(
        "MATCH (n) WHERE n.{RUN_ID_PROPERTY} = $run RETURN count(n) AS nodes"
    ))
    .param("run", run);
    let nodes = count(graph, count_nodes).await?;
    let delete = Cypher::new(format!(
        "MATCH (n) WHERE n.{RUN_ID_PROPERTY} = $run DETACH DELETE n"
    ))
    .param("run", run);
    graph.query(delete).await?;
    Ok(nodes)
}

async fn clean_topics(events: &dyn EventBus, prefix: &str) -> Result<Vec<String>, ServiceError> {
    let topics: Vec<String> = events
        .list_topics()
        .await?
        .into_iter()
        .filter(|t| t.starts_with(prefix))
        .collect();
    events.delete_topics(&topics).await?;
    Ok(topics)
}

async fn count(graph: &dyn GraphStore, query: Cypher) -> Result<i64, ServiceError> {
    Ok(graph
        .query(query)
        .await?
        .first()
        .and_then(|r| r.get("nodes"))
        .and_then(GraphValue::as_int)
        .unwrap_or(0))
}
