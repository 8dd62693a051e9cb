//! A validator that recomputes the council's verdict from the votes of each cached
//! decision (`aura:<run>:decision:<request>`, polled) and checks the decision follows the
//! consensus rule of `host/src/target/council/consensus.rs`:
//!
//! - each agent's logit `l` gives `p = σ(l)`; it approves when `p ≥ 0.5`, with confidence
//!   `|2p − 1|` (within 1e-4), and abstains when its confidence is below `abstain_below`;
//! - the council has a quorum when more than half of all agents cast a vote;
//! - the approve and deny weights are the confidences of the cast votes each way (within
//!   1e-3); with a quorum the council approves when approve > deny (a tie denies);
//! - an approving council gives `approved`, or `denied (capacity_short)` when the devices
//!   ran short; a denying one `denied (council_rejected)` with a quorum, else
//!   `denied (no_quorum)`.
//!
//! A decision without votes (the council never met) must be `invalid_request`.
//! Arithmetic is `f32`, as the target's, so edge cases decide the same way.
//!
//! Checks per request: `votes`, `quorum`, `approve weight`, `deny weight` and `outcome`;
//! for a decision without votes only `reason class`; `cached decision` fails alone when
//! the decision is not in Redis.
//!
//! Grants: `cache = { access = "read", key-prefixes = ["aura:{run}:"] }`.
//!
//! Configuration (every key optional; `[target]` is injected by the host in a scenario):
//!
//! ```toml
//! deadline_ms = 5000       # one deadline for the whole call, for every request together
//! poll_interval_ms = 100   # between two looks at Redis
//! [target]
//! abstain_below = 0.05
//! ```

use aura_sdk::footprint::{Decision, Vote};
use aura_sdk::validator::Guest;
use aura_sdk::{
    Check, DenialClass, Footprint, PluginError, RunContext, ValidationResult, check_name,
    export_validator,
};

const DEADLINE_MS: u64 = 5_000;
const CONFIDENCE_TOLERANCE: f32 = 1e-4;
const WEIGHT_TOLERANCE: f64 = 1e-3;

/// The verdict recomputed from the votes.
#[derive(Debug, PartialEq)]
struct Recount {
    /// What is wrong with each vote that does not follow its logit.
    problems: Vec<String>,
    quorum: bool,
    approve_weight: f32,
    deny_weight: f32,
    approve: bool,
}

/// What is wrong with one vote, if anything.
fn vote_problem(v: &Vote, abstain_below: f32) -> Option<String> {
    let p = 1.0 / (1.0 + (-(v.logit as f32)).exp());
    let confidence = (2.0 * p - 1.0).abs();
    let mut wrong = Vec::new();
    if v.approve != (p >= 0.5) {
        wrong.push(format!("approve {} with logit {}", v.approve, v.logit));
    }
    if (confidence - v.confidence as f32).abs() > CONFIDENCE_TOLERANCE {
        wrong.push(format!(
            "confidence {} (expected {confidence})",
            v.confidence
        ));
    }
    if v.abstained != ((v.confidence as f32) < abstain_below) {
        wrong.push(format!(
            "abstained {} with confidence {}",
            v.abstained, v.confidence
        ));
    }
    (!wrong.is_empty()).then(|| format!("{}: {}", v.agent_id, wrong.join(", ")))
}

fn recount(votes: &[Vote], abstain_below: f32) -> Recount {
    let cast: Vec<&Vote> = votes.iter().filter(|v| !v.abstained).collect();
    let quorum = cast.len() * 2 > votes.len();
    let weight = |approve: bool| {
        cast.iter()
            .filter(|v| v.approve == approve)
            .map(|v| v.confidence as f32)
            .sum::<f32>()
            + 0.0
    };
    let (approve_weight, deny_weight) = (weight(true), weight(false));
    Recount {
        problems: votes
            .iter()
            .filter_map(|v| vote_problem(v, abstain_below))
            .collect(),
        quorum,
        approve_weight,
        deny_weight,
        approve: quorum && approve_weight > deny_weight,
    }
}

/// The verdicts the rule allows (`Decision::verdict` words).
fn allowed_verdicts(r: &Recount) -> &'static [&'static str] {
    match (r.approve, r.quorum) {
        (true, _) => &["approved", "denied (capacity_short)"],
        (false, true) => &["denied (council_rejected)"],
        (false, false) => &["denied (no_quorum)"],
    }
}

fn weight_check(name: &str, recomputed: f32, stored: f64) -> Check {
    let (expected, actual) = (format!("{recomputed:.4}"), format!("{stored:.4}"));
    let passed = (f64::from(recomputed) - stored).abs() <= WEIGHT_TOLERANCE;
    let message = format!("{name}: the votes sum to {expected}, the decision says {actual}");
    Check::expect(name, passed, &expected, actual, &message)
}

