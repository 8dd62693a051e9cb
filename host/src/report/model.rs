//! What a run produced, after seed 000's IntegrationTestResult. The orchestrator
//! journals [`RunEvent`]s as they happen; [`RunReport::build`] turns the events (live, or
//! read back from a journal) into the report every output is rendered from, so a report
//! rebuilt after a kill is the same report the run would have printed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::analysis;
use super::load::LoadRecord;
use aura_reference::Decision;
use aura_services::trace::WorkflowTrace;

/// Version of the JSON document (`docs/results.md`); bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// One comparison of expected with actual.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub expected: String,
    pub actual: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Check {
    /// Passes when `actual` equals `expected`.
    pub fn new(
        name: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Self {
        let (expected, actual) = (expected.into(), actual.into());
        Self {
            name: name.into(),
            passed: expected == actual,
            expected,
            actual,
            message: String::new(),
        }
    }

    /// `name: expected X, actual Y (message)`.
    pub fn diff(&self) -> String {
        let mut s = format!(
            "{}: expected {}, actual {}",
            self.name, self.expected, self.actual
        );
        if !self.message.is_empty() {
            s.push_str(&format!(" ({})", self.message));
        }
        s
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Decided, and every expectation about it held.
    Passed,
    /// No decision, or an expectation did not hold.
    Failed,
    /// The recovery strategy chose to skip it; not validated.
    Skipped,
    /// The recovery strategy chose to carry on without it, degraded; not validated.
    Degraded,
}

/// One GPU request of a scenario, as submitted and decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestResult {
    pub request_id: String,
    pub status: RequestStatus,
    pub decision: Option<Decision>,
    /// Why there is no decision (submission refused, workflow failed, deadline passed).
    pub error: Option<String>,
    /// Submission to decision (or to giving up), retries included.
    pub latency_ms: u64,
    /// Submissions made (1 + retries the recovery strategy asked for).
    pub attempts: u32,
    pub checks: Vec<Check>,
    pub trace: Option<WorkflowTrace>,
    /// The service and operation that failed its last attempt (`graph/persist_decision`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_in: Option<String>,
}

impl RequestResult {
    /// When its last step ended (ms since the epoch), from its trace.
    pub fn finished_at(&self) -> Option<i64> {
        self.trace
            .as_ref()
            .and_then(|t| t.steps.iter().filter_map(|s| s.end_time).max())
    }

    /// Whether it was in flight at some time between `from` and `to`: from its
    /// submission (its last step's end less its latency, or its first step if earlier)
    /// to its last step's end. A request queued behind a stalled worker has no step yet.
    pub fn in_flight(&self, from: i64, to: i64) -> bool {
        // Never decided: it was waiting through every window of its scenario.
        if self.decision.is_none() {
            return true;
        }
        self.trace.as_ref().is_some_and(|t| {
            let end = self.finished_at().unwrap_or(to);
            let submitted = t.start_time.min(end - self.latency_ms as i64);
            submitted <= to && end >= from
        })
    }
}

/// One validator plugin's verdict on one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidatorResult {
    pub validator: String,
    pub digest: String,
    pub passed: bool,
    pub checks: Vec<Check>,
    /// Why the plugin produced no result (trap, timeout, its own error).
    pub error: Option<String>,
    pub wall_ms: f64,
    pub fuel: u64,
    pub host_calls: u32,
    /// The rest of the call's cost: what the sandbox counted.
    #[serde(default)]
    pub cost: SandboxCost,
    /// The plugin's effective limits and grants, in words.
    #[serde(default)]
    pub limits: String,
    #[serde(default)]
    pub grants: String,
    /// Requests it was handed, over all its calls.
    #[serde(default)]
    pub requests: u32,
    /// Its calls: one, or one per batch of a load scenario's requests.
    #[serde(default = "one")]
    pub calls: u32,
    /// Which batch of the scenario's requests this call checked (1-based); 0 when the
    /// validator was called once for all of them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub batch: u32,
}

