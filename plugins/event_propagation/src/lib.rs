//! A validator that checks each decision reached Kafka: the run's topic
//! `aura.<run>.gpu.allocation.decided` carries one event per request, keyed by the request
//! id, with the header `aura-run-id` = the run id and the decision JSON as payload, equal
//! (as JSON) to the output of the request's Temporal workflow. The topic's newest events
//! are read first (contract 0.1.2), then the topic from the beginning, until every
//! request has its event or `deadline_ms` passes; an event belongs to
//! the request its payload's `request_id` names (else its key), so a wrong key is caught.
//!
//! Checks per request: `event` (within the deadline), `event key`, `run header` and
//! `event payload`; `decision` fails instead of `event payload` when the workflow has no
//! decision.
//!
//! Grants: `events = { access = "read", topics = ["aura.{run}.gpu.allocation.decided"] }`,
//! `workflow = true`.
//!
//! Configuration (every key optional):
//!
//! ```toml
//! deadline_ms = 2000       # how long events may take to appear, for every request together
//! poll_interval_ms = 100   # between two reads after a failed one
//! ```

use std::collections::BTreeMap;

use aura_sdk::events::{self, Event};
use aura_sdk::footprint::RUN_ID_HEADER;
use aura_sdk::validator::Guest;
use aura_sdk::{
    Check, Footprint, HostError, PluginError, Poll, RunContext, ValidationResult, check_name,
    export_validator, json_check,
};

const DEADLINE_MS: u64 = 2_000;
/// The most events the host returns from one read.
const MAX_READ: u32 = 10_000;

/// The request an event is about: its payload's `request_id`, else its key.
fn request_of(event: &Event) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(&event.payload)
        .ok()
        .and_then(|v| v.get("request_id")?.as_str().map(str::to_string))
        .or_else(|| event.key.clone())
}

/// The first event of each wanted request among `batch`, added to `found`.
fn sort_in(found: &mut BTreeMap<String, Event>, wanted: &[String], batch: Vec<Event>) {
    for event in batch {
        if let Some(request) = request_of(&event).filter(|r| wanted.contains(r)) {
            found.entry(request).or_insert(event);
        }
    }
}

/// Reads the topic until every request has its event or the deadline passes; the last
/// host error when the last read failed. The newest events come first: a batch of
/// recent requests (a load's) has its events there, however long the topic; the rest
/// are read from the beginning.
fn collect(fp: &Footprint) -> (BTreeMap<String, Event>, Option<HostError>) {
    let wanted = &fp.ctx.request_ids;
    let topic = fp.decided_topic();
    let mut found = BTreeMap::new();
    // Room for the events of other requests decided meanwhile.
    let mut latest = (wanted.len() as u32).saturating_mul(4).clamp(64, MAX_READ);
    // A read returns once it has `max` events, so ask for as many as there are requests
    // and ask for more when other events fill a read.
    let mut max = (wanted.len() as u32).clamp(1, MAX_READ);
    let all_found = |found: &BTreeMap<String, Event>| wanted.iter().all(|r| found.contains_key(r));
    let last = fp.poll(|| {
        let timeout = fp.remaining().as_millis().clamp(1, u128::from(u32::MAX)) as u32;
        match events::read_latest(&topic, None, latest, timeout) {
            Ok(batch) => {
                if batch.len() as u32 >= latest {
                    latest = latest.saturating_mul(2).min(MAX_READ);
                }
                sort_in(&mut found, wanted, batch);
                if all_found(&found) {
                    return Poll::Ready(());
                }
            }
            Err(e) => return Poll::Failed(e),
        }
        match events::read(&topic, None, max, timeout) {
            Ok(batch) => {
                if batch.len() as u32 >= max {
                    max = max.saturating_mul(2).min(MAX_READ);
                }
                sort_in(&mut found, wanted, batch);
                if all_found(&found) {
                    Poll::Ready(())
                } else {
                    Poll::Pending(None)
                }
            }
            Err(e) => Poll::Failed(e),
        }
    });
    let error = match last {
        Poll::Failed(e) => Some(e),
        _ => None,
    };
    (found, error)
}

fn checks(
    fp: &Footprint,
    request_id: &str,
    event: Option<&Event>,
    error: Option<&HostError>,
) -> Vec<Check> {
    let name = |what: &str| check_name(request_id, what);
    let expected = format!("an event within {} ms", fp.deadline_ms());
    let Some(event) = event else {
        return vec![match error {
            Some(e) => Check::host_failure(&name("event"), &expected, e),
            None => {
                let actual = format!("none after {} ms", fp.deadline_ms());
                let message = format!("{} has no event for {request_id}", fp.decided_topic());
                Check::expect(&name("event"), false, &expected, actual, &message)
            }
        }];
    };
    let header = event
        .headers
        .iter()
        .find(|(k, _)| k == RUN_ID_HEADER)
        .map_or("none", |(_, v)| v.as_str());
    let mut checks = vec![
        Check::expect(
            &name("event"),
            true,
            &expected,
            format!("offset {}", event.offset),
            "",
        ),
        Check::expect_eq(
            &name("event key"),
            request_id,
            event.key.as_deref().unwrap_or("none"),
        ),
        Check::expect_eq(&name("run header"), &fp.ctx.run_id, header),
    ];
    let payload_name = name("event payload");
    checks.push(match fp.reference_decision(request_id) {
        Err(check) => check,
        Ok(reference) => match serde_json::from_str(&event.payload) {
            Ok(payload) => json_check(
                &payload_name,
                "the workflow's decision",
                &reference,
                &payload,
            ),
            Err(e) => Check::expect(
                &payload_name,
                false,
                "the workflow's decision",
                "not JSON",
                &format!("the payload at offset {} is not JSON: {e}", event.offset),
            ),
        },
    });
    checks
}

struct EventPropagation;

impl Guest for EventPropagation {
    fn validate(ctx: RunContext) -> Result<ValidationResult, PluginError> {
        let fp = Footprint::new(&ctx, DEADLINE_MS)?;
        let (found, error) = collect(&fp);
        Ok(fp.check_each(|request_id| {
            checks(&fp, request_id, found.get(request_id), error.as_ref())
        }))
    }
}

export_validator!(EventPropagation);

#[cfg(test)]
mod tests {
    use super::*;

    fn event(offset: i64, key: Option<&str>, payload: &str) -> Event {
        Event {
            topic: "aura.r1.gpu.allocation.decided".into(),
            partition: 0,
            offset,
            key: key.map(str::to_string),
            payload: payload.into(),
            headers: vec![],
        }
    }

    #[test]
    fn events_belong_to_the_request_their_payload_names() {
        let wanted = vec!["a".to_string(), "b".to_string()];
        let mut found = BTreeMap::new();
        sort_in(
            &mut found,
            &wanted,
            vec![
                event(0, Some("wrong-key"), r#"{"request_id":"a"}"#),
                event(1, Some("b"), "not json"),
                event(2, Some("a"), r#"{"request_id":"a"}"#),
                event(3, Some("c"), r#"{"request_id":"c"}"#),
            ],
        );
        let offsets: Vec<(&str, i64)> = found.iter().map(|(k, e)| (k.as_str(), e.offset)).collect();
        assert_eq!(offsets, [("a", 0), ("b", 1)]);
    }
}
