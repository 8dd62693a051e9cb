//! SystemState snapshots before and after each scenario: what its namespace holds in
//! each store (Redis keys and device leases, graph nodes and relationships, decision
//! events, the run's open workflows) and the reference target's counters. Every part
//! is read at once and bounded: a store that does not answer costs at most `WITHIN`,
//! and the snapshot says which fact it could not read and why.

use std::time::Duration;

use crate::report::{SystemState, TargetState};
use aura_contract::names;
use aura_reference::TargetCore;
use aura_services::{Cypher, ServiceError, ServiceHub};

/// The longest a snapshot may take.
const WITHIN: Duration = Duration::from_secs(2);
/// Keys counted at most per prefix: a count at the cap is "at least".
const MAX_KEYS: usize = 100_000;

/// The state of `namespace` now; `task_queue` is the run's own.
pub async fn snapshot(
    hub: &ServiceHub,
    namespace: &str,
    task_queue: &str,
    core: Option<&TargetCore>,
) -> SystemState {
    let redis = async {
        let cache = hub.cache().await?;
        let keys = cache
            .scan_prefix(&names::key_prefix(namespace), MAX_KEYS)
            .await?;
        let leases = cache
            .scan_prefix(&names::lease_prefix(namespace), MAX_KEYS)
            .await?;
        Ok::<_, ServiceError>((keys.len() as u64, leases.len() as u64))
    };
    let graph = async {
        let graph = hub.run_graph(namespace).await?;
        let count = |cypher: &'static str| {
            let graph = graph.clone();
            async move {
                let rows = graph.query(Cypher::new(cypher).read_only()).await?;
                Ok::<_, ServiceError>(rows.first().and_then(|r| r.get("n")?.as_int()).unwrap_or(0))
            }
        };
        let (nodes, relationships) = futures::join!(
            count("MATCH (n) RETURN count(n) AS n"),
            count("MATCH ()-[r]->() RETURN count(r) AS n")
        );
        Ok::<_, ServiceError>((nodes?, relationships?))
    };
    let events = async {
        hub.events()
            .await?
            .end_offset(&names::decided_topic(namespace))
            .await
    };
    let open = async { hub.workflows().await?.count_open(task_queue).await };
    use tokio::time::timeout;
    let (redis, graph, events, open) = futures::join!(
        timeout(WITHIN, redis),
        timeout(WITHIN, graph),
        timeout(WITHIN, events),
        timeout(WITHIN, open)
    );
    let mut state = SystemState {
        at: chrono::Utc::now().timestamp_millis(),
        target: core.map(target_state),
        ..SystemState::default()
    };
    if let Some((keys, leases)) = read("redis", redis, &mut state.unread) {
        (state.redis_keys, state.active_leases) = (Some(keys), Some(leases));
    }
    if let Some((nodes, relationships)) = read("graph", graph, &mut state.unread) {
        (state.graph_nodes, state.graph_relationships) = (Some(nodes), Some(relationships));
    }
    // A topic not created yet has had no events.
    state.events = read("kafka", events, &mut state.unread).map(|e| e.unwrap_or(0));
    state.open_workflows = read("temporal", open, &mut state.unread);
    state
}

/// A part's value, or why not in `unread`.
fn read<T>(
    service: &str,
    outcome: Result<Result<T, ServiceError>, tokio::time::error::Elapsed>,
    unread: &mut Vec<String>,
) -> Option<T> {
    match outcome {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            unread.push(format!("{service}: {e}"));
            None
        }
        Err(_) => {
            unread.push(format!("{service}: no answer within {}s", WITHIN.as_secs()));
            None
        }
    }
}

fn target_state(core: &TargetCore) -> TargetState {
    let c = core.metrics.counts();
    TargetState {
        requests: c.requests,
        decisions: c.decisions,
        pending: c.requests.saturating_sub(c.decisions),
        store_errors: c.store_errors,
        error_rate: if c.requests == 0 {
            0.0
        } else {
            c.store_errors as f64 / c.requests as f64
        },
        throughput_per_s: c.decisions_per_second,
    }
}
