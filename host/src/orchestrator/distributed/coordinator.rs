//! The coordinating side of a distributed scenario: its slices started as one workflow
//! on the runs task queue, its results read from the scenario's stream as the workers
//! send them (each request once, whatever a retried slice sends again) and recorded as
//! if they ran here, then the slices' load figures joined into one.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use temporalio_client::{
    Client, WorkflowGetResultOptions, WorkflowStartOptions, WorkflowTerminateOptions,
};

use super::workflow::{DistributedScenarioWorkflow, SliceInput, SliceOutput};
use crate::orchestrator::load::Part;
use crate::orchestrator::runner::{ScenarioResult, invariant};
use crate::orchestrator::scenario::Scenario;
use crate::report::{Check, LoadRecord, Percentiles, RequestResult, RunEvent, StageRecord};
use aura_contract::names;
use aura_services::ServiceHub;

/// How often the stream is read while it is empty.
const POLL: Duration = Duration::from_millis(100);
/// Entries read at once.
const READ: usize = 500;
/// Reads of the stream that may fail in a row before the scenario gives up on it.
const MAX_FAILED_READS: u32 = 50;
/// How long after the workflow starts the load's timetable begins: the workers'
/// targets start meanwhile.
const START_ALLOWANCE: Duration = Duration::from_secs(2);

/// What a distributed run needs: the Temporal client, the queue its workers poll and
/// how many slices each scenario is cut into.
pub struct Distributed {
    pub client: Client,
    pub task_queue: String,
    pub slices: u32,
}

impl Distributed {
    /// Runs `scenario` in namespace `ns` of run `run` on the workers, recording each
    /// finished request through `record`, by `deadline`.
    #[allow(clippy::too_many_arguments)]
    pub async fn run(
        &self,
        hub: &ServiceHub,
        run: &str,
        ns: &str,
        scenario: &Scenario,
        seed: Option<u64>,
        deadline: Instant,
        record: &(dyn Fn(RunEvent) + Send + Sync),
    ) -> (ScenarioResult, Option<LoadRecord>) {
        let began = Instant::now();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let left = deadline.saturating_duration_since(began).as_millis() as i64;
        let of = self.slices.max(1);
        let part = |index: u32| Part {
            index,
            of,
            origin: began,
            resume: None,
        };
        let slices: Vec<SliceInput> = (0..of)
            .map(|index| SliceInput {
                run_id: run.to_string(),
                namespace: ns.to_string(),
                // A scenario's own requests are cut here, so each slice carries only
                // its own (the workflow's input stays small); a load's are drawn there.
                scenario: match scenario.load {
                    Some(_) => scenario.clone(),
                    None => {
                        let mut mine = scenario.clone();
                        mine.gpu_requests = scenario
                            .gpu_requests
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| part(index).owns(*i as u64 + 1))
                            .map(|(_, r)| r.clone())
                            .collect();
                        mine
                    }
                },
                index,
                of,
                // The workers start their targets first: the timetable begins a little
                // later than now, for every slice alike.
                origin_ms: now_ms.saturating_add(START_ALLOWANCE.as_millis() as i64),
                deadline_ms: now_ms.saturating_add(left),
                seed,
            })
            .collect();
        let mut result = ScenarioResult {
            scenario: scenario.id.clone(),
            requests: Vec::new(),
            invariants: Vec::new(),
            elapsed: Duration::ZERO,
            abort: None,
        };
        let id = names::distributed_workflow_id(ns);
        let options = WorkflowStartOptions::new(self.task_queue.clone(), id.clone()).build();
        let started = self
            .client
            .start_workflow(DistributedScenarioWorkflow::run, slices, options)
            .await;
        if let Err(e) = started {
            result.abort = Some(format!("{id} could not start on temporal: {e}"));
            return (result, None);
        }
        let handle = self
            .client
            .get_workflow_handle::<DistributedScenarioWorkflow>(id.clone());
        let outcome = handle.get_result(WorkflowGetResultOptions::default());
        tokio::pin!(outcome);
        let stream = names::events_stream(ns);
        let mut seen = BTreeSet::new();
        let mut after: Option<String> = None;
        let mut finished: Option<Result<Vec<SliceOutput>, String>> = None;
        let (mut unreadable, mut failed_reads) = (0u32, 0u32);
        // A slice's last results are on the stream before its activity completes: once
        // the workflow has ended, one more read takes them all.
        loop {
            let read = match hub.cache().await {
                Ok(c) => c.stream_after(&stream, after.as_deref(), READ).await,
                Err(e) => Err(e),
            };
            let entries = match read {
                Ok(entries) => {
                    failed_reads = 0;
                    entries
                }
                // Not an empty stream: read again, a while, before giving up on it.
                Err(e) => {
                    failed_reads += 1;
                    if failed_reads >= MAX_FAILED_READS {
                        finished = Some(Err(format!("the results stream {stream}: {e}")));
                        break;
                    }
                    tokio::time::sleep(POLL).await;
                    continue;
                }
            };
            let empty = entries.len() < READ;
            for (entry, text) in entries {
                after = Some(entry);
                let Ok(RunEvent::RequestFinished { result: r, .. }) =
                    serde_json::from_str::<RunEvent>(&text)
                else {
                    unreadable += 1;
                    continue;
                };
                if seen.insert(r.request_id.clone()) {
                    result.requests.push((*r).clone());
                    record(RunEvent::RequestFinished {
                        scenario: scenario.id.clone(),
                        result: r,
                    });
                }
            }
            if finished.is_some() && empty {
                break;
            }
            let overdue = deadline
                .checked_add(Duration::from_secs(30))
                .is_some_and(|d| Instant::now() >= d);
            if finished.is_none() && overdue {
                // Its slices must not go on submitting after the run has given up.
                let _ = handle
                    .terminate(
                        WorkflowTerminateOptions::builder()
                            .reason("the run gave up")
                            .build(),
                    )
                    .await;
                finished = Some(Err(format!(
                    "{id} did not end within max_execution_time: are workers polling {}?",
                    self.task_queue
                )));
                continue;
            }
            if empty {
                tokio::select! {
                    done = &mut outcome, if finished.is_none() => {
                        finished = Some(done.map_err(|e| format!("{id}: {e}")));
                    }
                    () = tokio::time::sleep(POLL) => {}
                }
            }
        }
        result.requests.sort_by_key(|r| order(&r.request_id));
        result.invariants = scenario
            .invariants
            .iter()
            .filter_map(|i| invariant(i, &result.requests))
            .collect();
        result.elapsed = began.elapsed();
        let load = match finished {
            Some(Ok(outputs)) => {
                result.abort = outputs.iter().find_map(|o| o.abort.clone());
                // What the slices say they finished must all have come back.
                let sent: u32 = outputs.iter().map(|o| o.requests).sum();
                let missing: Vec<&str> = scenario
                    .gpu_requests
                    .iter()
                    .filter(|r| scenario.load.is_none() && !seen.contains(&r.request_id))
                    .map(|r| r.request_id.as_str())
                    .collect();
                if (seen.len() as u32) < sent || !missing.is_empty() || unreadable > 0 {
                    result.invariants.push(Check {
                        passed: false,
                        ..Check::new(
                            "distributed results",
                            format!("every request's result, {sent} sent by the slices"),
                            format!(
                                "{} read, {unreadable} unreadable{}",
                                seen.len(),
                                if missing.is_empty() {
                                    String::new()
                                } else {
                                    format!(", missing {}", missing.join(", "))
                                }
                            ),
                        )
                    });
                }
                scenario
                    .load
                    .as_ref()
                    .map(|_| joined(scenario, &outputs, &result.requests))
            }
            Some(Err(why)) => {
                result.abort = Some(why);
                None
            }
            None => None,
        };
        (result, load)
    }
}