fn one() -> u32 {
    1
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl ValidatorResult {
    /// `other`, a later batch of the same validator, folded into this one.
    pub fn absorb(&mut self, other: ValidatorResult) {
        self.passed &= other.passed;
        self.checks.extend(other.checks);
        if self.error.is_none() {
            self.error = other.error;
        }
        self.wall_ms += other.wall_ms;
        self.fuel += other.fuel;
        self.host_calls += other.host_calls;
        self.cost.peak_memory_bytes = self
            .cost
            .peak_memory_bytes
            .max(other.cost.peak_memory_bytes);
        self.cost.bytes_in += other.cost.bytes_in;
        self.cost.bytes_out += other.cost.bytes_out;
        self.cost.denied_calls += other.cost.denied_calls;
        self.cost.log_lines_dropped += other.cost.log_lines_dropped;
        self.cost.queued_ms += other.cost.queued_ms;
        self.requests += other.requests;
        self.calls += other.calls;
    }
}

/// Adds `r` to a scenario's validator results: a later batch is folded into the
/// validator's earlier ones, anything else is a validator of its own (a plugin listed
/// twice with two configs stays two).
pub fn add_validator(results: &mut Vec<ValidatorResult>, r: ValidatorResult) {
    let earlier = (r.batch > 1)
        .then(|| {
            results
                .iter_mut()
                .rev()
                .find(|v| v.validator == r.validator)
        })
        .flatten();
    match earlier {
        Some(v) => v.absorb(r),
        None => results.push(r),
    }
}

/// What a plugin call used beyond time and fuel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SandboxCost {
    pub peak_memory_bytes: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub denied_calls: u32,
    pub log_lines_dropped: u32,
    pub queued_ms: f64,
}

/// What the recovery strategy was asked and what the orchestrator did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryRecord {
    pub scenario: String,
    pub request_id: String,
    pub strategy: String,
    pub service: String,
    pub operation: String,
    pub attempt: u32,
    pub error: String,
    /// `retry after 50 ms`, `skip`, `degrade: ...`, `abort: ...`, or why none was taken.
    pub action: String,
}

/// The faults a seed drew for a scenario: the same seed, the same lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChaosSchedule {
    pub scenario: String,
    /// `run --seed <seed>` draws this schedule again.
    pub seed: u64,
    /// Each drawn fault in words, in the order drawn (after the declared ones).
    pub faults: Vec<String>,
}

/// One fault of a scenario: what it was, what fired it, when it held and what it hit.
/// Journaled as it is injected and again, whole, as it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    pub scenario: String,
    /// Its place in the scenario's `[[faults]]`.
    pub index: usize,
    pub service: String,
    pub action: String,
    /// `when persist_decision starts for request r1`, `at +2s`, `at the start`...
    pub trigger: String,
    /// How long it was to hold.
    pub hold_ms: Option<u64>,
    /// Milliseconds since the Unix epoch.
    pub injected_at: Option<i64>,
    pub healed_at: Option<i64>,
    /// The request and step whose edge fired it.
    pub request_id: Option<String>,
    pub step: Option<String>,
    /// The server's pid when struck, and once healed (new after a kill or restart).
    pub pid: Option<u32>,
    pub healed_pid: Option<u32>,
    /// Healed before its time: its scenario ended or the run stopped.
    pub cut_short: bool,
    /// What a resource fault changed (`leased 8 of 8 device(s)`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What happened while it held, from the traces and the journal (the report works
    /// it out; the journal's records have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Observed>,
    /// Why it was not injected, never fired or did not heal: its scenario fails.
    pub error: Option<String>,
}

/// What a fault's window saw: requests whose steps ran in it, step attempts that failed
/// in it by component, and recovery decisions taken in it by service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub requests: u32,
    pub step_errors: BTreeMap<String, u32>,
    pub recoveries: BTreeMap<String, u32>,
}

impl std::fmt::Display for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let by = |m: &BTreeMap<String, u32>| {
            m.iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "{} request(s) in flight", self.requests)?;
        if !self.step_errors.is_empty() {
            write!(f, ", failed steps: {}", by(&self.step_errors))?;
        }
        if !self.recoveries.is_empty() {
            write!(f, ", recoveries: {}", by(&self.recoveries))?;
        }
        Ok(())
    }
}

