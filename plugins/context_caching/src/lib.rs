//! A validator that checks the cache step of each request: the decision is cached in
//! Redis at `aura:<run>:decision:<request>` with a TTL of at most `context_ttl_s`, equal
//! (as JSON) to the output of the request's Temporal workflow, and the council's context
//! window `aura:<run>:context` (a list, newest first, at most `context_window` entries,
//! TTL at most `context_ttl_s`) holds an entry for the request whose `approved` and
//! `devices` (a count) match the decision. An entry that is not there passes only when
//! other decisions pushed it out: the window is full and holds a decision made no earlier
//! than this one. (Concurrent requests reach the cache step in any order, so the window
//! is not sorted by decision time; a missing entry newer than everything in a full
//! window, or missing from a window with room, is a failure.)
//!
//! Checks per request: `cached decision`, `cached value`, `decision ttl`, `context entry`,
//! `context ttl`, and with an entry `context approved` and `context devices`; `decision`
//! fails alone when the workflow has no decision.
//!
//! Grants: `cache = { access = "read", key-prefixes = ["aura:{run}:"] }`, `workflow = true`.
//!
//! Configuration (every key optional; `[target]` is injected by the host in a scenario):
//!
//! ```toml
//! deadline_ms = 5000       # one deadline for the whole call, for every request together
//! poll_interval_ms = 100   # between two looks at a store
//! [target]
//! context_ttl_s = 3600     # the longest TTL the decision and the window may have
//! context_window = 8       # the window's length (the target keeps 1-16)
//! ```

use std::cell::OnceCell;

use aura_sdk::cache::{self, KeyTtl};
use aura_sdk::footprint::Decision;
use aura_sdk::validator::Guest;
use aura_sdk::{
    Check, Footprint, PluginError, Poll, RunContext, ValidationResult, check_name,
    export_validator, json_check,
};
use serde::Deserialize;

const DEADLINE_MS: u64 = 5_000;
/// The target keeps at most this many entries, whatever its configuration says.
const MAX_WINDOW: u32 = 16;

/// The fields of a context entry this rule reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Entry {
    request_id: String,
    approved: bool,
    devices: u64,
    decided_at: i64,
}

/// Where a request stands in the context window.
#[derive(Debug, Clone, PartialEq)]
enum Placement {
    Present(Entry),
    /// Not there, and the full window holds a decision at least as new.
    Evicted {
        window: usize,
    },
    /// Not there, and nothing explains why (`held` entries of at most `window`).
    Absent {
        held: usize,
        window: usize,
    },
}

/// What every request of a call shares: the run's one context window, read once for
/// all of them (a request not placed in it is polled on its own), and its TTL check.
#[derive(Default)]
struct Window {
    items: OnceCell<Option<Vec<String>>>,
    ttl: OnceCell<Check>,
}

/// The eviction rule over the window's raw items (malformed items are ignored).
fn place(items: &[String], request_id: &str, decided_at: i64, window: usize) -> Placement {
    let entries: Vec<Entry> = items
        .iter()
        .filter_map(|i| serde_json::from_str(i).ok())
        .collect();
    if let Some(e) = entries.iter().find(|e| e.request_id == request_id) {
        return Placement::Present(e.clone());
    }
    if items.len() >= window && entries.iter().any(|e| e.decided_at >= decided_at) {
        Placement::Evicted { window }
    } else {
        Placement::Absent {
            held: items.len(),
            window,
        }
    }
}

/// A TTL check: the key exists and expires within `(0, max_s]` seconds.
fn ttl_check(fp: &Footprint, name: &str, key: &str, max_s: u64) -> Check {
    let expected = format!("0 < ttl ≤ {max_s} s");
    let ttl = fp.poll(|| match cache::ttl(key) {
        Ok(KeyTtl::Missing) => Poll::Pending(None),
        Ok(t) => Poll::Ready(t),
        Err(e) => Poll::Failed(e),
    });
    let (passed, actual) = match ttl {
        Poll::Ready(KeyTtl::Seconds(s)) => (s > 0 && s <= max_s, format!("{s} s")),
        Poll::Ready(KeyTtl::Persistent) => (false, "no expiry".to_string()),
        Poll::Ready(KeyTtl::Missing) | Poll::Pending(_) => (false, "no such key".to_string()),
        Poll::Failed(e) => return Check::host_failure(name, &expected, &e),
    };
    let message = format!("{key} expires in {actual}, expected {expected}");
    Check::expect(name, passed, &expected, actual, &message)
}

