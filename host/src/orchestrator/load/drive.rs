//! Drives a scenario's `[load]` through the runner: arrivals on the open model's
//! schedule (dropped, and counted, when too many are in flight) or virtual users of a
//! closed one, each request run and recorded as any other. What the load did is
//! summed up per stage, from the same numbers while it runs (for thresholds that abort
//! it) and when it ends.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};

use super::spec::{LoadSpec, Model, Source};
use crate::orchestrator::runner::{Runner, ScenarioResult, invariant};
use crate::orchestrator::scenario::Scenario;
use crate::report::{LoadRecord, RequestResult, StageRecord, percentiles, performance_of};

/// Asked about the load so far, about once a second: a reason to stop sending.
pub type Watch<'a> = &'a (dyn Fn(&[RequestResult], &LoadRecord) -> Option<String> + Sync);

/// Which arrivals this process sends: slice `index` of `of` (arrival n, from 1, when
/// `(n - 1) % of == index`; a closed model's users shared out the same way), on a
/// schedule that began at `origin` (the same instant for every slice, so a slice
/// started again after its worker died keeps the load's timetable).
#[derive(Debug, Clone, Copy)]
pub struct Part {
    pub index: u32,
    pub of: u32,
    pub origin: Instant,
    /// When a retried slice took over: arrivals due before it are caught up with,
    /// never dropped (an earlier attempt may have started them; they are awaited).
    pub resume: Option<Instant>,
}

impl Part {
    /// The whole load, starting now.
    pub fn whole() -> Self {
        Part {
            index: 0,
            of: 1,
            origin: Instant::now(),
            resume: None,
        }
    }

    /// Whether the n-th (from 1) arrival or request is this slice's.
    pub fn owns(&self, n: u64) -> bool {
        n.saturating_sub(1) % u64::from(self.of.max(1)) == u64::from(self.index)
    }

    /// Of `vus` users, how many are this slice's.
    fn users(&self, vus: u32) -> u32 {
        let of = self.of.max(1);
        vus / of + u32::from(self.index < vus % of)
    }
}

/// How often a watch is asked.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// One stage's arrivals as they happened.
#[derive(Default)]
struct Tally {
    scheduled: u64,
    started: u64,
    dropped: u64,
    lags_ms: Vec<u64>,
    /// When the stage began, and when its last arrival started.
    began: Option<Instant>,
    last: Option<Instant>,
}

/// What is known of the load at one moment.
struct Progress {
    tallies: Vec<Tally>,
    /// Each finished request, and the stage it arrived in.
    finished: Vec<RequestResult>,
    stage_of: Vec<usize>,
    abort: Option<String>,
    stopped: Option<String>,
}

impl Progress {
    fn new(stages: usize) -> Self {
        Progress {
            tallies: (0..stages).map(|_| Tally::default()).collect(),
            finished: Vec::new(),
            stage_of: Vec::new(),
            abort: None,
            stopped: None,
        }
    }

    fn finish(&mut self, stage: usize, (result, abort): (RequestResult, Option<String>)) {
        self.finished.push(result);
        self.stage_of.push(stage);
        if self.abort.is_none() {
            self.abort = abort;
        }
    }

    fn ended(&self) -> bool {
        self.abort.is_some() || self.stopped.is_some()
    }

