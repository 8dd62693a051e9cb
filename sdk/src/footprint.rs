//! What the reference target leaves behind in a run, for validators that check it: the
//! run-scoped names of its data (`docs/data-model.md`), the facts the host injects into a
//! validator's configuration ([`HostFacts`]), the reference decision (the Temporal
//! workflow's output) and the cached one, JSON comparison, and polling a store until the
//! data is there or one deadline for the whole call runs out ([`poll_until`]).
//!
//! A validator built on it is a few lines:
//!
//! ```ignore
//! fn validate(ctx: RunContext) -> Result<ValidationResult, PluginError> {
//!     let fp = Footprint::new(&ctx, 5_000)?;
//!     Ok(fp.check_each(|request_id| my_checks(&fp, request_id)))
//! }
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use aura_contract::Step;
pub use aura_contract::names::{
    DECIDED_TOPIC, RUN_ID_HEADER, context_key, decided_topic, decision_key, workflow_id,
};

use crate::workflow::{self, Execution, ExecutionStatus};
use crate::{Check, HostError, PluginError, RunContext, ValidationResult, cache};

/// How long [`Footprint::poll`] waits between attempts unless `poll_interval_ms` says.
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 100;
/// How long past its deadline a [`Footprint`] still takes one look per poll.
pub const LATE_LOOKS_MS: u64 = 1_000;

/// A check's name for one request: `<request-id>: <what>`.
pub fn check_name(request_id: &str, what: &str) -> String {
    format!("{request_id}: {what}")
}

/// What the host injects into a validator's configuration when it runs inside a
/// scenario: the `[scenario]` and `[target]` tables. Every field has a default, so a
/// validator also runs with an empty configuration; unknown keys (the rule's own, at top
/// level) are ignored.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct HostFacts {
    pub scenario: ScenarioFacts,
    pub target: TargetFacts,
}

/// `[scenario]`: the scenario being validated.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct ScenarioFacts {
    pub id: String,
    pub max_execution_ms: Option<u64>,
    /// Only the steps the scenario sets its own timeout for.
    pub step_timeouts_ms: BTreeMap<String, u64>,
}

/// `[target]`: how the reference target was configured for the run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct TargetFacts {
    pub steps: Vec<String>,
    pub step_timeout_ms: u64,
    pub step_attempts: u32,
    pub context_ttl_s: u64,
    pub context_window: u32,
    pub abstain_below: f64,
}

impl Default for TargetFacts {
    fn default() -> Self {
        Self {
            steps: Step::names().map(String::from).to_vec(),
            step_timeout_ms: 10_000,
            step_attempts: 3,
            context_ttl_s: 3600,
            context_window: 8,
            abstain_below: 0.05,
        }
    }
}

impl HostFacts {
    /// The start-to-close timeout of `step`: the scenario's own, else the target's.
    pub fn step_timeout_ms(&self, step: &str) -> u64 {
        self.scenario
            .step_timeouts_ms
            .get(step)
            .copied()
            .unwrap_or(self.target.step_timeout_ms)
    }
}

impl RunContext {
    /// The `[scenario]` and `[target]` tables of the configuration (defaults if absent).
    pub fn host_facts(&self) -> Result<HostFacts, PluginError> {
        self.config()
    }
}

/// One look at a store, or where polling it ended.
#[derive(Debug, Clone)]
pub enum Poll<T> {
    /// The data is there.
    Ready(T),
    /// Not (all) there yet; the latest partial answer, if any.
    Pending(Option<T>),
    /// The host call failed.
    Failed(HostError),
}

impl<T> Poll<T> {
    /// `Some` is ready, `None` pending.
    pub fn found(result: Result<Option<T>, HostError>) -> Self {
        match result {
            Ok(Some(v)) => Poll::Ready(v),
            Ok(None) => Poll::Pending(None),
            Err(e) => Poll::Failed(e),
        }
    }

