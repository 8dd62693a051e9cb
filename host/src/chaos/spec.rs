//! A fault as a scenario declares it (`[[faults]]`): the service, the action, what fires
//! it and how long it holds. Checked against its scenario before anything runs.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::environment::fault::{MAX_HOLD, ProcessFault};
use aura_contract::{DenialClass, Step};
use aura_services::ServiceKind;
use aura_services::trace::StepPhase;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// The service it strikes; none for `exhaust_gpus` and `disaster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceKind>,
    pub action: FaultAction,
    /// Fire when this step of the reference workflow starts (or completes: `phase`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_step: Option<Step>,
    /// With `at_step`: fire as the step starts (default) or as it completes.
    #[serde(default)]
    pub phase: StepPhase,
    /// With `at_step`: only when this request reaches the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// With `at_step`: when the n-th request (1-based) to reach the step does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u32>,
    /// Fire this long after the scenario starts.
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub after: Option<Duration>,
    /// Fire once this many of the scenario's requests are decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_decided: Option<u32>,
    /// How long the fault holds before it heals (kill, pause); a restart does not hold.
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<Duration>,
    /// `latency`: added to every chunk the service sends back.
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub latency: Option<Duration>,
    /// `latency`: up to this much more or less, at random.
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub jitter: Option<Duration>,
    /// `bandwidth`: KB per second each way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_kb: Option<u64>,
    /// `limit_data`: bytes a connection carries before it is closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// What must hold of the requests in flight while it held (`recovered`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expectation>,
}

/// The longest latency a fault may add.
pub const MAX_LATENCY: Duration = Duration::from_secs(60);

/// What must hold of the requests under faults: a scenario's `[expect]`, or a fault's
/// `expect` (`recovered` only: of the requests in flight while it held).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case", deny_unknown_fields)]
pub enum Expectation {
    /// Every request decided, the last within `within` of the last fault's heal.
    Recovered {
        #[serde(with = "humantime_serde")]
        within: Duration,
    },
    /// A request may be denied with one of `allowed` instead of its expected outcome.
    Degraded { allowed: Vec<DenialClass> },
    /// A request may end undecided if its failure names the service; none leaves a
    /// half-written decision (a Decision node or cache entry without the decision) or
    /// a device lease behind.
    FailedCleanly,
}

/// What a fault does to its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// SIGKILL; the environment starts the server again after `duration`.
    Kill,
    /// SIGSTOP, then SIGCONT after `duration`.
    Pause,
    /// Stopped and started again at once.
    Restart,
    /// Redis `maxmemory` down to 1 byte with `noeviction`: every write fails with OOM.
    ExhaustMemory,
    /// Every GPU of the scenario's inventory leased away: approvals are short of capacity.
    ExhaustGpus,
    /// Through the fault proxy: answers delayed by `latency` (± `jitter`).
    Latency,
    /// Through the fault proxy: `rate_kb` KB/s each way.
    Bandwidth,
    /// Through the fault proxy: requests arrive, answers never come (a black hole).
    Timeout,
    /// Through the fault proxy: every connection reset (TCP RST) as it carries data.
    ResetPeer,
    /// Through the fault proxy: answers cut into small slices with a delay between them.
    Slice,
    /// Through the fault proxy: a connection is closed after `bytes`.
    LimitData,
    /// Through the fault proxy: no traffic either way, connections held open.
    Partition,
    /// Through the fault proxy: connections refused, open ones closed.
    Down,
    /// The target's Temporal worker cut off (a fault proxy in front of it alone): its
    /// polls hang, tasks back up in the queue while submissions are still accepted.
    StallWorker,
    /// A recovery drill on the local profile: every store snapshotted, the environment
    /// destroyed (`env reset`), the snapshot restored after `duration`.
    Disaster,
}

impl FaultAction {
    /// Every action; the match makes a new one a compile error until it is listed.
    pub const ALL: [FaultAction; 15] = {
        const fn listed(a: FaultAction) -> FaultAction {
            match a {
                FaultAction::Kill
                | FaultAction::Pause
                | FaultAction::Restart
                | FaultAction::ExhaustMemory
                | FaultAction::ExhaustGpus
                | FaultAction::Latency
                | FaultAction::Bandwidth
                | FaultAction::Timeout
                | FaultAction::ResetPeer
                | FaultAction::Slice
                | FaultAction::LimitData
                | FaultAction::Partition
                | FaultAction::Down
                | FaultAction::StallWorker
                | FaultAction::Disaster => a,
            }
        }
        [
            listed(FaultAction::Kill),
            listed(FaultAction::Pause),
            listed(FaultAction::Restart),
            listed(FaultAction::ExhaustMemory),
            listed(FaultAction::ExhaustGpus),
            listed(FaultAction::Latency),
            listed(FaultAction::Bandwidth),
            listed(FaultAction::Timeout),
            listed(FaultAction::ResetPeer),
            listed(FaultAction::Slice),
            listed(FaultAction::LimitData),
            listed(FaultAction::Partition),
            listed(FaultAction::Down),
            listed(FaultAction::StallWorker),
            listed(FaultAction::Disaster),
        ]
    };

