//! Resource faults: what a service or the target runs short of, made to happen through
//! the services themselves. Redis runs out of memory (`maxmemory` 1 byte, `noeviction`:
//! writes fail with OOM); every GPU of the scenario is leased away (approvals are short
//! of capacity). Each remembers what it changed, and healing puts it back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aura_contract::names;
use aura_services::ServiceHub;

use super::spec::FaultAction;

/// Who holds the leases of an `exhaust_gpus` fault (what healing releases).
pub const LEASE_OWNER: &str = "aura-host chaos";

/// How long healing a memory fault keeps asking Redis to take its settings back.
const RESTORE_ATTEMPTS: u32 = 20;
const RESTORE_DELAY: Duration = Duration::from_millis(250);

/// Leases outlive the fault by this much at most if the host dies before healing.
const LEASE_SLACK: Duration = Duration::from_secs(60);

/// A resource fault in effect.
pub enum Held {
    /// One of the memory faults on the Redis at this address.
    Memory { redis: String },
    /// The lease keys taken.
    Gpus { keys: Vec<String> },
}

/// Memory faults in effect per Redis, with the settings the first one found: overlapping
/// faults set them back only when the last heals.
struct Exhausted {
    faults: u32,
    max: String,
    policy: String,
}

static EXHAUSTED: tokio::sync::Mutex<BTreeMap<String, Exhausted>> =
    tokio::sync::Mutex::const_new(BTreeMap::new());

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
            let redis = hub.config().address(aura_services::ServiceKind::Redis);
            let mut exhausted = EXHAUSTED.lock().await;
            if let Some(e) = exhausted.get_mut(&redis) {
                e.faults += 1;
                let said = format!("redis out of memory already ({} faults)", e.faults);
                return Ok((Held::Memory { redis }, said));
            }
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
            if let Err(e) = cache.set_setting("maxmemory", "1").await {
                // Half a fault is no fault.
                let _ = cache.set_setting("maxmemory-policy", &policy).await;
                return Err(e.to_string());
            }
            let said = format!("redis maxmemory {max} → 1 byte, policy {policy} → noeviction");
            exhausted.insert(
                redis.clone(),
                Exhausted {
                    faults: 1,
                    max,
                    policy,
                },
            );
            Ok((Held::Memory { redis }, said))
        }
        FaultAction::ExhaustGpus => {
            let ttl = hold + LEASE_SLACK;
            let mut keys = Vec::new();
            for d in devices {
                let key = names::lease_key(namespace, d);
                match cache
                    .lease(std::slice::from_ref(&key), 1, LEASE_OWNER, ttl)
                    .await
                {
                    Ok(got) => keys.extend(got),
                    Err(e) => {
                        let _ = cache.release(&keys, LEASE_OWNER).await;
                        return Err(e.to_string());
                    }
                }
            }
            if keys.is_empty() && !devices.is_empty() {
                return Err("every device was held already (another exhaust_gpus fault, or requests): nothing to lease".into());
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
            Held::Memory { redis } => {
                let mut exhausted = EXHAUSTED.lock().await;
                let Some(e) = exhausted.get_mut(&redis) else {
                    return Ok(());
                };
                e.faults = e.faults.saturating_sub(1);
                if e.faults > 0 {
                    return Ok(());
                }
                let (max, policy) = (e.max.clone(), e.policy.clone());
                exhausted.remove(&redis);
                // Left at 1 byte, Redis would refuse every write after the run: asked
                // again for a while (another fault may hold it, a pause).
                let mut last = String::new();
                for _ in 0..RESTORE_ATTEMPTS {
                    let restored = async {
                        cache.set_setting("maxmemory", &max).await?;
                        cache.set_setting("maxmemory-policy", &policy).await
                    };
                    match restored.await {
                        Ok(()) => return Ok(()),
                        Err(e) => last = e.to_string(),
                    }
                    tokio::time::sleep(RESTORE_DELAY).await;
                }
                Err(format!(
                    "redis maxmemory not restored to {max} (policy {policy}): {last}; \
                     `CONFIG SET maxmemory {max}` does it by hand"
                ))
            }
            Held::Gpus { keys } => cache
                .release(&keys, LEASE_OWNER)
                .await
                .map(|_| ())
                .map_err(|e| format!("{} lease(s) not released: {e}", keys.len())),
        }
    }
}