    /// Ready, or a failure that asking again will not change (denied, invalid).
    fn is_final(&self) -> bool {
        match self {
            Poll::Ready(_) => true,
            Poll::Pending(_) => false,
            Poll::Failed(e) => matches!(e, HostError::Denied(_) | HostError::Invalid(_)),
        }
    }
}

/// Calls `f` until it is ready or the deadline passes, `interval` apart (the last attempt
/// is at the deadline), and returns its last answer. An unavailable service or a host
/// timeout is asked again; a denied or invalid call ends the polling at once. `f` runs at
/// least once, even when the deadline has already passed.
pub fn poll_until<T>(
    deadline: Instant,
    interval: Duration,
    mut f: impl FnMut() -> Poll<T>,
) -> Poll<T> {
    loop {
        let answer = f();
        let left = deadline.saturating_duration_since(Instant::now());
        if answer.is_final() || left.is_zero() {
            return answer;
        }
        // A poll interval between attempts, not synchronisation: the host call is
        // synchronous and the store is on another machine.
        std::thread::sleep(interval.min(left).max(Duration::from_millis(1)));
    }
}

/// The keys every footprint validator reads besides its own.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Polling {
    deadline_ms: Option<u64>,
    poll_interval_ms: Option<u64>,
}

/// A validation of the target's data in one run: names, host facts and one deadline for
/// the whole call, started when it is created (so N requests never take N deadlines).
pub struct Footprint<'a> {
    pub ctx: &'a RunContext,
    pub facts: HostFacts,
    deadline_ms: u64,
    deadline: Instant,
    interval: Duration,
    late_looks: Duration,
    /// Closed executions of the call's requests, read in one batch on first use.
    executions: Batch<Execution>,
    /// The call's requests' cached decisions, read in one batch on first use.
    decisions: Batch<String>,
}

/// Answers read for every request of a call at once (by request id), each taken once;
/// a request missing from it is polled on its own as before.
type Batch<T> = RefCell<Option<HashMap<String, T>>>;

/// Takes `request_id`'s answer out of `batch`, filling the batch first with `read`.
fn from_batch<T>(
    batch: &Batch<T>,
    request_id: &str,
    read: impl FnOnce() -> HashMap<String, T>,
) -> Option<T> {
    let mut batch = batch.borrow_mut();
    batch.get_or_insert_with(read).remove(request_id)
}

impl<'a> Footprint<'a> {
    /// Reads `deadline_ms` (else `default_deadline_ms`), `poll_interval_ms` and the host
    /// facts from the configuration, and starts the deadline.
    pub fn new(ctx: &'a RunContext, default_deadline_ms: u64) -> Result<Self, PluginError> {
        let polling: Polling = ctx.config()?;
        let deadline_ms = polling.deadline_ms.unwrap_or(default_deadline_ms);
        Ok(Self {
            ctx,
            facts: ctx.host_facts()?,
            deadline_ms,
            deadline: after_ms(Instant::now(), deadline_ms),
            interval: Duration::from_millis(
                polling
                    .poll_interval_ms
                    .unwrap_or(DEFAULT_POLL_INTERVAL_MS)
                    .max(1),
            ),
            late_looks: Duration::from_millis(LATE_LOOKS_MS),
            executions: RefCell::default(),
            decisions: RefCell::default(),
        })
    }

    /// Every request's closed execution, in one `workflow.describe-many`; none when the
    /// batch cannot be read (each request is then asked on its own).
    fn read_executions(&self) -> HashMap<String, Execution> {
        let ids: Vec<String> = self
            .ctx
            .request_ids
            .iter()
            .map(|r| self.workflow_id(r))
            .collect();
        match workflow::describe_many(&ids) {
            Ok(all) => self
                .ctx
                .request_ids
                .iter()
                .zip(all)
                .filter_map(|(r, e)| match e {
                    Ok(e) if e.status != ExecutionStatus::Running => Some((r.clone(), e)),
                    _ => None,
                })
                .collect(),
            Err(_) => HashMap::new(),
        }
    }