fn entry_checks(
    fp: &Footprint,
    shared: &Window,
    request_id: &str,
    decision: &Decision,
) -> Vec<Check> {
    let name = |what: &str| check_name(request_id, what);
    let key = fp.context_key();
    let window = fp.facts.target.context_window.clamp(1, MAX_WINDOW);
    let placed = |items: &[String]| place(items, request_id, decision.decided_at, window as usize);
    let first_look = shared
        .items
        .get_or_init(|| cache::list_head(&key, window).ok())
        .as_deref()
        .map(placed)
        .filter(|p| !matches!(p, Placement::Absent { .. }));
    let placement = match first_look {
        Some(found) => Poll::Ready(found),
        None => fp.poll(|| match cache::list_head(&key, window) {
            Ok(items) => match placed(&items) {
                absent @ Placement::Absent { .. } => Poll::Pending(Some(absent)),
                found => Poll::Ready(found),
            },
            Err(e) => Poll::Failed(e),
        }),
    };
    let entry_name = name("context entry");
    let expected = format!("an entry for {request_id} in {key}");
    let mut checks = match placement {
        Poll::Ready(Placement::Present(e)) => vec![
            Check::expect(&entry_name, true, &expected, "present", ""),
            Check::expect_eq(&name("context approved"), decision.approved(), e.approved),
            Check::expect_eq(&name("context devices"), decision.devices.len(), e.devices),
        ],
        Poll::Ready(Placement::Evicted { window }) => vec![Check {
            name: entry_name,
            passed: true,
            expected,
            actual: "evicted".to_string(),
            message: format!("evicted: the window is full ({window}) and holds newer decisions"),
        }],
        Poll::Ready(Placement::Absent { held, window })
        | Poll::Pending(Some(Placement::Absent { held, window })) => {
            let actual = format!("absent ({held} of {window} entries)");
            let message = format!(
                "{key} has no entry for {request_id}, and it has room or only older decisions"
            );
            vec![Check::expect(
                &entry_name,
                false,
                &expected,
                actual,
                &message,
            )]
        }
        Poll::Pending(_) => vec![Check::expect(
            &entry_name,
            false,
            &expected,
            "no window",
            &format!("{key} was not read"),
        )],
        Poll::Failed(e) => vec![Check::host_failure(&entry_name, &expected, &e)],
    };
    let ttl_s = fp.facts.target.context_ttl_s;
    let ttl = shared
        .ttl
        .get_or_init(|| ttl_check(fp, "context ttl", &key, ttl_s));
    checks.push(Check {
        name: name("context ttl"),
        ..ttl.clone()
    });
    checks
}

fn checks(fp: &Footprint, shared: &Window, request_id: &str) -> Vec<Check> {
    let name = |what: &str| check_name(request_id, what);
    let reference = match fp.reference_decision(request_id) {
        Ok(v) => v,
        Err(check) => return vec![check],
    };
    let decision = match Decision::parse(&name("decision"), &reference) {
        Ok(d) => d,
        Err(check) => return vec![check],
    };
    let key = fp.decision_key(request_id);
    let mut checks = match fp.persisted_decision(request_id) {
        Ok(cached) => vec![
            Check::expect(&name("cached decision"), true, &key, "present", ""),
            json_check(
                &name("cached value"),
                "the workflow's decision",
                &reference,
                &cached,
            ),
        ],
        Err(check) => vec![check],
    };
    let ttl_s = fp.facts.target.context_ttl_s;
    checks.push(ttl_check(fp, &name("decision ttl"), &key, ttl_s));
    checks.extend(entry_checks(fp, shared, request_id, &decision));
    checks
}

struct ContextCaching;

impl Guest for ContextCaching {
    fn validate(ctx: RunContext) -> Result<ValidationResult, PluginError> {
        let fp = Footprint::new(&ctx, DEADLINE_MS)?;
        let shared = Window::default();
        Ok(fp.check_each(|request_id| checks(&fp, &shared, request_id)))
    }
}

export_validator!(ContextCaching);

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, decided_at: i64) -> String {
        format!(
            r#"{{"request_id":"{id}","team":"t","gpu_count":1,"memory_gb":16,"priority":5,
                "duration_minutes":30,"approved":true,"devices":1,"decided_at":{decided_at}}}"#
        )
    }

    #[test]
    fn finds_the_entry_of_the_request() {
        let items = [entry("b", 20), entry("a", 10)];
        assert_eq!(
            place(&items, "a", 10, 8),
            Placement::Present(Entry {
                request_id: "a".into(),
                approved: true,
                devices: 1,
                decided_at: 10,
            })
        );
    }

    #[test]
    fn a_full_window_with_newer_decisions_explains_a_missing_entry() {
        let full: Vec<String> = (0..3).map(|i| entry(&format!("n{i}"), 10 + i)).collect();
        assert_eq!(place(&full, "a", 10, 3), Placement::Evicted { window: 3 });
        // Pushed in any order under concurrency: one newer decision is enough.
        assert_eq!(place(&full, "a", 12, 3), Placement::Evicted { window: 3 });
        // Newer than everything in the window, yet pushed out: wrong.
        assert_eq!(
            place(&full, "a", 13, 3),
            Placement::Absent { held: 3, window: 3 }
        );
        // Room left in the window: nothing was evicted.
        assert_eq!(
            place(&full[..2], "a", 5, 3),
            Placement::Absent { held: 2, window: 3 }
        );
        assert_eq!(
            place(&["not json".to_string()], "a", 5, 3),
            Placement::Absent { held: 1, window: 3 }
        );
    }
}
