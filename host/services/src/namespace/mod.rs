//! Run namespaces: every run has a run id, and everything it writes carries it, so runs can
//! share services without colliding and a cleanup removes exactly one run's data.
//!
//! | store | how data carries the run id | what cleanup removes |
//! | --- | --- | --- |
//! | graph | property `run_id` on every node | those nodes and their relationships |
//! | Redis | key prefix `aura:<run-id>:` | those keys |
//! | Kafka | topic prefix `aura.<run-id>.` and header `aura-run-id` | those topics |

mod cleanup;

pub use cleanup::{CleanupReport, StoreFailure, cleanup, remove};

use aura_contract::names::{self, RUN_ID_HEADER};
pub use aura_contract::{InvalidId, RunId};

/// A fresh run id: UTC time to the second plus 16 random bits, e.g. `20261121-104233-3f9a`.
pub fn generate_run_id() -> RunId {
    let now = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    RunId::parse(&format!("{now}-{:04x}", rand::random::<u16>()))
        .unwrap_or_else(|e| unreachable!("a generated run id follows the rule: {e}"))
}

/// Run `run`'s namespaces that have data in Redis or Kafka: `run` itself and its
/// scenarios' `run-<n>`. A store that cannot be read is skipped (cleaning it will say
/// why); the run's journal lists the namespaces it planned.
pub async fn discover(hub: &crate::ServiceHub, run: &RunId) -> Vec<RunId> {
    let run = run.as_str();
    let mut found = std::collections::BTreeSet::new();
    if let Ok(cache) = hub.cache().await
        && let Ok(keys) = cache
            .scan_prefix(&names::key_family_prefix(run), usize::MAX)
            .await
    {
        found.extend(
            keys.iter()
                .filter_map(|k| names::run_of_key(k))
                .map(str::to_string),
        );
    }
    if let Ok(events) = hub.events().await
        && let Ok(topics) = events.list_topics().await
    {
        found.extend(
            topics
                .iter()
                .filter_map(|t| names::run_of_topic(t))
                .map(str::to_string),
        );
    }
    found
        .into_iter()
        .filter(|ns| names::is_namespace_of(run, ns))
        .filter_map(|ns| RunId::parse(&ns).ok())
        .collect()
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
        names::key_prefix(self.run.as_str())
    }

    /// A Redis key of this run, e.g. `aura:<run>:ctx:team-a`.
    pub fn key(&self, name: &str) -> String {
        names::key(self.run.as_str(), name)
    }

    pub fn topic_prefix(&self) -> String {
        names::topic_prefix(self.run.as_str())
    }

    /// A Kafka topic of this run, e.g. `aura.<run>.gpu.allocation.decided`.
    pub fn topic(&self, name: &str) -> String {
        names::topic(self.run.as_str(), name)
    }

    /// Headers every message of this run carries.
    pub fn headers(&self) -> std::collections::BTreeMap<String, String> {
        [(RUN_ID_HEADER.to_string(), self.run.to_string())].into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = generate_run_id();
        assert_eq!(RunId::parse(a.as_str()), Ok(a.clone()));
        let ids: std::collections::HashSet<_> = (0..50).map(|_| generate_run_id()).collect();
        assert!(ids.len() > 1);
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
            ns.headers().get(RUN_ID_HEADER).map(String::as_str),
            Some("r1")
        );
    }
}