    /// The environment's process fault that carries it out, if it is one.
    pub fn process(self) -> Option<ProcessFault> {
        match self {
            Self::Kill => Some(ProcessFault::Kill),
            Self::Pause => Some(ProcessFault::Pause),
            Self::Restart => Some(ProcessFault::Restart),
            _ => None,
        }
    }

    /// Whether it acts through the fault proxy.
    pub fn network(self) -> bool {
        matches!(
            self,
            Self::Latency
                | Self::Bandwidth
                | Self::Timeout
                | Self::ResetPeer
                | Self::Slice
                | Self::LimitData
                | Self::Partition
                | Self::Down
                | Self::StallWorker
        )
    }

    /// Its name in scenario files (the serde name, written once).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    fn holds(self) -> bool {
        self != Self::Restart
    }

    /// The services it can strike: `None` for an action that strikes no service.
    pub fn services(self) -> Option<&'static [ServiceKind]> {
        match self {
            Self::Kill | Self::Pause | Self::Restart => Some(&ServiceKind::ALL),
            Self::ExhaustMemory => Some(&[ServiceKind::Redis]),
            Self::StallWorker => Some(&[ServiceKind::Temporal]),
            Self::ExhaustGpus | Self::Disaster => None,
            _ => Some(&ServiceKind::ALL),
        }
    }
}

/// What fires a fault.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// As the scenario starts, before its requests are submitted.
    Start,
    /// This long after the scenario starts.
    After(Duration),
    /// At an edge of a step.
    Step {
        step: Step,
        phase: StepPhase,
        request: Option<String>,
        nth: Option<u32>,
    },
    /// Once this many requests are decided.
    Decided(u32),
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Start => write!(f, "at the start"),
            Self::After(d) => write!(f, "at +{}", humantime::format_duration(*d)),
            Self::Decided(n) => write!(f, "once {n} request(s) are decided"),
            Self::Step {
                step,
                phase,
                request,
                nth,
            } => {
                let edge = match phase {
                    StepPhase::Started => "starts",
                    StepPhase::Completed => "completes",
                };
                write!(f, "when {step} {edge}")?;
                match (request, nth) {
                    (Some(r), _) => write!(f, " for request {r}"),
                    (None, Some(n)) => write!(f, " for the request #{n} to reach it"),
                    (None, None) => Ok(()),
                }
            }
        }
    }
}

impl FaultSpec {
    /// What it strikes, in words: the service, `gpus` or `environment`.
    pub fn target(&self) -> String {
        match (self.service, self.action) {
            (Some(s), _) => s.to_string(),
            (None, FaultAction::Disaster) => "environment".to_string(),
            (None, _) => "gpus".to_string(),
        }
    }

    pub fn trigger(&self) -> Trigger {
        match (self.at_step, self.after, self.after_decided) {
            (Some(step), _, _) => Trigger::Step {
                step,
                phase: self.phase,
                request: self.request.clone(),
                nth: self.nth,
            },
            (None, _, Some(n)) => Trigger::Decided(n),
            (None, Some(d), None) => Trigger::After(d),
            (None, None, None) => Trigger::Start,
        }
    }

