//! One run of many scenarios (seed 002's TestRunner): the plan's stages in order, the
//! independent scenarios of a stage up to `jobs` at once; readiness of the services the
//! scenarios require before anything starts; every result journaled as it happens;
//! abort (Ctrl-C, or a recovery strategy's answer) cancels what is in flight and
//! reports what did not run; the run's data is removed at the end unless kept.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::load::{Part, Source, Watch};
use super::plan::{self, PlanError};
use super::plugins::{self, PluginSet};
use super::runner::Runner;
use super::scenario::{Invariant, Scenario};
use super::thresholds::{Metric, Threshold};
use super::validate::{Validating, validated};
use super::{data, expect, leases, state, steady};
use crate::chaos::{Chaos, Journal, Scope};
use crate::report::model::PlannedScenario;
use crate::report::{
    Check, JournalError, LoadRecord, Recorder, RequestResult, RunEvent, RunReport, ServiceHealth,
};
use aura_contract::names;
use aura_reference::driver::{Http, InProcess, TargetDriver};
use aura_reference::gpu::GpuConfig;
use aura_reference::{Target, TargetConfig, TargetCore, TargetError};
use aura_services::namespace::{self, RunId, RunNamespace};
use aura_services::{ServiceHub, ServiceKind, ServiceReport, ServiceStatus, health};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("required service(s) not ready: {0}")]
    NotReady(String),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the reference target could not start: {0}")]
    Target(#[from] TargetError),
    #[error(
        "run id {0}: too long to name its scenarios' namespaces (<run>-<n>); use at most 56 characters"
    )]
    RunIdTooLong(String),
    #[error(
        "scenario {0} injects faults: they need the in-process target (run it without --target)"
    )]
    FaultsNeedInProcess(String),
    /// Only when a thread panicked while holding the run's events; the journal has them.
    #[error(
        "the run's events were lost from memory; `aura-host report --run` rebuilds them from the journal"
    )]
    Lost,
}

pub struct RunOptions {
    /// Independent scenarios at once (at least 1).
    pub jobs: usize,
    /// Validate requests an earlier run decided (its data kept) instead of submitting:
    /// the run's one scenario runs its validators on them, in their namespace.
    pub existing: Option<Existing>,
    /// Keep the run's graph nodes, Redis keys and topics.
    pub keep_data: bool,
    /// The command line, for the report.
    pub command: String,
    /// Replaces every `[chaos]` seed (`run --seed`).
    pub seed: Option<u64>,
    /// The most the run's own work after its scenarios (health, ending its workflows,
    /// cleaning every namespace, all at once) may take.
    pub cleanup_timeout: std::time::Duration,
    /// Run the scenarios' requests on `aura-host worker` processes (`run --distributed`).
    pub distributed: Option<super::distributed::Distributed>,
    /// Told of every step's start and end of the in-process target (the live dashboard).
    pub steps: Option<Arc<aura_services::trace::StepHook>>,
    /// Drive a deployed target over HTTP instead of starting one in-process.
    pub remote: Option<Remote>,
}

/// A deployed target (`aura-host target serve`) a run drives over HTTP: each scenario's
/// requests in the run's own namespace (`run=`), removed afterwards like any run's.
pub struct Remote {
    pub driver: Http,
    /// Its task queue (from `/health`), which serves the deployment's own traffic too:
    /// the run's state snapshots count its open workflows; the run ends only its own,
    /// by id.
    pub task_queue: String,
}

/// The target a run's scenarios go through.
enum Driving<'a> {
    InProcess(Arc<Target>),
    Remote(&'a Remote),
}

impl Driving<'_> {
    /// A driver for the scenario in namespace `ns`.
    fn driver(&self, ns: &RunId) -> Box<dyn TargetDriver> {
        match self {
            Driving::InProcess(t) => Box::new(InProcess::in_run(t.clone(), ns.clone())),
            Driving::Remote(r) => Box::new(r.driver.in_run(ns.clone())),
        }
    }

    /// The in-process target's insides: its traces and devices.
    fn core(&self) -> Option<&TargetCore> {
        match self {
            Driving::InProcess(t) => Some(t.core()),
            Driving::Remote(_) => None,
        }
    }
}

/// Requests an earlier run decided, in the namespace their data lives under.
pub struct Existing {
    pub namespace: RunId,
    pub request_ids: Vec<String>,
}

