//! Baselines: a run's latency distributions (each request's, and each workflow step's,
//! every value kept) saved under a name, and a later run compared with them step by
//! step (`regression::compare`): what got slower beyond the tolerance, how sure, and by
//! how much.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::analysis::step_latencies;
use super::model::RunReport;
use super::regression::{self, Comparison, MIN_SAMPLES, Tolerance, Verdict};

/// The distribution named for the requests themselves, beside the steps'.
pub const REQUEST_LATENCY: &str = "request_latency";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub name: String,
    pub run_id: String,
    pub command: String,
    /// When the run started (ms since the epoch).
    pub started_at: i64,
    /// Per distribution (`request_latency`, then each step): every value, in ms.
    pub latencies: BTreeMap<String, Vec<u64>>,
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error(
        "no baseline '{name}' in {dir} (saved: {saved}); `aura-host baseline save RUN --name {name}` makes it"
    )]
    NotFound {
        name: String,
        dir: PathBuf,
        saved: String,
    },
    #[error("baseline name '{0}': use 1-64 characters of a-z, 0-9 and '-'")]
    BadName(String),
    #[error("run {0} decided no request: there is no latency to keep")]
    Empty(String),
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

/// Where baselines live under a state dir.
pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("baselines")
}

fn check_name(name: &str) -> Result<(), BaselineError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(BaselineError::BadName(name.to_string()))
    }
}

/// Every latency of a run: its decided requests' and each step's.
pub fn latencies(report: &RunReport) -> BTreeMap<String, Vec<u64>> {
    let requests = report.scenarios.iter().flat_map(|s| &s.requests);
    let mut all: BTreeMap<String, Vec<u64>> = step_latencies(requests.clone())
        .into_iter()
        .map(|(step, v)| (format!("step.{step}"), v))
        .collect();
    all.insert(
        REQUEST_LATENCY.into(),
        requests
            .filter(|r| r.decision.is_some())
            .map(|r| r.latency_ms)
            .collect(),
    );
    all
}

impl Baseline {
    pub fn of(report: &RunReport, name: &str) -> Result<Baseline, BaselineError> {
        check_name(name)?;
        let latencies = latencies(report);
        if latencies.get(REQUEST_LATENCY).is_none_or(Vec::is_empty) {
            return Err(BaselineError::Empty(report.run_id.clone()));
        }
        Ok(Baseline {
            name: name.to_string(),
            run_id: report.run_id.clone(),
            command: report.command.clone(),
            started_at: report.started_at,
            latencies,
        })
    }

    /// Writes it as `<dir>/<name>.json`, replacing one of the same name; the path.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, BaselineError> {
        let path = dir.join(format!("{}.json", self.name));
        let io = |e: std::io::Error| BaselineError::Io {
            path: path.clone(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let text = serde_json::to_vec(self).map_err(|e| BaselineError::Io {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        // Written aside and renamed: a baseline is whole or absent, never half.
        let part = path.with_extension("json.part");
        std::fs::write(&part, text).map_err(io)?;
        std::fs::rename(&part, &path).map_err(io)?;
        Ok(path)
    }

    pub fn load(dir: &Path, name: &str) -> Result<Baseline, BaselineError> {
        check_name(name)?;
        let path = dir.join(format!("{name}.json"));
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let saved = list(dir).join(", ");
                return Err(BaselineError::NotFound {
                    name: name.to_string(),
                    dir: dir.to_path_buf(),
                    saved: if saved.is_empty() {
                        "none".into()
                    } else {
                        saved
                    },
                });
            }
            Err(e) => {
                return Err(BaselineError::Io {
                    path,
                    reason: e.to_string(),
                });
            }
        };
        serde_json::from_slice(&text).map_err(|e| BaselineError::Io {
            path,
            reason: format!("not a baseline: {e}"),
        })
    }
}

/// The names of the baselines saved in `dir`, sorted.
pub fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// A run against a baseline: one comparison per distribution both have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparisons {
    pub baseline: String,
    pub baseline_run: String,
    pub run: String,
    pub tolerance: Tolerance,
    pub items: BTreeMap<String, Comparison>,
    /// Distributions only one side has (a step that no longer runs, or newly does).
    pub unmatched: Vec<String>,
}

