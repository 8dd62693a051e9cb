//! A validator that checks the graph holds each request's decision as the workflow made
//! it. The persist step writes the whole decision in one statement:
//! `(:Request {run_id, request_id})-[:DECIDED_BY]->(:Decision {run_id, request_id})`, a
//! `(:Agent)-[:VOTED]->(d)` edge per vote and a `(d)-[:ALLOCATES]->(:Gpu {device_id})`
//! edge per allocated device. The reference is the output of the request's Temporal
//! workflow. One query reads every request's decision (up to [`BATCH`] at a time); a
//! request it did not find is polled on its own until its decision node is there or
//! the deadline passes.
//!
//! Checks per request: `decision node`, `outcome`, `reason class` (the denial's class or
//! `none`), `quorum`, `vote count` and `devices` (allocated device ids, sorted and
//! comma-joined, or `none`); `decision` fails alone when the workflow has no decision.
//!
//! Grants: `graph = "read"`, `workflow = true`.
//!
//! Configuration (every key optional):
//!
//! ```toml
//! deadline_ms = 5000       # one deadline for the whole call, for every request together
//! poll_interval_ms = 100   # between two looks at a store
//! ```

use std::collections::HashMap;

use aura_sdk::footprint::{Decision, sorted_ids};
use aura_sdk::graph::{self, ResultSet, Value};
use aura_sdk::validator::Guest;
use aura_sdk::{
    Check, Footprint, PluginError, Poll, RunContext, ValidationResult, check_name, export_validator,
};

use aura_sdk::contract::names::{RUN_ID_PROPERTY, graph as g};

const DEADLINE_MS: u64 = 5_000;
/// Requests per query: a row each, well inside the host's answer limit.
const BATCH: usize = 1_000;

/// Each of `$request_ids`' decisions with its votes and devices, a row per request
/// (none until it is written), in the contract's labels and properties.
fn query() -> String {
    g::cypher(
        "UNWIND $request_ids AS rid \
         MATCH (r:<Request> {<run_id>: $run_id, <request_id>: rid})\
         -[:<DECIDED_BY>]->(d:<Decision> {<run_id>: $run_id, <request_id>: rid}) \
         OPTIONAL MATCH (d)-[:<ALLOCATES>]->(g:<Gpu>) \
         WITH rid, d, collect(DISTINCT g.<device_id>) AS devices \
         OPTIONAL MATCH (a:<Agent>)-[:<VOTED>]->(d) \
         RETURN rid AS request_id, d.outcome AS outcome, d.reason_class AS reason_class, \
         d.quorum AS quorum, devices, count(DISTINCT a) AS votes",
    )
}

/// The decisions of `request_ids` the graph holds, by request id.
fn persisted(
    query: &str,
    run_id: &str,
    request_ids: &[String],
) -> Result<HashMap<String, Persisted>, aura_sdk::HostError> {
    let params = [
        (RUN_ID_PROPERTY.to_string(), Value::Text(run_id.to_string())),
        (
            "request_ids".to_string(),
            Value::Json(serde_json::Value::from(request_ids).to_string()),
        ),
    ];
    Ok(read_all(&graph::query(query, &params)?))
}

/// What the graph holds of one decision, in the words of the checks.
#[derive(Debug, PartialEq)]
struct Persisted {
    outcome: String,
    reason_class: String,
    quorum: String,
    votes: String,
    devices: String,
}

fn read_all(set: &ResultSet) -> HashMap<String, Persisted> {
    set.rows
        .iter()
        .filter_map(|row| {
            let p = read(&set.columns, row);
            Some((text(cell(&set.columns, row, "request_id"))?, p))
        })
        .collect()
}

fn cell<'a>(columns: &[String], row: &'a [Value], column: &str) -> &'a Value {
    columns
        .iter()
        .position(|c| c == column)
        .and_then(|i| row.get(i))
        .unwrap_or(&Value::Null)
}