/// `load-<n>` by n, then anything else by name.
fn order(id: &str) -> (u64, String) {
    let n = id
        .strip_prefix("load-")
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX);
    (n, id.to_string())
}

/// The slices' load figures as one: counts and rates added up per stage, latencies from
/// every request, the slowest slice's schedule lag.
fn joined(scenario: &Scenario, outputs: &[SliceOutput], requests: &[RequestResult]) -> LoadRecord {
    let records: Vec<&LoadRecord> = outputs.iter().filter_map(|o| o.load.as_ref()).collect();
    let mut whole = records.first().map(|r| (*r).clone()).unwrap_or_default();
    whole.scenario = scenario.id.clone();
    whole.stages = whole
        .stages
        .iter()
        .enumerate()
        .map(|(k, first)| {
            let all: Vec<&StageRecord> = records.iter().filter_map(|r| r.stages.get(k)).collect();
            let sum = |f: fn(&StageRecord) -> u64| all.iter().map(|s| f(s)).sum::<u64>();
            StageRecord {
                stage: first.stage,
                target_rate: first.target_rate,
                // Each slice reports the whole stage's users and schedule.
                vus: first.vus,
                duration_ms: all.iter().map(|s| s.duration_ms).max().unwrap_or_default(),
                asked: first.asked,
                scheduled: sum(|s| s.scheduled),
                started: sum(|s| s.started),
                dropped: sum(|s| s.dropped),
                achieved_rate: all.iter().map(|s| s.achieved_rate).sum(),
                decided: sum(|s| s.decided),
                // Percentiles do not add up: the slowest slice's, over all its count.
                latency: Percentiles {
                    count: all.iter().map(|s| s.latency.count).sum(),
                    p50_ms: all
                        .iter()
                        .map(|s| s.latency.p50_ms)
                        .max()
                        .unwrap_or_default(),
                    p95_ms: all
                        .iter()
                        .map(|s| s.latency.p95_ms)
                        .max()
                        .unwrap_or_default(),
                    p99_ms: all
                        .iter()
                        .map(|s| s.latency.p99_ms)
                        .max()
                        .unwrap_or_default(),
                    max_ms: all
                        .iter()
                        .map(|s| s.latency.max_ms)
                        .max()
                        .unwrap_or_default(),
                },
                lag_p99_ms: all.iter().map(|s| s.lag_p99_ms).max().unwrap_or_default(),
            }
        })
        .collect();
    let total = |f: fn(&LoadRecord) -> u64| records.iter().map(|r| f(r)).sum::<u64>();
    whole.scheduled = total(|r| r.scheduled);
    whole.started = total(|r| r.started);
    whole.dropped = total(|r| r.dropped);
    whole.decided = total(|r| r.decided);
    whole.lag_p99_ms = records
        .iter()
        .map(|r| r.lag_p99_ms)
        .max()
        .unwrap_or_default();
    whole.lag_max_ms = records
        .iter()
        .map(|r| r.lag_max_ms)
        .max()
        .unwrap_or_default();
    whole.performance = crate::report::performance_of(requests);
    whole.errors.clear();
    for r in records {
        for (class, n) in &r.errors {
            *whole.errors.entry(class.clone()).or_insert(0) += n;
        }
    }
    whole.stopped = outputs
        .iter()
        .find_map(|o| o.load.as_ref()?.stopped.clone());
    whole.source = format!("{} in {} slice(s)", whole.source, outputs.len());
    whole
}