    /// What the declaration cannot say through its types: `(field, reason)`. `requests`
    /// are the scenario's request ids, `None` when a generator adds more at run time.
    pub fn check(
        &self,
        max_execution_time: Duration,
        requests: Option<&BTreeSet<&str>>,
    ) -> Result<(), (&'static str, String)> {
        let bound = max_execution_time.min(MAX_HOLD);
        match (self.action.services(), self.service) {
            (Some(_), None) => {
                return Err((
                    "service",
                    format!("{} needs the service it strikes", self.action.name()),
                ));
            }
            (Some(allowed), Some(s)) if !allowed.contains(&s) => {
                return Err((
                    "service",
                    format!("{} strikes {}, not {s}", self.action.name(), names(allowed)),
                ));
            }
            (None, Some(_)) => {
                return Err((
                    "service",
                    format!(
                        "{} strikes no service; leave service out",
                        self.action.name()
                    ),
                ));
            }
            _ => {}
        }
        let triggers = [
            self.at_step.is_some(),
            self.after.is_some(),
            self.after_decided.is_some(),
        ];
        if triggers.iter().filter(|t| **t).count() > 1 {
            return Err((
                "at_step",
                "give one trigger: at_step, after or after_decided".into(),
            ));
        }
        if self.at_step.is_none() {
            if self.request.is_some() {
                return Err((
                    "request",
                    "names the request of an at_step trigger; give at_step".into(),
                ));
            }
            if self.nth.is_some() {
                return Err((
                    "nth",
                    "counts requests reaching an at_step trigger; give at_step".into(),
                ));
            }
        }
        if self.request.is_some() && self.nth.is_some() {
            return Err(("nth", "give request or nth, not both".into()));
        }
        let count = requests.map(|r| r.len() as u32);
        if let (Some(r), Some(known)) = (&self.request, requests)
            && !known.contains(r.as_str())
        {
            return Err((
                "request",
                format!("no gpu_request has id {r}: the fault could never fire"),
            ));
        }
        for (field, n) in [("nth", self.nth), ("after_decided", self.after_decided)] {
            match (n, count) {
                (Some(0), _) => return Err((field, "counts from 1".into())),
                (Some(n), Some(c)) if n > c => {
                    return Err((
                        field,
                        format!("the scenario has {c} request(s): the fault could never fire"),
                    ));
                }
                _ => {}
            }
        }
        if let Some(after) = self.after
            && after >= max_execution_time
        {
            return Err((
                "after",
                format!(
                    "fires after the scenario's max_execution_time ({})",
                    humantime::format_duration(max_execution_time)
                ),
            ));
        }
        self.check_network()?;
        match &self.expect {
            Some(Expectation::Recovered { within }) if within.is_zero() || *within > MAX_HOLD => {
                return Err(("expect", "`within` is more than zero and at most 1h".into()));
            }
            Some(Expectation::Degraded { .. } | Expectation::FailedCleanly) => {
                return Err((
                    "expect",
                    "a fault expects `recovered`; `degraded` and `failed_cleanly` go in the scenario's [expect]".into(),
                ));
            }
            _ => {}
        }
        match (self.action.holds(), self.duration) {
            (true, None) => Err((
                "duration",
                format!("a {} fault needs the time it holds", self.action.name()),
            )),
            (false, Some(_)) => Err((
                "duration",
                "a restart does not hold; use kill with a duration to keep a server down".into(),
            )),
            (_, Some(d)) if d.is_zero() => {
                Err(("duration", "a fault of zero time never happens".into()))
            }
            (_, Some(d)) if d > bound => Err((
                "duration",
                format!(
                    "the fault would outlast its scenario (max_execution_time {}; at most {})",
                    humantime::format_duration(max_execution_time),
                    humantime::format_duration(MAX_HOLD)
                ),
            )),
            _ => Ok(()),
        }
    }
}

impl FaultSpec {
    /// The proxy settings: each given to the action that uses it, in range.
    fn check_network(&self) -> Result<(), (&'static str, String)> {
        let a = self.action;
        let misplaced = [
            ("latency", self.latency.is_some(), a == FaultAction::Latency),
            ("jitter", self.jitter.is_some(), a == FaultAction::Latency),
            (
                "rate_kb",
                self.rate_kb.is_some(),
                a == FaultAction::Bandwidth,
            ),
            ("bytes", self.bytes.is_some(), a == FaultAction::LimitData),
        ];
        for (field, given, used) in misplaced {
            if given && !used {
                return Err((field, format!("{} has no {field}", a.name())));
            }
            if used && !given && field != "jitter" {
                return Err((field, format!("{} needs {field}", a.name())));
            }
        }
        if let Some(l) = self.latency
            && (l.is_zero() || l > MAX_LATENCY)
        {
            return Err((
                "latency",
                format!(
                    "more than zero and at most {}",
                    humantime::format_duration(MAX_LATENCY)
                ),
            ));
        }
        if let (Some(j), Some(l)) = (self.jitter, self.latency)
            && j > l
        {
            return Err(("jitter", "at most the latency".into()));
        }
        if self.rate_kb == Some(0) {
            return Err(("rate_kb", "at least 1 KB/s".into()));
        }
        if self.bytes == Some(0) {
            return Err(("bytes", "at least 1 byte".into()));
        }
        Ok(())
    }
}

impl std::fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.action.name(),
            self.target(),
            self.trigger()
        )?;
        if let Some(d) = self.duration {
            write!(f, " for {}", humantime::format_duration(d))?;
        }
        Ok(())
    }
}