/// A moment (ms since the epoch) as reports show it: `12:00:01.250` (UTC).
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| ms.to_string())
}

impl FaultRecord {
    /// `kill redis when council_vote starts: injected 12:00:01.250 (hit chaos-1
    /// council_vote), healed after 3.02 s` and what went wrong.
    pub fn describe(&self) -> String {
        let mut out = format!("{} {} {}", self.action, self.service, self.trigger);
        if let Some(at) = self.injected_at {
            out.push_str(&format!(": injected {}", time(at)));
            if let Some(d) = &self.detail {
                out.push_str(&format!(" ({d})"));
            }
            if let (Some(r), Some(step)) = (&self.request_id, &self.step) {
                out.push_str(&format!(" (hit {r} {step})"));
            }
            match self.healed_at {
                Some(h) => out.push_str(&format!(
                    ", healed after {:.2} s{}",
                    (h - at) as f64 / 1000.0,
                    if self.cut_short { " (cut short)" } else { "" }
                )),
                None if self.error.is_none() => out.push_str(", not healed yet"),
                None => {}
            }
        }
        if let Some(e) = &self.error {
            out.push_str(&format!(": {e}"));
        }
        if let Some(o) = &self.observed {
            out.push_str(&format!("; during it: {o}"));
        }
        out
    }

    /// Injected and healed, with nothing wrong on the way.
    pub fn held(&self) -> bool {
        self.error.is_none() && self.injected_at.is_some() && self.healed_at.is_some()
    }
}

/// A service's state at one moment (before or after the run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceHealth {
    pub service: String,
    pub status: String,
    pub version: Option<String>,
    pub latency_ms: Option<f64>,
    pub error: Option<String>,
    /// What the readiness check read of it: Redis used memory and keyspace hit rate,
    /// the graph's backend and node count, Kafka's topics, Temporal's namespace...
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, serde_json::Value>,
}

/// The system at one moment, before or after a scenario (seed 000's SystemState): what
/// its namespace holds in each store and the target's counters. A fact that could not
/// be read is absent, and `unread` says why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SystemState {
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    /// Redis keys under the namespace's prefix.
    pub redis_keys: Option<u64>,
    /// Device leases held in the namespace.
    pub active_leases: Option<u64>,
    pub graph_nodes: Option<i64>,
    pub graph_relationships: Option<i64>,
    /// End offset of the namespace's decision topic (events ever published).
    pub events: Option<i64>,
    /// Workflows running on the run's task queue.
    pub open_workflows: Option<u64>,
    pub target: Option<TargetState>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unread: Vec<String>,
}

/// The reference target's counters: requests submitted, decided and pending, step
/// failures over attempts, decisions per second since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetState {
    pub requests: u64,
    pub decisions: u64,
    pub pending: u64,
    pub store_errors: u64,
    /// Store errors per request.
    pub error_rate: f64,
    pub throughput_per_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedScenario {
    pub id: String,
    pub name: String,
    pub suite: String,
    /// The run id its data is written under (`<run>-<n>`).
    pub namespace: String,
}

