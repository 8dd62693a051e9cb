//! The target's Prometheus metrics (`/metrics`): requests, decisions by outcome, step
//! latencies, council latency and store errors.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::request::Decision;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    step: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    service: String,
}

#[derive(Debug, Default)]
struct Totals {
    started: Option<std::time::Instant>,
    requests: AtomicU64,
    decisions: AtomicU64,
    store_errors: AtomicU64,
}

/// The target's totals at one moment ([`Metrics::counts`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counts {
    pub requests: u64,
    pub decisions: u64,
    pub store_errors: u64,
    pub decisions_per_second: f64,
}

fn latency() -> Histogram {
    // 50 µs to ~1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    /// Totals the system state reads (the families above are for scrapers).
    totals: Totals,
    requests: Counter,
    decisions: Family<OutcomeLabels, Counter>,
    steps: Family<StepLabels, Histogram>,
    council: Family<BackendLabels, Histogram>,
    store_errors: Family<ServiceLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("aura_target");
        let requests = Counter::default();
        let decisions = Family::<OutcomeLabels, Counter>::default();
        let steps = Family::<StepLabels, Histogram>::new_with_constructor(latency as fn() -> _);
        let council =
            Family::<BackendLabels, Histogram>::new_with_constructor(latency as fn() -> _);
        let store_errors = Family::<ServiceLabels, Counter>::default();
        registry.register("requests", "Requests submitted", requests.clone());
        registry.register(
            "decisions",
            "Decisions published, by outcome and denial reason",
            decisions.clone(),
        );
        registry.register(
            "step_duration_seconds",
            "Step (activity attempt) latency",
            steps.clone(),
        );
        registry.register(
            "council_inference_seconds",
            "Council inference latency per batch",
            council.clone(),
        );
        registry.register(
            "store_errors",
            "Step failures, by the service (or timeout / data) that failed",
            store_errors.clone(),
        );
        Self {
            registry,
            totals: Totals {
                started: Some(std::time::Instant::now()),
                ..Totals::default()
            },
            requests,
            decisions,
            steps,
            council,
            store_errors,
        }
    }
}

impl Metrics {
    pub fn request(&self) {
        self.requests.inc();
        self.totals.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests, decisions and step failures so far, and the decisions per second since
    /// the target started.
    pub fn counts(&self) -> Counts {
        let t = &self.totals;
        let decisions = t.decisions.load(Ordering::Relaxed);
        let seconds = t.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
        Counts {
            requests: t.requests.load(Ordering::Relaxed),
            decisions,
            store_errors: t.store_errors.load(Ordering::Relaxed),
            decisions_per_second: if seconds > 0.0 {
                decisions as f64 / seconds
            } else {
                0.0
            },
        }
    }

    pub fn decision(&self, d: &Decision) {
        self.totals.decisions.fetch_add(1, Ordering::Relaxed);
        self.decisions
            .get_or_create(&OutcomeLabels {
                outcome: d.outcome.name().into(),
                reason: d
                    .denial
                    .as_ref()
                    .map(|x| x.class.name().to_string())
                    .unwrap_or_default(),
            })
            .inc();
    }

    pub fn step(&self, step: &str, elapsed: Duration, failed: bool) {
        let status = if failed { "failed" } else { "completed" };
        self.steps
            .get_or_create(&StepLabels {
                step: step.into(),
                status: status.into(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn council_latency(&self, backend: &str, elapsed: Duration) {
        self.council
            .get_or_create(&BackendLabels {
                backend: backend.into(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn store_error(&self, service: &str) {
        self.totals.store_errors.fetch_add(1, Ordering::Relaxed);
        self.store_errors
            .get_or_create(&ServiceLabels {
                service: service.into(),
            })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// OpenMetrics for a scraper that asks for it (Prometheus does), else the same metrics
/// in the Prometheus text format 0.0.4 (`curl`, `promtool check metrics`): a counter's
/// HELP and TYPE name its `_total` sample, and there are no UNIT or EOF lines.
/// Returns the content type and the body.
pub fn exposition(openmetrics: String, accept: Option<&str>) -> (&'static str, String) {
    if accept.is_some_and(|a| a.contains("application/openmetrics-text")) {
        return (
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            openmetrics,
        );
    }
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| Some((p, line.strip_prefix(p)?)));
        match meta {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let total = if counters.contains(name) {
                    "_total"
                } else {
                    ""
                };
                text.push_str(&format!("{prefix}{name}{total} {tail}"));
            }
            None => text.push_str(line),
        }
        text.push('\n');
    }
    ("text/plain; version=0.0.4; charset=utf-8", text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_text_format_names_counters_by_their_samples_and_drops_openmetrics_lines() {
        let om = "# HELP a_requests Requests.\n# TYPE a_requests counter\na_requests_total 3\n\
                  # HELP a_up Up.\n# TYPE a_up gauge\n# UNIT a_up seconds\na_up 1\n# EOF\n";
        let (kind, text) = super::exposition(om.into(), Some("text/plain"));
        assert!(kind.starts_with("text/plain; version=0.0.4"));
        assert_eq!(
            text,
            "# HELP a_requests_total Requests.\n# TYPE a_requests_total counter\na_requests_total 3\n\
             # HELP a_up Up.\n# TYPE a_up gauge\na_up 1\n"
        );
        let asked = Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5");
        assert_eq!(super::exposition(om.into(), asked).1, om);
    }
}