    /// The record of what happened so far: `live` while the load runs (each stage asked
    /// for the arrivals due so far), else at its end (asked for its whole schedule).
    fn record(&self, scenario: &str, spec: &LoadSpec, source: &str, live: bool) -> LoadRecord {
        let stages: Vec<StageRecord> = self
            .tallies
            .iter()
            .enumerate()
            .map(|(k, t)| {
                let (target_rate, vus, planned) = match spec.model {
                    Model::Open => (
                        Some(spec.stages[k].mean_rate()),
                        None,
                        spec.stages[k].duration,
                    ),
                    Model::Closed => (None, spec.vus, spec.duration.unwrap_or_default()),
                };
                let asked = match (spec.model, live) {
                    (Model::Open, false) => Some(spec.stages[k].arrivals()),
                    (Model::Open, true) => Some(t.scheduled),
                    (Model::Closed, _) => None,
                };
                // Longer than planned when the scheduler fell behind: the real rate.
                let took = match (t.began, t.last) {
                    (Some(b), Some(l)) => planned.max(l - b),
                    _ => planned,
                };
                let mine = self
                    .finished
                    .iter()
                    .zip(&self.stage_of)
                    .filter(|(_, s)| **s == k)
                    .map(|(r, _)| r);
                StageRecord {
                    stage: k as u32 + 1,
                    target_rate,
                    vus,
                    duration_ms: took.as_millis() as u64,
                    asked,
                    scheduled: t.scheduled,
                    started: t.started,
                    dropped: t.dropped,
                    achieved_rate: t.started as f64 / took.as_secs_f64().max(1e-9),
                    decided: mine.clone().filter(|r| r.decision.is_some()).count() as u64,
                    latency: percentiles(
                        mine.filter(|r| r.decision.is_some()).map(|r| r.latency_ms),
                    ),
                    lag_p99_ms: percentiles(t.lags_ms.iter().copied()).p99_ms,
                }
            })
            .collect();
        let lags = percentiles(self.tallies.iter().flat_map(|t| t.lags_ms.iter().copied()));
        let mut errors = BTreeMap::new();
        for r in self.finished.iter().filter(|r| r.decision.is_none()) {
            let class = r.failed_in.clone().unwrap_or_else(|| "unknown".into());
            *errors.entry(class).or_insert(0) += 1;
        }
        LoadRecord {
            scenario: scenario.to_string(),
            model: spec.model.name().to_string(),
            source: source.to_string(),
            scheduled: stages.iter().map(|s| s.scheduled).sum(),
            started: stages.iter().map(|s| s.started).sum(),
            dropped: stages.iter().map(|s| s.dropped).sum(),
            decided: stages.iter().map(|s| s.decided).sum(),
            stages,
            lag_p99_ms: lags.p99_ms,
            lag_max_ms: lags.max_ms,
            performance: performance_of(&self.finished),
            errors,
            stopped: self.stopped.clone(),
        }
    }
}

