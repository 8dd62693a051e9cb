use serde::Serialize;

use aura_contract::names::RUN_ID_PROPERTY;

use super::RunNamespace;
use crate::{Cache, Cypher, EventBus, GraphStore, GraphValue, ServiceError, ServiceHub};

/// What a cleanup removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CleanupReport {
    pub graph_nodes: i64,
    pub cache_keys: u64,
    pub topics: Vec<String>,
}

/// Removes exactly this run's data from every store, through the process's hub.
pub async fn remove(hub: &ServiceHub, ns: &RunNamespace) -> Result<CleanupReport, ServiceError> {
    let (graph, cache, events) = tokio::try_join!(hub.graph(), hub.cache(), hub.events())?;
    cleanup(
        ns,
        Some(graph.as_ref()),
        Some(cache.as_ref()),
        Some(events.as_ref()),
    )
    .await
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

/// Removes exactly this run's data from each store given.
pub async fn cleanup(
    ns: &RunNamespace,
    graph: Option<&dyn GraphStore>,
    cache: Option<&dyn Cache>,
    events: Option<&dyn EventBus>,
) -> Result<CleanupReport, ServiceError> {
    let mut report = CleanupReport::default();
    let run = ns.run_id().as_str();
    if let Some(own) = graph.and_then(|g| g.for_run(run)) {
        // The run has a graph of its own: count it, then drop it whole.
        report.graph_nodes = count(
            own.as_ref(),
            Cypher::new("MATCH (n) RETURN count(n) AS nodes").read_only(),
        )
        .await?;
        own.delete_graph().await?;
    } else if let Some(graph) = graph {
        let count_nodes = Cypher::new(format!(
            "MATCH (n) WHERE n.{RUN_ID_PROPERTY} = $run RETURN count(n) AS nodes"
        ))
        .param("run", run);
        report.graph_nodes = count(graph, count_nodes).await?;
        let delete = Cypher::new(format!(
            "MATCH (n) WHERE n.{RUN_ID_PROPERTY} = $run DETACH DELETE n"
        ))
        .param("run", run);
        graph.query(delete).await?;
    }
    if let Some(cache) = cache {
        report.cache_keys = cache.delete_prefix(&ns.key_prefix()).await?;
    }
    if let Some(events) = events {
        let prefix = ns.topic_prefix();
        report.topics = events
            .list_topics()
            .await?
            .into_iter()
            .filter(|t| t.starts_with(&prefix))
            .collect();
        events.delete_topics(&report.topics).await?;
    }
    Ok(report)
}
