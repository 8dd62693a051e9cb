//! Run namespaces: every run has a run id, and everything it writes carries it, so runs can
//! share services without colliding and a cleanup removes exactly one run's data.
//!
//! | store | how data carries the run id | what cleanup removes |
//! | --- | --- | --- |
//! | graph | property `run_id` on every node | those nodes and their relationships |
//! | Redis | key prefix `aura:<run-id>:` | those keys |
//! | Kafka | topic prefix `aura.<run-id>.` and header `aura-run-id` | those topics |

mod cleanup;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use cleanup::{CleanupReport, cleanup};

/// Graph property that carries the run id.
pub const GRAPH_PROPERTY: &str = "run_id";
/// Kafka header that carries the run id.
pub const EVENT_HEADER: &str = "aura-run-id";

/// A validated run id: 1–64 of `[a-z0-9-]`, starting with a letter or digit. The limited
/// alphabet is what makes it safe inside Redis SCAN patterns and Kafka topic names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunId(String);

#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "invalid run id '{0}': use 1-64 characters of a-z, 0-9 and '-', starting with a letter or digit"
)]
pub struct InvalidRunId(pub String);

impl RunId {
    /// A fresh id: UTC time to the second plus 16 random bits, e.g. `20261121-104233-3f9a`.
    pub fn generate() -> Self {
        let now = chrono::Utc::now().format("%Y%m%d-%H%M%S");
        Self(format!("{now}-{:04x}", rand::random::<u16>()))
    }

    pub fn parse(s: &str) -> Result<Self, InvalidRunId> {
        let valid = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-');
        if valid {
            Ok(Self(s.to_string()))
        } else {
            Err(InvalidRunId(s.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RunId {
    type Error = InvalidRunId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<RunId> for String {
    fn from(id: RunId) -> Self {
        id.0
    }
}

impl std::str::FromStr for RunId {
    type Err = InvalidRunId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Names for one run's data in every store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunNamespace {
    run: RunId,
}

impl RunNamespace {
    pub fn new(run: RunId) -> Self {
        Self { run }
    }

    pub fn run_id(&self) -> &RunId {
        &self.run
    }

    pub fn key_prefix(&self) -> String {
        format!("aura:{}:", self.run)
    }

    /// A Redis key of this run, e.g. `aura:<run>:ctx:team-a`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.key_prefix())
    }

    pub fn topic_prefix(&self) -> String {
        format!("aura.{}.", self.run)
    }

    /// A Kafka topic of this run, e.g. `aura.<run>.gpu.allocation.decided`.
    pub fn topic(&self, name: &str) -> String {
        format!("{}{name}", self.topic_prefix())
    }

    /// Headers every message of this run carries.
    pub fn headers(&self) -> std::collections::BTreeMap<String, String> {
        [(EVENT_HEADER.to_string(), self.run.to_string())].into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = RunId::generate();
        assert_eq!(RunId::parse(a.as_str()), Ok(a.clone()));
        let ids: std::collections::HashSet<_> = (0..50).map(|_| RunId::generate()).collect();
        assert!(ids.len() > 1);
    }

    #[test]
    fn ids_with_glob_or_topic_unsafe_characters_are_refused() {
        for bad in ["", "-x", "a*", "a:b", "A", "a b", &"x".repeat(65)] {
            assert!(RunId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names_carry_the_run() {
        let ns = RunNamespace::new(RunId::parse("r1").expect("valid"));
        assert_eq!(ns.key("ctx"), "aura:r1:ctx");
        assert_eq!(
            ns.topic("gpu.allocation.decided"),
            "aura.r1.gpu.allocation.decided"
        );
        assert_eq!(
            ns.headers().get(EVENT_HEADER).map(String::as_str),
            Some("r1")
        );
    }
}