fn names(services: &[ServiceKind]) -> String {
    services
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> FaultSpec {
        toml::from_str(text).expect("a fault")
    }

    fn refused(text: &str, requests: &[&str]) -> (&'static str, String) {
        let known: BTreeSet<&str> = requests.iter().copied().collect();
        spec(text)
            .check(Duration::from_secs(60), Some(&known))
            .expect_err("refused")
    }

    /// The results schema lists exactly the actions there are.
    #[test]
    fn the_results_schema_lists_every_action() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/results.schema.json");
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("JSON");
        let listed: Vec<String> = schema["$defs"]["fault"]["properties"]["action"]["enum"]
            .as_array()
            .expect("the fault action enum")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let ours: Vec<String> = FaultAction::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(listed, ours);
    }

    #[test]
    fn a_fault_names_its_trigger() {
        let f = spec(
            "service = \"graph\"\naction = \"pause\"\nat_step = \"persist_decision\"\nrequest = \"r2\"\nduration = \"300ms\"",
        );
        assert_eq!(
            f.to_string(),
            "pause graph when persist_decision starts for request r2 for 300ms"
        );
        let f = spec("service = \"redis\"\naction = \"restart\"\nafter_decided = 2");
        assert_eq!(f.trigger(), Trigger::Decided(2));
        assert!(f.check(Duration::from_secs(5), None).is_ok());
    }

    #[test]
    fn a_trigger_that_can_never_fire_is_refused() {
        let base = "service = \"redis\"\naction = \"kill\"\nduration = \"1s\"\n";
        let (field, why) = refused(
            &format!("{base}at_step = \"council_vote\"\nrequest = \"r9\""),
            &["r1"],
        );
        assert_eq!(field, "request");
        assert!(why.contains("r9"), "{why}");
        let (field, _) = refused(
            &format!("{base}at_step = \"council_vote\"\nnth = 3"),
            &["r1", "r2"],
        );
        assert_eq!(field, "nth");
        let (field, _) = refused(&format!("{base}after_decided = 0"), &["r1"]);
        assert_eq!(field, "after_decided");
        let (field, _) = refused(&format!("{base}after = \"2m\""), &["r1"]);
        assert_eq!(field, "after");
        let (field, _) = refused(&format!("{base}request = \"r1\""), &["r1"]);
        assert_eq!(field, "request");
        let (field, _) = refused(
            &format!("{base}at_step = \"council_vote\"\nafter = \"1s\""),
            &["r1"],
        );
        assert_eq!(field, "at_step");
    }

    #[test]
    fn each_action_strikes_only_what_it_can() {
        let (field, why) = refused("action = \"kill\"\nduration = \"1s\"", &[]);
        assert_eq!(field, "service");
        assert!(why.contains("needs the service"), "{why}");
        let (_, why) = refused(
            "service = \"graph\"\naction = \"exhaust_memory\"\nduration = \"1s\"",
            &[],
        );
        assert!(why.contains("strikes redis, not graph"), "{why}");
        let (_, why) = refused(
            "service = \"redis\"\naction = \"exhaust_gpus\"\nduration = \"1s\"",
            &[],
        );
        assert!(why.contains("leave service out"), "{why}");
        let f = spec("action = \"exhaust_gpus\"\nafter = \"1s\"\nduration = \"2s\"");
        assert_eq!(f.to_string(), "exhaust_gpus gpus at +1s for 2s");
        assert!(f.check(Duration::from_secs(60), None).is_ok());
        let f = spec("action = \"disaster\"\nafter_decided = 1\nduration = \"1s\"");
        assert_eq!(
            f.to_string(),
            "disaster environment once 1 request(s) are decided for 1s"
        );
        assert!(f.check(Duration::from_secs(60), None).is_ok());
        let (field, _) = refused(
            "service = \"redis\"\naction = \"disaster\"\nduration = \"1s\"",
            &[],
        );
        assert_eq!(field, "service");
    }

    #[test]
    fn a_fault_holds_some_time_within_its_scenario() {
        let (field, why) = refused("service = \"kafka\"\naction = \"pause\"", &[]);
        assert_eq!(field, "duration");
        assert!(why.contains("needs the time it holds"), "{why}");
        let (_, why) = refused(
            "service = \"kafka\"\naction = \"pause\"\nduration = \"0s\"",
            &[],
        );
        assert!(why.contains("zero time"), "{why}");
        let (_, why) = refused(
            "service = \"kafka\"\naction = \"pause\"\nduration = \"2m\"",
            &[],
        );
        assert!(why.contains("outlast its scenario"), "{why}");
        let (_, why) = refused(
            "service = \"kafka\"\naction = \"restart\"\nduration = \"2s\"",
            &[],
        );
        assert!(why.contains("does not hold"), "{why}");
        let (field, why) = refused(
            "service = \"kafka\"\naction = \"pause\"\nduration = \"2s\"\n\
             expect = { outcome = \"failed_cleanly\" }",
            &[],
        );
        assert_eq!(field, "expect");
        assert!(why.contains("scenario's [expect]"), "{why}");
    }
}