impl Runner<'_> {
    /// Runs the scenario's load until its schedule (or its users' time) ends, a
    /// recovery strategy aborts, `watch` says stop, or `deadline` passes; then waits for
    /// the requests in flight.
    pub async fn run_load(
        &self,
        scenario: &Scenario,
        spec: &LoadSpec,
        mut source: Source,
        deadline: Instant,
        watch: Option<Watch<'_>>,
        part: Part,
    ) -> (ScenarioResult, LoadRecord) {
        let began = part.origin;
        let described = source.describe();
        let stages = match spec.model {
            Model::Open => spec.stages.len(),
            Model::Closed => 1,
        };
        let progress = Mutex::new(Progress::new(stages));
        let lock = || {
            progress
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let strategy = self.plugins.and_then(|p| p.recovery(&scenario.id));
        let request_deadline = || {
            Instant::now()
                .checked_add(spec.request_timeout)
                .map_or(deadline, |t| t.min(deadline))
        };
        let done = tokio_util::sync::CancellationToken::new();
        let watcher = async {
            let Some(watch) = watch else { return };
            let mut tick = tokio::time::interval(WATCH_EVERY);
            loop {
                tokio::select! {
                    () = done.cancelled() => return,
                    _ = tick.tick() => {}
                }
                // Judged under the lock, without copying thousands of results.
                let mut p = lock();
                let record = p.record(&scenario.id, spec, &described, true);
                if let Some(why) = watch(&p.finished, &record) {
                    p.stopped.get_or_insert(why);
                    return;
                }
            }
        };
        let sending = async {
            match spec.model {
                Model::Open => {
                    let mut in_flight = FuturesUnordered::new();
                    let mut n = 0u64;
                    let mut stage_start = began;
                    'stages: for (k, stage) in spec.stages.iter().enumerate() {
                        lock().tallies[k].began = Some(stage_start);
                        let mut i = 0;
                        while let Some(offset) = stage.arrival(i) {
                            i += 1;
                            let Some(due) = stage_start.checked_add(offset) else {
                                break 'stages;
                            };
                            if !part.owns(n + 1) {
                                // Another slice's: drawn all the same, so the n-th
                                // request is the same whichever process sends it.
                                n += 1;
                                let _ = source.next(n);
                                continue;
                            }
                            // Requests finish while the next arrival is waited for.
                            loop {
                                tokio::select! {
                                    biased;
                                    () = tokio::time::sleep_until(due.into()) => break,
                                    Some((k, done)) = in_flight.next(), if !in_flight.is_empty() => {
                                        lock().finish(k, done);
                                    }
                                }
                            }
                            if lock().ended() {
                                break 'stages;
                            }
                            if Instant::now() >= deadline {
                                lock().stopped = Some("max_execution_time reached".into());
                                break 'stages;
                            }
                            n += 1;
                            let Some(request) = source.next(n) else {
                                lock().stopped = Some("no requests to send".into());
                                break 'stages;
                            };
                            // Requests that finished meanwhile free their places first.
                            while let Some(Some((k, done))) = in_flight.next().now_or_never() {
                                lock().finish(k, done);
                            }
                            let now = Instant::now();
                            let mut p = lock();
                            let t = &mut p.tallies[k];
                            t.scheduled += 1;
                            t.lags_ms.push((now - due).as_millis() as u64);
                            let catching_up = part.resume.is_some_and(|r| due < r);
                            if in_flight.len() >= spec.max_in_flight as usize && !catching_up {
                                t.dropped += 1;
                                continue;
                            }
                            t.started += 1;
                            t.last = Some(now);
                            drop(p);
                            let until = request_deadline();
                            in_flight.push(async move {
                                let done = self
                                    .run_one(scenario, &request, None, until, strategy)
                                    .await;
                                (k, done)
                            });
                        }
                        match stage_start.checked_add(stage.duration) {
                            Some(next) => stage_start = next,
                            None => break 'stages,
                        }
                    }
                    while let Some((k, done)) = in_flight.next().await {
                        lock().finish(k, done);
                    }
                }
                Model::Closed => {
                    let end = began
                        .checked_add(spec.length())
                        .map_or(deadline, |e| e.min(deadline));
                    let next = &Mutex::new((0u64, source));
                    let of = u64::from(part.of.max(1));
                    lock().tallies[0].began = Some(began);
                    let user = move || async move {
                        while Instant::now() < end && !lock().ended() {
                            let request = {
                                let mut g = next
                                    .lock()
                                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                                g.0 += 1;
                                // This slice's n-th request is the load's
                                // (n-1)·of + index + 1-th: ids never meet.
                                let n = (g.0 - 1) * of + u64::from(part.index) + 1;
                                g.1.next(n)
                            };
                            let Some(request) = request else {
                                lock().stopped.get_or_insert("no requests to send".into());
                                return;
                            };
                            {
                                let mut p = lock();
                                let t = &mut p.tallies[0];
                                t.scheduled += 1;
                                t.started += 1;
                                t.last = Some(Instant::now());
                            }
                            let done = self
                                .run_one(scenario, &request, None, request_deadline(), strategy)
                                .await;
                            lock().finish(0, done);
                            if let Some(think) = spec.think_time {
                                // A user's pause, the model's own timing; never past
                                // the load's end.
                                let wake = Instant::now()
                                    .checked_add(think)
                                    .map_or(end, |w| w.min(end));
                                tokio::time::sleep_until(wake.into()).await;
                            }
                        }
                    };
                    let users = part.users(spec.vus.unwrap_or(1));
                    futures::future::join_all((0..users).map(|_| user())).await;
                    if end == deadline
                        && began
                            .checked_add(spec.length())
                            .is_none_or(|e| e > deadline)
                    {
                        lock()
                            .stopped
                            .get_or_insert("max_execution_time reached".into());
                    }
                }
            }
            done.cancel();
        };
        // Told to stop, the watcher only marks it: what is in flight still finishes.
        tokio::join!(sending, watcher);
        let p = progress
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let record = p.record(&scenario.id, spec, &described, false);
        let mut requests = p.finished;
        requests.sort_by_key(|r| {
            r.request_id
                .strip_prefix("load-")
                .and_then(|n| n.parse::<u64>().ok())
        });
        let result = ScenarioResult {
            scenario: scenario.id.clone(),
            invariants: scenario
                .invariants
                .iter()
                .filter_map(|i| invariant(i, &requests))
                .collect(),
            requests,
            elapsed: began.elapsed(),
            abort: p.abort,
        };
        (result, record)
    }
}
