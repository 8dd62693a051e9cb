//! `[thresholds]`, written the way k6 users write them: a table from a metric to a list
//! of expressions (`"request_latency" = ["p(95) < 2s"]`). Each expression is parsed when
//! the scenario loads (a typo is refused before anything runs) and checked once the
//! scenario has finished; a threshold that does not hold fails the scenario, naming the
//! metric, the limit and the measured value.

use std::time::Duration;

use aura_contract::Step;

use serde::{Deserialize, Serialize};

use crate::report::{Check, LoadRecord, RequestResult, RequestStatus, ValidatorResult};

/// One expression as a scenario writes it: the text, or k6's table with
/// `abort_on_fail` (stop the run as soon as it is lost) and `delay_abort_eval` (not
/// before this much of the load has run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Written {
    Text(String),
    Table(Table),
}

/// k6's table form of one expression; a key it does not know is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub threshold: String,
    #[serde(default)]
    pub abort_on_fail: bool,
    #[serde(default, with = "humantime_serde")]
    pub delay_abort_eval: Option<Duration>,
}

impl Written {
    pub fn expression(&self) -> &str {
        match self {
            Self::Text(t) | Self::Table(Table { threshold: t, .. }) => t,
        }
    }
}

/// What a threshold measures.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// Submission to decision of each decided request.
    RequestLatency,
    /// Each run of one step, from its trace.
    Step(Step),
    /// Requests that failed, out of all.
    Errors,
    /// Failed validator checks (and validators that gave no result).
    ValidationFailures,
    /// Arrivals of a `[load]` dropped because too many requests were in flight.
    Dropped,
    /// Requests a `[load]` started, out of those its stages asked for.
    AchievedRate,
}

impl Metric {
    /// It measures a `[load]`.
    pub fn of_load(&self) -> bool {
        matches!(self, Self::Dropped | Self::AchievedRate)
    }
}

/// How a metric's values are summed up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregate {
    Percentile(f64),
    Avg,
    Min,
    Max,
    Rate,
    Count,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// One expression of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub metric_name: String,
    pub metric: Metric,
    pub text: String,
    pub aggregate: Aggregate,
    pub op: Op,
    /// Milliseconds for latencies, a plain number for rates and counts.
    pub limit: f64,
    /// Stop the run as soon as it is lost.
    pub abort_on_fail: bool,
    /// Not judged for abort before this much of the load has run.
    pub delay_abort_eval: Duration,
}

const METRICS: &str =
    "request_latency, step.<step>, errors, validation_failures, dropped, achieved_rate";

fn metric(name: &str) -> Result<Metric, String> {
    match name {
        "request_latency" => Ok(Metric::RequestLatency),
        "errors" => Ok(Metric::Errors),
        "validation_failures" => Ok(Metric::ValidationFailures),
        "dropped" => Ok(Metric::Dropped),
        "achieved_rate" => Ok(Metric::AchievedRate),
        _ => match name.strip_prefix("step.") {
            Some(step) => Step::parse(step).map(Metric::Step).ok_or_else(|| {
                format!(
                    "unknown step '{step}' (steps: {})",
                    Step::names().join(", ")
                )
            }),
            None => Err(format!("unknown metric (metrics: {METRICS})")),
        },
    }
}

fn aggregate(text: &str) -> Result<Aggregate, String> {
    match text {
        "avg" => Ok(Aggregate::Avg),
        "min" => Ok(Aggregate::Min),
        "max" => Ok(Aggregate::Max),
        "med" => Ok(Aggregate::Percentile(50.0)),
        "rate" => Ok(Aggregate::Rate),
        "count" => Ok(Aggregate::Count),
        _ => {
            let p = text
                .strip_prefix("p(")
                .and_then(|t| t.strip_suffix(')'))
                .and_then(|t| t.trim().parse::<f64>().ok())
                .filter(|p| (0.0..=100.0).contains(p))
                .ok_or_else(|| {
                    format!("'{text}': expected p(0..100), avg, min, max, med, rate or count")
                })?;
            Ok(Aggregate::Percentile(p))
        }
    }
}

fn op(text: &str) -> Result<Op, String> {
    Ok(match text {
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "==" => Op::Eq,
        "!=" => Op::Ne,
        _ => return Err(format!("'{text}': expected <, <=, >, >=, == or !=")),
    })
}

impl Threshold {
    /// A written expression of `metric_name`, with its abort options.
    pub fn read(metric_name: &str, written: &Written) -> Result<Threshold, String> {
        let mut t = Self::parse(metric_name, written.expression())?;
        if let Written::Table(table) = written {
            if table.delay_abort_eval.is_some() && !table.abort_on_fail {
                return Err("delay_abort_eval without abort_on_fail = true does nothing".into());
            }
            t.abort_on_fail = table.abort_on_fail;
            t.delay_abort_eval = table.delay_abort_eval.unwrap_or_default();
        }
        Ok(t)
    }

