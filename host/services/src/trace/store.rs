//! Traces kept per request while they are built, and written through to Redis
//! (`aura:<run>:trace:<request>`) so another process can read them while the request runs
//! and after. Writes go through one background task that keeps only the newest version
//! of each trace and retries while Redis is unreachable, so a dead cache never blocks a
//! workflow step and the trace of the step that found it dead is not lost: it lands when
//! Redis is back, and meanwhile the target serves it from memory.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use aura_contract::names::trace_key;

use super::{StepStatus, TraceStep, WorkflowTrace};
use crate::ServiceHub;

/// Traces kept in memory; older finished ones are dropped (Redis still has them).
const KEPT: usize = 10_000;
const RETRY: Duration = Duration::from_millis(250);

/// What a finished step reports to observers (metrics).
pub type StepObserver = Box<dyn Fn(&TraceStep) + Send + Sync>;

/// Called in the step's own thread as a step starts (before its work) and as it ends:
/// what fires a fault at a step of a workflow. Held weakly: dropping the `Arc` removes it.
pub type StepHook = dyn Fn(&StepEdge<'_>) + Send + Sync;

/// Which edge of a step a hook sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepPhase {
    #[default]
    Started,
    Completed,
}

/// A step starting or ending, as hooks see it.
#[derive(Debug, Clone, Copy)]
pub struct StepEdge<'a> {
    pub run_id: &'a str,
    pub request_id: &'a str,
    pub step: &'a str,
    pub phase: StepPhase,
    /// Milliseconds since the Unix epoch, as the trace records it.
    pub at: i64,
}

pub struct TraceStore {
    traces: Mutex<Kept>,
    writer: Option<mpsc::UnboundedSender<(String, String)>>,
    observers: Mutex<Vec<StepObserver>>,
    hooks: Mutex<Vec<Weak<StepHook>>>,
}

#[derive(Default)]
struct Kept {
    by_key: HashMap<String, WorkflowTrace>,
    order: VecDeque<String>,
}

/// A step as it starts.
pub struct StepStart {
    pub run_id: String,
    pub request_id: String,
    pub step: String,
    pub component: String,
    pub input: serde_json::Value,
    pub at: i64,
}

/// A step as it ends: `terminal` marks a failure that ends the request (no retry left)
/// and `last` the final step of a successful request.
pub struct StepEnd {
    pub run_id: String,
    pub request_id: String,
    pub step: String,
    pub at: i64,
    pub output: serde_json::Value,
    pub error: Option<String>,
    pub terminal: bool,
    pub last: bool,
}

