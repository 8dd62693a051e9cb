//! How a request ends: approved or denied, and a denial's class.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Approved,
    Denied,
}

impl Outcome {
    pub const ALL: [Outcome; 2] = [Self::Approved, Self::Denied];

    /// The wire name: in JSON, the graph's `outcome` property and scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Denied => "denied",
        }
    }
}

/// Why a request was denied; validators match on the class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenialClass {
    InvalidRequest,
    CouncilRejected,
    NoQuorum,
    CapacityShort,
}

impl DenialClass {
    pub const ALL: [DenialClass; 4] = [
        Self::InvalidRequest,
        Self::CouncilRejected,
        Self::NoQuorum,
        Self::CapacityShort,
    ];

    /// The wire name: in JSON, the graph's `reason_class` property and scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::CouncilRejected => "council_rejected",
            Self::NoQuorum => "no_quorum",
            Self::CapacityShort => "capacity_short",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for DenialClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
