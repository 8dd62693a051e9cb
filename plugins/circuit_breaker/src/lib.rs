//! A recovery strategy with a circuit breaker per service. While the circuit is closed a
//! failure is retried after `retry_ms`; the `threshold`-th consecutive failure of the
//! service opens it, and from then on its failures are not retried: the run carries on
//! degraded without the service (or skips the step, with `open_action = "skip"`). After
//! `cooldown_ms` the circuit is half-open: one retry is allowed; a failure within
//! `cooldown_ms` of that trial opens the circuit again, a later one finds it closed.
//! Retrying a service that is down only piles load on it and delays the run, while a
//! service that went away briefly is worth a few retries.
//!
//! The plugin is told about failures only, never about successes, so failures more than
//! `cooldown_ms` apart are not consecutive.
//!
//! State: with `cache = { access = "write", key-prefixes = ["aura:{run}:recovery:"] }` each
//! service's circuit is kept as JSON at `aura:<run>:recovery:circuit:<service>` (expiring
//! after twice the cooldown and a minute), shared by every operation of the service. The
//! default grants are read-only: the write is denied and the circuit is reckoned from the
//! failure alone: its `attempt` is the count of consecutive failures, and past the
//! threshold one retry is allowed per `cooldown_ms` of the operation's `elapsed_ms`.
//!
//! Configuration (every key optional):
//!
//! ```toml
//! retry_ms = 200          # delay before a retry while closed (and for the half-open trial)
//! threshold = 3           # consecutive failures that open the circuit
//! cooldown_ms = 30000     # how long the circuit stays open before a trial
//! open_action = "degrade" # or "skip": what an open circuit answers
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use aura_sdk::recovery::Guest;
use aura_sdk::{
    Failure, HostError, Level, PluginError, RecoveryAction, RunContext, cache,
    export_recovery_strategy, log,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum OpenAction {
    #[default]
    Degrade,
    Skip,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct Config {
    retry_ms: u64,
    threshold: u32,
    cooldown_ms: u64,
    open_action: OpenAction,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            retry_ms: 200,
            threshold: 3,
            cooldown_ms: 30_000,
            open_action: OpenAction::Degrade,
        }
    }
}

impl Config {
    fn threshold(&self) -> u32 {
        self.threshold.max(1)
    }
}

/// Where a service's circuit stands.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Phase {
    #[default]
    Closed,
    Open {
        since_ms: u64,
    },
    HalfOpen {
        trial_ms: u64,
    },
}

/// The circuit of one service as stored in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
struct Circuit {
    #[serde(flatten)]
    phase: Phase,
    failures: u32,
    last_failure_ms: u64,
}

/// What the circuit says about one failure.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    /// Closed: retry; `failures` of `threshold` so far.
    Retry { failures: u32 },
    /// Open: no retry for `left_ms` more.
    Open { failures: u32, left_ms: u64 },
    /// Half-open: the one trial retry.
    Trial,
}

/// A failure at `now_ms` against the stored circuit: the new circuit and the verdict.
fn record(c: Circuit, now_ms: u64, config: &Config) -> (Circuit, Verdict) {
    let since = |t: u64| now_ms.saturating_sub(t);
    let open = |failures: u32| {
        let circuit = Circuit {
            phase: Phase::Open { since_ms: now_ms },
            failures,
            last_failure_ms: now_ms,
        };
        let left_ms = config.cooldown_ms;
        (circuit, Verdict::Open { failures, left_ms })
    };
    let failures = c.failures.saturating_add(1);
    match c.phase {
        Phase::Open { since_ms } if since(since_ms) >= config.cooldown_ms => {
            let phase = Phase::HalfOpen { trial_ms: now_ms };
            let circuit = Circuit {
                phase,
                failures,
                last_failure_ms: now_ms,
            };
            (circuit, Verdict::Trial)
        }
        Phase::Open { since_ms } => {
            let circuit = Circuit {
                failures,
                last_failure_ms: now_ms,
                ..c
            };
            let left_ms = config.cooldown_ms - since(since_ms);
            (circuit, Verdict::Open { failures, left_ms })
        }
        Phase::HalfOpen { trial_ms } if since(trial_ms) <= config.cooldown_ms => open(failures),
        Phase::HalfOpen { .. } | Phase::Closed => {
            let quiet = c.failures == 0 || since(c.last_failure_ms) > config.cooldown_ms;
            let failures = if quiet { 1 } else { failures };
            if failures >= config.threshold() {
                return open(failures);
            }
            let circuit = Circuit {
                phase: Phase::Closed,
                failures,
                last_failure_ms: now_ms,
            };
            (circuit, Verdict::Retry { failures })
        }
    }
}

