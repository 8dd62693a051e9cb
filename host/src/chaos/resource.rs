//! Resource faults: what a service or the target runs short of, made to happen through
//! the services themselves. Redis runs out of memory (`maxmemory` 1 byte, `noeviction`:
//! writes fail with OOM); every GPU of the scenario is leased away (approvals are short
//! of capacity). Each remembers what it changed, and healing puts it back.

use std::sync::Arc;
use std::time::Duration;

use aura_contract::names;
use aura_services::ServiceHub;

use super::spec::FaultAction;

/// Who holds the leases of an `exhaust_gpus` fault (what healing releases).
pub const LEASE_OWNER: &str = "aura-host chaos";

/// Leases outlive the fault by this much at most if the host dies before healing.
const LEASE_SLACK: Duration = Duration::from_secs(60);

/// A resource fault in effect.
pub enum Held {
    /// Redis' previous `maxmemory` and `maxmemory-policy`.
    Memory { max: String, policy: String },
    /// The lease keys taken.
    Gpus { keys: Vec<String> },
}

/// Strikes `action` for a scenario whose data lives in `namespace`; says what it did.
pub async fn strike(
    hub: &Arc<ServiceHub>,
    action: FaultAction,
    namespace: &str,
    devices: &[String],
    hold: Duration,
) -> Result<(Held, String), String> {
    let cache = hub.cache().await.map_err(|e| e.to_string())?;
    match action {
        FaultAction::ExhaustMemory => {
            let get = |name: &'static str| {
                let cache = cache.clone();
                async move {
                    cache
                        .setting(name)
                        .await
                        .map_err(|e| e.to_string())?
                        .ok_or_else(|| format!("redis has no setting {name}"))
                }
            };
            let (max, policy) = (get("maxmemory").await?, get("maxmemory-policy").await?);
            cache
                .set_setting("maxmemory-policy", "noeviction")
                .await
                .map_err(|e| e.to_string())?;
            cache
                .set_setting("maxmemory", "1")
                .await
                .map_err(|e| e.to_string())?;
            let said = format!("redis maxmemory {max} → 1 byte, policy {policy} → noeviction");
            Ok((Held::Memory { max, policy }, said))
        }
        FaultAction::ExhaustGpus => {
            let ttl = hold + LEASE_SLACK;
            let mut keys = Vec::new();
            for d in devices {
                let key = names::lease_key(namespace, d);
                let got = cache
                    .lease(std::slice::from_ref(&key), 1, LEASE_OWNER, ttl)
                    .await
                    .map_err(|e| e.to_string())?;
                keys.extend(got);
            }
            let mut said = format!("leased {} of {} device(s)", keys.len(), devices.len());
            if keys.len() < devices.len() {
                said.push_str("; the others were held already");
            }
            Ok((Held::Gpus { keys }, said))
        }
        _ => Err(format!("{} is not a resource fault", action.name())),
    }
}

impl Held {
    /// Puts back what the fault changed.
    pub async fn heal(self, hub: &Arc<ServiceHub>) -> Result<(), String> {
        let cache = hub.cache().await.map_err(|e| e.to_string())?;
        match self {
            Held::Memory { max, policy } => {
                cache
                    .set_setting("maxmemory", &max)
                    .await
                    .map_err(|e| format!("redis maxmemory not restored to {max}: {e}"))?;
                cache
                    .set_setting("maxmemory-policy", &policy)
                    .await
                    .map_err(|e| format!("redis maxmemory-policy not restored to {policy}: {e}"))
            }
            Held::Gpus { keys } => cache
                .release(&keys, LEASE_OWNER)
                .await
                .map(|_| ())
                .map_err(|e| format!("{} lease(s) not released: {e}", keys.len())),
        }
    }
}
