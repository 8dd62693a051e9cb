//! The `no_leaked_leases` invariant: after a scenario, every device lease in its
//! namespace belongs to an approved request that was allocated that device. A lease of
//! a request that failed, was denied or holds another device leaked (a workflow that
//! failed after `allocate_devices` did not give it back). Leases the scenario's test data
//! put there (`[data]`) are its own, not leaks.

use std::collections::BTreeSet;

use crate::report::{Check, RequestResult};
use aura_contract::names;
use aura_services::ServiceHub;

/// Leases read at most per scenario: more is reported as such.
const MAX_LEASES: usize = 10_000;

pub async fn leaked(
    hub: &ServiceHub,
    namespace: &str,
    requests: &[RequestResult],
    fixture_leases: &[(String, String)],
) -> Check {
    let held: BTreeSet<(&str, &str)> = requests
        .iter()
        .filter_map(|r| r.decision.as_ref())
        .filter(|d| d.approved())
        .flat_map(|d| {
            d.devices
                .iter()
                .map(|g| (g.id.as_str(), d.request_id.as_str()))
        })
        .chain(fixture_leases.iter().map(|(d, h)| (d.as_str(), h.as_str())))
        .collect();
    let prefix = names::lease_prefix(namespace);
    let read = async {
        let cache = hub.cache().await?;
        let keys = cache.scan_prefix(&prefix, MAX_LEASES).await?;
        let holders = cache.get_many(&keys).await?;
        Ok::<_, aura_services::ServiceError>(keys.into_iter().zip(holders).collect::<Vec<_>>())
    };
    let leases = match read.await {
        Ok(l) => l,
        Err(e) => {
            let mut c = Check::new("no_leaked_leases", "none", format!("unread: {e}"));
            c.passed = false;
            return c;
        }
    };
    let leaked: Vec<String> = leases
        .iter()
        .filter_map(|(key, holder)| {
            let device = key.strip_prefix(&prefix)?;
            let holder = holder.as_deref()?;
            (!held.contains(&(device, holder))).then(|| format!("{device} held by {holder}"))
        })
        .collect();
    let mut actual = if leaked.is_empty() {
        "none".to_string()
    } else {
        leaked.join("; ")
    };
    // What was not read cannot be vouched for.
    let truncated = leases.len() >= MAX_LEASES;
    if truncated {
        actual.push_str(&format!(" (only the first {MAX_LEASES} leases read)"));
    }
    let mut c = Check::new("no_leaked_leases", "none", actual);
    c.passed &= !truncated;
    c
}