    /// `expression` of `metric_name`, as `<aggregate> <op> <value>`.
    pub fn parse(metric_name: &str, expression: &str) -> Result<Threshold, String> {
        let metric = metric(metric_name)?;
        let parts: Vec<&str> = expression.split_whitespace().collect();
        let [agg, cmp, value] = parts[..] else {
            return Err(format!(
                "'{expression}': expected `<aggregate> <op> <value>`, e.g. `p(95) < 2s`"
            ));
        };
        let aggregate = aggregate(agg)?;
        let latency = matches!(metric, Metric::RequestLatency | Metric::Step(_));
        let fits = match aggregate {
            Aggregate::Rate => {
                matches!(
                    metric,
                    Metric::Errors | Metric::Dropped | Metric::AchievedRate
                )
            }
            Aggregate::Count if metric == Metric::AchievedRate => false,
            Aggregate::Count => metric != Metric::RequestLatency && !latency,
            _ => latency,
        };
        if !fits {
            return Err(format!("'{agg}' does not apply to {metric_name}"));
        }
        let limit = if latency {
            humantime::parse_duration(value)
                .map_err(|e| format!("'{value}': a duration such as 2s or 500ms ({e})"))?
                .as_secs_f64()
                * 1000.0
        } else {
            value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("'{value}': a number, 0 or more"))?
        };
        Ok(Threshold {
            metric_name: metric_name.to_string(),
            metric,
            text: expression.to_string(),
            aggregate,
            op: op(cmp)?,
            limit,
            abort_on_fail: false,
            delay_abort_eval: Duration::ZERO,
        })
    }

    /// Checks the threshold against a finished scenario (or one still running).
    pub fn check(
        &self,
        requests: &[RequestResult],
        validators: &[ValidatorResult],
        load: Option<&LoadRecord>,
    ) -> Check {
        let name = format!("threshold {} {}", self.metric_name, self.text);
        let measured = self.measure(requests, validators, load);
        let latency = matches!(self.metric, Metric::RequestLatency | Metric::Step(_));
        let shown = |v: f64| {
            if latency {
                humantime::format_duration(Duration::from_millis(v.round() as u64)).to_string()
            } else if v.fract() == 0.0 {
                format!("{v}")
            } else {
                // A ratio: four places say all a threshold can tell.
                format!("{v:.4}")
            }
        };
        let (actual, passed) = match measured {
            None => ("no value: nothing was measured".to_string(), false),
            Some(v) => {
                let held = match self.op {
                    Op::Lt => v < self.limit,
                    Op::Le => v <= self.limit,
                    Op::Gt => v > self.limit,
                    Op::Ge => v >= self.limit,
                    Op::Eq => v == self.limit,
                    Op::Ne => v != self.limit,
                };
                (shown(v), held)
            }
        };
        let mut c = Check::new(name, self.text.clone(), actual);
        c.passed = passed;
        c
    }

    /// The check, when the threshold has a value and does not hold: what stops a run
    /// with `abort_on_fail` (nothing measured yet is nothing lost yet).
    pub fn lost(
        &self,
        requests: &[RequestResult],
        validators: &[ValidatorResult],
        load: Option<&LoadRecord>,
    ) -> Option<Check> {
        self.measure(requests, validators, load)?;
        Some(self.check(requests, validators, load)).filter(|c| !c.passed)
    }

    fn measure(
        &self,
        requests: &[RequestResult],
        validators: &[ValidatorResult],
        load: Option<&LoadRecord>,
    ) -> Option<f64> {
        match (&self.metric, self.aggregate) {
            (Metric::Dropped, Aggregate::Rate) => {
                load.and_then(|l| (l.scheduled > 0).then(|| l.dropped as f64 / l.scheduled as f64))
            }
            (Metric::Dropped, _) => load.map(|l| l.dropped as f64),
            (Metric::AchievedRate, _) => load.and_then(LoadRecord::target_ratio),
            (Metric::Errors, Aggregate::Rate) => {
                let failed = requests
                    .iter()
                    .filter(|r| r.status == RequestStatus::Failed)
                    .count();
                (!requests.is_empty()).then(|| failed as f64 / requests.len() as f64)
            }
            (Metric::Errors, _) => Some(
                requests
                    .iter()
                    .filter(|r| r.status == RequestStatus::Failed)
                    .count() as f64,
            ),
            (Metric::ValidationFailures, _) => Some(
                validators
                    .iter()
                    .map(|v| {
                        let failed = v.checks.iter().filter(|c| !c.passed).count();
                        failed + usize::from(v.error.is_some())
                    })
                    .sum::<usize>() as f64,
            ),
            (Metric::RequestLatency, agg) => summary(
                requests
                    .iter()
                    .filter(|r| r.decision.is_some())
                    .map(|r| r.latency_ms as f64)
                    .collect(),
                agg,
            ),
            (Metric::Step(step), agg) => summary(
                requests
                    .iter()
                    .filter_map(|r| r.trace.as_ref())
                    .flat_map(|t| &t.steps)
                    .filter(|s| s.step_name == step.name())
                    .filter_map(|s| Some((s.end_time? - s.start_time) as f64))
                    .collect(),
                agg,
            ),
        }
    }
}