/// What the journal holds, one per line, in the order it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum RunEvent {
    RunStarted {
        run_id: String,
        started_at: i64,
        command: String,
        jobs: usize,
        scenarios: Vec<PlannedScenario>,
        health: Vec<ServiceHealth>,
    },
    ScenarioStarted {
        scenario: String,
        /// The Temporal workflows its written requests will run as: what ends them if
        /// the run is killed (generated ones are in `scenario_generated`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        workflows: Vec<String>,
        /// The system before it started.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<SystemState>,
    },
    RequestFinished {
        scenario: String,
        result: Box<RequestResult>,
    },
    Recovery(RecoveryRecord),
    /// Faults drawn by a seed for a scenario (`[chaos]`), before any strikes.
    ChaosScheduled(ChaosSchedule),
    /// A fault struck its service.
    FaultInjected(FaultRecord),
    /// A fault healed, or could not be injected or healed, or never fired: the whole record.
    FaultEnded(FaultRecord),
    ValidatorFinished {
        scenario: String,
        result: ValidatorResult,
    },
    /// A scenario's `[load]` ended: its stages, rates, drops and latencies.
    LoadFinished(LoadRecord),
    ScenarioFinished {
        scenario: String,
        elapsed_ms: u64,
        invariants: Vec<Check>,
        /// The system once it finished (before the run's cleanup).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<SystemState>,
    },
    NotRun {
        scenario: String,
        reason: String,
    },
    /// A scenario generator made the scenario's requests (the same ones for the same seed).
    ScenarioGenerated {
        scenario: String,
        generator: String,
        seed: u64,
        request_ids: Vec<String>,
    },
    /// Declares something the host cannot do yet (faults before the chaos engine): not
    /// run, so it cannot pass.
    ScenarioSkipped {
        scenario: String,
        reason: String,
    },
    RunFinished {
        finished_at: i64,
        /// Why the run stopped early (Ctrl-C, a recovery strategy's abort).
        aborted: Option<String>,
        health: Vec<ServiceHealth>,
        /// What was done with the run's data (removed, or kept with `--keep-data`).
        cleanup: String,
    },
}

impl RunEvent {
    /// The journal record kind (the serde tag).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RunStarted { .. } => "run_started",
            Self::ScenarioStarted { .. } => "scenario_started",
            Self::RequestFinished { .. } => "request_finished",
            Self::Recovery(_) => "recovery",
            Self::ChaosScheduled(_) => "chaos_scheduled",
            Self::FaultInjected(_) => "fault_injected",
            Self::FaultEnded(_) => "fault_ended",
            Self::ValidatorFinished { .. } => "validator_finished",
            Self::LoadFinished(_) => "load_finished",
            Self::ScenarioFinished { .. } => "scenario_finished",
            Self::NotRun { .. } => "not_run",
            Self::ScenarioSkipped { .. } => "scenario_skipped",
            Self::ScenarioGenerated { .. } => "scenario_generated",
            Self::RunFinished { .. } => "run_finished",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    /// Stopped early: Ctrl-C or a recovery strategy's abort.
    Aborted,
    /// The journal ends before the run did (the host was killed).
    Incomplete,
    NotRun,
    /// It declares what the host does not execute yet; see the scenario's note.
    Skipped,
    /// Failed, then passed when run again (`run --rerun-failed`): reported, not failing.
    Flaky,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Self::Passed => "PASSED",
            Self::Failed => "FAILED",
            Self::Aborted => "ABORTED",
            Self::Incomplete => "INCOMPLETE",
            Self::NotRun => "NOT RUN",
            Self::Skipped => "SKIPPED",
            Self::Flaky => "FLAKY",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    pub id: String,
    pub name: String,
    pub suite: String,
    /// The run id its data is written under (`<run>-<n>`).
    pub namespace: String,
    pub status: Status,
    pub elapsed_ms: u64,
    pub requests: Vec<RequestResult>,
    pub invariants: Vec<Check>,
    pub validators: Vec<ValidatorResult>,
    /// Its faults, in declaration order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultRecord>,
    /// The faults a seed drew for it (`[chaos]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chaos: Option<ChaosSchedule>,
    /// What its `[load]` did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadRecord>,
    /// The system before it started and once it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_before: Option<SystemState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_after: Option<SystemState>,
    /// The runs that reran it (`run --rerun-failed`) and how it did there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reruns: Vec<RerunRecord>,
    /// Flaky in one of the runs before this one (the state dir's run history).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub known_flaky: bool,
    /// Why it did not run or did not finish.
    pub note: Option<String>,
}

/// A rerun of a failed scenario: the run it ran in and its status there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RerunRecord {
    pub run_id: String,
    pub status: Status,
}

impl ScenarioReport {
    /// Every failed expectation of the scenario itself (not its validators).
    pub fn failures(&self) -> Vec<String> {
        failures(&self.requests, &self.invariants)
    }
}