impl TraceStore {
    /// A store that persists to the hub's Redis with `ttl`. Needs a Tokio runtime.
    pub fn persistent(hub: Arc<ServiceHub>, ttl: Duration) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_through(hub, ttl, rx));
        Arc::new(Self {
            traces: Mutex::default(),
            writer: Some(tx),
            observers: Mutex::default(),
            hooks: Mutex::default(),
        })
    }

    /// A store that keeps traces in memory only.
    pub fn in_memory() -> Arc<Self> {
        Arc::new(Self {
            traces: Mutex::default(),
            writer: None,
            observers: Mutex::default(),
            hooks: Mutex::default(),
        })
    }

    pub fn observe(&self, observer: StepObserver) {
        self.lock_observers().push(observer);
    }

    /// Calls `hook` at every step's start and end until the caller drops it.
    pub fn hook(&self, hook: &Arc<StepHook>) {
        self.hooks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(hook));
    }

    /// The live hooks, called outside the lock so a hook may take its time.
    fn call_hooks(&self, edge: StepEdge<'_>) {
        let live: Vec<Arc<StepHook>> = {
            let mut hooks = self.hooks.lock().unwrap_or_else(|p| p.into_inner());
            hooks.retain(|h| h.strong_count() > 0);
            hooks.iter().filter_map(Weak::upgrade).collect()
        };
        for h in live {
            h(&edge);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        // A panic while holding the lock leaves whole traces behind; keep serving them.
        self.traces.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_observers(&self) -> std::sync::MutexGuard<'_, Vec<StepObserver>> {
        self.observers.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, run_id: &str, request_id: &str) -> Option<WorkflowTrace> {
        self.lock()
            .by_key
            .get(&trace_key(run_id, request_id))
            .cloned()
    }

    fn update(&self, run_id: &str, request_id: &str, at: i64, f: impl FnOnce(&mut WorkflowTrace)) {
        let k = trace_key(run_id, request_id);
        let json = {
            let mut kept = self.lock();
            if !kept.by_key.contains_key(&k) {
                kept.order.push_back(k.clone());
                while kept.order.len() > KEPT {
                    if let Some(old) = kept.order.pop_front() {
                        kept.by_key.remove(&old);
                    }
                }
            }
            let trace = kept
                .by_key
                .entry(k.clone())
                .or_insert_with(|| WorkflowTrace {
                    request_id: request_id.to_string(),
                    start_time: at,
                    steps: Vec::new(),
                    current_step: None,
                    completion_status: StepStatus::Running,
                });
            f(trace);
            serde_json::to_string(trace).ok()
        };
        if let (Some(tx), Some(json)) = (&self.writer, json) {
            let _ = tx.send((k, json));
        }
    }

    pub fn step_started(&self, s: StepStart) {
        let edge = StepEdge {
            run_id: &s.run_id,
            request_id: &s.request_id,
            step: &s.step,
            phase: StepPhase::Started,
            at: s.at,
        };
        self.call_hooks(edge);
        self.update(&s.run_id, &s.request_id, s.at, |t| {
            t.current_step = Some(s.step.clone());
            let step = TraceStep {
                step_name: s.step,
                component: s.component,
                start_time: s.at,
                end_time: None,
                input_data: s.input,
                output_data: serde_json::Value::Null,
                status: StepStatus::Running,
                error_details: None,
            };
            // A retried step replaces its earlier attempt, keeping that attempt's error.
            match t.steps.iter_mut().find(|x| x.step_name == step.step_name) {
                Some(existing) => {
                    let earlier = existing.error_details.take();
                    *existing = TraceStep {
                        error_details: earlier.map(|e| format!("earlier attempt: {e}")),
                        ..step
                    };
                }
                None => t.steps.push(step),
            }
        });
    }

    pub fn step_finished(&self, e: StepEnd) {
        if e.error.is_none() {
            self.call_hooks(StepEdge {
                run_id: &e.run_id,
                request_id: &e.request_id,
                step: &e.step,
                phase: StepPhase::Completed,
                at: e.at,
            });
        }
        let mut finished = None;
        self.update(&e.run_id, &e.request_id, e.at, |t| {
            if let Some(step) = t.steps.iter_mut().rev().find(|x| x.step_name == e.step) {
                step.end_time = Some(e.at);
                step.output_data = e.output;
                step.status = if e.error.is_some() {
                    StepStatus::Failed
                } else {
                    StepStatus::Completed
                };
                if let Some(err) = e.error {
                    step.error_details = Some(match step.error_details.take() {
                        Some(earlier) => format!("{err} ({earlier})"),
                        None => err,
                    });
                }
                finished = Some(step.clone());
            }
            if t.current_step.as_deref() == Some(e.step.as_str()) {
                t.current_step = None;
            }
            if e.terminal {
                t.completion_status = StepStatus::Failed;
            } else if e.last
                && finished
                    .as_ref()
                    .is_some_and(|s| s.status == StepStatus::Completed)
            {
                t.completion_status = StepStatus::Completed;
            }
        });
        if let Some(step) = finished {
            for o in self.lock_observers().iter() {
                o(&step);
            }
        }
    }

    /// Records steps the workflow decided not to run (e.g. allocation after a denial).
    pub fn steps_skipped(
        &self,
        run_id: &str,
        request_id: &str,
        steps: &[(String, String)],
        at: i64,
    ) {
        self.update(run_id, request_id, at, |t| {
            for (name, component) in steps {
                if t.steps.iter().any(|s| &s.step_name == name) {
                    continue;
                }
                t.steps.push(TraceStep {
                    step_name: name.clone(),
                    component: component.clone(),
                    start_time: at,
                    end_time: Some(at),
                    input_data: serde_json::Value::Null,
                    output_data: serde_json::Value::Null,
                    status: StepStatus::Skipped,
                    error_details: None,
                });
            }
        });
    }
}

