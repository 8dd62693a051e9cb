//! System state before and after, compared: one list of facts with both values, the
//! changed ones marked. The summary, the HTML report and the dashboard show this list.

use super::model::{ServiceHealth, SystemState, TargetState};

/// One fact before and after (`?`: not read, `-`: not there).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Fact {
    pub name: String,
    pub before: String,
    pub after: String,
}

impl Fact {
    pub fn changed(&self) -> bool {
        self.before != self.after
    }
}

/// A fact's name and how to read it from a state.
type Read<S> = (&'static str, fn(&S) -> Option<String>);

fn shown<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "?".to_string(), |v| v.to_string())
}

/// A scenario's namespace and the target, before and after it.
pub fn scenario(before: Option<&SystemState>, after: Option<&SystemState>) -> Vec<Fact> {
    if before.is_none() && after.is_none() {
        return Vec::new();
    }
    let facts: [Read<SystemState>; 6] = [
        ("redis keys", |s| s.redis_keys.map(|v| v.to_string())),
        ("active leases", |s| s.active_leases.map(|v| v.to_string())),
        ("graph nodes", |s| s.graph_nodes.map(|v| v.to_string())),
        ("graph relationships", |s| {
            s.graph_relationships.map(|v| v.to_string())
        }),
        ("events", |s| s.events.map(|v| v.to_string())),
        ("open workflows", |s| {
            s.open_workflows.map(|v| v.to_string())
        }),
    ];
    let target: [Read<TargetState>; 6] = [
        ("target requests", |t| Some(t.requests.to_string())),
        ("target decisions", |t| Some(t.decisions.to_string())),
        ("target pending", |t| Some(t.pending.to_string())),
        ("target store errors", |t| Some(t.store_errors.to_string())),
        ("target error rate", |t| {
            Some(format!("{:.1} %", t.error_rate * 100.0))
        }),
        ("target throughput", |t| {
            Some(format!("{:.1}/s", t.throughput_per_s))
        }),
    ];
    let of = |s: Option<&SystemState>, f: fn(&SystemState) -> Option<String>| shown(s.and_then(f));
    let of_target = |s: Option<&SystemState>, f: fn(&TargetState) -> Option<String>| {
        shown(s.and_then(|s| s.target.as_ref()).and_then(f))
    };
    facts
        .into_iter()
        .map(|(name, f)| Fact {
            name: name.into(),
            before: of(before, f),
            after: of(after, f),
        })
        .chain(target.into_iter().map(|(name, f)| Fact {
            name: name.into(),
            before: of_target(before, f),
            after: of_target(after, f),
        }))
        .collect()
}

/// What the readiness checks read of each service before and after the run: its
/// status and every scalar fact (Redis memory and hit rate, the graph's node count...).
pub fn services(before: &[ServiceHealth], after: &[ServiceHealth]) -> Vec<Fact> {
    let mut facts = Vec::new();
    for b in before {
        let a = after.iter().find(|a| a.service == b.service);
        facts.push(Fact {
            name: format!("{} status", b.service),
            before: b.status.clone(),
            after: a.map_or_else(|| "-".into(), |a| a.status.clone()),
        });
        let mut names: Vec<&String> = b
            .facts
            .keys()
            .chain(a.iter().flat_map(|a| a.facts.keys()))
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            let value = |h: Option<&ServiceHealth>| {
                h.and_then(|h| h.facts.get(name)).map_or_else(
                    || "-".to_string(),
                    |v| match v {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Null => "-".to_string(),
                        other => other.to_string(),
                    },
                )
            };
            let scalar = |h: Option<&ServiceHealth>| {
                h.and_then(|h| h.facts.get(name))
                    .is_none_or(|v| !v.is_array() && !v.is_object())
            };
            if scalar(Some(b)) && scalar(a) {
                facts.push(Fact {
                    name: format!("{} {name}", b.service),
                    before: value(Some(b)),
                    after: value(a),
                });
            }
        }
    }
    facts
}

/// `name before → after` for each changed fact, `·`-separated; empty when none changed.
pub fn changes(facts: &[Fact]) -> String {
    facts
        .iter()
        .filter(|f| f.changed())
        .map(|f| format!("{} {} → {}", f.name, f.before, f.after))
        .collect::<Vec<_>>()
        .join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenarios_changes_are_marked_and_an_unread_fact_says_so() {
        let before = SystemState {
            redis_keys: Some(0),
            graph_nodes: Some(0),
            ..SystemState::default()
        };
        let after = SystemState {
            redis_keys: Some(12),
            graph_nodes: None,
            target: Some(TargetState {
                decisions: 3,
                ..TargetState::default()
            }),
            ..SystemState::default()
        };
        let facts = scenario(Some(&before), Some(&after));
        let keys = facts.iter().find(|f| f.name == "redis keys").expect("keys");
        assert!(keys.changed());
        let nodes = facts
            .iter()
            .find(|f| f.name == "graph nodes")
            .expect("nodes");
        assert_eq!((nodes.before.as_str(), nodes.after.as_str()), ("0", "?"));
        let text = changes(&facts);
        assert!(text.contains("redis keys 0 → 12"), "{text}");
        assert!(text.contains("target decisions ? → 3"), "{text}");
        assert!(!text.contains("open workflows"), "{text}");
        assert!(scenario(None, None).is_empty());
    }
}
