//! The `disaster` fault, a recovery drill on the local profile: every store snapshotted
//! (`env snapshot`), the environment destroyed (`env reset`: every server started again
//! on empty data) and, as the fault heals, the snapshot restored (`env restore`). The
//! validators that run after a scenario's faults heal then read every earlier decision
//! back from the restored stores. It destroys the whole local environment, not only the
//! scenario's namespace: that is the disaster.

use aura_services::ServiceHub;

use crate::environment::{self, EnvConfig, Profile, snapshot};

/// A disaster struck: the snapshot that heals it.
pub struct Held {
    name: String,
}

/// The snapshot's name for a fault tagged `tag`: what snapshot names allow, 64 at most.
fn snapshot_name(tag: &str) -> String {
    let kept: String = tag
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                true => c,
                false => '-',
            },
        )
        .collect();
    let name = format!("dr-{kept}");
    name.chars().take(64).collect()
}

/// Snapshots the local profile, then destroys it; says what it did.
pub async fn strike(
    env: &EnvConfig,
    hub: &ServiceHub,
    tag: &str,
) -> Result<(Held, String), String> {
    let name = snapshot_name(tag);
    let manifest = snapshot::take(env, hub, &name, true)
        .await
        .map_err(|e| format!("no snapshot, nothing destroyed: {e}"))?;
    let held = Held { name };
    if let Err(e) = environment::reset(env, Profile::Local).await {
        // Half a disaster is no drill: what was destroyed is put back at once.
        return Err(match held.heal(env, hub).await {
            Ok(_) => format!("destroying the environment failed ({e}); snapshot restored"),
            Err(r) => format!("destroying the environment failed ({e}), then {r}"),
        });
    }
    let said = format!(
        "snapshot {} taken ({} topic(s), {} message(s)); every store emptied",
        held.name, manifest.topics, manifest.messages
    );
    Ok((held, said))
}

impl Held {
    /// Restores the snapshot; removes it once restored, keeps it (and says so) if not.
    pub async fn heal(self, env: &EnvConfig, hub: &ServiceHub) -> Result<String, String> {
        match snapshot::restore(env, hub, &self.name).await {
            Ok(m) => {
                let _ = std::fs::remove_dir_all(snapshot::dir(&env.state_dir, &self.name));
                Ok(format!(
                    "snapshot {} restored ({} message(s))",
                    self.name, m.messages
                ))
            }
            Err(e) => Err(format!(
                "restoring snapshot {} failed: {e}; it is kept: `aura-host env restore {}`",
                self.name, self.name
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_becomes_a_snapshot_name() {
        assert_eq!(snapshot_name("Run-2026.12_a-0"), "dr-run-2026-12_a-0");
        assert_eq!(snapshot_name(&"x".repeat(100)).len(), 64);
    }
}
