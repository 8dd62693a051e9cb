//! The test data manager (seed 002): a scenario's `[data]`, loaded into its namespace
//! before its requests and removed, exactly what was loaded, once it has been judged.
//! Records come from fixture files (`scenarios/fixtures/NAME.toml`) and from shapes drawn
//! by a seed (`[[data.generate]]`); both are checked against the data model when the
//! scenario is read, so a bad one is refused (exit 2, file, line and field) before
//! anything runs. Records are written the way the reference target writes its own:
//! device leases and the council's context window in Redis, nodes in the run's graph
//! (marked, so cleanup removes only them), events on the namespace's decision topic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::scenario::{ScenarioError, locate, locate_field};
use aura_contract::names::{self, RUN_ID_HEADER, RUN_ID_PROPERTY, graph as model};
use aura_reference::request::ContextEntry;
use aura_services::config::{ConfigError, parse_toml};
use aura_services::{Cypher, GraphValue, OutgoingEvent, ServiceHub};

/// The folder of `scenarios/` that holds fixtures, not a suite.
pub const FIXTURES_DIR: &str = "fixtures";
/// The graph property that marks a node as fixture data (its value: where it came from).
pub const FIXTURE_PROPERTY: &str = "aura_fixture";
/// How long loaded context entries live; the target's own push sets its TTL again.
const CONTEXT_TTL: Duration = Duration::from_secs(3600);
/// The context window the target keeps at most.
const CONTEXT_KEEP: usize = 16;
/// The longest a fixture's lease may live.
const MAX_LEASE_TTL: Duration = Duration::from_secs(30 * 86_400);
/// Records one shape may generate.
const MAX_GENERATED: u32 = 10_000;

/// `[data]`: what a scenario starts with.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Fixture files: names in `fixtures/` beside the scenario's suite folder, or paths
    /// relative to the scenario file.
    #[serde(default)]
    pub fixtures: Vec<String>,
    /// Records drawn from a shape by a seed.
    #[serde(default)]
    pub generate: Vec<Generate>,
    /// An `env snapshot` of the local profile the run restores before it starts (every
    /// scenario of a run that names one names the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Loaded records, read when the scenario is: not written by hand.
    #[serde(skip)]
    pub loaded: Records,
}

/// `[[data.generate]]`: `count` records of `kind`, each field of `shape` a value, a list
/// (one drawn), or a string `"A..B"` (an integer drawn from A to B, inclusive); `{n}` in
/// a string is the record's number (1-based).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generate {
    pub kind: Kind,
    pub count: u32,
    #[serde(default)]
    pub seed: u64,
    pub shape: toml::Table,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Leases,
    Context,
    Nodes,
    Events,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Leases => "leases",
            Self::Context => "context",
            Self::Nodes => "nodes",
            Self::Events => "events",
        }
    }
}

/// What a fixture file holds, each kind in the data model's terms.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Records {
    /// Device leases (Redis `aura:<run>:lease:<device>`, value the holding request).
    #[serde(default)]
    pub leases: Vec<Lease>,
    /// Past decisions in the council's context window (Redis `aura:<run>:context`),
    /// oldest first.
    #[serde(default)]
    pub context: Vec<ContextEntry>,
    /// Graph nodes in the run's graph.
    #[serde(default)]
    pub nodes: Vec<Node>,
    /// Decision events on `aura.<run>.gpu.allocation.decided`.
    #[serde(default)]
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lease {
    pub device: String,
    pub request_id: String,
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub label: Label,
    /// Must hold the label's id property (`request_id`, `agent_id` or `device_id`).
    pub properties: toml::Table,
}

/// The data model's node labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Label {
    Request,
    Decision,
    Agent,
    Gpu,
}

impl Label {
    fn name(self) -> &'static str {
        match self {
            Self::Request => model::REQUEST,
            Self::Decision => model::DECISION,
            Self::Agent => model::AGENT,
            Self::Gpu => model::GPU,
        }
    }

    fn id_property(self) -> &'static str {
        match self {
            Self::Request | Self::Decision => model::REQUEST_ID,
            Self::Agent => model::AGENT_ID,
            Self::Gpu => model::DEVICE_ID,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The request it is about: its key, and `request_id` in its payload.
    pub request_id: String,
    /// The decision's JSON fields, `request_id` added.
    pub payload: toml::Table,
}

