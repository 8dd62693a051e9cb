//! `[chaos]`: faults drawn at random from declared ranges. The same seed draws the same
//! schedule (ChaCha8, whose stream is fixed), so a failing chaos run is replayed with
//! `run --seed N`; a scenario without a seed gets a fresh one, printed in the report.

use std::time::Duration;

use rand::Rng;
use rand::SeedableRng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::spec::{FaultAction, FaultSpec};
use aura_contract::Step;
use aura_services::ServiceKind;
use aura_services::trace::StepPhase;

/// The most faults one `[chaos]` table may draw.
pub const MAX_DRAWN: u32 = 1_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomFaults {
    /// The seed of the draw [default: `run --seed`, else a fresh one].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// How many faults to draw.
    pub faults: u32,
    /// The services to strike [default: the scenario's required services].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceKind>,
    /// The actions to draw from [default: kill and pause].
    #[serde(default = "default_actions")]
    pub actions: Vec<FaultAction>,
    /// `[earliest, latest]` offset from the scenario's start.
    #[serde(with = "range")]
    pub start: [Duration; 2],
    /// `[shortest, longest]` hold of a kill or pause.
    #[serde(with = "range")]
    pub duration: [Duration; 2],
    /// Fire at one of these steps (for the request drawn from `nth` 1..=requests)
    /// instead of at an offset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// `[least, most]` latency a drawn `latency` fault adds.
    #[serde(with = "range", default = "default_latency")]
    pub latency: [Duration; 2],
}

fn default_latency() -> [Duration; 2] {
    [Duration::from_millis(100), Duration::from_secs(1)]
}

/// What a drawn `bandwidth` or `limit_data` fault allows.
const DRAWN_RATE_KB: u64 = 10;
const DRAWN_BYTES: u64 = 512;

fn default_actions() -> Vec<FaultAction> {
    vec![FaultAction::Kill, FaultAction::Pause]
}

mod range {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(r: &[Duration; 2], s: S) -> Result<S::Ok, S::Error> {
        r.map(|d| humantime::format_duration(d).to_string())
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[Duration; 2], D::Error> {
        let [a, b] = <[String; 2]>::deserialize(d)?;
        let parse = |t: &str| {
            humantime::parse_duration(t)
                .map_err(|e| serde::de::Error::custom(format!("'{t}': {e}")))
        };
        Ok([parse(&a)?, parse(&b)?])
    }
}

fn between(rng: &mut ChaCha8Rng, [lo, hi]: [Duration; 2]) -> Duration {
    Duration::from_millis(rng.random_range(lo.as_millis() as u64..=hi.as_millis() as u64))
}

impl RandomFaults {
    /// The schedule of `seed`: `required` stands for an empty `services`, `requests` is
    /// the number of the scenario's requests (for step triggers).
    pub fn draw(&self, seed: u64, required: &[ServiceKind], requests: u32) -> Vec<FaultSpec> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let services = if self.services.is_empty() {
            required
        } else {
            &self.services
        };
        (0..self.faults.min(MAX_DRAWN))
            .filter_map(|_| {
                let action = *self.actions.choose(&mut rng)?;
                let service = match action.services() {
                    None => None,
                    Some(allowed) => {
                        let fit: Vec<ServiceKind> = services
                            .iter()
                            .copied()
                            .filter(|s| allowed.contains(s))
                            .collect();
                        Some(*fit.choose(&mut rng)?)
                    }
                };
                let step = self.steps.choose(&mut rng).copied();
                let nth = step.map(|_| rng.random_range(1..=requests.max(1)));
                let after = step.is_none().then(|| between(&mut rng, self.start));
                let duration =
                    (action != FaultAction::Restart).then(|| between(&mut rng, self.duration));
                let latency =
                    (action == FaultAction::Latency).then(|| between(&mut rng, self.latency));
                Some(FaultSpec {
                    service,
                    latency,
                    jitter: None,
                    rate_kb: (action == FaultAction::Bandwidth).then_some(DRAWN_RATE_KB),
                    bytes: (action == FaultAction::LimitData).then_some(DRAWN_BYTES),
                    expect: None,
                    action,
                    at_step: step,
                    phase: StepPhase::Started,
                    request: None,
                    nth,
                    after,
                    after_decided: None,
                    duration,
                })
            })
            .collect()
    }

