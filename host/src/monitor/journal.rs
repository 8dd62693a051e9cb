//! The monitor's journal: one JSON line per cycle in `<dir>/cycles.jsonl`, rotated past
//! its size bound (`cycles.1.jsonl` the newest of the older files, `keep` of them kept),
//! and `<dir>/summary.json`, the whole history in a few numbers, rewritten each cycle.
//! However long the monitor runs, its files stay within `(keep + 1) * max_bytes` plus
//! the summary.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::baseline::Band;
use super::config::{JournalBounds, Series};

/// One cycle, as journaled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CycleRecord {
    pub cycle: u64,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// The probe's run id (its run journal is kept only when it did not pass).
    pub run_id: Option<String>,
    pub passed: bool,
    pub services: Vec<ServiceLine>,
    pub values: BTreeMap<Series, f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anomalies: Vec<AnomalyEvent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<AlertLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The monitor's file was edited into something it refused; the last good one runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_refused: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceLine {
    pub service: String,
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A value outside its baseline's band.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnomalyEvent {
    pub series: Series,
    pub value: f64,
    pub low: f64,
    pub high: f64,
    pub cycle: u64,
}

impl AnomalyEvent {
    pub fn new(series: Series, value: f64, band: Band, cycle: u64) -> Self {
        Self {
            series,
            value,
            low: band.low,
            high: band.high,
            cycle,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertLine {
    pub status: String,
    pub labels: BTreeMap<String, String>,
    pub summary: String,
}

/// The history in a few numbers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub first_cycle_at: Option<DateTime<Utc>>,
    pub last_cycle_at: Option<DateTime<Utc>>,
    pub cycles: u64,
    pub passed: u64,
    pub failed: u64,
    pub anomalies: u64,
    pub alerts_fired: u64,
    pub alerts_resolved: u64,
    /// Labels of each alert firing now.
    pub firing: Vec<BTreeMap<String, String>>,
    /// Per series: its last value and its baseline's band.
    pub series: BTreeMap<Series, SeriesSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeriesSummary {
    pub last: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band: Option<Band>,
}

pub struct Journal {
    dir: PathBuf,
    bounds: JournalBounds,
    file: File,
    size: u64,
}

impl Journal {
    pub fn open(dir: &Path, bounds: JournalBounds) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("cycles.jsonl");
        let file = File::options().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            dir: dir.to_path_buf(),
            bounds,
            file,
            size,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bounds the next rotations by a file edited while the monitor runs.
    pub fn bound(&mut self, bounds: JournalBounds) {
        self.bounds = bounds;
    }

    /// Appends one cycle, rotating first when it would pass the bound.
    pub fn append(&mut self, record: &CycleRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_string(record).map_err(std::io::Error::other)?;
        line.push('\n');
        if self.size > 0 && self.size + line.len() as u64 > self.bounds.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(line.as_bytes())?;
        self.file.flush()?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotated(&self, n: usize) -> PathBuf {
        self.dir.join(format!("cycles.{n}.jsonl"))
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let keep = self.bounds.keep;
        let _ = std::fs::remove_file(self.rotated(keep.max(1)));
        for n in (1..keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                std::fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        let current = self.dir.join("cycles.jsonl");
        if keep == 0 {
            std::fs::remove_file(&current)?;
        } else {
            std::fs::rename(&current, self.rotated(1))?;
        }
        self.file = File::options().create(true).append(true).open(&current)?;
        self.size = 0;
        Ok(())
    }

    /// Rewrites `summary.json` whole (a reader never sees half of it).
    pub fn summarise(&self, summary: &Summary) -> std::io::Result<()> {
        let tmp = self.dir.join("summary.json.tmp");
        let text = serde_json::to_string_pretty(summary).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, self.dir.join("summary.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(cycle: u64) -> CycleRecord {
        CycleRecord {
            cycle,
            started_at: Utc::now(),
            duration_ms: 10,
            run_id: None,
            passed: true,
            services: Vec::new(),
            values: BTreeMap::from([(Series::named("request"), 12.5)]),
            anomalies: Vec::new(),
            alerts: Vec::new(),
            failure: None,
            config_refused: None,
        }
    }

    #[test]
    fn the_journal_rotates_and_keeps_its_bound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bounds = JournalBounds {
            max_bytes: 600,
            keep: 2,
        };
        let mut j = Journal::open(dir.path(), bounds).expect("open");
        for cycle in 1..=100 {
            j.append(&record(cycle)).expect("append");
        }
        let mut files: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, ["cycles.1.jsonl", "cycles.2.jsonl", "cycles.jsonl"]);
        let total: u64 = files
            .iter()
            .map(|f| std::fs::metadata(dir.path().join(f)).map_or(0, |m| m.len()))
            .sum();
        assert!(total <= 3 * 600, "{total}");
        // The newest cycle is last in the current file; the newest older file follows on.
        let current = std::fs::read_to_string(dir.path().join("cycles.jsonl")).expect("read");
        let last: CycleRecord =
            serde_json::from_str(current.lines().last().expect("a line")).expect("json");
        assert_eq!(last.cycle, 100);
        let older = std::fs::read_to_string(dir.path().join("cycles.1.jsonl")).expect("read");
        let first_now: CycleRecord =
            serde_json::from_str(current.lines().next().expect("a line")).expect("json");
        let last_before: CycleRecord =
            serde_json::from_str(older.lines().last().expect("a line")).expect("json");
        assert_eq!(last_before.cycle + 1, first_now.cycle);
    }
}
