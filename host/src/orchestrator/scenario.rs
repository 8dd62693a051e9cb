//! The scenario format (TOML, in `scenarios/`), after seed 000's TestScenario: the GPU
//! requests to submit, the expected outcome of each, invariants over all of them, the
//! validator plugins to run, timing limits, required services, feature flags, faults to
//! inject and the scenarios this one depends on. A file that does not parse, or that
//! contradicts itself, is refused with its path, line, column and field before anything
//! runs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::data::DataSpec;
use super::load::{LoadSpec, Model};
use super::thresholds::{Metric, Threshold, Written};
use crate::chaos::{Expectation, FaultSpec, RandomFaults};
use aura_contract::{Step, check_request_id};
use aura_reference::request::{DenialClass, GpuAllocationRequest, Outcome};
use aura_services::ServiceKind;
use aura_services::config::{ConfigError, parse_toml};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub gpu_requests: Vec<GpuAllocationRequest>,
    /// A scenario-generator plugin whose requests are run too, the same ones for the
    /// same seed.
    #[serde(default)]
    pub generator: Option<GeneratorRef>,
    #[serde(default)]
    pub expected_outcomes: Vec<ExpectedOutcome>,
    #[serde(default)]
    pub invariants: Vec<Invariant>,
    #[serde(default)]
    pub validation_rules: Vec<PluginRef>,
    /// The recovery strategy asked when a request's workflow or a service fails
    /// [default: the one given on the command line, else none].
    #[serde(default)]
    pub recovery: Option<PluginRef>,
    #[serde(with = "humantime_serde", default = "default_max_time")]
    pub max_execution_time: Duration,
    /// Per step (activity) name: the longest that step may take.
    #[serde(default, with = "durations")]
    pub step_timeouts: BTreeMap<String, Duration>,
    #[serde(default)]
    pub required_services: Vec<ServiceKind>,
    #[serde(default)]
    pub feature_flags: BTreeMap<String, bool>,
    /// Faults the chaos engine injects while the scenario runs.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// More faults, drawn at random from ranges by a seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chaos: Option<RandomFaults>,
    /// What must hold of the requests under the faults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expectation>,
    /// How the requests arrive: an arrival rate or virtual users, for a while.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadSpec>,
    /// Per metric, the expressions that must hold (k6's form: `p(95) < 2s`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub thresholds: BTreeMap<String, Vec<Written>>,
    /// Scenario ids that must run (and pass) first.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Test data loaded into its namespace before its requests: fixtures and generated
    /// records ([`super::data`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataSpec>,
}

fn default_max_time() -> Duration {
    Duration::from_secs(300)
}

mod durations {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        m: &BTreeMap<String, Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let text: BTreeMap<&String, String> = m
            .iter()
            .map(|(k, v)| (k, humantime::format_duration(*v).to_string()))
            .collect();
        text.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Duration>, D::Error> {
        let text = BTreeMap::<String, String>::deserialize(d)?;
        text.into_iter()
            .map(|(k, v)| {
                humantime::parse_duration(&v)
                    .map(|d| (k.clone(), d))
                    .map_err(|e| serde::de::Error::custom(format!("{k}: '{v}': {e}")))
            })
            .collect()
    }
}

/// What one request should come to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedOutcome {
    pub request_id: String,
    pub decision: Outcome,
    /// Devices an approval allocates.
    pub device_count: Option<u32>,
    /// The denial class a denial must have.
    pub reason: Option<DenialClass>,
}

/// A property of the scenario's requests taken together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Invariant {
    /// No device is allocated to two requests at once.
    NoDoubleAllocation,
    /// At most `count` requests are approved.
    MaxApproved { count: u32 },
    /// Every request has a decision within `within` of its submission.
    AllDecidedWithin {
        #[serde(with = "humantime_serde")]
        within: Duration,
    },
    /// Once the scenario's requests are done, every device lease in its namespace is
    /// held by an approved request that was allocated that device: a workflow that
    /// failed after leasing gave its devices back. Read from Redis.
    NoLeakedLeases,
}

/// A plugin (a validator run on every request, or a recovery strategy) with its config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginRef {
    /// A shipped plugin's name (`decision_persistence`) or a path to a `.wasm`.
    pub plugin: String,
    #[serde(default)]
    pub config: toml::Table,
}

/// `[generator]`: a scenario generator, its own config and the seed it is called with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorRef {
    /// A shipped plugin's name (`burst_generator`) or a path to a `.wasm`.
    pub plugin: String,
    #[serde(default)]
    pub config: toml::Table,
    #[serde(default)]
    pub seed: u64,
}

