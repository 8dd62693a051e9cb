//! A recovery strategy that retries a failed operation with exponential backoff and
//! aborts the run once the attempts run out. Transient failures of a service (a Redis
//! reconnect, a Kafka leader election) usually clear within seconds, so waiting a little
//! longer each time rides them out without hammering the service; a failure that outlasts
//! `max_attempts` is not transient, and carrying on would only hide it.
//!
//! Configuration (every key optional):
//!
//! ```toml
//! base_ms = 100          # delay before the first retry
//! max_ms = 10000         # cap on any one delay
//! max_attempts = 5       # attempts allowed before aborting
//! retry_services = []    # services to retry; others are skipped (empty = all)
//! ```

use aura_sdk::recovery::Guest;
use aura_sdk::{
    Failure, Level, PluginError, RecoveryAction, RunContext, export_recovery_strategy, log,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    base_ms: u64,
    max_ms: u64,
    max_attempts: u32,
    retry_services: Vec<String>,
    /// What the host adds in a scenario (`docs/validators.md`); not needed here, but
    /// accepted, so unknown keys can still be refused as typos.
    scenario: Option<serde::de::IgnoredAny>,
    target: Option<serde::de::IgnoredAny>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            base_ms: 100,
            max_ms: 10_000,
            max_attempts: 5,
            retry_services: Vec::new(),
            scenario: None,
            target: None,
        }
    }
}

/// `base_ms * 2^(attempt - 1)`, capped at `max_ms`; attempt 0 counts as the first.
fn delay_ms(config: &Config, attempt: u32) -> u64 {
    let factor = 1u64.checked_shl(attempt.max(1) - 1).unwrap_or(u64::MAX);
    config.base_ms.saturating_mul(factor).min(config.max_ms)
}

fn choose(config: &Config, failure: &Failure) -> RecoveryAction {
    if failure.attempt > config.max_attempts {
        return RecoveryAction::Abort(format!(
            "gave up after {} attempts: {}",
            config.max_attempts, failure.error
        ));
    }
    if !config.retry_services.is_empty() && !config.retry_services.contains(&failure.service) {
        return RecoveryAction::Skip;
    }
    RecoveryAction::Retry(delay_ms(config, failure.attempt))
}

struct ExponentialBackoff;

impl Guest for ExponentialBackoff {
    fn decide(ctx: RunContext, failure: Failure) -> Result<RecoveryAction, PluginError> {
        let config: Config = ctx.config()?;
        let action = choose(&config, &failure);
        let decision = match &action {
            RecoveryAction::Retry(ms) => format!("retry in {ms} ms"),
            RecoveryAction::Skip => "skip (service not retried)".to_string(),
            RecoveryAction::Degrade(how) => format!("degrade: {how}"),
            RecoveryAction::Abort(why) => format!("abort: {why}"),
        };
        log(
            Level::Info,
            &format!(
                "run {}: {}.{} failed (attempt {}, {} ms in): {decision}",
                ctx.run_id, failure.service, failure.operation, failure.attempt, failure.elapsed_ms
            ),
        );
        Ok(action)
    }
}

export_recovery_strategy!(ExponentialBackoff);

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(service: &str, attempt: u32) -> Failure {
        Failure {
            service: service.to_string(),
            operation: "get".to_string(),
            attempt,
            error: "connection refused".to_string(),
            elapsed_ms: 0,
        }
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let config = Config::default();
        let delays: Vec<u64> = (0..=5).map(|a| delay_ms(&config, a)).collect();
        assert_eq!(delays, [100, 100, 200, 400, 800, 1600]);
        assert_eq!(delay_ms(&config, 20), 10_000);
        assert_eq!(delay_ms(&config, u32::MAX), 10_000);
        let huge = Config {
            base_ms: u64::MAX,
            max_ms: u64::MAX,
            ..Config::default()
        };
        assert_eq!(delay_ms(&huge, 3), u64::MAX);
    }

    #[test]
    fn aborts_after_max_attempts_and_skips_other_services() {
        let config = Config {
            retry_services: vec!["redis".to_string()],
            ..Config::default()
        };
        assert!(matches!(
            choose(&config, &failure("redis", 5)),
            RecoveryAction::Retry(1600)
        ));
        assert!(matches!(
            choose(&config, &failure("redis", 6)),
            RecoveryAction::Abort(why) if why == "gave up after 5 attempts: connection refused"
        ));
        assert!(matches!(
            choose(&config, &failure("kafka", 1)),
            RecoveryAction::Skip
        ));
    }
}
