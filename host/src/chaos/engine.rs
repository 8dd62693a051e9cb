//! Faults armed for one scenario, each fired once by its trigger, held for its time and
//! healed. A step trigger fires in the thread of the step edge that trips it, through the
//! trace store's hook, so the fault is in effect before that step does its work; the
//! other triggers fire from a timer or as requests are decided. Every fault is journaled
//! as it strikes and again as it ends, and a fault that cannot be injected, never fires
//! or cannot be healed carries the reason and fails its scenario.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::disaster;
use super::network::{NetHeld, Routes};
use super::resource;
use super::spec::{FaultAction, FaultSpec, Trigger};
use crate::environment::EnvConfig;
use crate::environment::fault::{self, ProcessFault, Struck};
use crate::report::{FaultRecord, RunEvent};
use aura_reference::TargetConfig;
use aura_services::trace::{StepEdge, StepHook, TraceStore};
use aura_services::{ServiceHub, ServiceKind};

/// Where a fault's records go (the run's journal).
pub type Journal = Arc<dyn Fn(RunEvent) + Send + Sync>;

/// The chaos engine of a run: the environment and services its faults act on, and
/// every fault's task, so none outlives the run unhealed.
pub struct Chaos {
    env: Arc<EnvConfig>,
    hub: Arc<ServiceHub>,
    /// The fault proxy in front of the services network faults strike.
    routes: Option<Arc<Routes>>,
    tasks: TaskTracker,
}

/// Where a scenario's faults act: its namespace, the trace store its steps are recorded
/// in, the GPUs of its target, and where their records go.
pub struct Scope<'a> {
    pub scenario: &'a str,
    pub namespace: &'a str,
    /// The in-process target's traces (step-triggered faults); none for a deployed one.
    pub traces: Option<&'a TraceStore>,
    pub devices: Vec<String>,
    pub journal: Journal,
}

impl Chaos {
    pub fn new(env: EnvConfig, hub: Arc<ServiceHub>, routes: Option<Arc<Routes>>) -> Self {
        Self {
            env: Arc::new(env),
            hub,
            routes,
            tasks: TaskTracker::new(),
        }
    }

    /// The target's config with its worker behind its own fault proxy, when a fault
    /// may stall it.
    pub fn target_config(&self, target: &TargetConfig) -> TargetConfig {
        let mut t = target.clone();
        if let Some(addr) = self.routes.as_ref().and_then(|r| r.worker()) {
            t.worker_temporal_url = Some(format!("http://{addr}"));
        }
        t
    }

