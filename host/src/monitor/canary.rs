//! Canary comparison (`aura-host compare-targets`): the same requests, sent to a
//! baseline and a canary deployment, compared decision by decision (outcome and denial
//! class) and step by step (latency distributions, `report::regression`), with a
//! verdict and its reasons: `rollback` when the canary decides differently, fails where
//! the baseline did not, or is slower beyond tolerance; `hold` when there is not enough
//! to judge (too few samples, the baseline itself failing); else `promote`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::report::regression::{self, Comparison, Tolerance};

/// What one side did with one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// `approved`, or `denied: <class>`; Err why there is no decision.
    pub decision: Result<String, String>,
    /// Each step's time (ms), attempts added up.
    pub steps: BTreeMap<String, f64>,
    /// First step's start to last step's end (ms).
    pub latency_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Promote,
    Hold,
    Rollback,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Self::Promote => "promote",
            Self::Hold => "hold",
            Self::Rollback => "rollback",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub request_id: String,
    pub baseline: String,
    pub canary: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CanaryReport {
    pub verdict: Verdict,
    pub reasons: Vec<String>,
    pub requests: usize,
    /// Requests decided differently (or decided on one side only).
    pub differences: Vec<Difference>,
    /// Per step (and `request`, the whole), baseline against canary.
    pub latency: BTreeMap<String, Comparison>,
}

fn shown(d: &Result<String, String>) -> String {
    match d {
        Ok(d) => d.clone(),
        Err(e) => format!("no decision ({e})"),
    }
}

/// What the two sides are called in the reasons.
#[derive(Debug, Clone, Copy)]
pub struct Sides {
    pub old: &'static str,
    pub new: &'static str,
}

/// A baseline deployment against a canary (`compare-targets`).
pub const CANARY: Sides = Sides {
    old: "baseline",
    new: "canary",
};

/// `approved`, or `denied: <class>`: what two answers must agree on.
pub fn decided(d: &aura_reference::Decision) -> String {
    match &d.denial {
        None => d.outcome.name().to_string(),
        Some(x) => format!("{}: {}", d.outcome.name(), x.class.name()),
    }
}

/// An answer from its decision (or why there is none) and its trace's step times.
pub fn answer(
    decision: Result<String, String>,
    trace: Option<&aura_services::trace::WorkflowTrace>,
) -> Answer {
    let mut steps = BTreeMap::new();
    let mut span: Option<(i64, i64)> = None;
    for s in trace.iter().flat_map(|t| &t.steps) {
        if let Some(end) = s.end_time {
            *steps.entry(s.step_name.clone()).or_insert(0.0) += (end - s.start_time) as f64;
            span = Some(span.map_or((s.start_time, end), |(a, b)| {
                (a.min(s.start_time), b.max(end))
            }));
        }
    }
    Answer {
        decision,
        steps,
        latency_ms: span.map(|(a, b)| (b - a) as f64),
    }
}

/// Compares the answers to the same requests, in the same order.
pub fn compare(pairs: &[(String, Answer, Answer)], tolerance: &Tolerance) -> CanaryReport {
    compare_as(pairs, tolerance, CANARY)
}