    /// Every request's cached decision, in one `cache.get-many`.
    fn read_decisions(&self) -> HashMap<String, String> {
        let keys: Vec<String> = self
            .ctx
            .request_ids
            .iter()
            .map(|r| self.decision_key(r))
            .collect();
        match cache::get_many(&keys) {
            Ok(all) => self
                .ctx
                .request_ids
                .iter()
                .zip(all)
                .filter_map(|(r, v)| Some((r.clone(), v?)))
                .collect(),
            Err(_) => HashMap::new(),
        }
    }

    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Time left before the deadline (zero once it has passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// [`poll_until`] this validation's deadline at its interval. Past the deadline each
    /// poll still gets its one look, for [`LATE_LOOKS_MS`] more; after that it does not
    /// call `f` and answers a timeout, so slow or unreachable stores cannot stretch the
    /// call to the host's limit one request at a time.
    pub fn poll<T>(&self, f: impl FnMut() -> Poll<T>) -> Poll<T> {
        if self
            .deadline
            .checked_add(self.late_looks)
            .is_some_and(|last| Instant::now() > last)
        {
            return Poll::Failed(HostError::Timeout(format!(
                "not looked at: the validator's deadline of {} ms had passed",
                self.deadline_ms
            )));
        }
        poll_until(self.deadline, self.interval, f)
    }

    /// The checks of every request of the run, in order.
    pub fn check_each(&self, mut f: impl FnMut(&str) -> Vec<Check>) -> ValidationResult {
        ValidationResult {
            checks: self.ctx.request_ids.iter().flat_map(|r| f(r)).collect(),
        }
    }

    pub fn workflow_id(&self, request_id: &str) -> String {
        workflow_id(&self.ctx.run_id, request_id)
    }

    pub fn decision_key(&self, request_id: &str) -> String {
        decision_key(&self.ctx.run_id, request_id)
    }

    pub fn context_key(&self) -> String {
        context_key(&self.ctx.run_id)
    }

    pub fn decided_topic(&self) -> String {
        decided_topic(&self.ctx.run_id)
    }

    /// The request's workflow execution, polled until it is no longer running.
    pub fn execution(&self, request_id: &str) -> Poll<Execution> {
        if let Some(e) = from_batch(&self.executions, request_id, || self.read_executions()) {
            return Poll::Ready(e);
        }
        let id = self.workflow_id(request_id);
        self.poll(|| match workflow::describe(&id) {
            Ok(e) if e.status == ExecutionStatus::Running => Poll::Pending(Some(e)),
            Ok(e) => Poll::Ready(e),
            Err(e) => Poll::Failed(e),
        })
    }

    /// The reference decision: the output of the request's completed workflow. Otherwise
    /// a failed check `<request>: decision` with the status or the last host error.
    pub fn reference_decision(&self, request_id: &str) -> Result<Value, Check> {
        let name = check_name(request_id, "decision");
        let expected = "a decided workflow";
        let undecided = |status: &str| {
            let message = format!(
                "workflow {} is {status}, not completed with a decision",
                self.workflow_id(request_id)
            );
            Check::expect(&name, false, expected, status, &message)
        };
        let execution = match self.execution(request_id) {
            Poll::Ready(e) | Poll::Pending(Some(e)) => e,
            Poll::Pending(None) => return Err(undecided("not found")),
            Poll::Failed(e) => return Err(Check::host_failure(&name, expected, &e)),
        };
        match (execution.status, execution.output) {
            (ExecutionStatus::Completed, Some(text)) => {
                parse_json(&text).map_err(|e| undecided(&format!("completed, output {e}")))
            }
            (ExecutionStatus::Completed, None) => Err(undecided("completed without output")),
            (status, _) => Err(undecided(status_name(status))),
        }
    }

    /// The decision the target cached in Redis, polled until it is there. Otherwise a
    /// failed check `<request>: cached decision`.
    pub fn persisted_decision(&self, request_id: &str) -> Result<Value, Check> {
        let name = check_name(request_id, "cached decision");
        let key = self.decision_key(request_id);
        let expected = format!("the decision at {key}");
        let batched = from_batch(&self.decisions, request_id, || self.read_decisions());
        let found = match batched {
            Some(text) => Poll::Ready(text),
            None => self.poll(|| Poll::found(cache::get(&key))),
        };
        match found {
            Poll::Ready(text) => parse_json(&text).map_err(|e| {
                let message = format!("{key} holds {e}");
                Check::expect(&name, false, &expected, "not JSON", &message)
            }),
            Poll::Pending(_) => {
                let actual = format!("missing after {} ms", self.deadline_ms);
                let message = format!("{key} was not written within {} ms", self.deadline_ms);
                Err(Check::expect(&name, false, &expected, actual, &message))
            }
            Poll::Failed(e) => Err(Check::host_failure(&name, &expected, &e)),
        }
    }
}

/// `ms` after `start`, or as far as the clock goes (a day) when that overflows.
fn after_ms(start: Instant, ms: u64) -> Instant {
    start
        .checked_add(Duration::from_millis(ms))
        .or_else(|| start.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(start)
}

fn parse_json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("is not JSON: {e}"))
}