    /// Arms `faults` in `scope`. Faults triggered at the start have struck (or failed
    /// to) when this returns.
    pub async fn arm(&self, faults: &[FaultSpec], scope: Scope<'_>) -> Armed {
        let Scope {
            scenario,
            namespace,
            traces,
            devices,
            journal,
        } = scope;
        let devices = Arc::new(devices);
        let unfired = CancellationToken::new();
        let heal_now = CancellationToken::new();
        // Dropped mid-arm (the run stopped while a start fault struck), every task is
        // told: unfired ones give up, struck ones heal at once.
        let give_up = (unfired.clone().drop_guard(), heal_now.clone().drop_guard());
        let started = Instant::now();
        let mut slots = Vec::new();
        let mut handles = Vec::new();
        let mut at_start = Vec::new();
        for (index, spec) in faults.iter().enumerate() {
            let (tx, rx) = oneshot::channel();
            let slot = Arc::new(Slot {
                spec: spec.clone(),
                tag: format!("{namespace}-{index}"),
                trigger: spec.trigger(),
                env: self.env.clone(),
                routes: self.routes.clone(),
                reached: Mutex::default(),
                fired: AtomicBool::new(false),
                tx: Mutex::new(Some(tx)),
            });
            let record = FaultRecord {
                scenario: scenario.to_string(),
                index,
                service: spec.target(),
                action: spec.action.name().to_string(),
                trigger: slot.trigger.to_string(),
                hold_ms: spec.duration.map(|d| d.as_millis() as u64),
                injected_at: None,
                healed_at: None,
                request_id: None,
                step: None,
                pid: None,
                healed_pid: None,
                cut_short: false,
                detail: None,
                observed: None,
                error: None,
            };
            let (struck_tx, struck_rx) = oneshot::channel();
            let task = Task {
                struck: Some(struck_tx),
                slot: slot.clone(),
                record,
                started,
                unfired: unfired.clone(),
                heal_now: heal_now.clone(),
                journal: journal.clone(),
                hub: self.hub.clone(),
                routes: self.routes.clone(),
                namespace: namespace.to_string(),
                devices: devices.clone(),
            };
            handles.push((record_of(&task), self.tasks.spawn(task.run(rx))));
            if slot.trigger == Trigger::Start {
                slot.fire(None);
                at_start.push(struck_rx);
            }
            slots.push(slot);
        }
        // A dropped sender is a task that ended: nothing more to wait for.
        futures::future::join_all(at_start).await;
        let (unfired_guard, heal_guard) = give_up;
        unfired_guard.disarm();
        heal_guard.disarm();
        let slots = Arc::new(slots);
        let hook = slots
            .iter()
            .any(|s| matches!(s.trigger, Trigger::Step { .. }))
            .then(|| {
                let (slots, namespace) = (slots.clone(), namespace.to_string());
                let hook: Arc<StepHook> = Arc::new(move |edge: &StepEdge<'_>| {
                    if edge.run_id == namespace {
                        slots.iter().for_each(|s| s.on_edge(edge));
                    }
                });
                if let Some(traces) = traces {
                    traces.hook(&hook);
                }
                hook
            });
        Armed {
            slots,
            _hook: hook,
            decided: AtomicU32::new(0),
            unfired,
            heal_now,
            handles,
        }
    }

    /// Waits until every fault of the run has ended, healed.
    pub async fn healed(&self) {
        self.tasks.close();
        self.tasks.wait().await;
        self.tasks.reopen();
    }
}

/// One declared fault and what has fired it.
struct Slot {
    spec: FaultSpec,
    /// What names its toxics: `<namespace>-<index>`.
    tag: String,
    trigger: Trigger,
    env: Arc<EnvConfig>,
    routes: Option<Arc<Routes>>,
    /// Requests that reached the trigger's step (for `nth`).
    reached: Mutex<BTreeSet<String>>,
    fired: AtomicBool,
    tx: Mutex<Option<oneshot::Sender<Fired>>>,
}

/// A fault as it fired: a process or network fault struck (or failed to) in the firing
/// thread; a resource fault, which talks to a service on the run's connections, is
/// struck by its task.
struct Fired {
    struck: Option<Result<Strike, String>>,
    /// The request and step whose edge fired it.
    hit: Option<(String, String)>,
}

/// A fault that struck: when, the server's pid, what it changed.
struct Strike {
    effect: InEffect,
    at: i64,
    pid: Option<u32>,
    detail: Option<String>,
}

/// A fault in effect, whichever kind.
enum InEffect {
    Process(Struck),
    Resource(resource::Held),
    Disaster(disaster::Held),
    Network(NetHeld),
}

impl Slot {
    /// Whoever claims a slot first fires it, or gives it up as never fired.
    fn claim(&self) -> bool {
        !self.fired.swap(true, Ordering::SeqCst)
    }

    /// Strikes now, in the caller's thread, once, and hands the fault to its task.
    fn fire(&self, hit: Option<(String, String)>) {
        if !self.claim() {
            return;
        }
        let now = || chrono::Utc::now().timestamp_millis();
        let struck = match (self.spec.action.process(), self.spec.service) {
            (Some(p), Some(service)) => Some(
                fault::strike(&self.env, service, p)
                    .map(|s| Strike {
                        at: s.injected_at.timestamp_millis(),
                        pid: Some(s.pid),
                        detail: None,
                        effect: InEffect::Process(s),
                    })
                    .map_err(|e| e.to_string()),
            ),
            (Some(_), None) => Some(Err("a process fault names no service".into())),
            (None, _) if self.spec.action.network() => Some(match &self.routes {
                Some(r) => {
                    let at = now();
                    r.strike_now(&self.spec, &self.tag)
                        .map(|(held, said)| Strike {
                            at,
                            pid: None,
                            detail: Some(said),
                            effect: InEffect::Network(held),
                        })
                }
                None => Err(format!("no fault proxy in front of {}", self.spec.target())),
            }),
            (None, _) => None,
        };
        let tx = self
            .tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(tx) = tx {
            // Its task waits for it: a claimed slot is never given up.
            let _ = tx.send(Fired { struck, hit });
        }
    }