impl Scenario {
    /// This scenario with the generator's requests added (`replace`: instead of its own,
    /// dropping the expected outcomes that named them). Generated ids must follow the
    /// request-id rule and be new to the scenario.
    pub fn with_generated(
        &self,
        requests: Vec<GpuAllocationRequest>,
        replace: bool,
    ) -> Result<Scenario, String> {
        let mut s = self.clone();
        if replace {
            s.gpu_requests.clear();
            s.expected_outcomes.clear();
        }
        for r in requests {
            check_request_id(&r.request_id).map_err(|e| e.to_string())?;
            if s.gpu_requests.iter().any(|q| q.request_id == r.request_id) {
                return Err(format!("request id {} is generated twice", r.request_id));
            }
            s.gpu_requests.push(r);
        }
        Ok(s)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error(transparent)]
    Parse(#[from] ConfigError),
    #[error("{path}:{line}:{column}: {field}: {reason}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        field: String,
        reason: String,
    },
}

impl Scenario {
    /// Its thresholds, parsed (a scenario that loaded has only valid ones).
    pub fn thresholds(&self) -> Vec<Threshold> {
        self.thresholds
            .iter()
            .flat_map(|(m, es)| es.iter().filter_map(|e| Threshold::read(m, e).ok()))
            .collect()
    }

    /// The scenario `run --request` runs: no requests of its own; its validators check
    /// requests an earlier run decided.
    pub fn existing(namespace: &str) -> Scenario {
        Scenario {
            id: "existing-requests".into(),
            name: format!("requests decided in {namespace}"),
            description: "validators on an earlier run's requests (run --request)".into(),
            gpu_requests: Vec::new(),
            generator: None,
            expected_outcomes: Vec::new(),
            invariants: Vec::new(),
            validation_rules: Vec::new(),
            recovery: None,
            max_execution_time: default_max_time(),
            step_timeouts: BTreeMap::new(),
            required_services: ServiceKind::ALL.to_vec(),
            feature_flags: BTreeMap::new(),
            faults: Vec::new(),
            chaos: None,
            expect: None,
            load: None,
            thresholds: BTreeMap::new(),
            depends_on: Vec::new(),
            data: None,
        }
    }

