//! `[load]`: how a scenario's requests arrive. `open` is an arrival rate (k6's
//! `ramping-arrival-rate`): stages of a constant or ramping rate, a cap on requests in
//! flight, and arrivals over the cap dropped and counted, so a slow target shows as
//! dropped work rather than a quietly lower rate. `closed` is a number of virtual users,
//! each submitting its next request when its last is decided and its think time passed.
//! Requests come from a template with ranges drawn from a seed, or else from the
//! scenario's own requests (written or generated), taken in turn.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use aura_reference::GpuAllocationRequest;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    Open,
    Closed,
}

impl Model {
    pub fn name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    pub model: Model,
    /// Open model: the stages, in order.
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// Open model: requests in flight at most; an arrival over it is dropped.
    #[serde(default = "default_in_flight")]
    pub max_in_flight: u32,
    /// Closed model: virtual users.
    #[serde(default)]
    pub vus: Option<u32>,
    /// Closed model: how long the users keep submitting.
    #[serde(default, with = "humantime_serde")]
    pub duration: Option<Duration>,
    /// Closed model: a user's pause between a decision and its next request.
    #[serde(default, with = "humantime_serde")]
    pub think_time: Option<Duration>,
    /// The longest one request may take before it counts as failed.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Requests per validator call: validators check decided requests in batches of
    /// this many while the load goes on.
    #[serde(default = "default_batch")]
    pub validate_batch: u32,
    /// The seed the template is drawn with [default: `run --seed`, else 0].
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub template: Option<Template>,
}

fn default_in_flight() -> u32 {
    100
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_batch() -> u32 {
    100
}

/// One stage of an open model: `rate` requests per second for `duration`, ramping
/// linearly from `from` when given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub rate: f64,
    #[serde(default)]
    pub from: Option<f64>,
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
}

impl Stage {
    fn start_rate(&self) -> f64 {
        self.from.unwrap_or(self.rate)
    }

    /// Requests per second asked for, on average over the stage.
    pub fn mean_rate(&self) -> f64 {
        (self.start_rate() + self.rate) / 2.0
    }

    /// How many arrivals its schedule has.
    pub fn arrivals(&self) -> u64 {
        (0..).take_while(|i| self.arrival(*i).is_some()).count() as u64
    }

    /// When (after the stage starts) its i-th arrival (from 0) is due; `None` past the
    /// stage. Arrivals follow the rate's integral: `from·t + (rate-from)·t²/2d = i`.
    pub fn arrival(&self, i: u64) -> Option<Duration> {
        let (a, b) = (self.start_rate(), self.rate);
        let d = self.duration.as_secs_f64();
        let i = i as f64;
        let k = (b - a) / d;
        let t = if k.abs() < 1e-12 {
            i / a
        } else {
            (-a + (a * a + 2.0 * k * i).max(0.0).sqrt()) / k
        };
        (t.is_finite() && t < d).then(|| Duration::from_secs_f64(t))
    }
}

/// A value of a template: one, or a range `[low, high]` drawn from uniformly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Range {
    One(u32),
    Between([u32; 2]),
}

impl Range {
    fn draw(&self, rng: &mut ChaCha8Rng) -> u32 {
        match *self {
            Self::One(v) => v,
            Self::Between([lo, hi]) => rng.random_range(lo..=hi),
        }
    }

    fn check(&self) -> Result<(), String> {
        match *self {
            Self::Between([lo, hi]) if lo > hi => Err(format!("[{lo}, {hi}]: low above high")),
            _ => Ok(()),
        }
    }
}

/// One of a list of names, or the one given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Choice {
    One(String),
    Any(Vec<String>),
}

impl Choice {
    fn draw(&self, rng: &mut ChaCha8Rng) -> String {
        match self {
            Self::One(v) => v.clone(),
            Self::Any(vs) => vs[rng.random_range(0..vs.len())].clone(),
        }
    }

    fn check(&self) -> Result<(), String> {
        match self {
            Self::Any(vs) if vs.is_empty() => Err("names nothing to choose from".into()),
            Self::One(v) if v.trim().is_empty() => Err("is empty".into()),
            Self::Any(vs) if vs.iter().any(|v| v.trim().is_empty()) => {
                Err("has an empty name".into())
            }
            _ => Ok(()),
        }
    }
}

/// `[load.template]`: what each request looks like, drawn from the seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    #[serde(default = "default_team")]
    pub team: Choice,
    #[serde(default = "one")]
    pub gpu_count: Range,
    #[serde(default)]
    pub gpu_model: Option<Choice>,
    #[serde(default = "default_memory")]
    pub memory_gb: Range,
    #[serde(default = "default_priority")]
    pub priority: Range,
    #[serde(default = "one")]
    pub duration_minutes: Range,
}

fn default_team() -> Choice {
    Choice::One("load".into())
}

fn one() -> Range {
    Range::One(1)
}

fn default_memory() -> Range {
    Range::One(16)
}

fn default_priority() -> Range {
    Range::One(5)
}

/// The id of a load scenario's n-th request (from 1).
pub fn request_id(n: u64) -> String {
    format!("load-{n}")
}

