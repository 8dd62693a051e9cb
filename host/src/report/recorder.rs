//! Where a running orchestrator puts its events: the journal first (flushed to disk per
//! event, so a kill loses nothing finished), then memory (for the live report), then
//! whoever watches (the progress display).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use super::journal::{Journal, JournalError, Record};
use super::model::{RunEvent, RunReport};

type Observer = Box<dyn Fn(&RunEvent) + Send + Sync>;

pub struct Recorder {
    journal: Mutex<Journal>,
    events: Mutex<Vec<(i64, RunEvent)>>,
    observer: Observer,
    /// The first journal write that failed; the run goes on, the report says so.
    lost: Mutex<Option<String>>,
}

/// `<state_dir>/runs/<run-id>/journal.jsonl`.
pub fn journal_path(state_dir: &Path, run_id: &str) -> PathBuf {
    state_dir.join("runs").join(run_id).join("journal.jsonl")
}

/// The Temporal workflows a run's events say may still be running: its scenarios'
/// written requests and what their generators made, less those that reached a decision
/// (a decided workflow has completed; ending it again would be one wasted call each).
pub fn workflows<'a>(events: impl IntoIterator<Item = &'a RunEvent>) -> Vec<String> {
    let mut namespaces = std::collections::BTreeMap::new();
    let mut ids = std::collections::BTreeSet::new();
    let mut decided = std::collections::BTreeSet::new();
    for event in events {
        match event {
            RunEvent::RunStarted { scenarios, .. } => {
                namespaces.extend(
                    scenarios
                        .iter()
                        .map(|s| (s.id.clone(), s.namespace.clone())),
                );
            }
            RunEvent::ScenarioStarted { workflows, .. } => ids.extend(workflows.iter().cloned()),
            RunEvent::ScenarioGenerated {
                scenario,
                request_ids,
                ..
            } => {
                if let Some(ns) = namespaces.get(scenario) {
                    ids.extend(
                        request_ids
                            .iter()
                            .map(|r| aura_contract::names::workflow_id(ns, r)),
                    );
                }
            }
            RunEvent::RequestFinished { scenario, result } if result.decision.is_some() => {
                if let Some(ns) = namespaces.get(scenario) {
                    decided.insert(aura_contract::names::workflow_id(ns, &result.request_id));
                }
            }
            _ => {}
        }
    }
    ids.difference(&decided).cloned().collect()
}

/// The workflows of the run whose journal is at `path` (none when it cannot be read).
pub fn journaled_workflows(path: &Path) -> Vec<String> {
    read_events(path)
        .map(|events| workflows(events.iter().map(|(_, e)| e)))
        .unwrap_or_default()
}

/// Beside a killed run's journal once its open workflows were terminated.
const ENDED_MARK: &str = "workflows-terminated";