impl Comparisons {
    pub fn regressed(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter(|(_, c)| c.verdict == Verdict::Regressed)
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// Distributions the baseline has enough of and this run has too few of to judge:
    /// a run that decided (almost) nothing must not pass as "no regression".
    pub fn starved(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter(|(_, c)| {
                c.verdict == Verdict::TooFewSamples
                    && c.baseline_n >= MIN_SAMPLES
                    && c.current_n < MIN_SAMPLES
            })
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// Whether the run fails the comparison: a regression, or too little to judge.
    pub fn failed(&self) -> bool {
        !self.regressed().is_empty() || !self.starved().is_empty()
    }

    /// The lines a person reads: one per distribution, regressions first.
    pub fn render(&self) -> String {
        let mut out = format!(
            "compared run {} with baseline {} (run {}): slower than {:.0} % and {} ms, p < {}, effect ≥ {} counts",
            self.run,
            self.baseline,
            self.baseline_run,
            self.tolerance.relative * 100.0,
            self.tolerance.absolute_ms,
            self.tolerance.alpha,
            self.tolerance.min_effect
        );
        let mut items: Vec<_> = self.items.iter().collect();
        items.sort_by_key(|(_, c)| c.verdict != Verdict::Regressed);
        for (name, c) in items {
            let word = match c.verdict {
                Verdict::Regressed => "REGRESSED",
                Verdict::Improved => "improved",
                Verdict::Unchanged => "unchanged",
                Verdict::TooFewSamples => "too few samples",
            };
            let _ = write!(
                out,
                "\n  {word:<15} {name} · median {:.1} → {:.1} ms · p95 {:.1} → {:.1} ms · p95 shift [{:.1}, {:.1}] ms · p {:.2e} · effect {:+.2} · {} → {} samples",
                c.baseline_median_ms,
                c.current_median_ms,
                c.baseline_p95_ms,
                c.current_p95_ms,
                c.p95_shift_ms.0,
                c.p95_shift_ms.1,
                c.p_value,
                c.effect,
                c.baseline_n,
                c.current_n
            );
        }
        for name in &self.unmatched {
            let _ = write!(
                out,
                "\n  unmatched       {name}: in one of the two runs only"
            );
        }
        let (regressed, starved) = (self.regressed(), self.starved());
        if !starved.is_empty() {
            let _ = write!(
                out,
                "\ntoo few samples in run {} to judge: {}",
                self.run,
                starved.join(", ")
            );
        }
        let _ = write!(
            out,
            "\n{}",
            if regressed.is_empty() {
                "no regression".to_string()
            } else {
                format!("regressed: {}", regressed.join(", "))
            }
        );
        out
    }
}

/// `report` against `baseline`, distribution by distribution.
pub fn compare(baseline: &Baseline, report: &RunReport, tolerance: &Tolerance) -> Comparisons {
    let current = latencies(report);
    let as_f64 = |v: &[u64]| v.iter().map(|x| *x as f64).collect::<Vec<_>>();
    let mut items = BTreeMap::new();
    let mut unmatched = Vec::new();
    for (name, before) in &baseline.latencies {
        match current.get(name) {
            Some(now) => {
                items.insert(
                    name.clone(),
                    regression::compare(&as_f64(before), &as_f64(now), tolerance),
                );
            }
            None => unmatched.push(name.clone()),
        }
    }
    unmatched.extend(
        current
            .keys()
            .filter(|k| !baseline.latencies.contains_key(*k))
            .cloned(),
    );
    Comparisons {
        baseline: baseline.name.clone(),
        baseline_run: baseline.run_id.clone(),
        run: report.run_id.clone(),
        tolerance: *tolerance,
        items,
        unmatched,
    }
}
