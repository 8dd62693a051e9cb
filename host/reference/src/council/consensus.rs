//! The council's rule, stated once:
//!
//! Each agent's logit `l` gives `p = σ(l)`; the agent votes approve when `p ≥ 0.5`, with
//! confidence `|2p − 1|` (0 = a coin toss, 1 = certain). An agent whose confidence is
//! below `abstain_below` abstains. The council has a quorum when more than half of all
//! agents cast a vote. With a quorum it approves when the confidence of the approving
//! votes sums to strictly more than that of the denying votes (a tie denies); without a
//! quorum it denies.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    pub agent_id: String,
    pub approve: bool,
    pub confidence: f32,
    pub abstained: bool,
    pub logit: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub approve: bool,
    pub quorum: bool,
    pub approve_weight: f32,
    pub deny_weight: f32,
    pub votes: Vec<Vote>,
}

pub fn vote(agent_id: String, logit: f32, abstain_below: f32) -> Vote {
    let p = 1.0 / (1.0 + (-logit).exp());
    let confidence = (2.0 * p - 1.0).abs();
    Vote {
        agent_id,
        approve: p >= 0.5,
        confidence,
        abstained: confidence < abstain_below,
        logit,
    }
}

pub fn decide(votes: Vec<Vote>) -> Verdict {
    let cast: Vec<&Vote> = votes.iter().filter(|v| !v.abstained).collect();
    let quorum = cast.len() * 2 > votes.len();
    let weight = |approve: bool| {
        cast.iter()
            .filter(|v| v.approve == approve)
            .map(|v| v.confidence)
            .sum::<f32>()
            + 0.0
    };
    let (approve_weight, deny_weight) = (weight(true), weight(false));
    Verdict {
        approve: quorum && approve_weight > deny_weight,
        quorum,
        approve_weight,
        deny_weight,
        votes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn votes(logits: &[f32]) -> Vec<Vote> {
        logits
            .iter()
            .enumerate()
            .map(|(i, l)| vote(format!("agent-{i}"), *l, 0.05))
            .collect()
    }

    #[test]
    fn confident_minority_outweighs_a_hesitant_majority() {
        let v = decide(votes(&[4.0, -0.3, -0.3, -0.3, 3.0]));
        assert!(v.quorum && v.approve, "{v:?}");
    }

    #[test]
    fn without_a_quorum_the_council_denies() {
        let v = decide(votes(&[3.0, 0.01, -0.01, 0.0, 0.02]));
        assert!(!v.quorum && !v.approve, "{v:?}");
    }

    #[test]
    fn a_tie_denies() {
        let mut v = votes(&[1.0, -1.0]);
        v[1].confidence = v[0].confidence;
        let v = decide(v);
        assert!(v.quorum && !v.approve, "{v:?}");
    }
}