/// The verdict without stored state: `attempt` consecutive failures, and past the
/// threshold one trial per `cooldown_ms` of the operation's elapsed time.
fn reckon(failure: &Failure, config: &Config) -> Verdict {
    let threshold = config.threshold();
    let failures = failure.attempt.max(1);
    if failures < threshold {
        return Verdict::Retry { failures };
    }
    let trials = u64::from(failures - threshold) + 1;
    let due = config.cooldown_ms.saturating_mul(trials);
    if failure.elapsed_ms >= due {
        Verdict::Trial
    } else {
        let left_ms = due - failure.elapsed_ms;
        Verdict::Open { failures, left_ms }
    }
}

fn action(verdict: Verdict, service: &str, config: &Config) -> RecoveryAction {
    match verdict {
        Verdict::Retry { .. } | Verdict::Trial => RecoveryAction::Retry(config.retry_ms),
        Verdict::Open { .. } if config.open_action == OpenAction::Skip => RecoveryAction::Skip,
        Verdict::Open { failures, left_ms } => RecoveryAction::Degrade(format!(
            "circuit open for {service} after {failures} failures; carrying on without it, \
             next trial in {left_ms} ms"
        )),
    }
}

fn describe(verdict: Verdict, config: &Config) -> String {
    match verdict {
        Verdict::Retry { failures } => format!(
            "circuit closed ({failures} of {} failures)",
            config.threshold()
        ),
        Verdict::Open { failures, left_ms } => {
            format!("circuit open after {failures} failures, {left_ms} ms to a trial")
        }
        Verdict::Trial => "circuit half-open: one trial retry".to_string(),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The stored circuit moved on by this failure, if the plugin may keep state.
fn stateful(key: &str, config: &Config) -> Result<Verdict, HostError> {
    let stored = match cache::get(key)? {
        Some(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
            log(
                Level::Warn,
                &format!("{key} is not a circuit ({e}); starting closed"),
            );
            Circuit::default()
        }),
        None => Circuit::default(),
    };
    let (circuit, verdict) = record(stored, now_ms(), config);
    let json = serde_json::to_string(&circuit)
        .map_err(|e| HostError::Invalid(format!("circuit state: {e}")))?;
    let ttl_s = config.cooldown_ms.saturating_mul(2).div_ceil(1000) + 60;
    cache::set(key, &json, Some(ttl_s))?;
    Ok(verdict)
}

struct CircuitBreaker;

impl Guest for CircuitBreaker {
    fn decide(ctx: RunContext, failure: Failure) -> Result<RecoveryAction, PluginError> {
        let config: Config = ctx.config()?;
        let key = ctx.key(&format!("recovery:circuit:{}", failure.service));
        let (verdict, mode) = match stateful(&key, &config) {
            Ok(v) => (v, "kept in the cache".to_string()),
            Err(e) => (
                reckon(&failure, &config),
                format!("stateless, {}", e.reason()),
            ),
        };
        let action = action(verdict, &failure.service, &config);
        let answer = match &action {
            RecoveryAction::Retry(ms) => format!("retry in {ms} ms"),
            RecoveryAction::Skip => "skip".to_string(),
            RecoveryAction::Degrade(how) => format!("degrade: {how}"),
            RecoveryAction::Abort(why) => format!("abort: {why}"),
        };
        log(
            Level::Info,
            &format!(
                "run {}: {}.{} failed (attempt {}, {} ms in): {answer} [{}; {mode}]",
                ctx.run_id,
                failure.service,
                failure.operation,
                failure.attempt,
                failure.elapsed_ms,
                describe(verdict, &config)
            ),
        );
        Ok(action)
    }
}

export_recovery_strategy!(CircuitBreaker);

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: &Config, times: &[u64]) -> Vec<Verdict> {
        let mut circuit = Circuit::default();
        times
            .iter()
            .map(|t| {
                let (next, verdict) = record(circuit, *t, config);
                circuit = next;
                verdict
            })
            .collect()
    }

    #[test]
    fn opens_at_the_threshold_and_tries_once_after_the_cooldown() {
        let config = Config::default();
        let verdicts = run(&config, &[0, 100, 200, 10_200, 30_200, 30_500, 60_500]);
        assert_eq!(
            verdicts,
            [
                Verdict::Retry { failures: 1 },
                Verdict::Retry { failures: 2 },
                Verdict::Open {
                    failures: 3,
                    left_ms: 30_000
                },
                Verdict::Open {
                    failures: 4,
                    left_ms: 20_000
                },
                Verdict::Trial,
                // The trial failed: open again for a whole cooldown.
                Verdict::Open {
                    failures: 6,
                    left_ms: 30_000
                },
                Verdict::Trial,
            ]
        );
    }

    #[test]
    fn failures_a_cooldown_apart_are_not_consecutive() {
        let config = Config::default();
        assert_eq!(
            run(&config, &[0, 100, 40_000, 40_100]),
            [
                Verdict::Retry { failures: 1 },
                Verdict::Retry { failures: 2 },
                Verdict::Retry { failures: 1 },
                Verdict::Retry { failures: 2 },
            ]
        );
        // A trial that was not followed by a failure within the cooldown succeeded.
        let verdicts = run(&config, &[0, 1, 2, 30_002, 70_000]);
        assert_eq!(verdicts[3], Verdict::Trial);
        assert_eq!(verdicts[4], Verdict::Retry { failures: 1 });
    }

    #[test]
    fn the_state_round_trips_through_json() {
        let (circuit, _) = record(Circuit::default(), 5, &Config::default());
        let (open, _) = record(
            circuit,
            6,
            &Config {
                threshold: 2,
                ..Config::default()
            },
        );
        let json = serde_json::to_string(&open).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"state":"open","since_ms":6,"failures":2,"last_failure_ms":6}"#
        );
        assert_eq!(serde_json::from_str::<Circuit>(&json).ok(), Some(open));
    }

    fn failure(attempt: u32, elapsed_ms: u64) -> Failure {
        Failure {
            service: "redis".into(),
            operation: "set".into(),
            attempt,
            error: "connection refused".into(),
            elapsed_ms,
        }
    }

    #[test]
    fn without_state_the_attempt_counts_and_elapsed_time_cools() {
        let config = Config::default();
        assert_eq!(
            reckon(&failure(2, 500), &config),
            Verdict::Retry { failures: 2 }
        );
        assert_eq!(
            reckon(&failure(3, 500), &config),
            Verdict::Open {
                failures: 3,
                left_ms: 29_500
            }
        );
        assert_eq!(reckon(&failure(3, 30_000), &config), Verdict::Trial);
        // The trial failed: the next one is due after another cooldown.
        assert_eq!(
            reckon(&failure(4, 31_000), &config),
            Verdict::Open {
                failures: 4,
                left_ms: 29_000
            }
        );
        assert_eq!(reckon(&failure(4, 60_000), &config), Verdict::Trial);
    }

    #[test]
    fn an_open_circuit_degrades_or_skips() {
        let open = Verdict::Open {
            failures: 3,
            left_ms: 1000,
        };
        let config = Config::default();
        assert!(matches!(
            action(open, "kafka", &config),
            RecoveryAction::Degrade(how)
                if how.starts_with("circuit open for kafka after 3 failures; ")
        ));
        assert!(matches!(
            action(Verdict::Trial, "kafka", &config),
            RecoveryAction::Retry(200)
        ));
        let skip: Option<Config> = toml_config("open_action = \"skip\"\nthreshold = 5");
        let Some(skip) = skip else {
            panic!("config did not parse");
        };
        assert_eq!(skip.threshold, 5);
        assert!(matches!(action(open, "kafka", &skip), RecoveryAction::Skip));
        assert!(toml_config("open_action = \"explode\"").is_none());
    }

    fn toml_config(text: &str) -> Option<Config> {
        let ctx = RunContext {
            run_id: "r".into(),
            scenario: "s".into(),
            request_ids: vec![],
            config: text.into(),
            faults: Vec::new(),
            load: None,
        };
        ctx.config().ok()
    }
}
