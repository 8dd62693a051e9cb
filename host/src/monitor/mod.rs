//! Continuous validation (`aura-host monitor`): on an interval, the services' readiness
//! and a probe run; each cycle's measurements judged against rolling baselines
//! (`baseline`), alert rules applied (`alerts`) and their alerts sent to webhooks and
//! commands (`notify`); every cycle journaled within a bound (`journal`). The loop
//! itself, which runs the probe, is the CLI's (`cli/monitor.rs`); this is what it
//! concludes from each cycle. And the canary's verdict (`canary`, `compare-targets`).

pub mod alerts;
pub mod baseline;
pub mod canary;
pub mod config;
pub mod journal;
pub mod measure;
pub mod notify;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::dashboard::HostMetrics;
use alerts::{AlertStatus, Alerts, Observation};
use baseline::{Baseline, Verdict};
pub use config::{MonitorConfig, MonitorConfigError};
use journal::{AlertLine, AnomalyEvent, CycleRecord, Journal, SeriesSummary, ServiceLine, Summary};
use measure::Measured;
use notify::Notifier;

/// What the loop saw in one cycle.
pub struct CycleInput {
    pub cycle: u64,
    pub started_at: DateTime<Utc>,
    pub duration: Duration,
    pub services: Vec<ServiceLine>,
    pub probe: Probed,
    pub config_refused: Option<String>,
}

/// How the cycle's probe went.
pub enum Probed {
    /// It ran (passed or not): what it measured.
    Ran { run_id: String, measured: Measured },
    /// It could not run, or did not finish in the cycle's time.
    Failed { run_id: Option<String>, why: String },
}

pub struct Monitor {
    config: MonitorConfig,
    baselines: BTreeMap<config::Series, Baseline>,
    alerts: Alerts,
    notifier: Notifier,
    journal: Journal,
    summary: Summary,
    metrics: Option<Arc<HostMetrics>>,
}

impl Monitor {
    /// A monitor journaling into `dir`.
    pub fn new(
        config: MonitorConfig,
        dir: &Path,
        metrics: Option<Arc<HostMetrics>>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            journal: Journal::open(dir, config.journal.clone())?,
            notifier: Notifier::start(),
            config,
            baselines: BTreeMap::new(),
            alerts: Alerts::default(),
            summary: Summary::default(),
            metrics,
        })
    }

    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }

    pub fn journal_dir(&self) -> &Path {
        self.journal.dir()
    }

    /// Takes a file edited while it runs: rules, receivers and bounds apply from the
    /// next cycle; baselines keep what they learnt.
    pub fn reconfigure(&mut self, config: MonitorConfig) {
        self.journal.bound(config.journal.clone());
        self.config = config;
    }

    /// Judges one cycle: anomalies against the baselines, the alert rules; sends what
    /// fired or resolved, journals the cycle and returns its record.
    pub fn conclude(&mut self, input: CycleInput) -> CycleRecord {
        let now = Utc::now();
        let (run_id, measured, failure) = match input.probe {
            Probed::Ran { run_id, measured } => {
                let failure = measured.failure.clone();
                (Some(run_id), Some(measured), failure)
            }
            Probed::Failed { run_id, why } => (run_id, None, Some(why)),
        };
        let mut anomalies = Vec::new();
        let mut observation = Observation {
            cycle: input.cycle,
            services: input
                .services
                .iter()
                .filter_map(|s| {
                    let kind = s.service.parse().ok()?;
                    let ready = match s.ready {
                        true => Ok(()),
                        false => Err(s.error.clone().unwrap_or_else(|| "not ready".into())),
                    };
                    Some((kind, ready))
                })
                .collect(),
            probe_failure: failure.clone(),
            ..Observation::default()
        };
        if let Some(m) = &measured {
            for (series, &value) in &m.values {
                let learning = self.config.anomaly.learning(series);
                let baseline = self
                    .baselines
                    .entry(series.clone())
                    .or_insert_with(|| Baseline::new(learning));
                if let Verdict::Anomalous(band) = baseline.observe(value) {
                    observation.anomalies.insert(series.clone(), (value, band));
                    anomalies.push(AnomalyEvent::new(series.clone(), value, band, input.cycle));
                    if let Some(metrics) = &self.metrics {
                        metrics.monitor_anomaly(series.as_str());
                    }
                }
            }
            observation.values = m.values.clone();
            observation.failed_checks = Some(m.failed_checks.clone());
        }
        let transitions = self.alerts.evaluate(&self.config.rules, &observation, now);
        for t in &transitions {
            self.notifier.send(t, &self.config.notify);
            match t.status {
                AlertStatus::Firing => self.summary.alerts_fired += 1,
                AlertStatus::Resolved => self.summary.alerts_resolved += 1,
            }
        }
        let passed = failure.is_none();
        let record = CycleRecord {
            cycle: input.cycle,
            started_at: input.started_at,
            duration_ms: input.duration.as_millis() as u64,
            run_id,
            passed,
            services: input.services,
            values: observation.values.clone(),
            anomalies,
            alerts: transitions
                .iter()
                .map(|t| AlertLine {
                    status: match t.status {
                        AlertStatus::Firing => "firing".into(),
                        AlertStatus::Resolved => "resolved".into(),
                    },
                    labels: t.labels.clone(),
                    summary: t.summary.clone(),
                })
                .collect(),
            failure,
            config_refused: input.config_refused,
        };
        if let Some(metrics) = &self.metrics {
            metrics.monitor_cycle(passed, self.alerts.firing());
        }
        self.remember(&record);
        record
    }

    fn remember(&mut self, record: &CycleRecord) {
        let s = &mut self.summary;
        s.first_cycle_at.get_or_insert(record.started_at);
        s.last_cycle_at = Some(record.started_at);
        s.cycles += 1;
        match record.passed {
            true => s.passed += 1,
            false => s.failed += 1,
        }
        s.anomalies += record.anomalies.len() as u64;
        s.firing = self.alerts.firing().into_iter().cloned().collect();
        for (series, &last) in &record.values {
            let band = self
                .baselines
                .get(series)
                .map(Baseline::band)
                .filter(|b| b.low.is_finite());
            s.series
                .insert(series.clone(), SeriesSummary { last, band });
        }
        if let Err(e) = self
            .journal
            .append(record)
            .and_then(|()| self.journal.summarise(&self.summary))
        {
            tracing::warn!(
                "the monitor journal in {} was not written: {e}",
                self.journal.dir().display()
            );
        }
    }

    /// How many alerts are firing.
    pub fn firing(&self) -> usize {
        self.alerts.firing().len()
    }

    /// Delivers the alerts still queued, for up to `within`.
    pub async fn finish(self, within: Duration) {
        self.notifier.finish(within).await;
    }
}