/// [`compare`], the sides called as `sides` says.
pub fn compare_as(
    pairs: &[(String, Answer, Answer)],
    tolerance: &Tolerance,
    sides: Sides,
) -> CanaryReport {
    let Sides { old, new } = sides;
    let mut reasons = Vec::new();
    let mut differences = Vec::new();
    let mut baseline_failed = 0;
    for (id, base, canary) in pairs {
        if base.decision.is_err() {
            baseline_failed += 1;
        }
        if base.decision != canary.decision {
            differences.push(Difference {
                request_id: id.clone(),
                baseline: shown(&base.decision),
                canary: shown(&canary.decision),
            });
        }
    }
    let mut samples: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for (_, base, canary) in pairs {
        for (side, answer) in [(0, base), (1, canary)] {
            let whole = answer.latency_ms.map(|l| ("request".to_string(), l));
            for (step, ms) in answer.steps.clone().into_iter().chain(whole) {
                let entry = samples.entry(step).or_default();
                match side {
                    0 => entry.0.push(ms),
                    _ => entry.1.push(ms),
                }
            }
        }
    }
    let latency: BTreeMap<String, Comparison> = samples
        .into_iter()
        .map(|(step, (b, c))| {
            let comparison = regression::compare(&b, &c, tolerance);
            (step, comparison)
        })
        .collect();
    let mut verdict = Verdict::Promote;
    if !differences.is_empty() {
        verdict = Verdict::Rollback;
        let first = &differences[0];
        reasons.push(format!(
            "{} of {} requests decided differently (first: {}: {old} {}, {new} {})",
            differences.len(),
            pairs.len(),
            first.request_id,
            first.baseline,
            first.canary
        ));
    }
    for (step, c) in &latency {
        if c.verdict == regression::Verdict::Regressed {
            verdict = Verdict::Rollback;
            reasons.push(format!("{step} is slower on the {new}: {}", c.reason));
        }
    }
    if verdict != Verdict::Rollback {
        if pairs.is_empty() {
            verdict = Verdict::Hold;
            reasons.push("no request was compared".into());
        }
        if baseline_failed > 0 {
            verdict = Verdict::Hold;
            reasons.push(format!(
                "the {old} did not decide {baseline_failed} request(s): nothing to hold the {new} to"
            ));
        }
        let thin: Vec<&str> = latency
            .iter()
            .filter(|(_, c)| c.verdict == regression::Verdict::TooFewSamples)
            .map(|(s, _)| s.as_str())
            .collect();
        if !thin.is_empty() {
            verdict = Verdict::Hold;
            reasons.push(format!(
                "too few samples to judge {} (at least {} a side: more --rounds)",
                thin.join(", "),
                regression::MIN_SAMPLES
            ));
        }
    }
    if verdict == Verdict::Promote {
        reasons.push(format!(
            "all {} requests decided alike, no step slower beyond tolerance",
            pairs.len()
        ));
    }
    CanaryReport {
        verdict,
        reasons,
        requests: pairs.len(),
        differences,
        latency,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(decision: &str, persist: f64) -> Answer {
        Answer {
            decision: Ok(decision.into()),
            steps: BTreeMap::from([("persist_decision".to_string(), persist)]),
            latency_ms: Some(persist + 20.0),
        }
    }

    fn pairs(canary: impl Fn(usize) -> Answer) -> Vec<(String, Answer, Answer)> {
        (0..12)
            .map(|i| {
                let base = answer("approved", 5.0 + (i % 3) as f64);
                (format!("r{i}"), base, canary(i))
            })
            .collect()
    }

    #[test]
    fn the_same_answers_promote() {
        let r = compare(
            &pairs(|i| answer("approved", 5.0 + (i % 3) as f64)),
            &Tolerance::default(),
        );
        assert_eq!(r.verdict, Verdict::Promote, "{:?}", r.reasons);
    }

    #[test]
    fn a_different_decision_rolls_back_naming_it() {
        let r = compare(
            &pairs(|i| match i {
                4 => answer("denied: council_rejected", 6.0),
                _ => answer("approved", 5.0 + (i % 3) as f64),
            }),
            &Tolerance::default(),
        );
        assert_eq!(r.verdict, Verdict::Rollback);
        assert!(
            r.reasons[0].contains("r4: baseline approved, canary denied: council_rejected"),
            "{:?}",
            r.reasons
        );
    }

    #[test]
    fn a_slower_step_rolls_back_naming_it() {
        let r = compare(
            &pairs(|i| answer("approved", 300.0 + (i % 3) as f64)),
            &Tolerance::default(),
        );
        assert_eq!(r.verdict, Verdict::Rollback);
        assert!(
            r.reasons
                .iter()
                .any(|r| r.starts_with("persist_decision is slower on the canary")),
            "{:?}",
            r.reasons
        );
    }

    #[test]
    fn too_few_samples_hold() {
        let few: Vec<_> = pairs(|_| answer("approved", 5.0))
            .into_iter()
            .take(3)
            .collect();
        let r = compare(&few, &Tolerance::default());
        assert_eq!(r.verdict, Verdict::Hold, "{:?}", r.reasons);
    }
}