async fn write_through(
    hub: Arc<ServiceHub>,
    ttl: Duration,
    mut rx: mpsc::UnboundedReceiver<(String, String)>,
) {
    let mut pending: HashMap<String, String> = HashMap::new();
    loop {
        if pending.is_empty() {
            match rx.recv().await {
                Some((k, v)) => {
                    pending.insert(k, v);
                }
                None => return,
            }
        }
        while let Ok((k, v)) = rx.try_recv() {
            pending.insert(k, v);
        }
        let failed = match hub.cache().await {
            Ok(cache) => {
                let batch: Vec<(String, String)> = pending.drain().collect();
                let mut failed = Vec::new();
                for (k, v) in batch {
                    if let Err(e) = cache.set(&k, &v, Some(ttl)).await {
                        tracing::debug!(target: "aura::trace", "trace write {k} deferred: {e}");
                        failed.push((k, v));
                    }
                }
                failed
            }
            Err(e) => {
                tracing::debug!(target: "aura::trace", "trace writes deferred: {e}");
                pending.drain().collect()
            }
        };
        if !failed.is_empty() {
            for (k, v) in failed {
                // A newer version that arrived meanwhile wins.
                pending.entry(k).or_insert(v);
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                msg = rx.recv() => match msg {
                    Some((k, v)) => { pending.insert(k, v); }
                    None => return,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(store: &TraceStore, step: &str, at: i64) {
        store.step_started(StepStart {
            run_id: "r".into(),
            request_id: "q".into(),
            step: step.into(),
            component: "c".into(),
            input: serde_json::Value::Null,
            at,
        });
    }

    fn end(
        store: &TraceStore,
        step: &str,
        at: i64,
        error: Option<&str>,
        terminal: bool,
        last: bool,
    ) {
        store.step_finished(StepEnd {
            run_id: "r".into(),
            request_id: "q".into(),
            step: step.into(),
            at,
            output: serde_json::Value::Null,
            error: error.map(str::to_string),
            terminal,
            last,
        });
    }

    #[test]
    fn hooks_see_starts_and_completions_until_dropped() {
        let store = TraceStore::in_memory();
        let seen: Arc<Mutex<Vec<(String, StepPhase, i64)>>> = Arc::default();
        let log = seen.clone();
        let hook: Arc<StepHook> = Arc::new(move |e: &StepEdge<'_>| {
            log.lock()
                .expect("log")
                .push((e.step.to_string(), e.phase, e.at));
        });
        store.hook(&hook);
        start(&store, "a", 1);
        end(&store, "a", 2, Some("down"), false, false);
        start(&store, "a", 3);
        end(&store, "a", 4, None, false, false);
        drop(hook);
        start(&store, "b", 5);
        let seen = seen.lock().expect("log").clone();
        // A failed end is no completion; a dropped hook sees nothing more.
        assert_eq!(
            seen,
            [
                ("a".to_string(), StepPhase::Started, 1),
                ("a".to_string(), StepPhase::Started, 3),
                ("a".to_string(), StepPhase::Completed, 4),
            ]
        );
    }

    #[test]
    fn a_retried_step_keeps_its_earlier_error_and_the_trace_completes() {
        let store = TraceStore::in_memory();
        start(&store, "a", 1);
        end(&store, "a", 2, Some("redis down"), false, false);
        let t = store.get("r", "q").expect("trace");
        assert_eq!(t.steps[0].status, StepStatus::Failed);
        assert_eq!(t.completion_status, StepStatus::Running);
        start(&store, "a", 3);
        assert_eq!(
            store.get("r", "q").expect("t").current_step.as_deref(),
            Some("a")
        );
        end(&store, "a", 4, None, false, true);
        let t = store.get("r", "q").expect("trace");
        assert_eq!(t.steps.len(), 1);
        assert_eq!(t.steps[0].status, StepStatus::Completed);
        assert_eq!(
            t.steps[0].error_details.as_deref(),
            Some("earlier attempt: redis down")
        );
        assert_eq!(t.completion_status, StepStatus::Completed);
        assert_eq!(t.current_step, None);
    }

    #[test]
    fn a_failed_last_attempt_fails_the_trace() {
        let store = TraceStore::in_memory();
        start(&store, "a", 1);
        end(&store, "a", 2, Some("graph down"), true, false);
        let t = store.get("r", "q").expect("trace");
        assert_eq!(t.completion_status, StepStatus::Failed);
        store.steps_skipped("r", "q", &[("b".into(), "x".into())], 3);
        let t = store.get("r", "q").expect("trace");
        assert_eq!(t.steps[1].status, StepStatus::Skipped);
    }
}