fn decision_checks(request_id: &str, d: &Decision, abstain_below: f32) -> Vec<Check> {
    let name = |what: &str| check_name(request_id, what);
    if d.votes.is_empty() {
        let class = d.reason_class();
        let message = format!("no votes, so the council never met, but the class is {class}");
        let invalid = DenialClass::InvalidRequest.name();
        return vec![Check::expect(
            &name("reason class"),
            class == invalid,
            invalid,
            class,
            &message,
        )];
    }
    let r = recount(&d.votes, abstain_below);
    let allowed = allowed_verdicts(&r);
    let verdict = d.verdict();
    vec![
        Check::expect(
            &name("votes"),
            r.problems.is_empty(),
            "each vote follows its logit",
            if r.problems.is_empty() {
                format!("{} votes follow their logits", d.votes.len())
            } else {
                format!("{} of {} votes do not", r.problems.len(), d.votes.len())
            },
            &r.problems.join("; "),
        ),
        Check::expect_eq(&name("quorum"), r.quorum, d.quorum),
        weight_check(&name("approve weight"), r.approve_weight, d.approve_weight),
        weight_check(&name("deny weight"), r.deny_weight, d.deny_weight),
        Check::expect(
            &name("outcome"),
            allowed.contains(&verdict.as_str()),
            &allowed.join(" or "),
            &verdict,
            &format!(
                "the votes give {} (quorum {}, approve {:.4} vs deny {:.4}), the decision is {verdict}",
                allowed.join(" or "),
                r.quorum,
                r.approve_weight,
                r.deny_weight
            ),
        ),
    ]
}

fn checks(fp: &Footprint, request_id: &str) -> Vec<Check> {
    let decision = fp
        .persisted_decision(request_id)
        .and_then(|v| Decision::parse(&check_name(request_id, "decision"), &v));
    match decision {
        Ok(d) => decision_checks(request_id, &d, fp.facts.target.abstain_below as f32),
        Err(check) => vec![check],
    }
}

struct CouncilConsensus;

impl Guest for CouncilConsensus {
    fn validate(ctx: RunContext) -> Result<ValidationResult, PluginError> {
        let fp = Footprint::new(&ctx, DEADLINE_MS)?;
        Ok(fp.check_each(|request_id| checks(&fp, request_id)))
    }
}

export_validator!(CouncilConsensus);

#[cfg(test)]
mod tests {
    use super::*;
    use aura_sdk::footprint::Denial;

    /// A vote as the target casts it.
    fn vote(i: usize, logit: f32) -> Vote {
        let p = 1.0 / (1.0 + (-logit).exp());
        let confidence: f32 = (2.0 * p - 1.0).abs();
        Vote {
            agent_id: format!("agent-{i}"),
            approve: p >= 0.5,
            confidence: f64::from(confidence),
            abstained: confidence < 0.05,
            logit: f64::from(logit),
        }
    }

    fn decision(logits: &[f32], class: Option<&str>) -> Decision {
        let votes: Vec<Vote> = logits
            .iter()
            .enumerate()
            .map(|(i, l)| vote(i, *l))
            .collect();
        let r = recount(&votes, 0.05);
        Decision {
            request_id: "r".into(),
            outcome: if class.is_none() {
                "approved"
            } else {
                "denied"
            }
            .into(),
            denial: class.map(|c| Denial {
                class: c.into(),
                message: String::new(),
            }),
            votes,
            quorum: r.quorum,
            approve_weight: f64::from(r.approve_weight),
            deny_weight: f64::from(r.deny_weight),
            ..Decision::default()
        }
    }

    fn failing(checks: &[Check]) -> Vec<&str> {
        checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect()
    }

    #[test]
    fn the_targets_own_cases_pass() {
        // From consensus.rs: a confident minority outweighs a hesitant majority.
        let approve = decision(&[4.0, -0.3, -0.3, -0.3, 3.0], None);
        assert!(failing(&decision_checks("r", &approve, 0.05)).is_empty());
        let short = decision(&[4.0, -0.3, -0.3, -0.3, 3.0], Some("capacity_short"));
        assert!(failing(&decision_checks("r", &short, 0.05)).is_empty());
        let no_quorum = decision(&[3.0, 0.01, -0.01, 0.0, 0.02], Some("no_quorum"));
        assert!(!recount(&no_quorum.votes, 0.05).quorum);
        assert!(failing(&decision_checks("r", &no_quorum, 0.05)).is_empty());
        let rejected = decision(&[-2.0, -1.0, 0.5], Some("council_rejected"));
        assert!(failing(&decision_checks("r", &rejected, 0.05)).is_empty());
    }

    #[test]
    fn a_wrong_verdict_or_tampered_vote_fails() {
        let mut d = decision(&[4.0, -0.3, -0.3, -0.3, 3.0], Some("council_rejected"));
        assert_eq!(failing(&decision_checks("r", &d, 0.05)), ["r: outcome"]);
        d.votes[1].confidence = 0.9;
        d.votes[2].approve = true;
        let checks = decision_checks("r", &d, 0.05);
        assert_eq!(
            failing(&checks),
            [
                "r: votes",
                "r: approve weight",
                "r: deny weight",
                "r: outcome"
            ]
        );
        assert!(checks[0].message.starts_with("agent-1: confidence 0.9"));
        assert!(
            checks[0]
                .message
                .contains("agent-2: approve true with logit -0.3")
        );
    }

    #[test]
    fn a_tie_denies_and_no_votes_means_invalid() {
        let r = Recount {
            problems: vec![],
            quorum: true,
            approve_weight: 0.5,
            deny_weight: 0.5,
            approve: false,
        };
        assert_eq!(allowed_verdicts(&r), ["denied (council_rejected)"]);
        let invalid = decision(&[], Some("invalid_request"));
        let checks = decision_checks("r", &invalid, 0.05);
        assert_eq!(checks.len(), 1);
        assert!(checks[0].passed && checks[0].name == "r: reason class");
        let unexplained = decision(&[], Some("no_quorum"));
        assert_eq!(
            failing(&decision_checks("r", &unexplained, 0.05)),
            ["r: reason class"]
        );
    }
}