    fn on_edge(&self, edge: &StepEdge<'_>) {
        let Trigger::Step {
            step,
            phase,
            request,
            nth,
        } = &self.trigger
        else {
            return;
        };
        if edge.step != step.name() || edge.phase != *phase {
            return;
        }
        if request.as_deref().is_some_and(|r| r != edge.request_id) {
            return;
        }
        if let Some(n) = nth {
            let mut reached = self.reached.lock().unwrap_or_else(PoisonError::into_inner);
            let new = reached.insert(edge.request_id.to_string());
            if !new || reached.len() as u32 != *n {
                return;
            }
        }
        self.fire(Some((edge.request_id.to_string(), edge.step.to_string())));
    }
}

/// The task that waits for a fault to fire, holds it and heals it.
struct Task {
    /// Told once the fault has struck or failed to.
    struck: Option<oneshot::Sender<()>>,
    slot: Arc<Slot>,
    record: FaultRecord,
    started: Instant,
    unfired: CancellationToken,
    heal_now: CancellationToken,
    journal: Journal,
    hub: Arc<ServiceHub>,
    routes: Option<Arc<Routes>>,
    namespace: String,
    devices: Arc<Vec<String>>,
}

impl Task {
    async fn run(self, mut rx: oneshot::Receiver<Fired>) -> FaultRecord {
        let offset = match self.slot.trigger {
            Trigger::After(d) => Some(self.started + d),
            _ => None,
        };
        let timer = async {
            match offset {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let fired = tokio::select! {
            fired = &mut rx => fired,
            _ = timer => {
                self.slot.fire(None);
                (&mut rx).await
            }
            _ = self.unfired.cancelled() => {
                if self.slot.claim() {
                    return self.end(Err("never fired: the scenario's requests finished first".into()));
                }
                (&mut rx).await
            }
        };
        let fired = match fired {
            Ok(f) => f,
            Err(_) => return self.end(Err("its trigger failed before it struck".into())),
        };
        self.held(fired).await
    }

    async fn held(mut self, fired: Fired) -> FaultRecord {
        if let Some((request, step)) = fired.hit {
            self.record.request_id = Some(request);
            self.record.step = Some(step);
        }
        let hold = self.slot.spec.duration.unwrap_or(Duration::ZERO);
        let struck = match fired.struck {
            Some(s) => s,
            None => {
                let at = chrono::Utc::now().timestamp_millis();
                let spec = &self.slot.spec;
                match spec.action {
                    FaultAction::Disaster => {
                        disaster::strike(&self.slot.env, &self.hub, &self.slot.tag)
                            .await
                            .map(|(held, said)| (InEffect::Disaster(held), said))
                    }
                    action => {
                        resource::strike(&self.hub, action, &self.namespace, &self.devices, hold)
                            .await
                            .map(|(held, said)| (InEffect::Resource(held), said))
                    }
                }
                .map(|(effect, said)| Strike {
                    at,
                    pid: None,
                    detail: Some(said),
                    effect,
                })
            }
        };
        let struck = match struck {
            Ok(s) => {
                self.record.injected_at = Some(s.at);
                self.record.pid = s.pid;
                self.record.detail = s.detail;
                s.effect
            }
            Err(e) => return self.end(Err(format!("not injected: {e}"))),
        };
        (self.journal)(RunEvent::FaultInjected(self.record.clone()));
        if let Some(tx) = self.struck.take() {
            let _ = tx.send(());
        }
        let cut_short = tokio::select! {
            _ = tokio::time::sleep(hold) => false,
            _ = self.heal_now.cancelled() => true,
        };
        self.record.cut_short = cut_short;
        let healed = match struck {
            InEffect::Process(s) => {
                let (service, fault) = (s.service, s.fault);
                let healed = s
                    .heal(&self.slot.env, cut_short)
                    .await
                    .map(|done| {
                        self.record.healed_pid = Some(done.healed_pid);
                        done.healed_at.timestamp_millis()
                    })
                    .map_err(|e| {
                        format!("not healed: {e}; `aura-host env up {service}` starts it again")
                    });
                // The local broker keeps its log in memory: started again, it has no
                // topics, and a publish to one the client thinks exists is lost.
                if service == ServiceKind::Kafka
                    && fault != ProcessFault::Pause
                    && let Ok(events) = self.hub.events().await
                {
                    events.forget_topics();
                }
                healed
            }
            InEffect::Disaster(held) => held.heal(&self.slot.env, &self.hub).await.map(|said| {
                let detail = self.record.detail.take().unwrap_or_default();
                self.record.detail = Some(format!("{detail}; {said}"));
                chrono::Utc::now().timestamp_millis()
            }),
            InEffect::Resource(held) => held
                .heal(&self.hub)
                .await
                .map(|()| chrono::Utc::now().timestamp_millis())
                .map_err(|e| format!("not healed: {e}")),
            InEffect::Network(held) => match &self.routes {
                Some(r) => r.heal(held).await,
                None => Err("the fault proxy is gone".into()),
            }
            .map(|()| chrono::Utc::now().timestamp_millis())
            .map_err(|e| format!("not healed: {e}")),
        };
        match healed {
            Ok(at) => {
                self.record.healed_at = Some(at);
                self.end(Ok(()))
            }
            Err(e) => self.end(Err(e)),
        }
    }

    fn end(mut self, outcome: Result<(), String>) -> FaultRecord {
        self.record.error = outcome.err();
        (self.journal)(RunEvent::FaultEnded(self.record.clone()));
        self.record
    }
}

/// A scenario's armed faults. Dropped before [`Armed::settle`] (the run stopped), every
/// fault still unfired is given up and every fault holding heals at once.
pub struct Armed {
    slots: Arc<Vec<Arc<Slot>>>,
    _hook: Option<Arc<StepHook>>,
    decided: AtomicU32,
    unfired: CancellationToken,
    heal_now: CancellationToken,
    /// Each fault's task, with its record as armed (for a task that panicked).
    handles: Vec<(FaultRecord, JoinHandle<FaultRecord>)>,
}

fn record_of(task: &Task) -> FaultRecord {
    task.record.clone()
}

impl Armed {
    /// One more of the scenario's requests is decided.
    pub fn decided(&self) {
        let n = self.decided.fetch_add(1, Ordering::SeqCst) + 1;
        for s in self.slots.iter() {
            if s.trigger == Trigger::Decided(n) {
                s.fire(None);
            }
        }
    }

    /// The scenario's requests are done: a fault not fired by now never will be; one
    /// holding holds to its time, or heals at `deadline` (the scenario's). Every fault's
    /// record, ended.
    pub async fn settle(mut self, deadline: Instant) -> Vec<FaultRecord> {
        self.unfired.cancel();
        // Dropped while waiting (the run stopped), what still holds heals at once.
        let heal_if_dropped = self.heal_now.clone().drop_guard();
        let (armed, handles): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.handles).into_iter().unzip();
        let mut all = std::pin::pin!(futures::future::join_all(handles));
        let ended = match tokio::time::timeout_at(deadline, &mut all).await {
            Ok(ended) => ended,
            Err(_) => {
                self.heal_now.cancel();
                all.await
            }
        };
        heal_if_dropped.disarm();
        armed
            .into_iter()
            .zip(ended)
            .map(|(armed, ended)| {
                ended.unwrap_or_else(|e| FaultRecord {
                    error: Some(format!("its task failed: {e}")),
                    ..armed
                })
            })
            .collect()
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        self.unfired.cancel();
        if !self.handles.is_empty() {
            self.heal_now.cancel();
        }
    }
}
