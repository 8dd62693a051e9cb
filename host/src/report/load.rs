//! What a scenario's `[load]` did: per stage the rate it was asked for and the rate it
//! got, the requests dropped because too many were in flight (k6's
//! `dropped_iterations`), how late the scheduler started them, their latency, and the
//! failures by service.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::model::{Percentiles, Performance};

/// One stage of an open model, or the whole run of a closed one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// 1-based, as the summary names it.
    pub stage: u32,
    /// Requests per second asked for (the mean of a ramp); none for a closed model.
    pub target_rate: Option<f64>,
    /// Virtual users of a closed model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vus: Option<u32>,
    pub duration_ms: u64,
    /// Arrivals the stage's schedule has (open model; while it runs, those due so far).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked: Option<u64>,
    /// Arrivals the schedule made (started + dropped).
    pub scheduled: u64,
    pub started: u64,
    pub dropped: u64,
    /// Requests started per second, over the stage's time or longer when the scheduler
    /// fell behind it.
    pub achieved_rate: f64,
    /// Of those started, decided.
    pub decided: u64,
    /// Submission to decision of the stage's decided requests.
    pub latency: Percentiles,
    /// How late arrivals started after their scheduled time.
    pub lag_p99_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadRecord {
    pub scenario: String,
    /// `open` (arrival rate) or `closed` (virtual users).
    pub model: String,
    /// Where the requests came from: a template's seed, or the scenario's own list.
    pub source: String,
    pub stages: Vec<StageRecord>,
    pub scheduled: u64,
    pub started: u64,
    pub dropped: u64,
    pub decided: u64,
    pub lag_p99_ms: u64,
    pub lag_max_ms: u64,
    /// Request latency and per step, every request of the load.
    pub performance: Performance,
    /// Requests without a decision, by the service and operation that failed them.
    pub errors: BTreeMap<String, u64>,
    /// Why arrivals stopped before the schedule ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

impl LoadRecord {
    /// Requests started out of those the stages asked for (open model); none for a
    /// closed model, or before anything was due.
    pub fn target_ratio(&self) -> Option<f64> {
        let asked: u64 = self.stages.iter().map(|s| s.asked).sum::<Option<u64>>()?;
        (asked > 0).then(|| self.started as f64 / asked as f64)
    }

    /// The summary's lines for it.
    pub fn lines(&self) -> String {
        let mut out = format!(
            "    load {} · {} · {} scheduled, {} started, {} dropped, {} decided · lag p99 {} ms, max {} ms",
            self.model,
            self.source,
            self.scheduled,
            self.started,
            self.dropped,
            self.decided,
            self.lag_p99_ms,
            self.lag_max_ms
        );
        for s in &self.stages {
            let asked = match (s.target_rate, s.vus) {
                (Some(r), _) => format!("{r:.2}/s asked"),
                (None, Some(v)) => format!("{v} VUs"),
                (None, None) => String::new(),
            };
            let _ = write!(
                out,
                "\n      stage {} · {:.1} s · {asked}, {:.2}/s achieved · {} started, {} dropped, {} decided · latency p50 {} ms, p99 {} ms · lag p99 {} ms",
                s.stage,
                s.duration_ms as f64 / 1000.0,
                s.achieved_rate,
                s.started,
                s.dropped,
                s.decided,
                s.latency.p50_ms,
                s.latency.p99_ms,
                s.lag_p99_ms
            );
        }
        for (step, p) in &self.performance.steps {
            let _ = write!(
                out,
                "\n      step {step} · p50 {} ms, p95 {} ms, p99 {} ms, max {} ms ({} runs)",
                p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms, p.count
            );
        }
        for (class, n) in &self.errors {
            let _ = write!(out, "\n      errors {class}: {n}");
        }
        if let Some(why) = &self.stopped {
            let _ = write!(out, "\n      stopped early: {why}");
        }
        out
    }
}
