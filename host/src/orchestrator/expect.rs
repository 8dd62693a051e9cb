//! A scenario's `[expect]`, checked once its faults have healed: `recovered` (every
//! request decided, the last within a bound of the last heal), `degraded` (only allowed
//! denials in place of expected outcomes), `failed_cleanly` (undecided requests left no
//! half-written decision in the graph or the cache, and no lease).

use super::leases;
use crate::chaos::{Expectation, FaultSpec};
use crate::report::model::time;
use crate::report::{Check, FaultRecord, RequestResult, RequestStatus};
use aura_contract::names;
use aura_services::ServiceHub;
use aura_services::graph::Cypher;

fn check(name: &str, expected: String, actual: String, passed: bool) -> Check {
    let mut c = Check::new(name, expected, actual);
    c.passed = passed;
    c
}

pub async fn checks(
    e: &Expectation,
    hub: &ServiceHub,
    namespace: &str,
    requests: &[RequestResult],
    faults: &[FaultRecord],
    fixture_leases: &[(String, String)],
) -> Vec<Check> {
    match e {
        Expectation::Recovered { within } => {
            let healed = faults.iter().filter_map(|f| f.healed_at).max();
            let undecided: Vec<String> = requests
                .iter()
                .filter(|r| r.decision.is_none())
                .map(|r| match &r.error {
                    Some(e) => format!("{} ({e})", r.request_id),
                    None => r.request_id.clone(),
                })
                .collect();
            let under: Vec<String> = faults
                .iter()
                .map(|f| format!("{} {} {}", f.action, f.service, f.trigger))
                .collect();
            let last = requests.iter().filter_map(RequestResult::finished_at).max();
            let bound = healed.map(|h| h.saturating_add(within.as_millis() as i64));
            let late = matches!((last, bound), (Some(l), Some(b)) if l > b);
            let expected = format!(
                "every request decided, the last within {} of the last heal{} under {}",
                humantime::format_duration(*within),
                healed
                    .map(|h| format!(" ({})", time(h)))
                    .unwrap_or_default(),
                if under.is_empty() {
                    "no fault".to_string()
                } else {
                    under.join("; ")
                }
            );
            let actual = match (undecided.is_empty(), last) {
                (false, _) => format!("undecided: {}", undecided.join("; ")),
                (true, Some(l)) => format!("all decided, the last at {}", time(l)),
                (true, None) => "all decided".into(),
            };
            vec![check(
                "expect recovered",
                expected,
                actual,
                undecided.is_empty() && !late,
            )]
        }
        Expectation::Degraded { allowed } => {
            let classes: Vec<&str> = allowed.iter().map(|c| c.name()).collect();
            let failed: Vec<&str> = requests
                .iter()
                .filter(|r| r.status == RequestStatus::Failed)
                .map(|r| r.request_id.as_str())
                .collect();
            let degraded = requests
                .iter()
                .filter(|r| r.status == RequestStatus::Degraded)
                .count();
            vec![check(
                "expect degraded",
                format!(
                    "only denials {} in place of expected outcomes",
                    classes.join(", ")
                ),
                format!(
                    "{degraded} degraded, {} failed{}",
                    failed.len(),
                    if failed.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", failed.join(", "))
                    }
                ),
                failed.is_empty(),
            )]
        }
        Expectation::FailedCleanly => {
            let mut half = Vec::new();
            for r in requests.iter().filter(|r| r.decision.is_none()) {
                match written(hub, namespace, &r.request_id).await {
                    Ok(found) if found.is_empty() => {}
                    Ok(found) => half.push(format!("{}: {}", r.request_id, found.join(" and "))),
                    Err(e) => half.push(format!("{}: unread ({e})", r.request_id)),
                }
            }
            let failed: Vec<&str> = requests
                .iter()
                .filter(|r| r.status == RequestStatus::Failed)
                .map(|r| r.request_id.as_str())
                .collect();
            let actual = match (half.is_empty(), failed.is_empty()) {
                (true, true) => "none".to_string(),
                _ => half
                    .into_iter()
                    .chain(
                        failed
                            .iter()
                            .map(|f| format!("{f}: failed naming no service")),
                    )
                    .collect::<Vec<_>>()
                    .join("; "),
            };
            vec![
                Check::new("expect failed_cleanly", "none", actual),
                leases::leaked(hub, namespace, requests, fixture_leases).await,
            ]
        }
    }
}

/// Each fault's own `expect` (`recovered`): the requests in flight while it held are
/// decided, the last within `within` of its heal.
pub fn per_fault(
    specs: &[FaultSpec],
    records: &[FaultRecord],
    requests: &[RequestResult],
) -> Vec<Check> {
    specs
        .iter()
        .enumerate()
        .filter_map(|(i, spec)| {
            let Some(Expectation::Recovered { within }) = &spec.expect else {
                return None;
            };
            let record = records.iter().find(|r| r.index == i)?;
            let name = format!("expect recovered after fault {i} ({spec})");
            let (Some(from), Some(healed)) = (record.injected_at, record.healed_at) else {
                let why = record.describe();
                return Some(check(
                    &name,
                    "the fault struck and healed".into(),
                    why,
                    false,
                ));
            };
            let hit: Vec<&RequestResult> = requests
                .iter()
                .filter(|r| r.in_flight(from, healed))
                .collect();
            let bound = healed.saturating_add(within.as_millis() as i64);
            let late: Vec<String> = hit
                .iter()
                .filter(|r| r.decision.is_none() || r.finished_at().is_some_and(|f| f > bound))
                .map(|r| match &r.error {
                    Some(e) => format!("{} ({e})", r.request_id),
                    None => format!("{} (decided after {})", r.request_id, time(bound)),
                })
                .collect();
            let expected = format!(
                "the {} request(s) in flight while it held decided by {} ({} after its heal)",
                hit.len(),
                time(bound),
                humantime::format_duration(*within)
            );
            let actual = match (hit.is_empty(), late.is_empty()) {
                // An expectation about no request would pass whatever happened.
                (true, _) => "no request was in flight while it held".to_string(),
                (false, true) => "all decided in time".to_string(),
                (false, false) => format!("not: {}", late.join("; ")),
            };
            Some(check(
                &name,
                expected,
                actual,
                !hit.is_empty() && late.is_empty(),
            ))
        })
        .collect()
}

/// What an undecided request left in the stores: a Decision node, a cached decision.
async fn written(
    hub: &ServiceHub,
    namespace: &str,
    request_id: &str,
) -> Result<Vec<&'static str>, aura_services::ServiceError> {
    let mut found = Vec::new();
    let cache = hub.cache().await?;
    if cache
        .get(&names::decision_key(namespace, request_id))
        .await?
        .is_some()
    {
        found.push("a cached decision");
    }
    let graph = hub.run_graph(namespace).await?;
    let rows = graph
        .query(
            Cypher::new(names::graph::cypher(
                "MATCH (d:<Decision> {<request_id>: $request, <run_id>: $run}) RETURN d.<request_id>",
            ))
            .read_only()
            .param("request", request_id)
            .param("run", namespace),
        )
        .await?;
    if !rows.is_empty() {
        found.push("a Decision node");
    }
    Ok(found)
}
