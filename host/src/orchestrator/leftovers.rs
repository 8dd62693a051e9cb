//! What a failed version can leave in a deployed target's namespace, read from the
//! stores: a device lease whose holder has no approved decision (an orphan: a workflow
//! that failed after `allocate_devices` did not give it back), and a decision with no
//! event (persisted, never published). Traffic still in flight holds a lease before its
//! decision and has a decision before its event, so only what two reads some seconds
//! apart both show counts.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aura_contract::names;
use aura_services::{Cypher, ReadLimit, ServiceError, ServiceHub};

/// Leases, decisions and events read at most: more is said, and cannot be vouched for.
const MAX_READ: usize = 10_000;
/// How long reading the decided topic may wait for the broker.
const EVENTS_WAIT: Duration = Duration::from_secs(5);

/// One read of a namespace.
#[derive(Debug, Clone, Default)]
pub struct Leftovers {
    /// Device → the request holding it.
    pub leases: BTreeMap<String, String>,
    /// Request → its decision's outcome.
    pub decisions: BTreeMap<String, String>,
    /// Requests with a decided event.
    pub events: BTreeSet<String>,
    /// A store had more than [`MAX_READ`]: what was not read is not vouched for.
    pub truncated: bool,
}

/// Reads the leases, decisions and decided events of `namespace`.
pub async fn read(hub: &ServiceHub, namespace: &str) -> Result<Leftovers, ServiceError> {
    let cache = hub.cache().await?;
    let prefix = names::lease_prefix(namespace);
    let keys = cache.scan_prefix(&prefix, MAX_READ).await?;
    let holders = cache.get_many(&keys).await?;
    let mut out = Leftovers {
        truncated: keys.len() >= MAX_READ,
        ..Leftovers::default()
    };
    for (key, holder) in keys.iter().zip(holders) {
        if let (Some(device), Some(holder)) = (key.strip_prefix(&prefix), holder) {
            out.leases.insert(device.to_string(), holder);
        }
    }
    let graph = hub.run_graph(namespace).await?;
    let rows = graph
        .query(
            Cypher::new(format!(
                "{} LIMIT {MAX_READ}",
                names::graph::cypher(
                    "MATCH (d:<Decision> {<run_id>: $run}) RETURN d.<request_id> AS id, d.outcome AS outcome",
                )
            ))
            .read_only()
            .param("run", namespace),
        )
        .await?;
    out.truncated |= rows.len() >= MAX_READ;
    for row in &rows {
        if let Some(id) = row.get("id").and_then(|v| v.as_str()) {
            let outcome = row.get("outcome").and_then(|v| v.as_str()).unwrap_or("");
            out.decisions.insert(id.to_string(), outcome.to_string());
        }
    }
    let events = hub.events().await?;
    let topic = names::decided_topic(namespace);
    if events.end_offset(&topic).await?.is_some() {
        let read = events
            .read_from_start(&topic, None, ReadLimit::messages(MAX_READ), EVENTS_WAIT)
            .await?;
        out.truncated |= read.len() >= MAX_READ;
        out.events = read.into_iter().filter_map(|e| e.key).collect();
    }
    Ok(out)
}

/// Leases both reads show whose holder has no approved decision at the second.
pub fn orphan_leases(first: &Leftovers, second: &Leftovers) -> Vec<String> {
    second
        .leases
        .iter()
        .filter(|(device, holder)| first.leases.get(*device) == Some(*holder))
        .filter(|(_, holder)| second.decisions.get(*holder).map(String::as_str) != Some("approved"))
        .map(|(device, holder)| format!("{device} held by {holder}"))
        .collect()
}

/// Decisions both reads show with no decided event at the second.
pub fn decisions_without_events(first: &Leftovers, second: &Leftovers) -> Vec<String> {
    second
        .decisions
        .keys()
        .filter(|id| first.decisions.contains_key(*id) && !second.events.contains(*id))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(leases: &[(&str, &str)], decisions: &[(&str, &str)], events: &[&str]) -> Leftovers {
        Leftovers {
            leases: leases
                .iter()
                .map(|(d, h)| (d.to_string(), h.to_string()))
                .collect(),
            decisions: decisions
                .iter()
                .map(|(r, o)| (r.to_string(), o.to_string()))
                .collect(),
            events: events.iter().map(|e| e.to_string()).collect(),
            truncated: false,
        }
    }

    #[test]
    fn a_lease_without_an_approval_in_both_reads_is_an_orphan() {
        let first = read(&[("gpu-0", "a"), ("gpu-1", "b"), ("gpu-2", "c")], &[], &[]);
        let second = read(
            &[
                ("gpu-0", "a"),
                ("gpu-1", "b"),
                ("gpu-2", "c"),
                ("gpu-3", "d"),
            ],
            &[("a", "approved"), ("b", "denied")],
            &[],
        );
        // a is approved; b was denied yet holds; c has no decision; d is in flight.
        assert_eq!(
            orphan_leases(&first, &second),
            vec!["gpu-1 held by b", "gpu-2 held by c"]
        );
    }

    #[test]
    fn a_decision_without_an_event_in_both_reads_is_named() {
        let first = read(&[], &[("a", "approved"), ("b", "denied")], &[]);
        let second = read(
            &[],
            &[("a", "approved"), ("b", "denied"), ("c", "approved")],
            &["a"],
        );
        assert_eq!(decisions_without_events(&first, &second), vec!["b"]);
    }
}