/// Every failed expectation: `request: name: expected X, actual Y`, and the invariants.
pub fn failures(requests: &[RequestResult], invariants: &[Check]) -> Vec<String> {
    let mut out = Vec::new();
    // What the scenario let off (a recovery strategy, its `[expect]`) is no failure.
    for r in requests
        .iter()
        .filter(|r| r.status == RequestStatus::Failed)
    {
        if let Some(e) = &r.error {
            out.push(format!("{}: {e}", r.request_id));
        }
        for c in r.checks.iter().filter(|c| !c.passed) {
            out.push(format!("{}: {}", r.request_id, c.diff()));
        }
    }
    for c in invariants.iter().filter(|c| !c.passed) {
        out.push(format!("invariant {}", c.diff()));
    }
    out
}

/// p50/p95/p99 of a set of durations, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Performance {
    /// Submission to decision, every decided request.
    pub request_latency: Percentiles,
    /// Per step, from the traces.
    pub steps: BTreeMap<String, Percentiles>,
}

/// One validator across the run: data consistency per store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Consistency {
    pub validator: String,
    pub scenarios: u32,
    pub passed: bool,
    pub checks: u32,
    pub failed_checks: u32,
    /// Requests with at least one failed check, out of those it looked at.
    pub failed_requests: u32,
    pub requests: u32,
    pub first_failure: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub scenarios: u32,
    pub passed: u32,
    pub failed: u32,
    /// Never started.
    pub not_run: u32,
    /// Started, not finished (the run was killed or aborted while they ran).
    #[serde(default)]
    pub incomplete: u32,
    #[serde(default)]
    pub skipped: u32,
    /// Failed, then passed by a rerun.
    #[serde(default)]
    pub flaky: u32,
    pub requests: u32,
    pub validator_runs: u32,
    pub failed_validator_runs: u32,
    pub recoveries: u32,
}

/// The whole result of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub schema_version: u32,
    pub run_id: String,
    pub status: Status,
    pub command: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub duration_ms: u64,
    pub aborted: Option<String>,
    pub summary: Summary,
    pub scenarios: Vec<ScenarioReport>,
    pub performance: Performance,
    pub health_before: Vec<ServiceHealth>,
    pub health_after: Vec<ServiceHealth>,
    pub consistency: Vec<Consistency>,
    pub recoveries: Vec<RecoveryRecord>,
    pub recommendations: Vec<String>,
    pub cleanup: Option<String>,
    /// Everything that happened, one line each, in order.
    pub log: Vec<String>,
    /// Why the journal misses part of this run (a write failed): `report --run` cannot
    /// rebuild all of it. Absent when the journal is whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_error: Option<String>,
    /// The run against a baseline (`run --baseline`): per step, slower or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regressions: Option<super::baseline::Comparisons>,
    /// When each recovery decision was journaled (for the fault windows).
    #[serde(skip)]
    recovered_at: Vec<(i64, String, String)>,
}

/// A report built event by event as a run goes: what the live displays (progress,
/// metrics, the dashboard) read, instead of keeping the events to rebuild it each time.
#[derive(Debug, Default)]
pub struct LiveReport(Option<RunReport>);

impl LiveReport {
    /// Adds one event; events before `run_started` are ignored.
    pub fn apply(&mut self, at: i64, event: &RunEvent) {
        if let Some(r) = RunReport::started(event) {
            self.0 = Some(r);
        }
        if let Some(r) = self.0.as_mut() {
            r.apply(at, event);
        }
    }

    /// The scenario as the report will show it: its faults' observations made (until
    /// now for one not healed).
    pub fn scenario(&self, id: &str) -> Option<ScenarioReport> {
        let r = self.0.as_ref()?;
        let mut s = r.scenarios.iter().find(|s| s.id == id)?.clone();
        analysis::observe(&mut s, &r.recovered_at, r.finished_at.unwrap_or(i64::MAX));
        Some(s)
    }

    /// The report of the events so far; `None` before `run_started`.
    pub fn report(&self) -> Option<RunReport> {
        let mut r = self.0.clone()?;
        r.finish();
        Some(r)
    }
}