/// Where a load's requests come from, in arrival order: the same seed (or list) gives
/// the same requests.
pub enum Source {
    Template(Box<(Template, ChaCha8Rng)>, u64),
    Pool(Vec<GpuAllocationRequest>),
}

impl Source {
    pub fn new(spec: &LoadSpec, pool: &[GpuAllocationRequest], seed: Option<u64>) -> Source {
        match &spec.template {
            Some(t) => {
                let seed = spec.seed.or(seed).unwrap_or(0);
                Source::Template(Box::new((t.clone(), ChaCha8Rng::seed_from_u64(seed))), seed)
            }
            None => Source::Pool(pool.to_vec()),
        }
    }

    /// In words, for the report.
    pub fn describe(&self) -> String {
        match self {
            Self::Template(_, seed) => format!("template, seed {seed}"),
            Self::Pool(p) => format!("the scenario's {} request(s) in turn", p.len()),
        }
    }

    /// The n-th request (from 1), as `load-<n>`; `None` from an empty pool.
    pub fn next(&mut self, n: u64) -> Option<GpuAllocationRequest> {
        let request_id = request_id(n);
        match self {
            Self::Template(drawn, _) => {
                let (t, rng) = &mut **drawn;
                Some(GpuAllocationRequest {
                    request_id,
                    team: t.team.draw(rng),
                    gpu_count: t.gpu_count.draw(rng),
                    gpu_model: t.gpu_model.as_ref().map(|m| m.draw(rng)),
                    memory_gb: t.memory_gb.draw(rng),
                    priority: t.priority.draw(rng),
                    duration_minutes: t.duration_minutes.draw(rng),
                })
            }
            Self::Pool(p) if p.is_empty() => None,
            Self::Pool(p) => {
                let mut r = p[((n - 1) % p.len() as u64) as usize].clone();
                r.request_id = request_id;
                Some(r)
            }
        }
    }
}

impl LoadSpec {
    /// How long arrivals go on (`Duration::MAX` past what a duration holds).
    pub fn length(&self) -> Duration {
        match self.model {
            Model::Open => self
                .stages
                .iter()
                .try_fold(Duration::ZERO, |a, s| a.checked_add(s.duration))
                .unwrap_or(Duration::MAX),
            Model::Closed => self.duration.unwrap_or_default(),
        }
    }

    /// About how many requests it sends at most: its stages' arrivals, or its users.
    pub fn planned(&self) -> f64 {
        match self.model {
            Model::Open => self
                .stages
                .iter()
                .map(|s| s.mean_rate() * s.duration.as_secs_f64())
                .sum(),
            Model::Closed => f64::from(self.vus.unwrap_or(0)),
        }
    }