impl Records {
    fn extend(&mut self, other: Records) {
        self.leases.extend(other.leases);
        self.context.extend(other.context);
        self.nodes.extend(other.nodes);
        self.events.extend(other.events);
    }

    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
            && self.context.is_empty()
            && self.nodes.is_empty()
            && self.events.is_empty()
    }

    /// What the types cannot say: `(field, value, reason)`.
    fn check(&self) -> Result<(), (String, String, String)> {
        for (i, n) in self.nodes.iter().enumerate() {
            let id = n.label.id_property();
            if !n.properties.get(id).is_some_and(|v| v.is_str()) {
                return Err((
                    format!("nodes[{i}].properties"),
                    id.to_string(),
                    format!("a {} node needs its {id} (a string)", n.label.name()),
                ));
            }
            if let Some(k) = n
                .properties
                .keys()
                .find(|k| *k == RUN_ID_PROPERTY || *k == FIXTURE_PROPERTY)
            {
                return Err((
                    format!("nodes[{i}].properties"),
                    k.clone(),
                    format!("{k} is set by the host"),
                ));
            }
        }
        for (i, l) in self.leases.iter().enumerate() {
            if l.ttl.is_zero() || l.ttl > MAX_LEASE_TTL {
                return Err((
                    format!("leases[{i}].ttl"),
                    "ttl".into(),
                    "a lease lives more than 0s and at most 30 days".into(),
                ));
            }
        }
        Ok(())
    }
}

impl DataSpec {
    /// Reads the fixtures and draws the shapes of the scenario at `path`: every record,
    /// checked, or the file, line and field of the first that is wrong.
    pub fn read(&mut self, path: &Path, text: &str) -> Result<(), ScenarioError> {
        let mut loaded = Records::default();
        for (i, name) in self.fixtures.iter().enumerate() {
            let file = fixture_path(path, name).ok_or_else(|| ScenarioError::Invalid {
                path: path.to_path_buf(),
                line: locate(text, name).0,
                column: locate(text, name).1,
                field: format!("data.fixtures[{i}]"),
                reason: format!(
                    "no fixture {name:?} (looked in {})",
                    fixture_dirs(path)
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
            loaded.extend(read_fixture(&file)?);
        }
        for (i, g) in self.generate.iter().enumerate() {
            let field = format!("data.generate[{i}]");
            let invalid = |reason: String| {
                let (line, column) = locate_field(text, &format!("{field}.kind"))
                    .unwrap_or_else(|| locate(text, "data.generate"));
                ScenarioError::Invalid {
                    path: path.to_path_buf(),
                    line,
                    column,
                    field: field.clone(),
                    reason,
                }
            };
            if g.count == 0 || g.count > MAX_GENERATED {
                return Err(invalid(format!("count is 1 to {MAX_GENERATED}")));
            }
            let drawn = draw(g).map_err(&invalid)?;
            drawn
                .check()
                .map_err(|(f, _, reason)| invalid(format!("{f}: {reason}")))?;
            loaded.extend(drawn);
        }
        self.loaded = loaded;
        Ok(())
    }
}

/// Where fixture names are looked up: `fixtures/` beside the scenario's suite folder,
/// then the scenario's own folder.
fn fixture_dirs(scenario: &Path) -> Vec<PathBuf> {
    let dir = scenario.parent().unwrap_or(Path::new("."));
    let mut dirs = Vec::new();
    if let Some(root) = dir.parent() {
        dirs.push(root.join(FIXTURES_DIR));
    }
    dirs.push(dir.to_path_buf());
    dirs
}

fn fixture_path(scenario: &Path, name: &str) -> Option<PathBuf> {
    let file = match name.ends_with(".toml") {
        true => name.to_string(),
        false => format!("{name}.toml"),
    };
    fixture_dirs(scenario)
        .into_iter()
        .map(|d| d.join(&file))
        .find(|p| p.is_file())
}

/// Reads and checks one fixture file.
pub fn read_fixture(path: &Path) -> Result<Records, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let records: Records = parse_toml(path, &text)?;
    records.check().map_err(|(field, value, reason)| {
        let (line, column) = locate_field(&text, &field).unwrap_or_else(|| locate(&text, &value));
        ScenarioError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            field,
            reason,
        }
    })?;
    Ok(records)
}

/// `g.count` records drawn from its shape, read as the kind's records.
fn draw(g: &Generate) -> Result<Records, String> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(g.seed);
    let mut items = Vec::new();
    for n in 1..=g.count {
        let mut record = toml::Table::new();
        for (field, spec) in &g.shape {
            let value = match spec {
                toml::Value::Array(choices) if !choices.is_empty() => {
                    choices[rng.random_range(0..choices.len())].clone()
                }
                toml::Value::String(s) => match range(s) {
                    Some((a, b)) => toml::Value::Integer(rng.random_range(a..=b)),
                    None => toml::Value::String(s.replace("{n}", &n.to_string())),
                },
                other => other.clone(),
            };
            record.insert(field.clone(), value);
        }
        items.push(toml::Value::Table(record));
    }
    let mut all = toml::Table::new();
    all.insert(g.kind.name().into(), toml::Value::Array(items));
    toml::Value::Table(all)
        .try_into()
        .map_err(|e: toml::de::Error| {
            format!("the shape does not make {}: {}", g.kind.name(), e.message())
        })
}