impl RunReport {
    /// The report of the events, in journal order. A journal without `run_started`
    /// yields `None`.
    pub fn build(events: &[(i64, RunEvent)]) -> Option<Self> {
        let mut live = LiveReport::default();
        for (at, event) in events {
            live.apply(*at, event);
        }
        live.report()
    }

    /// The report a run's `run_started` opens: every scenario planned, none run yet.
    fn started(event: &RunEvent) -> Option<Self> {
        let RunEvent::RunStarted {
            run_id,
            started_at,
            command,
            scenarios,
            health,
            ..
        } = event
        else {
            return None;
        };
        Some(RunReport {
            schema_version: SCHEMA_VERSION,
            run_id: run_id.clone(),
            status: Status::Incomplete,
            command: command.clone(),
            started_at: *started_at,
            finished_at: None,
            duration_ms: 0,
            aborted: None,
            summary: Summary::default(),
            scenarios: scenarios
                .iter()
                .map(|p| ScenarioReport {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    suite: p.suite.clone(),
                    namespace: p.namespace.clone(),
                    status: Status::NotRun,
                    elapsed_ms: 0,
                    requests: Vec::new(),
                    invariants: Vec::new(),
                    validators: Vec::new(),
                    faults: Vec::new(),
                    chaos: None,
                    load: None,
                    state_before: None,
                    state_after: None,
                    reruns: Vec::new(),
                    known_flaky: false,
                    note: None,
                })
                .collect(),
            performance: Performance::default(),
            health_before: health.clone(),
            health_after: Vec::new(),
            consistency: Vec::new(),
            recoveries: Vec::new(),
            recommendations: Vec::new(),
            cleanup: None,
            log: Vec::new(),
            journal_error: None,
            regressions: None,
            recovered_at: Vec::new(),
        })
    }

    fn scenario(&mut self, id: &str) -> Option<&mut ScenarioReport> {
        self.scenarios.iter_mut().find(|s| s.id == id)
    }

    fn apply(&mut self, at: i64, event: &RunEvent) {
        let line = analysis::log_line(event);
        self.log
            .push(format!("+{:>6} ms {line}", (at - self.started_at).max(0)));
        match event {
            RunEvent::RunStarted { .. } => {}
            RunEvent::ScenarioStarted {
                scenario, state, ..
            } => {
                if let Some(s) = self.scenario(scenario) {
                    s.state_before = state.clone();
                    // Running; becomes passed or failed when it finishes.
                    s.status = Status::Incomplete;
                    s.note = Some("started; the run ended before it finished".into());
                }
            }
            RunEvent::RequestFinished { scenario, result } => {
                if let Some(s) = self.scenario(scenario) {
                    s.requests.push((**result).clone());
                }
            }
            RunEvent::Recovery(rec) => {
                self.recovered_at
                    .push((at, rec.scenario.clone(), rec.service.clone()));
                self.recoveries.push(rec.clone());
            }
            RunEvent::ChaosScheduled(c) => {
                if let Some(s) = self.scenario(&c.scenario) {
                    s.chaos = Some(c.clone());
                }
            }
            RunEvent::FaultInjected(f) | RunEvent::FaultEnded(f) => {
                if let Some(s) = self.scenario(&f.scenario) {
                    match s.faults.iter_mut().find(|x| x.index == f.index) {
                        Some(x) => *x = f.clone(),
                        None => {
                            s.faults.push(f.clone());
                            s.faults.sort_by_key(|x| x.index);
                        }
                    }
                }
            }
            RunEvent::ValidatorFinished { scenario, result } => {
                if let Some(s) = self.scenario(scenario) {
                    add_validator(&mut s.validators, result.clone());
                }
            }
            RunEvent::LoadFinished(l) => {
                if let Some(s) = self.scenario(&l.scenario) {
                    s.load = Some(l.clone());
                }
            }
            RunEvent::ScenarioFinished {
                scenario,
                elapsed_ms,
                invariants,
                state,
            } => {
                if let Some(s) = self.scenario(scenario) {
                    s.state_after = state.clone();
                    s.elapsed_ms = *elapsed_ms;
                    s.invariants = invariants.clone();
                    s.note = None;
                    let ok = s.requests.iter().all(|r| r.status != RequestStatus::Failed)
                        && s.invariants.iter().all(|c| c.passed)
                        && s.validators.iter().all(|v| v.passed)
                        && s.faults.iter().all(FaultRecord::held);
                    s.status = if ok { Status::Passed } else { Status::Failed };
                }
            }
            RunEvent::NotRun { scenario, reason } => {
                if let Some(s) = self.scenario(scenario) {
                    // In flight when the run stopped: what finished stays in the report.
                    s.status = Status::NotRun;
                    s.note = Some(reason.clone());
                }
            }
            RunEvent::ScenarioGenerated { .. } => {}
            RunEvent::ScenarioSkipped { scenario, reason } => {
                if let Some(s) = self.scenario(scenario) {
                    s.status = Status::Skipped;
                    s.note = Some(reason.clone());
                }
            }
            RunEvent::RunFinished {
                finished_at,
                aborted,
                health,
                cleanup,
            } => {
                self.finished_at = Some(*finished_at);
                self.aborted = aborted.clone();
                self.health_after = health.clone();
                self.cleanup = Some(cleanup.clone());
            }
        }
    }

