//! Where a running orchestrator puts its events: the journal first (flushed to disk per
//! event, so a kill loses nothing finished), then memory (for the live report), then
//! whoever watches (the progress display).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::journal::{Journal, JournalError};
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

impl Recorder {
    pub fn open(path: &Path, observer: Observer) -> Result<Self, JournalError> {
        Ok(Self {
            journal: Mutex::new(Journal::open(path)?),
            events: Mutex::new(Vec::new()),
            observer,
            lost: Mutex::new(None),
        })
    }

    pub fn record(&self, event: RunEvent) {
        let at = chrono::Utc::now().timestamp_millis();
        let written = match self.journal.lock() {
            Ok(mut j) => j.append(event.kind(), &body(&event)),
            Err(_) => Ok(()),
        };
        if let Err(e) = written
            && let Ok(mut lost) = self.lost.lock()
            && lost.is_none()
        {
            tracing::error!("{e}: results from here on are not journaled");
            *lost = Some(e.to_string());
        }
        (self.observer)(&event);
        if let Ok(mut events) = self.events.lock() {
            events.push((at, event));
        }
    }

    /// The report of everything recorded so far.
    pub fn report(&self) -> Option<RunReport> {
        let events = self.events.lock().ok()?;
        RunReport::build(&events)
    }

    /// Why the journal is incomplete, if a write failed.
    pub fn journal_error(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
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
            let tagged = serde_json::json!({ "kind": r.kind, "body": r.body });
            serde_json::from_value(tagged)
                .map(|e| (r.at, e))
                .map_err(|e| JournalError::Malformed {
                    path: path.to_path_buf(),
                    line: i + 1,
                    reason: format!("{} record: {e}", r.kind),
                })
        })
        .collect()
}