    /// Reads, parses and checks a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ScenarioError> {
        let mut scenario: Self = parse_toml(path, text)?;
        scenario.check().map_err(|(field, value, reason)| {
            let (line, column) = locate_field(text, &field).unwrap_or_else(|| locate(text, &value));
            ScenarioError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                field,
                reason,
            }
        })?;
        if let Some(data) = &mut scenario.data {
            data.read(path, text)?;
        }
        Ok(scenario)
    }

    /// What the file cannot say through its types: `(field, offending value, reason)`.
    fn check(&self) -> Result<(), (String, String, String)> {
        let bad =
            |field: String, value: &str, reason: String| Err((field, value.to_string(), reason));
        // A scenario id follows the request-id rule: it names the scenario's data too.
        if let Err(e) = check_request_id(&self.id) {
            return bad("id".into(), &self.id, e.rule.into());
        }
        let mut requests = BTreeSet::new();
        for (i, r) in self.gpu_requests.iter().enumerate() {
            let field = format!("gpu_requests[{i}].request_id");
            if let Err(e) = check_request_id(&r.request_id) {
                return bad(field, &r.request_id, e.rule.into());
            }
            if !requests.insert(r.request_id.as_str()) {
                return bad(field, &r.request_id, "this request id is used twice".into());
            }
        }
        let mut expected = BTreeSet::new();
        for (i, e) in self.expected_outcomes.iter().enumerate() {
            let field = |name: &str| format!("expected_outcomes[{i}].{name}");
            if !requests.contains(e.request_id.as_str()) {
                return bad(
                    field("request_id"),
                    &e.request_id,
                    "no gpu_request has this id".into(),
                );
            }
            if !expected.insert(e.request_id.as_str()) {
                return bad(
                    field("request_id"),
                    &e.request_id,
                    "a second expected outcome for this request".into(),
                );
            }
            match e.decision {
                Outcome::Approved if e.reason.is_some() => {
                    return bad(
                        field("reason"),
                        "reason",
                        "an approval has no denial reason".into(),
                    );
                }
                Outcome::Denied if e.device_count.is_some_and(|n| n > 0) => {
                    return bad(
                        field("device_count"),
                        "device_count",
                        "a denial allocates no devices".into(),
                    );
                }
                _ => {}
            }
        }
        for (step, timeout) in &self.step_timeouts {
            if Step::parse(step).is_none() {
                return bad(
                    format!("step_timeouts.{step}"),
                    step,
                    format!("unknown step (steps: {})", Step::names().join(", ")),
                );
            }
            if timeout.is_zero() {
                return bad(
                    format!("step_timeouts.{step}"),
                    step,
                    "a timeout of zero fails every step".into(),
                );
            }
        }
        if self.max_execution_time.is_zero() {
            return bad(
                "max_execution_time".into(),
                "max_execution_time",
                "must be more than zero".into(),
            );
        }
        if let Some(load) = &self.load {
            load.check(
                self.max_execution_time,
                !self.gpu_requests.is_empty() || self.generator.is_some(),
            )?;
            if let Some(e) = self.expected_outcomes.first() {
                return bad(
                    "expected_outcomes".into(),
                    &e.request_id,
                    "a load scenario's requests are decided under contention, each as load-<n>: state what must hold with [thresholds], invariants and validators".into(),
                );
            }
        }
        // With a generator or a load, requests are known only at run time.
        let known = (self.generator.is_none() && self.load.is_none()).then_some(&requests);
        for (i, f) in self.faults.iter().enumerate() {
            if let Err((field, reason)) = f.check(self.max_execution_time, known) {
                let value = match field {
                    "request" => f.request.clone().unwrap_or_default(),
                    _ => field.to_string(),
                };
                return bad(format!("faults[{i}].{field}"), &value, reason);
            }
        }
        match &self.expect {
            Some(Expectation::Recovered { within })
                if within.is_zero() || *within > crate::chaos::MAX_HOLD =>
            {
                return bad(
                    "expect.within".into(),
                    "within",
                    "more than zero and at most 1h".into(),
                );
            }
            Some(Expectation::Degraded { allowed }) if allowed.is_empty() => {
                return bad(
                    "expect.allowed".into(),
                    "allowed",
                    "names no denial class to allow".into(),
                );
            }
            _ => {}
        }
        if let Some(c) = &self.chaos
            && let Err((field, reason)) = c.check(
                self.max_execution_time,
                known.map(|k| k.len() as u32),
                &self.required_services,
            )
        {
            return bad(format!("chaos.{field}"), field, reason);
        }
        for (metric, expressions) in &self.thresholds {
            for e in expressions {
                match Threshold::read(metric, e) {
                    Err(reason) => {
                        return bad(format!("thresholds.{metric}"), e.expression(), reason);
                    }
                    Ok(t) if t.metric.of_load() && self.load.is_none() => {
                        return bad(
                            format!("thresholds.{metric}"),
                            e.expression(),
                            "measures a [load]; this scenario has none".into(),
                        );
                    }
                    Ok(t)
                        if t.metric == Metric::AchievedRate
                            && self.load.as_ref().is_some_and(|l| l.model == Model::Closed) =>
                    {
                        return bad(
                            format!("thresholds.{metric}"),
                            e.expression(),
                            "a closed model asks for no rate; achieved_rate measures an open one"
                                .into(),
                        );
                    }
                    Ok(_) => {}
                }
            }
        }
        let plugins = self
            .validation_rules
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("validation_rules[{i}].plugin"), r))
            .chain(self.recovery.iter().map(|r| ("recovery.plugin".into(), r)));
        for (field, r) in plugins {
            if r.plugin.trim().is_empty() {
                return bad(field, "plugin", "names no plugin".into());
            }
        }
        if self
            .generator
            .as_ref()
            .is_some_and(|g| g.plugin.trim().is_empty())
        {
            return bad(
                "generator.plugin".into(),
                "plugin",
                "names no plugin".into(),
            );
        }
        if let Some(d) = self.depends_on.iter().find(|d| **d == self.id) {
            return bad(
                "depends_on".into(),
                d,
                "a scenario cannot depend on itself".into(),
            );
        }
        Ok(())
    }
}

/// 1-based line and column of `key` in the i-th `[[table]]` of a field `table[i].key`
/// (or in `[table]` of `table.key`), when the file writes it that way.
pub(super) fn locate_field(text: &str, field: &str) -> Option<(usize, usize)> {
    let (header, index, key) = match field.split_once('[') {
        Some((table, rest)) => {
            let (index, key) = rest.split_once("].")?;
            (format!("[[{table}]]"), index.parse().ok()?, key)
        }
        None => {
            let (table, key) = field.split_once('.')?;
            (format!("[{table}]"), 0, key)
        }
    };
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim() == header)
        .nth(index)?
        .0;
    lines
        .iter()
        .enumerate()
        .skip(start + 1)
        .take_while(|(_, l)| !l.trim_start().starts_with('['))
        .find_map(|(i, l)| {
            let code = l.split('#').next().unwrap_or("");
            let (name, value) = code.split_once('=')?;
            let column = name.chars().count() + 1 + value.chars().count()
                - value.trim_start().chars().count()
                + 1;
            (name.trim() == key).then_some((i + 1, column))
        })
}