/// A workflow status in words: `completed`, `timed-out`, ...
pub fn status_name(status: ExecutionStatus) -> &'static str {
    match status {
        ExecutionStatus::Running => "running",
        ExecutionStatus::Completed => "completed",
        ExecutionStatus::Failed => "failed",
        ExecutionStatus::Canceled => "canceled",
        ExecutionStatus::Terminated => "terminated",
        ExecutionStatus::ContinuedAsNew => "continued-as-new",
        ExecutionStatus::TimedOut => "timed-out",
        ExecutionStatus::Unknown => "unknown",
    }
}

/// The first difference between two JSON values, as `path: expected vs actual`; `None`
/// when they are equal. Numbers are equal within a relative 1e-6 (the decision's weights
/// are `f32`), and a missing field equals `null`.
pub fn json_diff(expected: &Value, actual: &Value) -> Option<String> {
    diff_at("$", expected, actual)
}

fn diff_at(path: &str, expected: &Value, actual: &Value) -> Option<String> {
    let differs = || Some(format!("{path}: {} vs {}", short(expected), short(actual)));
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => {
            let same = match (a.as_i64(), b.as_i64()) {
                (Some(x), Some(y)) => x == y,
                _ => match (a.as_f64(), b.as_f64()) {
                    (Some(x), Some(y)) => (x - y).abs() <= 1e-6 * x.abs().max(y.abs()).max(1.0),
                    _ => a == b,
                },
            };
            if same { None } else { differs() }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!("{path}: {} items vs {}", a.len(), b.len()));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| diff_at(&format!("{path}[{i}]"), x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|k| {
                let x = a.get(k).unwrap_or(&Value::Null);
                let y = b.get(k).unwrap_or(&Value::Null);
                diff_at(&format!("{path}.{k}"), x, y)
            })
        }
        (a, b) if a == b => None,
        _ => differs(),
    }
}