fn read(columns: &[String], row: &[Value]) -> Persisted {
    let cell = |column: &str| cell(columns, row, column);
    Persisted {
        outcome: text(cell("outcome")).unwrap_or_else(|| "none".into()),
        reason_class: text(cell("reason_class")).unwrap_or_else(|| "none".into()),
        quorum: boolean(cell("quorum")),
        votes: integer(cell("votes")),
        devices: sorted_ids(list(cell("devices"))),
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Text(s) => Some(s.clone()),
        Value::Json(s) => Some(match serde_json::from_str::<serde_json::Value>(s) {
            Ok(serde_json::Value::String(inner)) => inner,
            _ => s.clone(),
        }),
        Value::Boolean(b) => Some(b.to_string()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
    }
}

/// `true`/`false` whether the database answers with a boolean, 0/1 or text.
fn boolean(v: &Value) -> String {
    match v {
        Value::Boolean(b) => b.to_string(),
        Value::Integer(i) => (*i != 0).to_string(),
        other => text(other).unwrap_or_else(|| "none".into()),
    }
}

/// Counts come back as integers, or as floats from some aggregations.
fn integer(v: &Value) -> String {
    match v {
        Value::Float(f) if f.fract() == 0.0 => format!("{f:.0}"),
        other => text(other).unwrap_or_else(|| "0".into()),
    }
}

/// Lists come back as JSON text; a null (no match) is an empty list.
fn list(v: &Value) -> Vec<String> {
    let (Value::Json(s) | Value::Text(s)) = v else {
        return Vec::new();
    };
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(serde_json::Value::Array(items)) => items
            .into_iter()
            .filter(|i| !i.is_null())
            .map(|i| match i {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        _ => vec![s.clone()],
    }
}

fn checks(
    fp: &Footprint,
    query: &str,
    batch: &mut HashMap<String, Persisted>,
    request_id: &str,
) -> Vec<Check> {
    let name = |what: &str| check_name(request_id, what);
    let decision = match fp
        .reference_decision(request_id)
        .and_then(|v| Decision::parse(&name("decision"), &v))
    {
        Ok(d) => d,
        Err(check) => return vec![check],
    };
    let node = name("decision node");
    let expected_node = g::cypher("(:<Request>)-[:<DECIDED_BY>]->(:<Decision>)");
    let one = [request_id.to_string()];
    let found = batch.remove(request_id).map(Poll::Ready);
    let persisted = match found.unwrap_or_else(|| {
        fp.poll(|| match persisted(query, &fp.ctx.run_id, &one) {
            Ok(mut rows) => rows
                .remove(request_id)
                .map_or(Poll::Pending(None), Poll::Ready),
            Err(e) => Poll::Failed(e),
        })
    }) {
        Poll::Ready(p) => p,
        Poll::Pending(_) => {
            let actual = format!("missing after {} ms", fp.deadline_ms());
            let message = format!("the graph holds no decision of {request_id} in this run");
            return vec![Check::expect(
                &node,
                false,
                &expected_node,
                actual,
                &message,
            )];
        }
        Poll::Failed(e) => return vec![Check::host_failure(&node, &expected_node, &e)],
    };
    vec![
        Check::expect(&node, true, &expected_node, "present", ""),
        Check::expect_eq(&name("outcome"), &decision.outcome, persisted.outcome),
        Check::expect_eq(
            &name("reason class"),
            decision.reason_class(),
            persisted.reason_class,
        ),
        Check::expect_eq(&name("quorum"), decision.quorum, persisted.quorum),
        Check::expect_eq(&name("vote count"), decision.votes.len(), persisted.votes),
        Check::expect_eq(&name("devices"), decision.device_ids(), persisted.devices),
    ]
}

struct DecisionPersistence;

impl Guest for DecisionPersistence {
    fn validate(ctx: RunContext) -> Result<ValidationResult, PluginError> {
        let fp = Footprint::new(&ctx, DEADLINE_MS)?;
        let query = query();
        // One read for every request; one that fails leaves each request to its own.
        let mut batch: HashMap<String, Persisted> = ctx
            .request_ids
            .chunks(BATCH)
            .filter_map(|ids| persisted(&query, &ctx.run_id, ids).ok())
            .flatten()
            .collect();
        Ok(fp.check_each(|request_id| checks(&fp, &query, &mut batch, request_id)))
    }
}

export_validator!(DecisionPersistence);

#[cfg(test)]
mod tests {
    use super::*;

    fn set(row: Vec<Value>) -> ResultSet {
        let mut row = row;
        row.insert(0, Value::Text("req-1".into()));
        ResultSet {
            columns: [
                "request_id",
                "outcome",
                "reason_class",
                "quorum",
                "devices",
                "votes",
            ]
            .map(String::from)
            .to_vec(),
            rows: vec![row],
        }
    }

    fn read_one(set: &ResultSet) -> Option<Persisted> {
        read_all(set).remove("req-1")
    }

    #[test]
    fn reads_a_row_whatever_the_database_returns() {
        let neo4j = set(vec![
            Value::Text("approved".into()),
            Value::Null,
            Value::Boolean(true),
            Value::Json(r#"["gpu-2","gpu-1"]"#.into()),
            Value::Integer(5),
        ]);
        let falkor = set(vec![
            Value::Text("approved".into()),
            Value::Null,
            Value::Integer(1),
            Value::Json(r#"["gpu-1","gpu-2"]"#.into()),
            Value::Float(5.0),
        ]);
        let expected = Persisted {
            outcome: "approved".into(),
            reason_class: "none".into(),
            quorum: "true".into(),
            votes: "5".into(),
            devices: "gpu-1,gpu-2".into(),
        };
        assert_eq!(read_one(&neo4j).as_ref(), Some(&expected));
        assert_eq!(read_one(&falkor).as_ref(), Some(&expected));
    }

    #[test]
    fn a_denial_has_a_class_and_no_devices() {
        let denied = set(vec![
            Value::Text("denied".into()),
            Value::Text("invalid_request".into()),
            Value::Boolean(false),
            Value::Json("[]".into()),
            Value::Integer(0),
        ]);
        let Some(p) = read_one(&denied) else {
            panic!("no row read");
        };
        assert_eq!(
            (
                p.reason_class.as_str(),
                p.devices.as_str(),
                p.votes.as_str()
            ),
            ("invalid_request", "none", "0")
        );
        let empty = ResultSet {
            columns: vec![],
            rows: vec![],
        };
        assert_eq!(read_one(&empty), None);
    }
}