/// 1-based line and column of the first line mentioning `value` (as a quoted string,
/// else as a bare word); line 1 when it is nowhere.
pub(super) fn locate(text: &str, value: &str) -> (usize, usize) {
    let quoted = format!("\"{value}\"");
    let find = |needle: &str| {
        text.lines().enumerate().find_map(|(i, line)| {
            let code = line.split('#').next().unwrap_or("");
            code.find(needle)
                .map(|c| (i + 1, code[..c].chars().count() + 1))
        })
    };
    find(&quoted).or_else(|| find(value)).unwrap_or((1, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "s1"
name = "one"
max_execution_time = "30s"

[step_timeouts]
council_vote = "2s"

[[gpu_requests]]
request_id = "r1"
team = "t"
gpu_count = 1
memory_gb = 8
priority = 5
duration_minutes = 10

[[expected_outcomes]]
request_id = "r1"
decision = "approved"
device_count = 1

[[invariants]]
kind = "max_approved"
count = 1

[[validation_rules]]
plugin = "decision_persistence"
config = { deadline = "2s" }

[[faults]]
service = "kafka"
action = "kill"
at_step = "publish_decision"
duration = "1s"
"#;

    fn err(text: &str) -> String {
        Scenario::parse(Path::new("s.toml"), text)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn a_full_scenario_parses() {
        let s = Scenario::parse(Path::new("s.toml"), GOOD).expect("parses");
        assert_eq!(s.gpu_requests.len(), 1);
        assert_eq!(s.step_timeouts["council_vote"], Duration::from_secs(2));
        assert_eq!(s.invariants, vec![Invariant::MaxApproved { count: 1 }]);
        assert_eq!(s.faults[0].action, crate::chaos::FaultAction::Kill);
    }

    #[test]
    fn contradictions_name_file_line_and_field() {
        let e = err(&GOOD.replace(
            "request_id = \"r1\"\ndecision",
            "request_id = \"r9\"\ndecision",
        ));
        assert!(
            e.starts_with("s.toml:18:14: expected_outcomes[0].request_id"),
            "{e}"
        );
        let e = err(&GOOD.replace("council_vote = \"2s\"", "publish_event = \"2s\""));
        assert!(
            e.contains("step_timeouts.publish_event") && e.contains("s.toml:7:"),
            "{e}"
        );
        let e = err(&GOOD.replace(
            "device_count = 1",
            "device_count = 1\nreason = \"capacity_short\"",
        ));
        assert!(e.contains("an approval has no denial reason"), "{e}");
    }

    #[test]
    fn type_errors_name_line_and_field() {
        let e = err(&GOOD.replace("gpu_count = 1", "gpu_count = \"one\""));
        assert!(
            e.starts_with("s.toml:12:") && e.contains("gpu_requests[0].gpu_count"),
            "{e}"
        );
        let e = err(&GOOD.replace("action = \"kill\"", "action = \"explode\""));
        assert!(e.contains("faults[0].action"), "{e}");
    }

    #[test]
    fn a_fault_is_checked_against_its_scenario() {
        let e = err(&GOOD.replace("duration = \"1s\"", "duration = \"2h\""));
        assert!(
            e.contains("faults[0].duration") && e.contains("outlast its scenario"),
            "{e}"
        );
        let e = err(&GOOD.replace(
            "at_step = \"publish_decision\"",
            "at_step = \"publish_decision\"\nrequest = \"r7\"",
        ));
        assert!(
            e.starts_with("s.toml:") && e.contains("faults[0].request") && e.contains("never fire"),
            "{e}"
        );
        let e = err(&GOOD.replace("at_step = \"publish_decision\"", "at_step = \"publish\""));
        assert!(e.contains("faults[0].at_step"), "{e}");
    }

    #[test]
    fn every_shipped_scenario_loads() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut seen = 0;
        for suite in std::fs::read_dir(&root).expect("scenarios/") {
            let suite = suite.expect("entry").path();
            let fixtures = suite.ends_with(crate::orchestrator::data::FIXTURES_DIR);
            for file in std::fs::read_dir(&suite).into_iter().flatten().flatten() {
                let path = file.path();
                if path.extension().is_some_and(|e| e == "toml") {
                    match fixtures {
                        true => crate::orchestrator::data::read_fixture(&path).map(drop),
                        false => Scenario::load(&path).map(drop),
                    }
                    .unwrap_or_else(|e| panic!("{e}"));
                    seen += 1;
                }
            }
        }
        assert!(seen > 0, "no scenario under {}", root.display());
    }
}