/// Stops a run: the first reason given wins.
#[derive(Clone, Default)]
pub struct Abort {
    token: CancellationToken,
    reason: Arc<Mutex<Option<String>>>,
}

impl Abort {
    pub fn abort(&self, reason: impl Into<String>) {
        let mut r = self.reason.lock().unwrap_or_else(PoisonError::into_inner);
        if r.is_none() {
            *r = Some(reason.into());
        }
        drop(r);
        self.token.cancel();
    }

    pub fn reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// What a run works with: the process's services, where its journal goes, and how the
/// reference target is set up.
pub struct Execution<'a> {
    pub hub: Arc<ServiceHub>,
    pub state_dir: &'a Path,
    pub target: &'a TargetConfig,
    pub gpu: &'a GpuConfig,
    pub run_id: RunId,
    /// Each scenario with the suite it came from.
    pub scenarios: Vec<(String, Scenario)>,
    pub plugins: PluginSet,
    pub options: RunOptions,
    pub abort: Abort,
    /// Injects and heals the scenarios' faults.
    pub chaos: Chaos,
}

fn health_of(reports: &[ServiceReport]) -> Vec<ServiceHealth> {
    reports
        .iter()
        .map(|s| ServiceHealth {
            service: s.service.to_string(),
            status: serde_json::to_value(s.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            version: s.version.clone(),
            latency_ms: s.latency_ms,
            error: s.error.clone(),
            facts: s.details.clone(),
        })
        .collect()
}

/// Each scenario's data namespace: `<run>-<n>`, n its place in the run, so
/// scenarios never share devices, context windows or topics, whatever `--jobs` is.
fn namespaces(run: &RunId, n: usize) -> Result<Vec<RunId>, RunError> {
    (1..=n)
        .map(|k| {
            RunId::parse(&names::scenario_namespace(run.as_str(), k))
                .map_err(|_| RunError::RunIdTooLong(run.to_string()))
        })
        .collect()
}

impl Execution<'_> {
    /// The task queue the run's workflows are on.
    fn task_queue(&self) -> String {
        match &self.options.remote {
            Some(r) => r.task_queue.clone(),
            None => names::task_queue(&self.target.task_queue, self.run_id.as_str()),
        }
    }

    fn required(&self) -> Vec<ServiceKind> {
        let mut needed: Vec<ServiceKind> = self
            .scenarios
            .iter()
            .flat_map(|(_, s)| s.required_services.iter().copied())
            .collect();
        needed.sort();
        needed.dedup();
        needed
    }

    /// Runs every scenario and returns the report. Errors are what stops a run before
    /// it starts (bad plan, services not ready, no journal, no target).
    pub async fn run(
        &self,
        observer: Box<dyn Fn(&RunEvent) + Send + Sync>,
    ) -> Result<RunReport, RunError> {
        let refs: Vec<&Scenario> = self.scenarios.iter().map(|(_, s)| s).collect();
        let stages = plan::stages(&refs)?;
        let faulty = refs
            .iter()
            .find(|s| !s.faults.is_empty() || s.chaos.is_some());
        if let (Some(_), Some(s)) = (&self.options.remote, faulty) {
            return Err(RunError::FaultsNeedInProcess(s.id.clone()));
        }
        let spaces = match &self.options.existing {
            Some(e) => vec![e.namespace.clone(); self.scenarios.len()],
            None => namespaces(&self.run_id, self.scenarios.len())?,
        };
        let needed = self.required();
        let before = health::check(self.hub.config(), &needed).await;
        let down: Vec<String> = before
            .services
            .iter()
            .filter(|s| s.status != ServiceStatus::Ready)
            .map(|s| {
                format!(
                    "{} ({})",
                    s.service,
                    s.error.as_deref().unwrap_or("not ready")
                )
            })
            .collect();
        if !down.is_empty() {
            return Err(RunError::NotReady(down.join(", ")));
        }
        let path = crate::report::journal_path(self.state_dir, self.run_id.as_str());
        let recorder = Arc::new(Recorder::open(&path, observer)?);
        recorder.record(RunEvent::RunStarted {
            run_id: self.run_id.to_string(),
            started_at: chrono::Utc::now().timestamp_millis(),
            command: self.options.command.clone(),
            jobs: self.options.jobs,
            scenarios: self
                .scenarios
                .iter()
                .zip(&spaces)
                .map(|((suite, s), ns)| PlannedScenario {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    suite: suite.clone(),
                    namespace: ns.to_string(),
                })
                .collect(),
            health: health_of(&before.services),
        });
        let target = match &self.options.remote {
            Some(r) => Driving::Remote(r),
            None => {
                let target_config = self.chaos.target_config(self.target);
                let started = Target::start(
                    self.hub.clone(),
                    &target_config,
                    self.gpu,
                    self.run_id.clone(),
                );
                match started.await {
                    Ok(t) => Driving::InProcess(Arc::new(t)),
                    Err(e) => {
                        self.finish(
                            &recorder,
                            Some(format!("the target could not start: {e}")),
                            &needed,
                            &spaces,
                        )
                        .await;
                        return Err(e.into());
                    }
                }
            }
        };
        if let (Some(hook), Some(core)) = (&self.options.steps, target.core()) {
            core.traces.hook(hook);
        }
        let mut outcome: BTreeMap<String, bool> = BTreeMap::new();
        let started: Mutex<BTreeSet<String>> = Mutex::default();
        // Faults strike servers every scenario shares: a scenario with faults runs
        // alone, the others together.
        let isolation = tokio::sync::RwLock::new(());
        for stage in stages {
            if self.abort.token.is_cancelled() {
                break;
            }
            let mut ready = Vec::new();
            for id in &stage {
                let Some(k) = self.scenarios.iter().position(|(_, s)| &s.id == id) else {
                    continue;
                };
                let s = &self.scenarios[k].1;
                match s.depends_on.iter().find(|d| outcome.get(*d) != Some(&true)) {
                    Some(dep) => {
                        outcome.insert(id.clone(), false);
                        recorder.record(RunEvent::NotRun {
                            scenario: id.clone(),
                            reason: format!("it depends on {dep}, which did not pass"),
                        });
                    }
                    None => ready.push((s, &spaces[k])),
                }
            }
            let mut running = futures::stream::iter(ready)
                .map(|(s, ns)| {
                    let (target, recorder, started) = (&target, &recorder, &started);
                    let (this, isolation) = (&self, &isolation);
                    async move {
                        let faulty = !s.faults.is_empty() || s.chaos.is_some();
                        let (_alone, _shared) = if faulty {
                            (Some(isolation.write().await), None)
                        } else {
                            (None, Some(isolation.read().await))
                        };
                        started
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .insert(s.id.clone());
                        (s.id.clone(), this.scenario(target, ns, recorder, s).await)
                    }
                })
                .buffer_unordered(self.options.jobs.max(1));
            loop {
                tokio::select! {
                    _ = self.abort.token.cancelled() => break,
                    next = running.next() => match next {
                        None => break,
                        Some((id, (passed, abort))) => {
                            outcome.insert(id, passed);
                            if let Some(why) = abort {
                                self.abort.abort(why);
                            }
                        }
                    },
                }
            }
        }
        // Whatever has no outcome was cancelled in flight or never started.
        let why = self
            .abort
            .reason()
            .unwrap_or_else(|| "the run stopped".into());
        let started = started.into_inner().unwrap_or_else(PoisonError::into_inner);
        for (_, s) in &self.scenarios {
            if !outcome.contains_key(&s.id) {
                let reason = if started.contains(&s.id) {
                    format!("cancelled in flight: {why}")
                } else {
                    format!("not started: {why}")
                };
                recorder.record(RunEvent::NotRun {
                    scenario: s.id.clone(),
                    reason,
                });
            }
        }
        // Faults of scenarios cancelled in flight heal before anything else.
        self.chaos.healed().await;
        // In-flight scenarios were dropped with their drivers' handles.
        if let Driving::InProcess(t) = target
            && let Ok(t) = Arc::try_unwrap(t)
        {
            t.stop().await;
        }
        self.finish(&recorder, self.abort.reason(), &needed, &spaces)
            .await;
        recorder.report().ok_or(RunError::Lost)
    }

    /// One scenario: its requests, then its validators on the requests that ran.
    /// Returns whether it passed, and a recovery strategy's reason to abort the run.
    async fn scenario(
        &self,
        target: &Driving<'_>,
        ns: &RunId,
        recorder: &Arc<Recorder>,
        s: &Scenario,
    ) -> (bool, Option<String>) {
        let driver = target.driver(ns);
        let driver = driver.as_ref();
        let core = target.core();
        let state = || self.state(ns, core);
        recorder.record(RunEvent::ScenarioStarted {
            state: Some(state().await),
            scenario: s.id.clone(),
            // A distributed scenario's own workflow too: ended with the run's if the run
            // stops before it does, so its slices never outlive the run.
            workflows: s
                .gpu_requests
                .iter()
                .map(|r| names::workflow_id(ns.as_str(), &r.request_id))
                .chain(
                    self.options
                        .distributed
                        .as_ref()
                        .map(|_| names::distributed_workflow_id(ns.as_str())),
                )
                .collect(),
        });
        let started = Instant::now();
        // A scenario that cannot start: finished with the one check that says why.
        let cannot_start = |failed: Check| {
            let elapsed_ms = started.elapsed().as_millis() as u64;
            async move {
                recorder.record(RunEvent::ScenarioFinished {
                    scenario: s.id.clone(),
                    elapsed_ms,
                    invariants: vec![failed],
                    state: Some(state().await),
                });
                (false, None)
            }
        };
        let mut early_validated = None;
        let generated;
        let s = match self.plugins.generator(&s.id) {
            None => s,
            Some(g) => {
                let name = g.configured.plugin.name().to_string();
                let made = plugins::generate(&self.plugins.runtime, g, ns.as_str(), s)
                    .await
                    .and_then(|requests| s.with_generated(requests, g.replaces));
                match made {
                    Ok(with) => {
                        recorder.record(RunEvent::ScenarioGenerated {
                            scenario: s.id.clone(),
                            generator: name,
                            seed: g.seed,
                            request_ids: with
                                .gpu_requests
                                .iter()
                                .map(|r| r.request_id.clone())
                                .collect(),
                        });
                        generated = with;
                        &generated
                    }
                    Err(why) => {
                        let failed = Check::new(
                            format!("generator {name}"),
                            format!("a scenario from seed {}", g.seed),
                            format!("none: {why}"),
                        );
                        return cannot_start(failed).await;
                    }
                }
            }
        };
        // Test data first: a scenario whose data does not load does not run.
        let data = match s.data.as_ref().filter(|d| !d.loaded.is_empty()) {
            None => None,
            Some(d) => {
                let devices: Option<Vec<String>> =
                    core.map(|c| c.gpu.devices.iter().map(|d| d.id.clone()).collect());
                match data::load(&self.hub, ns.as_str(), devices.as_deref(), &d.loaded).await {
                    Ok(loaded) => Some(loaded),
                    Err((loaded, why)) => {
                        let removed = data::remove(&self.hub, &loaded).await.map(drop);
                        let failed = Check::new(
                            "data",
                            "loaded",
                            match removed {
                                Ok(()) => format!("not loaded: {why}; what was loaded is removed"),
                                Err(e) => format!("not loaded: {why}; removing it failed too: {e}"),
                            },
                        );
                        return cannot_start(failed).await;
                    }
                }
            }
        };
        let fixture_leases = data
            .as_ref()
            .map(data::Loaded::lease_holders)
            .unwrap_or_default();
        let journal: Journal = {
            let recorder = recorder.clone();
            Arc::new(move |e| recorder.record(e))
        };
        let specs = self.faults(s, recorder);
        // A year stands for "no deadline" where the scenario's is past any instant.
        let deadline = started
            .checked_add(s.max_execution_time)
            .unwrap_or_else(|| started + std::time::Duration::from_secs(365 * 86_400));
        // The probes run in a namespace of their own, so they leave nothing (a topic,
        // a context entry) for the faults to act on in the scenario's.
        let probe_ns = RunId::parse(&format!("{ns}-p")).unwrap_or_else(|_| ns.clone());
        let prober = target.driver(&probe_ns);
        let mut steady = Vec::new();
        if !specs.is_empty() {
            steady.push(steady::probe(&self.hub, prober.as_ref(), s, "before", deadline).await);
        }
        let faults = self
            .chaos
            .arm(
                &specs,
                Scope {
                    scenario: &s.id,
                    namespace: ns.as_str(),
                    traces: core.map(|c| &*c.traces),
                    devices: core.map_or_else(Vec::new, |c| {
                        c.gpu.devices.iter().map(|d| d.id.clone()).collect()
                    }),
                    journal,
                },
            )
            .await;
        let record = |e: RunEvent| {
            if let RunEvent::RequestFinished { result, .. } = &e
                && result.decision.is_some()
            {
                faults.decided();
            }
            recorder.record(e)
        };
        let runner = Runner {
            driver,
            run_id: ns.as_str(),
            target: self.target,
            plugins: Some(&self.plugins),
            record: &record,
        };
        let thresholds = s.thresholds();
        // `max_execution_time` bounds the scenario, its validators included.
        let until = started.checked_add(s.max_execution_time);
        // Judged while the load runs only when a threshold can stop it.
        let reads_validators = thresholds
            .iter()
            .any(|t| t.abort_on_fail && t.metric == Metric::ValidationFailures);
        let validating = Validating {
            plugins: &self.plugins,
            target: self.target,
            recorder,
            scenario: s,
            namespace: ns.as_str(),
            until,
            seen: reads_validators.then(Mutex::default),
        };
        // A threshold with abort_on_fail that was lost while the load ran.
        let lost_early: Mutex<Option<String>> = Mutex::default();
        let distributed = self.options.distributed.as_ref();
        let (mut result, load) = match (distributed, &s.load) {
            (None, None) => (runner.run(s).await, None),
            (_, spec) => {
                // Without faults, validators check decided requests while the requests
                // run; with them, once the faults have healed.
                let streaming = specs.is_empty() && self.options.existing.is_none();
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                let tx = Mutex::new(streaming.then_some(tx));
                let record = |e: RunEvent| {
                    if let RunEvent::RequestFinished { result, .. } = &e
                        && validated(result)
                        && let Some(tx) = &*tx.lock().unwrap_or_else(PoisonError::into_inner)
                    {
                        let _ = tx.send(result.request_id.clone());
                    }
                    record(e)
                };
                let runner = Runner {
                    record: &record,
                    ..runner
                };
                let begun = Instant::now();
                let watch = |requests: &[_], load: &LoadRecord| {
                    let checked = match reads_validators {
                        true => validating.so_far(),
                        false => Vec::new(),
                    };
                    let why = lost(&thresholds, requests, &checked, Some(load), begun.elapsed())?;
                    lost_early
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .get_or_insert(why.clone());
                    Some(why)
                };
                let watch = thresholds
                    .iter()
                    .any(|t| t.abort_on_fail)
                    .then_some(&watch as Watch<'_>);
                let driving = async {
                    let out = match (distributed, spec.as_ref()) {
                        (Some(d), _) => {
                            let seed = self.options.seed;
                            let run = self.run_id.as_str();
                            d.run(&self.hub, run, ns.as_str(), s, seed, deadline, &record)
                                .await
                        }
                        (None, Some(spec)) => {
                            let source = Source::new(spec, &s.gpu_requests, self.options.seed);
                            let (result, load) = runner
                                .run_load(s, spec, source, deadline, watch, Part::whole())
                                .await;
                            (result, Some(load))
                        }
                        (None, None) => (runner.run(s).await, None),
                    };
                    // The last request is in: the validators finish what is queued.
                    tx.lock().unwrap_or_else(PoisonError::into_inner).take();
                    out
                };
                let ((result, load), checked) = if streaming {
                    let batch = spec.as_ref().map(|l| l.validate_batch as usize);
                    let (out, checked) = tokio::join!(driving, validating.run(rx, batch));
                    (out, Some(checked))
                } else {
                    (driving.await, None)
                };
                if let Some(l) = &load {
                    recorder.record(RunEvent::LoadFinished(l.clone()));
                }
                early_validated = checked;
                (result, load)
            }
        };
        // The faults heal before the validators look at the stores.
        let faults = faults.settle(deadline.into()).await;
        if !faults.is_empty() {
            steady.push(steady::probe(&self.hub, prober.as_ref(), s, "after", deadline).await);
            if probe_ns != *ns {
                namespace::remove(&self.hub, &RunNamespace::new(probe_ns)).await;
            }
        }
        result.invariants.extend(steady);
        if s.invariants.contains(&Invariant::NoLeakedLeases) {
            result.invariants.push(
                leases::leaked(&self.hub, ns.as_str(), &result.requests, &fixture_leases).await,
            );
        }
        result
            .invariants
            .extend(expect::per_fault(&specs, &faults, &result.requests));
        if let Some(e) = &s.expect {
            let checks = expect::checks(
                e,
                &self.hub,
                ns.as_str(),
                &result.requests,
                &faults,
                &fixture_leases,
            );
            result.invariants.extend(checks.await);
        }
        let mut passed = result.passed() && faults.iter().all(|f| f.held());
        let mut validated_by = Vec::new();
        if result.abort.is_none() {
            validated_by = match early_validated.take() {
                Some(v) => v,
                None => {
                    let ids: Vec<String> = match &self.options.existing {
                        Some(e) => e.request_ids.clone(),
                        None => result
                            .requests
                            .iter()
                            .filter(|r| validated(r))
                            .map(|r| r.request_id.clone())
                            .collect(),
                    };
                    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                    for id in ids {
                        let _ = tx.send(id);
                    }
                    drop(tx);
                    let batch = s.load.as_ref().map(|l| l.validate_batch as usize);
                    validating.run(rx, batch).await
                }
            };
            passed &= validated_by.iter().all(|r| r.passed);
        }
        let checks: Vec<_> = thresholds
            .iter()
            .map(|t| t.check(&result.requests, &validated_by, load.as_ref()))
            .collect();
        passed &= checks.iter().all(|c| c.passed);
        result.invariants.extend(checks);
        if let Some(l) = load.as_ref().filter(|l| l.stopped.is_some()) {
            let mut c = Check::new(
                "load",
                "every arrival of its schedule",
                format!("stopped early: {}", l.stopped.clone().unwrap_or_default()),
            );
            c.passed = false;
            passed = false;
            result.invariants.push(c);
        }
        // k6's abort_on_fail: a threshold lost while the load ran, or lost at the end,
        // stops the run.
        if result.abort.is_none() {
            let early = lost_early
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner);
            result.abort = early.or_else(|| {
                lost(
                    &thresholds,
                    &result.requests,
                    &validated_by,
                    load.as_ref(),
                    std::time::Duration::MAX,
                )
            });
        }
        // Judged: its test data goes, exactly what was loaded.
        if let Some(loaded) = &data {
            let what = loaded.describe();
            let expected = format!("{what} loaded and removed");
            let c = match data::remove(&self.hub, loaded).await {
                // What removing said (a node the scenario adopted) is what was expected.
                Ok(said) => {
                    let said = format!("{what} loaded, {said}");
                    Check::new("data", said.clone(), said)
                }
                Err(e) => Check::new("data", expected, format!("{what} loaded, not removed: {e}")),
            };
            passed &= c.passed;
            result.invariants.push(c);
        }
        let elapsed_ms = started.elapsed().as_millis() as u64;
        recorder.record(RunEvent::ScenarioFinished {
            scenario: s.id.clone(),
            elapsed_ms,
            invariants: result.invariants,
            state: Some(state().await),
        });
        (passed, result.abort)
    }

    /// The scenario's namespace and the target now ([`state::snapshot`]).
    async fn state(&self, ns: &RunId, core: Option<&TargetCore>) -> crate::report::SystemState {
        state::snapshot(&self.hub, ns.as_str(), &self.task_queue(), core).await
    }

    /// The scenario's faults: those it declares, then those its `[chaos]` seed draws
    /// (journaled with the seed, so the run can be replayed).
    fn faults(&self, s: &Scenario, recorder: &Recorder) -> Vec<crate::chaos::FaultSpec> {
        let mut faults = s.faults.clone();
        if let Some(c) = &s.chaos {
            let seed = self
                .options
                .seed
                .or(c.seed)
                .unwrap_or_else(rand::random::<u64>);
            let drawn = c.draw(seed, &s.required_services, s.gpu_requests.len() as u32);
            recorder.record(RunEvent::ChaosScheduled(crate::report::ChaosSchedule {
                scenario: s.id.clone(),
                seed,
                faults: drawn.iter().map(ToString::to_string).collect(),
            }));
            faults.extend(drawn);
        }
        faults
    }

    /// Health after, cleanup, and the closing record.
    async fn finish(
        &self,
        recorder: &Recorder,
        aborted: Option<String>,
        needed: &[ServiceKind],
        spaces: &[RunId],
    ) {
        // Health, the run's open workflows and every store of every namespace at once,
        // within one bound: a store that stalls cannot stretch the run past it.
        let limit = self.options.cleanup_timeout;
        let (after, cleanup) = tokio::join!(health::check(self.hub.config(), needed), async {
            tokio::time::timeout(limit, self.clean(spaces, recorder.workflows()))
                    .await
                    .unwrap_or_else(|_| {
                        format!(
                            "cleanup did not finish within {} (run.cleanup_timeout); data may remain: `env reset --run {}` removes it",
                            humantime::format_duration(limit),
                            self.run_id
                        )
                    })
        });
        recorder.record(RunEvent::RunFinished {
            finished_at: chrono::Utc::now().timestamp_millis(),
            aborted,
            health: health_of(&after.services),
            cleanup,
        });
    }

    /// Ends the run's open workflows (a request past its deadline leaves one running;
    /// terminated, it never writes after the cleanup) and removes the data of every
    /// namespace, each store on its own; says what was done and what could not be.
    async fn clean(&self, spaces: &[RunId], workflows: Vec<String>) -> String {
        if let Some(e) = &self.options.existing {
            return format!(
                "kept: the data of {} belongs to the run that decided it",
                e.namespace
            );
        }
        // Ended whether or not the data is kept, and first: a workflow still running
        // could write after the cleanup, and no worker will ever run it again.
        let queue = self.task_queue();
        let reason = format!("aura-host run {} ended", self.run_id);
        let terminated = async {
            let temporal = self.hub.workflows().await?;
            match &self.options.remote {
                // A deployment's queue serves its own traffic too: only the run's
                // workflows, by id, are ended there.
                Some(_) => temporal.terminate(&workflows, &reason).await,
                None => temporal.end_run(&workflows, &queue, &reason).await,
            }
        }
        .await;
        let mut errors = Vec::new();
        let workflows = match terminated {
            Ok(ids) => format!("terminated {} open workflow(s)", ids.len()),
            Err(e) => {
                errors.push(format!("workflows on {queue}: {e}"));
                "open workflows not terminated".to_string()
            }
        };
        let mut text = if self.options.keep_data {
            let ns = format!("{}-<n>", self.run_id);
            format!(
                "kept (--keep-data): graph {} (nodes with {} '{ns}' on Neo4j), Redis keys {}*, topics {}* (n = 1..{}); {workflows}",
                names::run_graph("<database>", &ns),
                names::RUN_ID_PROPERTY,
                names::key_prefix(&ns),
                names::topic_prefix(&ns),
                spaces.len()
            )
        } else {
            let removals = futures::future::join_all(spaces.iter().map(|ns| async move {
                (
                    ns,
                    namespace::remove(&self.hub, &RunNamespace::new(ns.clone())).await,
                )
            }))
            .await;
            let (mut nodes, mut keys, mut topics) = (0, 0, 0);
            for (ns, c) in removals {
                nodes += c.graph_nodes;
                keys += c.cache_keys;
                topics += c.topics.len();
                errors.extend(
                    c.failed
                        .iter()
                        .map(|f| format!("{ns} {}: {}", f.service, f.error)),
                );
            }
            format!(
                "removed {nodes} graph node(s), {keys} Redis key(s), {topics} topic(s); {workflows}; the journal keeps the results and traces"
            )
        };
        if !errors.is_empty() {
            text.push_str(&format!(
                "; not cleaned (`env reset --run {}` retries): {}",
                self.run_id,
                errors.join("; ")
            ));
        }
        text
    }
}

/// The first `abort_on_fail` threshold already lost, `elapsed` into the load (its
/// `delay_abort_eval` passed), as the reason to stop the run.
fn lost(
    thresholds: &[Threshold],
    requests: &[RequestResult],
    validators: &[crate::report::ValidatorResult],
    load: Option<&LoadRecord>,
    elapsed: std::time::Duration,
) -> Option<String> {
    thresholds
        .iter()
        .filter(|t| t.abort_on_fail && elapsed >= t.delay_abort_eval)
        .find_map(|t| t.lost(requests, validators, load))
        .map(|c| format!("{} lost (measured {}; abort_on_fail)", c.name, c.actual))
}