/// Runs a process started and did not finish (it was killed): a journal with no
/// `run_finished` that no live process holds, whose open workflows were not yet ended
/// ([`mark_ended`]). Oldest first.
pub fn killed_runs(state_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(state_dir.join("runs")) else {
        return Vec::new();
    };
    let mut runs: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.path().join(ENDED_MARK).exists())
        .filter_map(|e| {
            let journal = e.path().join("journal.jsonl");
            // `run_finished` is always a finished run's last record.
            let finished = Journal::last_kind(&journal)? == "run_finished";
            (!finished && !Journal::is_held(&journal))
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect();
    runs.sort();
    runs
}

/// Records that a killed run's open workflows were terminated.
pub fn mark_ended(state_dir: &Path, run_id: &str) -> std::io::Result<()> {
    std::fs::write(state_dir.join("runs").join(run_id).join(ENDED_MARK), b"")
}

impl Recorder {
    /// Records into a new journal at `path`.
    pub fn open(path: &Path, observer: Observer) -> Result<Self, JournalError> {
        Ok(Self::new(Journal::create(path)?, observer))
    }

    fn new(journal: Journal, observer: Observer) -> Self {
        Self {
            journal: Mutex::new(journal),
            events: Mutex::new(Vec::new()),
            observer,
            lost: Mutex::new(None),
        }
    }

    pub fn record(&self, event: RunEvent) {
        let at = chrono::Utc::now().timestamp_millis();
        // One lock around both, so memory holds the events in the journal's order.
        // A poisoned lock means a panic elsewhere while it was held; the data is still
        // whole (every write is one call), so recording goes on rather than dropping events.
        let mut journal = self.journal.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = journal.append_at(at, event.kind(), &body(&event)) {
            let mut lost = self.lost.lock().unwrap_or_else(PoisonError::into_inner);
            if lost.is_none() {
                let why = aura_services::error_chain(&e);
                tracing::error!("{why}: results from here on are not journaled");
                *lost = Some(why);
            }
        }
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((at, event.clone()));
        drop(journal);
        (self.observer)(&event);
    }

    /// The report of everything recorded so far.
    /// The report of everything recorded so far; it says so when the journal lost
    /// some of it (a failed write), and such a run does not pass.
    /// The workflows this run started that may still be running ([`workflows`]).
    pub fn workflows(&self) -> Vec<String> {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        workflows(events.iter().map(|(_, e)| e))
    }

    pub fn report(&self) -> Option<RunReport> {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        let mut report = RunReport::build(&events)?;
        if let Some(e) = self
            .lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            report.journal_lost(e);
        }
        Some(report)
    }
}

/// The event's body: its serde form without the tag, which the journal keeps as `kind`.
fn body(event: &RunEvent) -> serde_json::Value {
    serde_json::to_value(event)
        .ok()
        .and_then(|mut v| v.get_mut("body").map(serde_json::Value::take))
        .unwrap_or(serde_json::Value::Null)
}

/// The events of a journal, for [`RunReport::build`].
pub fn read_events(path: &Path) -> Result<Vec<(i64, RunEvent)>, JournalError> {
    Journal::read(path)?
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            event_of(r).map_err(|reason| JournalError::Malformed {
                path: path.to_path_buf(),
                line: i + 1,
                reason,
            })
        })
        .collect()
}

/// One journal line as the event it records, with when it was written.
pub fn read_record(line: &str) -> Result<(i64, RunEvent), String> {
    event_of(serde_json::from_str(line).map_err(|e| e.to_string())?)
}