/// The aggregate of latencies (nearest-rank percentiles); `None` for no value.
fn summary(mut values: Vec<f64>, agg: Aggregate) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match agg {
        Aggregate::Percentile(p) => {
            let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as usize;
            values.get(rank.min(n) - 1).copied()
        }
        Aggregate::Avg => Some(values.iter().sum::<f64>() / n as f64),
        Aggregate::Min => values.first().copied(),
        Aggregate::Max => values.last().copied(),
        Aggregate::Rate | Aggregate::Count => Some(n as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: &str, ms: u64, status: RequestStatus, decided: bool) -> RequestResult {
        let decision = decided.then(|| {
            serde_json::from_value(serde_json::json!({
                "run_id": "r", "request_id": id, "workflow_id": "w", "outcome": "approved",
                "denial": null, "votes": [], "quorum": true, "approve_weight": 1.0,
                "deny_weight": 0.0, "devices": [], "decided_at": 0,
                "request": {"request_id": id, "team": "t", "gpu_count": 1, "memory_gb": 1,
                            "priority": 5, "duration_minutes": 1}
            }))
            .expect("a decision")
        });
        RequestResult {
            request_id: id.into(),
            status,
            decision,
            error: None,
            latency_ms: ms,
            attempts: 1,
            checks: Vec::new(),
            trace: None,
            failed_in: None,
        }
    }

    #[test]
    fn expressions_parse_the_k6_way_and_typos_are_refused() {
        let t = Threshold::parse("request_latency", "p(95) < 2s").expect("parses");
        assert_eq!(t.aggregate, Aggregate::Percentile(95.0));
        assert_eq!(t.limit, 2000.0);
        assert!(Threshold::parse("step.persist_decision", "max <= 50ms").is_ok());
        assert!(Threshold::parse("errors", "rate < 0.01").is_ok());
        assert!(Threshold::parse("validation_failures", "count == 0").is_ok());
        for (metric, expr, why) in [
            ("request_latncy", "p(95) < 2s", "unknown metric"),
            ("step.persist", "p(95) < 2s", "unknown step"),
            (
                "request_latency",
                "p(95) < 2 s",
                "expected `<aggregate> <op> <value>`",
            ),
            ("request_latency", "p(101) < 2s", "p(0..100)"),
            ("request_latency", "p(95) =< 2s", "expected <, <="),
            ("request_latency", "rate < 0.1", "does not apply"),
            ("errors", "rate < -1", "a number, 0 or more"),
            ("request_latency", "p(95) < fast", "a duration"),
        ] {
            let e = Threshold::parse(metric, expr).expect_err(expr);
            assert!(e.contains(why), "{metric} {expr}: {e}");
        }
    }

    #[test]
    fn the_table_form_refuses_what_it_does_not_know() {
        let read = |text: &str| -> Result<Threshold, String> {
            let w: Written = toml::from_str::<toml::Table>(&format!("t = {text}"))
                .map_err(|e| e.to_string())?
                .remove("t")
                .ok_or("no t")?
                .try_into()
                .map_err(|e: toml::de::Error| e.to_string())?;
            Threshold::read("errors", &w)
        };
        let t =
            read(r#"{ threshold = "rate < 0.1", abort_on_fail = true, delay_abort_eval = "5s" }"#)
                .expect("reads");
        assert!(t.abort_on_fail);
        assert_eq!(t.delay_abort_eval, Duration::from_secs(5));
        assert!(read(r#"{ threshold = "rate < 0.1", abort_onfail = true }"#).is_err());
        let e =
            read(r#"{ threshold = "rate < 0.1", delay_abort_eval = "5s" }"#).expect_err("no abort");
        assert!(e.contains("without abort_on_fail"), "{e}");
    }

    #[test]
    fn thresholds_name_the_measured_value_and_fail_when_nothing_was_measured() {
        let rs: Vec<RequestResult> = (1..=100)
            .map(|i| request(&format!("q{i}"), i * 10, RequestStatus::Passed, true))
            .chain([request("bad", 0, RequestStatus::Failed, false)])
            .collect();
        let p95 = Threshold::parse("request_latency", "p(95) < 900ms").expect("t");
        let c = p95.check(&rs, &[], None);
        assert!(!c.passed);
        assert_eq!(c.actual, "950ms");
        assert!(
            Threshold::parse("request_latency", "p(95) <= 950ms")
                .expect("t")
                .check(&rs, &[], None)
                .passed
        );
        let errors = Threshold::parse("errors", "rate < 0.01").expect("t");
        let c = errors.check(&rs, &[], None);
        assert!(c.passed, "1 of 101 failed: {c:?}");
        assert!(
            !Threshold::parse("errors", "count == 0")
                .expect("t")
                .check(&rs, &[], None)
                .passed
        );
        let step = Threshold::parse("step.persist_decision", "p(99) < 1s").expect("t");
        let c = step.check(&rs, &[], None);
        assert!(
            !c.passed && c.actual.contains("nothing was measured"),
            "{c:?}"
        );
    }
}