/// `"A..B"` with integers A ≤ B.
fn range(s: &str) -> Option<(i64, i64)> {
    let (a, b) = s.split_once("..")?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

fn graph_value(v: &toml::Value) -> GraphValue {
    match v {
        toml::Value::String(s) => GraphValue::String(s.clone()),
        toml::Value::Integer(i) => GraphValue::Int(*i),
        toml::Value::Float(f) => GraphValue::Float(*f),
        toml::Value::Boolean(b) => GraphValue::Bool(*b),
        toml::Value::Datetime(d) => GraphValue::String(d.to_string()),
        toml::Value::Array(a) => GraphValue::List(a.iter().map(graph_value).collect()),
        toml::Value::Table(t) => {
            GraphValue::Map(t.iter().map(|(k, v)| (k.clone(), graph_value(v))).collect())
        }
    }
}

/// What was loaded into one namespace: what cleanup removes.
#[derive(Debug, Default)]
pub struct Loaded {
    namespace: String,
    /// Leased devices with their holders.
    leases: Vec<(String, String)>,
    /// Context entries pushed, as pushed.
    context: Vec<String>,
    nodes: usize,
    events: usize,
}

impl Loaded {
    /// `(device, holder)` of every loaded lease: not leaks of the scenario's requests.
    pub fn lease_holders(&self) -> Vec<(String, String)> {
        self.leases.clone()
    }

    /// In words, for the scenario's summary.
    pub fn describe(&self) -> String {
        format!(
            "{} lease(s), {} context entr(ies), {} node(s), {} event(s)",
            self.leases.len(),
            self.context.len(),
            self.nodes,
            self.events
        )
    }
}

/// Writes `records` into `namespace`; `devices` are the target's (a lease of another is
/// refused). What was written so far is returned with the error, for cleanup.
pub async fn load(
    hub: &ServiceHub,
    namespace: &str,
    devices: Option<&[String]>,
    records: &Records,
) -> Result<Loaded, (Loaded, String)> {
    let mut loaded = Loaded {
        namespace: namespace.to_string(),
        ..Loaded::default()
    };
    match write(hub, namespace, devices, records, &mut loaded).await {
        Ok(()) => Ok(loaded),
        Err(e) => Err((loaded, e)),
    }
}

async fn write(
    hub: &ServiceHub,
    ns: &str,
    devices: Option<&[String]>,
    records: &Records,
    loaded: &mut Loaded,
) -> Result<(), String> {
    let cache = hub.cache().await.map_err(|e| e.to_string())?;
    for l in &records.leases {
        if let Some(known) = devices
            && !known.contains(&l.device)
        {
            return Err(format!(
                "lease of {}: the target has no such device ({})",
                l.device,
                known.join(", ")
            ));
        }
        let key = names::lease_key(ns, &l.device);
        let got = cache
            .lease(std::slice::from_ref(&key), 1, &l.request_id, l.ttl)
            .await
            .map_err(|e| e.to_string())?;
        if got.is_empty() {
            return Err(format!("lease of {}: already held", l.device));
        }
        loaded.leases.push((l.device.clone(), l.request_id.clone()));
    }
    for entry in &records.context {
        let json = serde_json::to_string(entry).map_err(|e| e.to_string())?;
        cache
            .push_capped(&names::context_key(ns), &json, CONTEXT_KEEP, CONTEXT_TTL)
            .await
            .map_err(|e| e.to_string())?;
        loaded.context.push(json);
    }
    if !records.nodes.is_empty() {
        let graph = hub.run_graph(ns).await.map_err(|e| e.to_string())?;
        for n in &records.nodes {
            let mut props: BTreeMap<String, GraphValue> = n
                .properties
                .iter()
                .map(|(k, v)| (k.clone(), graph_value(v)))
                .collect();
            props.insert(RUN_ID_PROPERTY.into(), GraphValue::String(ns.into()));
            props.insert(FIXTURE_PROPERTY.into(), GraphValue::Bool(true));
            let text = format!("CREATE (n:{}) SET n = $props", n.label.name());
            graph
                .query(Cypher::new(text).param("props", GraphValue::Map(props)))
                .await
                .map_err(|e| e.to_string())?;
            loaded.nodes += 1;
        }
    }
    if !records.events.is_empty() {
        let events = hub.events().await.map_err(|e| e.to_string())?;
        let topic = names::decided_topic(ns);
        events
            .ensure_topic(&topic, 1)
            .await
            .map_err(|e| e.to_string())?;
        for e in &records.events {
            let mut payload: serde_json::Map<String, serde_json::Value> = e
                .payload
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
                .collect();
            payload.insert("request_id".into(), e.request_id.clone().into());
            events
                .publish(OutgoingEvent {
                    topic: topic.clone(),
                    key: e.request_id.clone(),
                    payload: serde_json::to_vec(&payload).unwrap_or_default(),
                    headers: BTreeMap::from([(RUN_ID_HEADER.to_string(), ns.to_string())]),
                })
                .await
                .map_err(|e| e.to_string())?;
            loaded.events += 1;
        }
    }
    Ok(())
}

/// Removes exactly what was loaded: the leases still held by their fixture holder, the
/// fixture's context entries, the marked nodes nothing of the scenario's links to (one
/// its decision adopted, a `Gpu` it was allocated, stays with it; how many is said).
/// Events stay in the namespace's topic (Kafka cannot remove single messages) until the
/// run removes the namespace.
pub async fn remove(hub: &ServiceHub, loaded: &Loaded) -> Result<String, String> {
    let cache = hub.cache().await.map_err(|e| e.to_string())?;
    for (device, holder) in &loaded.leases {
        let key = names::lease_key(&loaded.namespace, device);
        cache
            .release(&[key], holder)
            .await
            .map_err(|e| e.to_string())?;
    }
    let context = names::context_key(&loaded.namespace);
    for entry in &loaded.context {
        cache
            .list_remove(&context, entry)
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut kept = 0;
    if loaded.nodes > 0 {
        let graph = hub
            .run_graph(&loaded.namespace)
            .await
            .map_err(|e| e.to_string())?;
        let mark = format!("n.{FIXTURE_PROPERTY} = true");
        graph
            .query(Cypher::new(format!(
                "MATCH (n) WHERE {mark} AND NOT (n)--() DELETE n"
            )))
            .await
            .map_err(|e| e.to_string())?;
        let rows = graph
            .query(Cypher::new(format!("MATCH (n) WHERE {mark} RETURN count(n) AS n")).read_only())
            .await
            .map_err(|e| e.to_string())?;
        kept = rows
            .first()
            .and_then(|r| r.get("n"))
            .and_then(GraphValue::as_int)
            .unwrap_or(0);
    }
    Ok(match kept {
        0 => "removed".into(),
        n => format!("removed but {n} node(s) the scenario's data links to"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Generate {
        toml::from_str(text).expect("a shape")
    }

    #[test]
    fn a_shape_draws_the_same_records_for_the_same_seed() {
        let g = spec(
            "kind = \"context\"\ncount = 5\nseed = 7\n[shape]\nrequest_id = \"hist-{n}\"\nteam = [\"a\", \"b\"]\ngpu_count = \"1..4\"\nmemory_gb = 16\npriority = \"1..10\"\nduration_minutes = 30\napproved = [true, false]\ndevices = \"0..2\"\ndecided_at = 0",
        );
        let (a, b) = (draw(&g).expect("draws"), draw(&g).expect("draws"));
        assert_eq!(a, b);
        assert_eq!(a.context.len(), 5);
        assert_eq!(a.context[4].request_id, "hist-5");
        assert!(a.context.iter().all(|c| (1..=4).contains(&c.gpu_count)));
        let other = draw(&Generate { seed: 8, ..g }).expect("draws");
        assert_ne!(a, other, "another seed, other records");
    }

    #[test]
    fn a_shape_that_does_not_make_its_kind_is_refused() {
        let g = spec("kind = \"leases\"\ncount = 1\n[shape]\ndevice = \"gpu-0\"");
        let why = draw(&g).expect_err("no request_id, no ttl");
        assert!(why.contains("the shape does not make leases"), "{why}");
    }

    #[test]
    fn a_node_without_its_id_is_refused_with_its_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.toml");
        std::fs::write(
            &path,
            "[[nodes]]\nlabel = \"Gpu\"\nproperties = { device_id = \"gpu-0\" }\n\n[[nodes]]\nlabel = \"Gpu\"\nproperties = { rack = \"r1\" }\n",
        )
        .expect("write");
        let e = read_fixture(&path).expect_err("refused").to_string();
        assert!(e.contains("bad.toml:7:"), "{e}");
        assert!(e.contains("nodes[1].properties"), "{e}");
        assert!(e.contains("needs its device_id"), "{e}");
        std::fs::write(&path, "[[nodes]]\nlabel = \"Team\"\nproperties = {}\n").expect("write");
        let e = read_fixture(&path).expect_err("refused").to_string();
        assert!(e.contains("bad.toml:2:"), "{e}");
        assert!(e.contains("Team"), "{e}");
    }
}