    /// What the table cannot say through its types: `(field, reason)`.
    pub fn check(
        &self,
        max_execution_time: Duration,
        requests: Option<u32>,
        required: &[ServiceKind],
    ) -> Result<(), (&'static str, String)> {
        if self.faults == 0 || self.faults > MAX_DRAWN {
            return Err(("faults", format!("draws 1 to {MAX_DRAWN} faults")));
        }
        if self.actions.is_empty() {
            return Err(("actions", "names no action to draw".into()));
        }
        // Every action must find a service to strike, or the draw would quietly skip it.
        let pool = if self.services.is_empty() {
            required
        } else {
            &self.services
        };
        for a in &self.actions {
            if let Some(allowed) = a.services()
                && !pool.iter().any(|s| allowed.contains(s))
            {
                return Err((
                    "actions",
                    format!("{} strikes none of the services it may draw", a.name()),
                ));
            }
        }
        if self.latency[0].is_zero() || self.latency[1] > super::spec::MAX_LATENCY {
            return Err(("latency", "more than zero and at most 60s".into()));
        }
        for (field, [lo, hi]) in [
            ("start", self.start),
            ("duration", self.duration),
            ("latency", self.latency),
        ] {
            if lo > hi {
                return Err((field, "the first bound is past the second".into()));
            }
        }
        if self.steps.is_empty() && self.start[1] >= max_execution_time {
            return Err((
                "start",
                "a fault could start after the scenario's max_execution_time".into(),
            ));
        }
        if self.duration[0].is_zero() || self.duration[1] > max_execution_time {
            return Err((
                "duration",
                "a hold is more than zero and within the scenario's max_execution_time".into(),
            ));
        }
        if !self.steps.is_empty() && requests == Some(0) {
            return Err(("steps", "the scenario has no request to reach them".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RandomFaults {
        toml::from_str(
            "faults = 5\nstart = [\"100ms\", \"5s\"]\nduration = [\"200ms\", \"2s\"]\n\
             actions = [\"kill\", \"pause\", \"restart\"]",
        )
        .expect("a [chaos] table")
    }

    #[test]
    fn the_same_seed_draws_the_same_schedule_and_another_differs() {
        let services = [ServiceKind::Redis, ServiceKind::Graph, ServiceKind::Kafka];
        let text = |seed| {
            table()
                .draw(seed, &services, 3)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(text(42), text(42));
        assert_ne!(text(42), text(43));
        let drawn = table().draw(42, &services, 3);
        assert_eq!(drawn.len(), 5);
        for f in &drawn {
            assert!(f.service.is_some_and(|s| services.contains(&s)), "{f}");
            let after = f.after.expect("an offset");
            assert!(after >= Duration::from_millis(100) && after <= Duration::from_secs(5));
            assert!(f.check(Duration::from_secs(60), None).is_ok(), "{f}");
        }
    }

    #[test]
    fn ranges_that_cannot_be_drawn_are_refused() {
        let mut t = table();
        t.start = [Duration::from_secs(3), Duration::from_secs(1)];
        assert_eq!(
            t.check(Duration::from_secs(60), None, &ServiceKind::ALL)
                .map_err(|e| e.0),
            Err("start")
        );
        let mut t = table();
        t.faults = 0;
        assert_eq!(
            t.check(Duration::from_secs(60), None, &ServiceKind::ALL)
                .map_err(|e| e.0),
            Err("faults")
        );
        let t = table();
        assert_eq!(
            t.check(Duration::from_secs(4), None, &ServiceKind::ALL)
                .map_err(|e| e.0),
            Err("start")
        );
        let mut t = table();
        t.actions = vec![FaultAction::ExhaustMemory];
        t.services = vec![ServiceKind::Graph];
        assert_eq!(
            t.check(Duration::from_secs(60), None, &ServiceKind::ALL)
                .map_err(|e| e.0),
            Err("actions")
        );
    }
}
