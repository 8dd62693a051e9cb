//! The host's Prometheus metrics (`run --metrics`, and the dashboard's `/metrics`): runs,
//! scenarios and requests by outcome, step and request latency, validator checks and
//! plugin call cost from the run's events; service health, round trips, the Redis
//! keyspace hit ratio and graph query time from the service samples. Names follow the
//! Prometheus conventions: `aura_host_` prefix, base units, `_total` on counters.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::report::RunEvent;
use crate::report::model::ScenarioReport;
use aura_services::health::{ServiceReport, ServiceStatus};

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SuiteStatus {
    suite: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Suite {
    suite: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepStatus {
    step: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ValidatorResult {
    validator: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabel {
    plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabel {
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SeriesLabel {
    series: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertLabel {
    alertname: String,
}

/// 1 ms to about 65 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// 50 µs to about 1.6 s.
fn fast() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

pub struct HostMetrics {
    registry: Registry,
    runs_started: Counter,
    runs_finished: Family<Outcome, Counter>,
    scenarios: Family<SuiteStatus, Counter>,
    requests: Family<SuiteStatus, Counter>,
    request_latency: Histograms<Suite>,
    steps: Histograms<StepStatus>,
    checks: Family<ValidatorResult, Counter>,
    plugin_calls: Histograms<PluginLabel>,
    plugin_fuel: Family<PluginLabel, Counter>,
    faults: Family<ServiceLabel, Counter>,
    service_up: Family<ServiceLabel, Gauge>,
    round_trip: Family<ServiceLabel, FloatGauge>,
    hit_ratio: FloatGauge,
    graph_query: Histograms<ServiceLabel>,
    graph_nodes: Gauge,
    monitor_cycles: Family<Outcome, Counter>,
    monitor_anomalies: Family<SeriesLabel, Counter>,
    alerts_firing: Family<AlertLabel, Gauge>,
    /// Every alert rule that has fired, for `alerts_firing`.
    alert_names: Mutex<std::collections::BTreeSet<String>>,
    /// Each scenario's suite, from the run's plan.
    suite_of: Mutex<HashMap<String, String>>,
}

impl Default for HostMetrics {
    fn default() -> Self {
        let mut r = Registry::with_prefix("aura_host");
        let m = Self {
            runs_started: Counter::default(),
            runs_finished: Family::default(),
            scenarios: Family::default(),
            requests: Family::default(),
            request_latency: Family::new_with_constructor(latency),
            steps: Family::new_with_constructor(latency),
            checks: Family::default(),
            plugin_calls: Family::new_with_constructor(latency),
            plugin_fuel: Family::default(),
            faults: Family::default(),
            service_up: Family::default(),
            round_trip: Family::default(),
            hit_ratio: FloatGauge::default(),
            graph_query: Family::new_with_constructor(fast),
            graph_nodes: Gauge::default(),
            monitor_cycles: Family::default(),
            monitor_anomalies: Family::default(),
            alerts_firing: Family::default(),
            alert_names: Mutex::default(),
            suite_of: Mutex::default(),
            registry: Registry::default(),
        };
        r.register("runs_started", "Runs started", m.runs_started.clone());
        r.register(
            "runs_finished",
            "Runs finished, by outcome (completed or aborted)",
            m.runs_finished.clone(),
        );
        r.register(
            "scenarios",
            "Scenarios finished, by suite and status",
            m.scenarios.clone(),
        );
        r.register(
            "requests",
            "Requests finished, by suite and status (passed, failed, skipped, degraded)",
            m.requests.clone(),
        );
        r.register_with_unit(
            "request_duration",
            "Submission to decision, per decided request",
            Unit::Seconds,
            m.request_latency.clone(),
        );
        r.register_with_unit(
            "step_duration",
            "Workflow step duration from the requests' traces, by step and status",
            Unit::Seconds,
            m.steps.clone(),
        );
        r.register(
            "validator_checks",
            "Validator checks, by validator and result (passed or failed)",
            m.checks.clone(),
        );
        r.register_with_unit(
            "plugin_call_duration",
            "Wall time of a plugin call (one validator batch)",
            Unit::Seconds,
            m.plugin_calls.clone(),
        );
        r.register(
            "plugin_fuel",
            "Fuel (wasm instructions, roughly) plugins burned",
            m.plugin_fuel.clone(),
        );
        r.register(
            "faults_injected",
            "Chaos faults that struck, by service",
            m.faults.clone(),
        );
        r.register(
            "service_up",
            "1 when the service answered its last readiness check",
            m.service_up.clone(),
        );
        r.register_with_unit(
            "service_round_trip",
            "Round trip of the service's last readiness request",
            Unit::Seconds,
            m.round_trip.clone(),
        );
        r.register_with_unit(
            "redis_keyspace_hit",
            "Redis keyspace hits over lookups, from INFO stats",
            Unit::Other("ratio".into()),
            m.hit_ratio.clone(),
        );
        r.register_with_unit(
            "graph_query_duration",
            "Graph probe query time, by service (the graph database)",
            Unit::Seconds,
            m.graph_query.clone(),
        );
        r.register(
            "graph_nodes",
            "Nodes in the graph database",
            m.graph_nodes.clone(),
        );
        r.register(
            "monitor_cycles",
            "Monitor cycles, by outcome (passed or failed)",
            m.monitor_cycles.clone(),
        );
        r.register(
            "monitor_anomalies",
            "Monitor measurements outside their baseline, by series",
            m.monitor_anomalies.clone(),
        );
        r.register(
            "alerts_firing",
            "Monitor alerts firing now, by alert rule",
            m.alerts_firing.clone(),
        );
        Self { registry: r, ..m }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A report status's name as the JSON report spells it.
fn name<T: serde::Serialize>(status: &T) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl HostMetrics {
    /// Counts one run event; `finished` is the scenario a `scenario_finished` ended, as
    /// the report shows it (its status).
    pub fn observe(&self, event: &RunEvent, finished: Option<&ScenarioReport>) {
        match event {
            RunEvent::RunStarted { scenarios, .. } => {
                self.runs_started.inc();
                let mut suites = lock(&self.suite_of);
                suites.clear();
                suites.extend(scenarios.iter().map(|s| (s.id.clone(), s.suite.clone())));
            }
            RunEvent::RequestFinished { scenario, result } => {
                let suite = self.suite(scenario);
                self.requests
                    .get_or_create(&SuiteStatus {
                        suite: suite.clone(),
                        status: name(&result.status),
                    })
                    .inc();
                if result.decision.is_some() {
                    self.request_latency
                        .get_or_create(&Suite { suite })
                        .observe(result.latency_ms as f64 / 1000.0);
                }
                for step in result.trace.iter().flat_map(|t| &t.steps) {
                    if let Some(end) = step.end_time {
                        self.steps
                            .get_or_create(&StepStatus {
                                step: step.step_name.clone(),
                                status: name(&step.status),
                            })
                            .observe((end - step.start_time).max(0) as f64 / 1000.0);
                    }
                }
            }
            RunEvent::ValidatorFinished { result, .. } => {
                for c in &result.checks {
                    let result_label = if c.passed { "passed" } else { "failed" };
                    self.checks
                        .get_or_create(&ValidatorResult {
                            validator: result.validator.clone(),
                            result: result_label.into(),
                        })
                        .inc();
                }
                let plugin = PluginLabel {
                    plugin: result.validator.clone(),
                };
                self.plugin_calls
                    .get_or_create(&plugin)
                    .observe(result.wall_ms / 1000.0);
                self.plugin_fuel.get_or_create(&plugin).inc_by(result.fuel);
            }
            RunEvent::FaultInjected(f) => {
                self.faults
                    .get_or_create(&ServiceLabel {
                        service: f.service.clone(),
                    })
                    .inc();
            }
            RunEvent::ScenarioFinished { scenario, .. } => {
                if let Some(s) = finished.filter(|s| &s.id == scenario) {
                    self.scenario(s);
                }
            }
            RunEvent::NotRun { scenario, .. } | RunEvent::ScenarioSkipped { scenario, .. } => {
                let status = match event {
                    RunEvent::NotRun { .. } => "not_run",
                    _ => "skipped",
                };
                self.scenarios
                    .get_or_create(&SuiteStatus {
                        suite: self.suite(scenario),
                        status: status.into(),
                    })
                    .inc();
            }
            RunEvent::RunFinished { aborted, .. } => {
                let outcome = if aborted.is_some() {
                    "aborted"
                } else {
                    "completed"
                };
                self.runs_finished
                    .get_or_create(&Outcome {
                        outcome: outcome.into(),
                    })
                    .inc();
            }
            _ => {}
        }
    }

    fn scenario(&self, s: &ScenarioReport) {
        self.scenarios
            .get_or_create(&SuiteStatus {
                suite: s.suite.clone(),
                status: name(&s.status),
            })
            .inc();
    }

    fn suite(&self, scenario: &str) -> String {
        lock(&self.suite_of)
            .get(scenario)
            .cloned()
            .unwrap_or_default()
    }

    /// Sets the service gauges from one readiness check of every service.
    pub fn services(&self, services: &[ServiceReport]) {
        for s in services {
            let label = ServiceLabel {
                service: s.service.to_string(),
            };
            let up = s.status == ServiceStatus::Ready;
            self.service_up.get_or_create(&label).set(i64::from(up));
            if let Some(ms) = s.latency_ms {
                self.round_trip.get_or_create(&label).set(ms / 1000.0);
            }
            let fact = |name: &str| s.details.get(name);
            if let Some(ratio) = fact("keyspace_hit_rate").and_then(|v| v.as_f64()) {
                self.hit_ratio.set(ratio);
            }
            if let Some(nodes) = fact("node_count").and_then(|v| v.as_i64()) {
                self.graph_nodes.set(nodes);
                if let Some(ms) = s.latency_ms {
                    self.graph_query.get_or_create(&label).observe(ms / 1000.0);
                }
            }
        }
    }

    /// A monitor cycle ended; `firing` are the labels of every alert firing after it.
    pub fn monitor_cycle(
        &self,
        passed: bool,
        firing: Vec<&std::collections::BTreeMap<String, String>>,
    ) {
        let outcome = if passed { "passed" } else { "failed" };
        self.monitor_cycles
            .get_or_create(&Outcome {
                outcome: outcome.into(),
            })
            .inc();
        // A rule that stops firing goes to 0 rather than away, so its series stays.
        let mut counts: HashMap<String, i64> = HashMap::new();
        for labels in firing {
            let alertname = labels.get("alertname").cloned().unwrap_or_default();
            *counts.entry(alertname).or_default() += 1;
        }
        let mut known = lock(&self.alert_names);
        known.extend(counts.keys().cloned());
        for alertname in known.iter() {
            let n = counts.get(alertname).copied().unwrap_or(0);
            self.alerts_firing
                .get_or_create(&AlertLabel {
                    alertname: alertname.clone(),
                })
                .set(n);
        }
    }

    /// A monitor measurement fell outside its baseline.
    pub fn monitor_anomaly(&self, series: &str) {
        self.monitor_anomalies
            .get_or_create(&SeriesLabel {
                series: series.into(),
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
