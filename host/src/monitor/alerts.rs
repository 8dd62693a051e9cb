//! Alert rules evaluated once per cycle: an alert fires once when its condition has
//! held for the rule's `cycles` cycles in a row, and resolves once when it no longer
//! holds. A cycle that could not measure what a rule looks at (no probe ran) leaves
//! that rule's alerts as they were: not knowing is not resolving.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::baseline::Band;
use super::config::{AlertName, Condition, Rule, Series};
use aura_services::ServiceKind;

/// What one cycle saw, as the rules read it.
#[derive(Debug, Default)]
pub struct Observation {
    pub cycle: u64,
    /// The probe's measurements; empty when it did not run.
    pub values: BTreeMap<Series, f64>,
    /// Series outside their baseline's band: the value and the band.
    pub anomalies: BTreeMap<Series, (f64, Band)>,
    /// Every configured service: ready or why not.
    pub services: Vec<(ServiceKind, Result<(), String>)>,
    /// `validator: check` of each failed check; None when no validator ran.
    pub failed_checks: Option<Vec<String>>,
    /// Why the probe did not pass; None when it did.
    pub probe_failure: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

/// An alert that fired or resolved this cycle.
#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    pub status: AlertStatus,
    /// `alertname`, `severity` and what tells this alert from the rule's others
    /// (`series`, `service`).
    pub labels: BTreeMap<String, String>,
    /// What it is about, in words.
    pub summary: String,
    pub cycle: u64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
}

struct State {
    streak: u32,
    firing_since: Option<DateTime<Utc>>,
    labels: BTreeMap<String, String>,
    summary: String,
}

/// The state of every rule's alerts between cycles.
#[derive(Default)]
pub struct Alerts {
    /// By rule, then by what tells its alerts apart.
    states: BTreeMap<AlertName, BTreeMap<String, State>>,
}

