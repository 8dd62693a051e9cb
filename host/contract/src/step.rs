//! The steps of a GPU allocation, in workflow order: each is a Temporal activity of
//! that name, a span and a WorkflowTrace step.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    ValidateRequest,
    LoadContext,
    CouncilVote,
    AllocateDevices,
    PersistDecision,
    CacheContext,
    PublishDecision,
}

impl Step {
    /// Every step, in the order the workflow runs them.
    pub const ALL: [Step; 7] = [
        Self::ValidateRequest,
        Self::LoadContext,
        Self::CouncilVote,
        Self::AllocateDevices,
        Self::PersistDecision,
        Self::CacheContext,
        Self::PublishDecision,
    ];

    /// The wire name: the activity type, the trace's `step_name`, scenario keys.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ValidateRequest => "validate_request",
            Self::LoadContext => "load_context",
            Self::CouncilVote => "council_vote",
            Self::AllocateDevices => "allocate_devices",
            Self::PersistDecision => "persist_decision",
            Self::CacheContext => "cache_context",
            Self::PublishDecision => "publish_decision",
        }
    }

    /// The component the step exercises, as the trace names it.
    pub const fn component(self) -> &'static str {
        match self {
            Self::ValidateRequest => "target",
            Self::LoadContext | Self::CacheContext => "redis",
            Self::CouncilVote => "council",
            Self::AllocateDevices => "gpu",
            Self::PersistDecision => "graph",
            Self::PublishDecision => "kafka",
        }
    }

    /// The step of a wire name.
    pub fn parse(name: &str) -> Option<Step> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Every wire name, in order.
    pub fn names() -> [&'static str; 7] {
        Self::ALL.map(Step::name)
    }
}

/// The compensation a workflow runs when it fails after `allocate_devices`: it gives
/// the devices it leased back. Its activity, span and trace step have this name; it is
/// no step of a request that goes well, so it is not in [`Step::ALL`].
pub const RELEASE_DEVICES: &str = "release_devices";

/// The component the compensation exercises (the leases are Redis keys).
pub const RELEASE_DEVICES_COMPONENT: &str = "redis";

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_in_order() {
        for s in Step::ALL {
            assert_eq!(Step::parse(s.name()), Some(s));
            let json = format!("\"{}\"", s.name());
            assert_eq!(serde_json::to_string(&s).expect("json"), json);
        }
        assert!(
            Step::ALL.windows(2).all(|w| w[0] < w[1]),
            "declaration order is workflow order"
        );
        assert_eq!(Step::parse("nope"), None);
    }
}
