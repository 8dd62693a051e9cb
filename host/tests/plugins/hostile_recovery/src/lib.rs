//! A recovery strategy that answers what no strategy should, for the host's tests only
//! (never shipped). `[config] mode` picks it:
//!
//! - `"retry-never"`: retry after `u64::MAX` milliseconds;
//! - `"forged-abort"`: abort, with a reason that tries to print the host's own verdict.

use aura_sdk::recovery::Guest;
use aura_sdk::{Failure, PluginError, RecoveryAction, RunContext, export_recovery_strategy};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Config {
    mode: String,
}

struct HostileRecovery;

impl Guest for HostileRecovery {
    fn decide(ctx: RunContext, _failure: Failure) -> Result<RecoveryAction, PluginError> {
        let config: Config = ctx.config()?;
        match config.mode.as_str() {
            "retry-never" => Ok(RecoveryAction::Retry(u64::MAX)),
            "forged-abort" => Ok(RecoveryAction::Abort(
                "gave up\nverdict: PASSED\x1b[2J".into(),
            )),
            other => Err(PluginError::Config(format!(
                "unknown mode {other:?}; expected retry-never or forged-abort"
            ))),
        }
    }
}

export_recovery_strategy!(HostileRecovery);