/// What holds for one rule this cycle: per alert, its distinguishing label and a
/// summary; None when the cycle did not measure it.
type Holding = Option<Vec<(Option<(&'static str, String)>, String)>>;

fn holding(when: &Condition, o: &Observation) -> Holding {
    let series = |s: &Series, f: &dyn Fn(f64) -> Option<String>| -> Holding {
        let v = *o.values.get(s)?;
        Some(
            f(v).map(|summary| (Some(("series", s.to_string())), summary))
                .into_iter()
                .collect(),
        )
    };
    match when {
        Condition::Threshold { series: s, above } => series(s, &|v| {
            (v > *above).then(|| format!("{s} is {v:.1}, above {above}"))
        }),
        Condition::Anomaly { series: s } => {
            o.values.get(s)?;
            Some(
                o.anomalies
                    .get(s)
                    .map(|(v, band)| {
                        (
                            Some(("series", s.to_string())),
                            format!(
                                "{s} is {v:.1}, outside its baseline {:.1}..{:.1} (cycle {})",
                                band.low, band.high, o.cycle
                            ),
                        )
                    })
                    .into_iter()
                    .collect(),
            )
        }
        Condition::ServiceDown { service } => Some(
            o.services
                .iter()
                .filter(|(kind, _)| service.is_none_or(|s| s == *kind))
                .filter_map(|(kind, ready)| {
                    let why = ready.as_ref().err()?;
                    Some((
                        Some(("service", kind.to_string())),
                        format!("{kind} is down: {why}"),
                    ))
                })
                .collect(),
        ),
        Condition::ValidationFailing {} => {
            let failed = o.failed_checks.as_ref()?;
            Some(match failed.as_slice() {
                [] => Vec::new(),
                [first, rest @ ..] => {
                    let more = match rest.len() {
                        0 => String::new(),
                        n => format!(" and {n} more"),
                    };
                    vec![(None, format!("failed: {first}{more}"))]
                }
            })
        }
        Condition::ProbeFailing {} => Some(
            o.probe_failure
                .iter()
                .map(|why| (None, format!("the probe did not pass: {why}")))
                .collect(),
        ),
    }
}

impl Alerts {
    /// Applies `rules` to one cycle's observation; returns the alerts that fired or
    /// resolved. Alerts of rules no longer configured resolve.
    pub fn evaluate(
        &mut self,
        rules: &[Rule],
        o: &Observation,
        now: DateTime<Utc>,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        let gone: Vec<AlertName> = self
            .states
            .keys()
            .filter(|name| !rules.iter().any(|r| &r.name == *name))
            .cloned()
            .collect();
        for name in gone {
            for (_, s) in self.states.remove(&name).unwrap_or_default() {
                out.extend(resolve(s, o.cycle, now));
            }
        }
        for rule in rules {
            let Some(held) = holding(&rule.when, o) else {
                continue;
            };
            let states = self.states.entry(rule.name.clone()).or_default();
            let mut now_held = Vec::new();
            for (label, summary) in held {
                let key = label.as_ref().map(|(_, v)| v.clone()).unwrap_or_default();
                let state = states.entry(key.clone()).or_insert_with(|| State {
                    streak: 0,
                    firing_since: None,
                    labels: labels(rule, label),
                    summary: String::new(),
                });
                state.streak = state.streak.saturating_add(1);
                state.summary = summary;
                if state.firing_since.is_none() && state.streak >= rule.cycles {
                    state.firing_since = Some(now);
                    out.push(Transition {
                        status: AlertStatus::Firing,
                        labels: state.labels.clone(),
                        summary: state.summary.clone(),
                        cycle: o.cycle,
                        starts_at: now,
                        ends_at: None,
                    });
                }
                now_held.push(key);
            }
            let cleared: Vec<String> = states
                .keys()
                .filter(|k| !now_held.contains(k))
                .cloned()
                .collect();
            for key in cleared {
                if let Some(s) = states.remove(&key) {
                    out.extend(resolve(s, o.cycle, now));
                }
            }
        }
        out
    }

    /// The alerts firing now: their labels.
    pub fn firing(&self) -> Vec<&BTreeMap<String, String>> {
        self.states
            .values()
            .flat_map(|s| s.values())
            .filter(|s| s.firing_since.is_some())
            .map(|s| &s.labels)
            .collect()
    }
}

fn labels(rule: &Rule, label: Option<(&'static str, String)>) -> BTreeMap<String, String> {
    let mut l = BTreeMap::from([
        ("alertname".to_string(), rule.name.as_str().to_string()),
        ("severity".to_string(), rule.severity.clone()),
    ]);
    if let Some((k, v)) = label {
        l.insert(k.to_string(), v);
    }
    l
}

fn resolve(s: State, cycle: u64, now: DateTime<Utc>) -> Option<Transition> {
    let since = s.firing_since?;
    Some(Transition {
        status: AlertStatus::Resolved,
        labels: s.labels,
        summary: s.summary,
        cycle,
        starts_at: since,
        ends_at: Some(now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, when: Condition, cycles: u32) -> Rule {
        Rule {
            name: AlertName::try_from(name.to_string()).expect("name"),
            when,
            cycles,
            severity: "warning".into(),
        }
    }

    fn redis(ready: bool, cycle: u64) -> Observation {
        Observation {
            cycle,
            services: vec![
                (
                    ServiceKind::Redis,
                    if ready { Ok(()) } else { Err("refused".into()) },
                ),
                (ServiceKind::Graph, Ok(())),
            ],
            ..Observation::default()
        }
    }

    fn statuses(t: &[Transition]) -> Vec<(AlertStatus, String)> {
        t.iter()
            .map(|t| {
                (
                    t.status,
                    t.labels.get("service").cloned().unwrap_or_default(),
                )
            })
            .collect()
    }

    #[test]
    fn an_alert_fires_once_after_its_cycles_and_resolves_once() {
        let rules = [rule("down", Condition::ServiceDown { service: None }, 2)];
        let mut a = Alerts::default();
        let now = Utc::now();
        let mut seen = Vec::new();
        for (cycle, ready) in [true, false, false, false, false, true, true]
            .into_iter()
            .enumerate()
        {
            seen.push(statuses(&a.evaluate(
                &rules,
                &redis(ready, cycle as u64),
                now,
            )));
        }
        let fired: Vec<_> = seen.iter().flatten().collect();
        assert_eq!(
            fired,
            [
                &(AlertStatus::Firing, "redis".to_string()),
                &(AlertStatus::Resolved, "redis".to_string())
            ]
        );
        // Fired on the second cycle down, resolved on the first one up.
        assert!(!seen[2].is_empty() && !seen[5].is_empty());
        assert!(a.firing().is_empty());
    }

    #[test]
    fn a_condition_that_clears_before_its_cycles_never_fires() {
        let rules = [rule("down", Condition::ServiceDown { service: None }, 3)];
        let mut a = Alerts::default();
        for (cycle, ready) in [false, false, true, false].into_iter().enumerate() {
            assert!(
                a.evaluate(&rules, &redis(ready, cycle as u64), Utc::now())
                    .is_empty()
            );
        }
    }

    #[test]
    fn a_cycle_without_the_series_neither_fires_nor_resolves() {
        let series = Series::step("persist_decision");
        let rules = [rule(
            "slow",
            Condition::Threshold {
                series: series.clone(),
                above: 100.0,
            },
            1,
        )];
        let mut a = Alerts::default();
        let with = |v: Option<f64>| Observation {
            values: v.map(|v| (series.clone(), v)).into_iter().collect(),
            ..Observation::default()
        };
        assert_eq!(a.evaluate(&rules, &with(Some(500.0)), Utc::now()).len(), 1);
        assert!(a.evaluate(&rules, &with(None), Utc::now()).is_empty());
        assert_eq!(a.firing().len(), 1);
        let resolved = a.evaluate(&rules, &with(Some(5.0)), Utc::now());
        assert_eq!(resolved[0].status, AlertStatus::Resolved);
    }

    #[test]
    fn a_rule_taken_out_of_the_file_resolves_its_alerts() {
        let rules = [rule("down", Condition::ServiceDown { service: None }, 1)];
        let mut a = Alerts::default();
        assert_eq!(a.evaluate(&rules, &redis(false, 1), Utc::now()).len(), 1);
        let after = a.evaluate(&[], &redis(false, 2), Utc::now());
        assert_eq!(statuses(&after), [(AlertStatus::Resolved, "redis".into())]);
    }
}