fn event_of(r: Record) -> Result<(i64, RunEvent), String> {
    let kind = r.kind.clone();
    let tagged = serde_json::json!({ "kind": r.kind, "body": r.body });
    serde_json::from_value(tagged)
        .map(|e| (r.at, e))
        .map_err(|e| format!("{kind} record: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{Check, PlannedScenario, RequestResult, RequestStatus, Status};

    fn started(scenarios: &[&str]) -> RunEvent {
        RunEvent::RunStarted {
            run_id: "r1".into(),
            started_at: 1_000,
            command: "aura-host run".into(),
            jobs: 2,
            scenarios: scenarios
                .iter()
                .enumerate()
                .map(|(i, id)| PlannedScenario {
                    id: id.to_string(),
                    name: id.to_string(),
                    suite: "smoke".into(),
                    namespace: format!("r1-{}", i + 1),
                })
                .collect(),
            health: Vec::new(),
        }
    }

    fn request(id: &str, checks: Vec<Check>) -> RunEvent {
        let failed = checks.iter().any(|c| !c.passed);
        RunEvent::RequestFinished {
            scenario: "a".into(),
            result: Box::new(RequestResult {
                request_id: id.into(),
                status: if failed {
                    RequestStatus::Failed
                } else {
                    RequestStatus::Passed
                },
                decision: None,
                error: None,
                latency_ms: 42,
                attempts: 1,
                checks,
                trace: None,
                failed_in: None,
            }),
        }
    }

    #[test]
    fn the_journal_rebuilds_the_live_report_and_a_cut_journal_is_incomplete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = journal_path(dir.path(), "r1");
        let recorder = Recorder::open(&path, Box::new(|_| {})).expect("open");
        recorder.record(started(&["a", "b"]));
        recorder.record(RunEvent::ScenarioStarted {
            workflows: Vec::new(),
            scenario: "a".into(),
            state: None,
        });
        recorder.record(request(
            "q1",
            vec![Check::new("decision", "denied", "approved")],
        ));
        let cut = crate::report::load(&path).expect("cut journal");
        assert_eq!(cut.status, Status::Incomplete);
        assert_eq!(cut.scenarios[0].status, Status::Incomplete);
        assert_eq!(cut.scenarios[0].requests.len(), 1);
        assert_eq!(cut.scenarios[1].status, Status::NotRun);

        recorder.record(RunEvent::ScenarioFinished {
            scenario: "a".into(),
            elapsed_ms: 5,
            invariants: Vec::new(),
            state: None,
        });
        recorder.record(RunEvent::NotRun {
            scenario: "b".into(),
            reason: "not started: interrupted (Ctrl-C)".into(),
        });
        recorder.record(RunEvent::RunFinished {
            finished_at: 3_000,
            aborted: Some("interrupted (Ctrl-C)".into()),
            health: Vec::new(),
            cleanup: "kept".into(),
        });
        let live = recorder.report().expect("live report");
        assert_eq!(crate::report::load(&path).expect("journal"), live);
        assert_eq!(live.status, Status::Aborted);
        assert_eq!(live.scenarios[0].status, Status::Failed);
        assert_eq!(
            live.scenarios[0].failures(),
            ["q1: decision: expected denied, actual approved"]
        );
        assert_eq!(
            (
                live.summary.failed,
                live.summary.incomplete,
                live.summary.not_run
            ),
            (1, 0, 1)
        );
        assert_eq!(live.duration_ms, 2_000);
        assert_eq!(
            live.performance.request_latency.count, 0,
            "undecided requests have no latency"
        );
        let junit = crate::report::junit::render(&live).expect("junit");
        assert!(
            junit.contains("message=\"q1: decision: expected denied, actual approved\""),
            "{junit}"
        );
        assert!(
            junit.contains("<skipped message=\"not started: interrupted (Ctrl-C)\""),
            "{junit}"
        );
    }

    /// A journal that cannot be written (a full disk) does not stop the run, but its
    /// report says so and does not pass.
    #[test]
    fn a_journal_write_failure_is_in_the_report_and_fails_the_run() {
        let full = Journal::append_to(Path::new("/dev/full")).expect("open /dev/full");
        let recorder = Recorder::new(full, Box::new(|_| {}));
        recorder.record(started(&["a"]));
        recorder.record(RunEvent::ScenarioStarted {
            workflows: Vec::new(),
            scenario: "a".into(),
            state: None,
        });
        recorder.record(request(
            "q1",
            vec![Check::new("decision", "approved", "approved")],
        ));
        recorder.record(RunEvent::ScenarioFinished {
            scenario: "a".into(),
            elapsed_ms: 5,
            invariants: Vec::new(),
            state: None,
        });
        recorder.record(RunEvent::RunFinished {
            finished_at: 3_000,
            aborted: None,
            health: Vec::new(),
            cleanup: "removed".into(),
        });
        let report = recorder.report().expect("the live report");
        assert_eq!(
            report.scenarios[0].status,
            Status::Passed,
            "the events are kept"
        );
        assert_eq!(report.status, Status::Failed);
        let error = report.journal_error.as_deref().expect("journal_error");
        assert!(
            error.contains("/dev/full") && error.contains("No space left"),
            "{error}"
        );
        let text = crate::report::summary::render(&report, false);
        assert!(text.contains("journal: incomplete"), "{text}");
        assert!(text.ends_with("verdict: FAILED"), "{text}");
    }
}
