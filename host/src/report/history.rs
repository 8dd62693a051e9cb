//! The run history of a state dir (`<state_dir>/history.jsonl`): a line per finished
//! run with each scenario's and validator's outcome and the run it reran, if any. Flakes
//! are read from it: a scenario (or validator) that failed in a run and passed in one of
//! that run's reruns (`run --rerun-failed`) is flaky in that run.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::model::{RerunRecord, RunReport, Status};

/// Runs looked back over to call a scenario known to be flaky.
const KNOWN_WITHIN: usize = 50;

/// The size past which the history starts a new file: the last one is kept as
/// `history.1.jsonl`, the one before it dropped, so every run reads at most twice this
/// (tens of thousands of runs) however long a state dir lives.
const ROTATE_AT: u64 = 8 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub run_id: String,
    /// Milliseconds since the Unix epoch, when it finished.
    pub at: i64,
    /// The run this one reran the failed scenarios of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun_of: Option<String>,
    pub scenarios: Vec<Outcome>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub scenario: String,
    pub suite: String,
    pub status: Status,
    /// Each validator's verdict on it: name and whether it passed.
    #[serde(default)]
    pub validators: Vec<(String, bool)>,
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("run history {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("run history {path}:{line}: not a history record: {reason}")]
    Malformed {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("history.jsonl")
}

/// The history's previous file, read before the current one.
fn previous(state_dir: &Path) -> PathBuf {
    state_dir.join("history.1.jsonl")
}

/// Appends a finished run (`rerun_of`: the run whose failed scenarios it reran).
pub fn append(
    state_dir: &Path,
    report: &RunReport,
    rerun_of: Option<&str>,
) -> Result<(), HistoryError> {
    let entry = Entry {
        run_id: report.run_id.clone(),
        at: report.finished_at.unwrap_or(report.started_at),
        rerun_of: rerun_of.map(str::to_string),
        scenarios: report
            .scenarios
            .iter()
            .map(|s| Outcome {
                scenario: s.id.clone(),
                suite: s.suite.clone(),
                status: s.status,
                validators: s
                    .validators
                    .iter()
                    .map(|v| (v.validator.clone(), v.passed))
                    .collect(),
            })
            .collect(),
    };
    append_entry(state_dir, &entry)
}

fn append_entry(state_dir: &Path, entry: &Entry) -> Result<(), HistoryError> {
    let path = path(state_dir);
    let io = |source| HistoryError::Io {
        path: path.clone(),
        source,
    };
    let mut line = serde_json::to_string(entry).map_err(|e| io(std::io::Error::other(e)))?;
    line.push('\n');
    std::fs::create_dir_all(state_dir).map_err(io)?;
    let mut file = std::fs::File::options()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io)?;
    // One write per line: concurrent runs never interleave within a record.
    file.write_all(line.as_bytes()).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > ROTATE_AT {
        // A rename is atomic: a run appending at the same moment writes into the file
        // as it is renamed, losing nothing; a second run rotating finds it gone.
        match std::fs::rename(&path, previous(state_dir)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
    }
    Ok(())
}

/// Every run of the history, oldest first; none when there is no history yet.
pub fn read(state_dir: &Path) -> Result<Vec<Entry>, HistoryError> {
    let mut entries = read_file(previous(state_dir))?;
    entries.extend(read_file(path(state_dir))?);
    Ok(entries)
}

fn read_file(path: PathBuf) -> Result<Vec<Entry>, HistoryError> {
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(HistoryError::Io { path, source }),
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut entries = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(e) => entries.push(e),
            // A torn last line is a write a kill interrupted; anything else is damage.
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(e) => {
                return Err(HistoryError::Malformed {
                    path,
                    line: i + 1,
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(entries)
}

/// Marks `report` from the history: a failed scenario that passed in a rerun of this
/// run becomes `flaky` (its reruns listed), and a scenario flaky in one of the last
/// runs before this one is `known_flaky`. The report's verdict is worked out again.
pub fn annotate(report: &mut RunReport, history: &[Entry]) {
    let reruns: Vec<&Entry> = history
        .iter()
        .filter(|e| e.rerun_of.as_deref() == Some(report.run_id.as_str()))
        .collect();
    let earlier: Vec<&Entry> = history
        .iter()
        .take_while(|e| e.run_id != report.run_id)
        .collect();
    let known = flaky_scenarios(
        &earlier[earlier.len().saturating_sub(KNOWN_WITHIN)..],
        history,
    );
    for s in &mut report.scenarios {
        s.reruns = reruns
            .iter()
            .filter_map(|e| {
                let o = e.scenarios.iter().find(|o| o.scenario == s.id)?;
                Some(RerunRecord {
                    run_id: e.run_id.clone(),
                    status: o.status,
                })
            })
            .collect();
        if s.status == Status::Failed && s.reruns.iter().any(|r| r.status == Status::Passed) {
            s.status = Status::Flaky;
        }
        s.known_flaky = known.contains(&s.id);
    }
    report.tally();
}

/// The scenarios flaky in any of `runs` (their reruns looked up in `all`).
fn flaky_scenarios(runs: &[&Entry], all: &[Entry]) -> Vec<String> {
    let mut flaky = Vec::new();
    for run in runs.iter().filter(|r| r.rerun_of.is_none()) {
        for o in &run.scenarios {
            if o.status == Status::Failed && passed_on_rerun(all, &run.run_id, &o.scenario).0 {
                flaky.push(o.scenario.clone());
            }
        }
    }
    flaky
}

/// Whether a rerun of `run` passed `scenario`, and which validators that failed in `run`
/// passed there.
fn passed_on_rerun(all: &[Entry], run: &str, scenario: &str) -> (bool, Vec<String>) {
    let mut passed = false;
    let mut validators = Vec::new();
    for e in all.iter().filter(|e| e.rerun_of.as_deref() == Some(run)) {
        if let Some(o) = e.scenarios.iter().find(|o| o.scenario == scenario) {
            passed |= o.status == Status::Passed;
            validators.extend(
                o.validators
                    .iter()
                    .filter(|(_, ok)| *ok)
                    .map(|(v, _)| v.clone()),
            );
        }
    }
    (passed, validators)
}

/// Pass, fail and flaky counts of a scenario or a validator over the runs looked at.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rate {
    /// `scenario` or `validator` (`<validator> on <scenario>`).
    pub kind: &'static str,
    pub name: String,
    pub runs: u32,
    pub passed: u32,
    /// Failed, and not passed by a rerun.
    pub failed: u32,
    /// Failed, then passed by a rerun.
    pub flaky: u32,
}

impl Rate {
    pub fn flaky_rate(&self) -> f64 {
        if self.runs == 0 {
            0.0
        } else {
            f64::from(self.flaky) / f64::from(self.runs)
        }
    }
}

/// The rates of every scenario and validator over the last `last` runs (reruns are
/// counted in the run they reran, not as runs of their own).
pub fn rates(history: &[Entry], last: usize) -> Vec<Rate> {
    let primary: Vec<&Entry> = history.iter().filter(|e| e.rerun_of.is_none()).collect();
    let mut rates: BTreeMap<(&'static str, String), Rate> = BTreeMap::new();
    let mut count = |kind: &'static str, name: String, passed: bool, flaky: bool| {
        let r = rates.entry((kind, name.clone())).or_insert_with(|| Rate {
            kind,
            name,
            ..Rate::default()
        });
        r.runs += 1;
        match (passed, flaky) {
            (true, _) => r.passed += 1,
            (false, true) => r.flaky += 1,
            (false, false) => r.failed += 1,
        }
    };
    for run in &primary[primary.len().saturating_sub(last)..] {
        for o in &run.scenarios {
            if !matches!(o.status, Status::Passed | Status::Failed) {
                continue;
            }
            let (rerun_passed, validators_passed) =
                passed_on_rerun(history, &run.run_id, &o.scenario);
            count(
                "scenario",
                o.scenario.clone(),
                o.status == Status::Passed,
                rerun_passed,
            );
            for (v, ok) in &o.validators {
                count(
                    "validator",
                    format!("{v} on {}", o.scenario),
                    *ok,
                    validators_passed.contains(v),
                );
            }
        }
    }
    rates.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(run: &str, rerun_of: Option<&str>, status: Status, validator_ok: bool) -> Entry {
        Entry {
            run_id: run.into(),
            at: 0,
            rerun_of: rerun_of.map(str::to_string),
            scenarios: vec![Outcome {
                scenario: "s".into(),
                suite: "smoke".into(),
                status,
                validators: vec![("v".into(), validator_ok)],
            }],
        }
    }

    #[test]
    fn a_failure_a_rerun_passed_is_flaky_and_one_no_rerun_passed_is_a_failure() {
        let history = vec![
            entry("r1", None, Status::Passed, true),
            entry("r2", None, Status::Failed, false),
            entry("r2-rerun-1", Some("r2"), Status::Passed, true),
            entry("r3", None, Status::Failed, false),
            entry("r3-rerun-1", Some("r3"), Status::Failed, false),
        ];
        let all = rates(&history, 10);
        let s = all.iter().find(|r| r.kind == "scenario").expect("scenario");
        assert_eq!((s.runs, s.passed, s.failed, s.flaky), (3, 1, 1, 1));
        let v = all
            .iter()
            .find(|r| r.kind == "validator")
            .expect("validator");
        assert_eq!((v.name.as_str(), v.flaky, v.failed), ("v on s", 1, 1));
        assert!((s.flaky_rate() - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(rates(&history, 1)[0].runs, 1, "only the last run");
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_a_damaged_one_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = serde_json::to_string(&entry("r1", None, Status::Passed, true)).expect("json");
        std::fs::write(path(dir.path()), format!("{good}\n{{\"run_id\":")).expect("write");
        assert_eq!(read(dir.path()).expect("read").len(), 1);
        std::fs::write(path(dir.path()), format!("nonsense\n{good}\n")).expect("write");
        let e = read(dir.path()).expect_err("damaged");
        assert!(e.to_string().contains("history.jsonl:1:"), "{e}");
    }

    #[test]
    fn a_full_history_starts_a_new_file_and_keeps_the_last_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = serde_json::to_string(&entry("old", None, Status::Passed, true)).expect("json");
        // A previous generation, then a current file just under the size.
        std::fs::write(previous(dir.path()), format!("{old}\n")).expect("write");
        let line = serde_json::to_string(&entry("r0", None, Status::Passed, true)).expect("json");
        let lines = (ROTATE_AT as usize / (line.len() + 1)).max(1);
        std::fs::write(path(dir.path()), format!("{line}\n").repeat(lines)).expect("write");
        let last = entry("r-last", None, Status::Passed, true);
        append_entry(dir.path(), &last).expect("append");
        assert!(!path(dir.path()).exists(), "rotated");
        let all = read(dir.path()).expect("read");
        assert_eq!(all.len(), lines + 1, "the oldest generation dropped");
        assert_eq!(all.last().map(|e| e.run_id.as_str()), Some("r-last"));
        append_entry(dir.path(), &last).expect("append");
        assert_eq!(read(dir.path()).expect("read").len(), lines + 2);
    }
}