    /// What the file cannot say through its types: `(field, offending value, reason)`.
    /// `has_requests`: the scenario has requests of its own or a generator.
    pub fn check(
        &self,
        max_execution_time: Duration,
        has_requests: bool,
    ) -> Result<(), (String, String, String)> {
        let bad = |field: &str, value: String, reason: &str| {
            Err((format!("load.{field}"), value, reason.to_string()))
        };
        match self.model {
            Model::Open => {
                if self.stages.is_empty() {
                    return bad("stages", "stages".into(), "an open model needs a stage");
                }
                for (i, s) in self.stages.iter().enumerate() {
                    if !(s.rate.is_finite() && s.rate > 0.0) {
                        return bad(
                            &format!("stages[{i}].rate"),
                            s.rate.to_string(),
                            "requests per second, more than 0",
                        );
                    }
                    if s.from.is_some_and(|f| !(f.is_finite() && f >= 0.0)) {
                        return bad(
                            &format!("stages[{i}].from"),
                            s.start_rate().to_string(),
                            "requests per second, 0 or more",
                        );
                    }
                    if s.duration.is_zero() {
                        return bad(
                            &format!("stages[{i}].duration"),
                            "duration".into(),
                            "must be more than zero",
                        );
                    }
                }
                if self.max_in_flight == 0 {
                    return bad("max_in_flight", "max_in_flight".into(), "must be 1 or more");
                }
                for field in ["vus", "duration", "think_time"] {
                    let set = match field {
                        "vus" => self.vus.is_some(),
                        "duration" => self.duration.is_some(),
                        _ => self.think_time.is_some(),
                    };
                    if set {
                        return bad(
                            field,
                            field.into(),
                            "belongs to a closed model; an open model has stages",
                        );
                    }
                }
            }
            Model::Closed => {
                if !self.stages.is_empty() {
                    return bad(
                        "stages",
                        "stages".into(),
                        "belong to an open model; a closed model has vus and duration",
                    );
                }
                if self.vus.is_none_or(|v| v == 0) {
                    return bad("vus", "vus".into(), "a closed model needs 1 or more users");
                }
                if self.duration.is_none_or(|d| d.is_zero()) {
                    return bad(
                        "duration",
                        "duration".into(),
                        "a closed model needs a duration more than zero",
                    );
                }
            }
        }
        if self.request_timeout.is_zero() || self.request_timeout > max_execution_time {
            return bad(
                "request_timeout",
                "request_timeout".into(),
                "more than zero and at most max_execution_time",
            );
        }
        if let (Some(think), Some(d)) = (self.think_time, self.duration)
            && think >= d
        {
            return bad(
                "think_time",
                "think_time".into(),
                "a user's pause must be shorter than the load's duration",
            );
        }
        if self.validate_batch == 0 {
            return bad(
                "validate_batch",
                "validate_batch".into(),
                "must be 1 or more",
            );
        }
        if self.length() >= max_execution_time {
            return bad(
                if self.model == Model::Open {
                    "stages"
                } else {
                    "duration"
                },
                "max_execution_time".into(),
                &format!(
                    "the load lasts {}, not less than max_execution_time ({}); raise max_execution_time to leave time for the last requests and the validators",
                    humantime::format_duration(self.length()),
                    humantime::format_duration(max_execution_time)
                ),
            );
        }
        match &self.template {
            None if !has_requests => bad(
                "template",
                "[load]".into(),
                "no requests to send: give [load.template], gpu_requests or a [generator]",
            ),
            None => Ok(()),
            Some(t) => {
                let ranges = [
                    ("gpu_count", &t.gpu_count),
                    ("memory_gb", &t.memory_gb),
                    ("priority", &t.priority),
                    ("duration_minutes", &t.duration_minutes),
                ];
                for (field, r) in ranges {
                    if let Err(why) = r.check() {
                        return bad(&format!("template.{field}"), field.into(), &why);
                    }
                }
                let choices = [("team", Some(&t.team)), ("gpu_model", t.gpu_model.as_ref())];
                for (field, c) in choices {
                    if let Some(Err(why)) = c.map(Choice::check) {
                        return bad(&format!("template.{field}"), field.into(), &why);
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(from: Option<f64>, rate: f64, secs: u64) -> Stage {
        Stage {
            rate,
            from,
            duration: Duration::from_secs(secs),
        }
    }

    fn count(s: &Stage) -> u64 {
        s.arrivals()
    }

    #[test]
    fn a_constant_stage_spaces_its_arrivals_evenly() {
        let s = stage(None, 5.0, 30);
        assert_eq!(count(&s), 150);
        assert_eq!(s.arrival(1), Some(Duration::from_millis(200)));
        assert_eq!(s.arrival(150), None);
    }

    #[test]
    fn a_ramp_sends_the_integral_of_its_rate_and_speeds_up() {
        let s = stage(Some(0.0), 20.0, 60);
        // 0 → 20/s over 60 s: 600 arrivals, sparse first, dense last.
        assert_eq!(count(&s), 600);
        let gap = |i| s.arrival(i + 1).unwrap_or_default() - s.arrival(i).unwrap_or_default();
        assert!(gap(10) > gap(500), "{:?} {:?}", gap(10), gap(500));
        assert_eq!(s.mean_rate(), 10.0);
    }

    fn checked(text: &str, max: u64) -> Result<(), String> {
        let spec: LoadSpec = toml::from_str(text).map_err(|e| e.to_string())?;
        spec.check(Duration::from_secs(max), true)
            .map_err(|(field, _, why)| format!("{field}: {why}"))
    }

    #[test]
    fn contradictions_and_absurd_durations_are_refused_without_panicking() {
        for (text, says) in [
            (
                "model = \"closed\"\nvus = 2\nduration = \"10s\"\nthink_time = \"10s\"",
                "load.think_time",
            ),
            (
                "model = \"open\"\nstages = [{ rate = 1, duration = \"1s\" }]\nrequest_timeout = \"2h\"",
                "load.request_timeout",
            ),
            (
                "model = \"open\"\nstages = [{ rate = 1, duration = \"400000000000years\" }, { rate = 1, duration = \"400000000000years\" }]",
                "max_execution_time",
            ),
            (
                "model = \"open\"\nstages = [{ rate = 1, duration = \"1s\" }]\nvus = 3",
                "load.vus: belongs to a closed model",
            ),
            ("model = \"closed\"\nduration = \"1s\"", "load.vus"),
        ] {
            let e = checked(text, 3600).expect_err(text);
            assert!(e.contains(says), "{text}: {e}");
        }
        assert!(
            checked(
                "model = \"open\"\nstages = [{ rate = 2, duration = \"1s\" }]",
                60
            )
            .is_ok()
        );
    }

    #[test]
    fn a_template_draws_the_same_requests_from_the_same_seed() {
        let spec: LoadSpec = toml::from_str(
            r#"
model = "open"
stages = [{ rate = 1, duration = "1s" }]
[template]
team = ["a", "b", "c"]
gpu_count = [1, 4]
gpu_model = ["A100", "H100"]
"#,
        )
        .expect("parses");
        let draw = |seed| {
            let mut s = Source::new(&spec, &[], Some(seed));
            (1..=20).filter_map(|n| s.next(n)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let reqs = draw(7);
        assert_eq!(reqs[0].request_id, "load-1");
        assert!(reqs.iter().all(|r| (1..=4).contains(&r.gpu_count)));
        assert!(reqs.iter().any(|r| r.team != reqs[0].team));
    }
}