/// A JSON value as text, cut to 120 characters.
fn short(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

/// A check that `actual` equals `expected` as JSON ([`json_diff`]); `what` names the
/// expected value (e.g. "the workflow's decision"). A failure names the first difference.
pub fn json_check(name: &str, what: &str, expected: &Value, actual: &Value) -> Check {
    match json_diff(expected, actual) {
        None => Check::expect(name, true, what, what, ""),
        Some(diff) => Check::expect(
            name,
            false,
            what,
            format!("differs at {diff}"),
            &format!("{name}: not {what}; first difference at {diff} (expected vs found)"),
        ),
    }
}

/// The fields of the target's decision that validators reason about (`docs/data-model.md`),
/// read leniently: what is missing takes its default and is caught by the checks.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Decision {
    pub request_id: String,
    pub outcome: String,
    pub denial: Option<Denial>,
    pub votes: Vec<Vote>,
    pub quorum: bool,
    pub approve_weight: f64,
    pub deny_weight: f64,
    pub devices: Vec<Device>,
    pub decided_at: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Denial {
    pub class: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Vote {
    pub agent_id: String,
    pub approve: bool,
    pub confidence: f64,
    pub abstained: bool,
    pub logit: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Device {
    pub id: String,
    pub model: String,
    pub memory_gb: u64,
}

impl Decision {
    /// The typed view of a decision's JSON, or a failed check `name` saying why not.
    pub fn parse(name: &str, value: &Value) -> Result<Self, Check> {
        Self::deserialize(value).map_err(|e| {
            let message = format!("{name}: the decision does not parse: {e}");
            Check::expect(name, false, "a decision", "malformed", &message)
        })
    }

    pub fn approved(&self) -> bool {
        self.outcome == aura_contract::Outcome::Approved.name()
    }

    /// The denial's class, or `none`.
    pub fn reason_class(&self) -> &str {
        self.denial.as_ref().map_or("none", |d| d.class.as_str())
    }

    /// `approved`, or `denied (<class>)`.
    pub fn verdict(&self) -> String {
        match &self.denial {
            _ if self.approved() => self.outcome.clone(),
            Some(d) => format!("{} ({})", self.outcome, d.class),
            None => self.outcome.clone(),
        }
    }

    /// The allocated device ids, sorted and comma-joined, or `none`.
    pub fn device_ids(&self) -> String {
        sorted_ids(self.devices.iter().map(|d| d.id.clone()).collect())
    }
}

/// Ids sorted and comma-joined, or `none` when there are none.
pub fn sorted_ids(mut ids: Vec<String>) -> String {
    if ids.is_empty() {
        return "none".to_string();
    }
    ids.sort();
    ids.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(config: &str) -> RunContext {
        RunContext {
            run_id: "r1".into(),
            scenario: "s".into(),
            request_ids: vec!["a".into(), "b".into()],
            config: config.into(),
            faults: Vec::new(),
            load: None,
        }
    }

    #[test]
    fn names_follow_the_data_model() {
        assert_eq!(workflow_id("r1", "req-1"), "aura-r1-req-1");
        assert_eq!(decision_key("r1", "req-1"), "aura:r1:decision:req-1");
        assert_eq!(context_key("r1"), "aura:r1:context");
        assert_eq!(decided_topic("r1"), "aura.r1.gpu.allocation.decided");
        assert_eq!(check_name("req-1", "outcome"), "req-1: outcome");
    }

    #[test]
    fn host_facts_default_and_sit_beside_the_rules_keys() {
        let empty = ctx("").host_facts().ok();
        assert_eq!(empty, Some(HostFacts::default()));
        let facts = ctx("deadline_ms = 5000\n\
             [scenario]\nid = \"smoke\"\nmax_execution_ms = 300000\n\
             step_timeouts_ms = { council_vote = 2000 }\n\
             [target]\nstep_timeout_ms = 9000\ncontext_window = 4\n")
        .host_facts()
        .ok();
        let Some(facts) = facts else {
            panic!("host facts did not parse");
        };
        assert_eq!(facts.scenario.id, "smoke");
        assert_eq!(facts.scenario.max_execution_ms, Some(300_000));
        assert_eq!(facts.step_timeout_ms("council_vote"), 2000);
        assert_eq!(facts.step_timeout_ms("load_context"), 9000);
        assert_eq!(facts.target.context_window, 4);
        assert_eq!(facts.target.steps.len(), 7);
        assert_eq!(facts.target.step_attempts, 3);
        assert!(matches!(
            ctx("[target]\nstep_attempts = \"x\"").host_facts(),
            Err(PluginError::Config(_))
        ));
    }

    #[test]
    fn one_deadline_for_the_whole_call() {
        let c = ctx("deadline_ms = 30\npoll_interval_ms = 5");
        let Ok(fp) = Footprint::new(&c, 5000) else {
            panic!("config did not parse");
        };
        assert_eq!(fp.deadline_ms(), 30);
        let started = Instant::now();
        let mut calls = 0;
        let result = fp.check_each(|r| {
            let last = fp.poll(|| {
                calls += 1;
                Poll::<()>::Pending(None)
            });
            vec![Check::expect(
                r,
                matches!(last, Poll::Pending(None)),
                "",
                "",
                "",
            )]
        });
        assert_eq!(result.checks.len(), 2);
        assert!(result.passed());
        assert!(started.elapsed() < Duration::from_millis(500));
        assert!(calls >= 3, "{calls}");
        assert_eq!(
            Footprint::new(&ctx(""), 2000).map(|f| f.deadline_ms()).ok(),
            Some(2000)
        );
        let forever = ctx("deadline_ms = 9223372036854775807");
        assert!(Footprint::new(&forever, 0).is_ok_and(|f| f.remaining() > Duration::ZERO));
        // Long past the deadline, a poll no longer calls the host.
        let late_ctx = ctx("deadline_ms = 0");
        let Ok(mut late) = Footprint::new(&late_ctx, 0) else {
            panic!("config did not parse");
        };
        late.late_looks = Duration::ZERO;
        std::thread::sleep(Duration::from_millis(2));
        let mut looked = false;
        let answer = late.poll(|| {
            looked = true;
            Poll::Ready(())
        });
        assert!(!looked && matches!(answer, Poll::Failed(HostError::Timeout(_))));
    }

    #[test]
    fn polling_stops_when_ready_or_refused_and_keeps_the_last_answer() {
        let soon = Instant::now() + Duration::from_secs(5);
        let mut n = 0;
        let ready = poll_until(soon, Duration::from_millis(1), || {
            n += 1;
            match n {
                1 => Poll::Failed(HostError::Unavailable("down".into())),
                2 => Poll::Pending(Some(n)),
                _ => Poll::Ready(n),
            }
        });
        assert!(matches!(ready, Poll::Ready(3)));
        let mut calls = 0;
        let denied = poll_until(soon, Duration::from_millis(1), || {
            calls += 1;
            Poll::<()>::Failed(HostError::Denied("no".into()))
        });
        assert!(matches!(denied, Poll::Failed(HostError::Denied(_))) && calls == 1);
        let past = Instant::now();
        let last = poll_until(past, Duration::from_secs(10), || {
            Poll::<()>::Failed(HostError::Timeout("slow".into()))
        });
        assert!(matches!(last, Poll::Failed(HostError::Timeout(_))));
    }

    #[test]
    fn json_compares_values_not_text() {
        let a = json!({"w": 0.1f32, "n": 3, "x": null, "l": [1, {"k": "v"}]});
        let b = json!({"l": [1, {"k": "v"}], "n": 3, "w": 0.100000001});
        assert_eq!(json_diff(&a, &b), None);
        assert_eq!(
            json_diff(&a, &json!({"w": 0.1, "n": 3, "l": [1, {"k": "w"}]})),
            Some("$.l[1].k: \"v\" vs \"w\"".to_string())
        );
        assert_eq!(
            json_diff(&json!([1]), &json!([1, 2])),
            Some("$: 1 items vs 2".to_string())
        );
        let check = json_check("r: payload", "the decision", &json!({"n": 1}), &json!({}));
        assert!(!check.passed);
        assert_eq!(check.actual, "differs at $.n: 1 vs null");
        assert!(json_check("r", "x", &a, &b).passed);
    }

    #[test]
    fn decisions_read_leniently() {
        let v = json!({"request_id": "r", "outcome": "denied",
            "denial": {"class": "no_quorum", "message": "m"},
            "devices": [{"id": "gpu-2"}, {"id": "gpu-1"}], "extra": 1});
        let Ok(d) = Decision::parse("r: decision", &v) else {
            panic!("did not parse");
        };
        assert_eq!(d.reason_class(), "no_quorum");
        assert_eq!(d.verdict(), "denied (no_quorum)");
        assert_eq!(d.device_ids(), "gpu-1,gpu-2");
        assert_eq!(Decision::default().device_ids(), "none");
        let bad = Decision::parse("r: decision", &json!({"votes": 3}));
        assert!(bad.is_err_and(|c| !c.passed && c.actual == "malformed"));
    }
}