    fn finish(&mut self) {
        let end = self.finished_at.unwrap_or(i64::MAX);
        for s in &mut self.scenarios {
            analysis::observe(s, &self.recovered_at, end);
        }
        self.duration_ms = self
            .finished_at
            .map_or(0, |f| (f - self.started_at).max(0) as u64);
        self.tally();
        self.performance = analysis::performance(&self.scenarios);
        self.consistency = analysis::consistency(&self.scenarios);
        self.recommendations = analysis::recommendations(self);
    }

    /// The summary's counts and the verdict, from the scenarios' statuses.
    pub(crate) fn tally(&mut self) {
        let count = |st: Status| self.scenarios.iter().filter(|s| s.status == st).count() as u32;
        let validator_runs = self.scenarios.iter().flat_map(|s| &s.validators);
        self.summary = Summary {
            scenarios: self.scenarios.len() as u32,
            passed: count(Status::Passed),
            failed: count(Status::Failed),
            not_run: count(Status::NotRun),
            incomplete: count(Status::Incomplete),
            skipped: count(Status::Skipped),
            flaky: count(Status::Flaky),
            requests: self.scenarios.iter().map(|s| s.requests.len() as u32).sum(),
            validator_runs: validator_runs.clone().count() as u32,
            failed_validator_runs: validator_runs.filter(|v| !v.passed).count() as u32,
            recoveries: self.recoveries.len() as u32,
        };
        self.status = if self.finished_at.is_none() {
            Status::Incomplete
        } else if self.aborted.is_some() {
            Status::Aborted
        } else if self.summary.failed > 0
            || self.summary.not_run > 0
            || self.summary.incomplete > 0
            || self.summary.skipped > 0
        {
            Status::Failed
        } else {
            Status::Passed
        };
        // A run whose results were not all kept does not pass ([`Self::journal_lost`]).
        if self.journal_error.is_some() && self.status == Status::Passed {
            self.status = Status::Failed;
        }
    }

    /// The journal lost events from `error` on: the run cannot pass, since its results
    /// could not be kept.
    pub fn journal_lost(&mut self, error: String) {
        if self.status == Status::Passed {
            self.status = Status::Failed;
        }
        self.recommendations.push(format!(
            "the journal lost results ({error}); free the disk or fix the state dir and run again"
        ));
        self.journal_error = Some(error);
    }

    /// The request's trace, wherever in the run it is.
    pub fn trace(&self, request_id: &str) -> Option<&WorkflowTrace> {
        self.scenarios
            .iter()
            .flat_map(|s| &s.requests)
            .find(|r| r.request_id == request_id)
            .and_then(|r| r.trace.as_ref())
    }
}
