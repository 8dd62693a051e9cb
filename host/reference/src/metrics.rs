//! The target's Prometheus metrics (`/metrics`): requests, decisions by outcome, step
//! latencies, council latency and store errors.

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

fn latency() -> Histogram {
    // 50 µs to ~1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
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
    }

    pub fn decision(&self, d: &Decision) {
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
