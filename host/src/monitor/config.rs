//! The monitor's file (`aura-host monitor FILE`): its interval, the probe it runs each
//! cycle, how anomalies are judged, its journal's bounds, alert rules and where alerts
//! go. Every field is checked while it is read, so a bad one is refused with the file,
//! line, column and field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use aura_contract::Step;
use aura_services::ServiceKind;
use aura_services::config::{ConfigError, parse_toml};

use super::baseline::Learning;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// From the start of one cycle to the start of the next (a cycle that takes longer
    /// is followed at once).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// The most one cycle (readiness and probe) may take; past it the cycle fails.
    #[serde(with = "humantime_serde")]
    pub cycle_deadline: Duration,
    pub probe: Probe,
    pub anomaly: Anomaly,
    pub journal: JournalBounds,
    /// A step slowed on purpose in every probe while it is set: a fire drill for the
    /// alerting path. Edit it in or out while the monitor runs.
    pub drill: Option<Drill>,
    #[serde(rename = "rule")]
    pub rules: Vec<Rule>,
    #[serde(rename = "notify")]
    pub notify: Vec<Notify>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            cycle_deadline: Duration::from_secs(120),
            probe: Probe::default(),
            anomaly: Anomaly::default(),
            journal: JournalBounds::default(),
            drill: None,
            rules: Vec::new(),
            notify: Vec::new(),
        }
    }
}

/// What each cycle runs: a suite or scenario files (small ones: the probe runs every
/// cycle), under a run id of its own, its data removed at its end.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Probe {
    pub suite: Option<String>,
    pub scenarios: Vec<PathBuf>,
}

impl Default for Probe {
    fn default() -> Self {
        Self {
            suite: Some("smoke".into()),
            scenarios: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Anomaly {
    /// Cycles learnt before any is judged.
    pub warmup: usize,
    /// Weight of the newest cycle in a baseline's moving average.
    pub alpha: Ratio,
    /// Half-width of the band in scaled median absolute deviations.
    pub k: f64,
    /// A latency band is never narrower, each side, than this...
    #[serde(with = "humantime_serde")]
    pub min_latency: Duration,
    /// ...nor than this fraction of its centre (every series).
    pub min_ratio: f64,
    /// Consecutive anomalous cycles after which a baseline learns the new level.
    pub relearn_after: usize,
}

impl Default for Anomaly {
    fn default() -> Self {
        Self {
            warmup: 5,
            alpha: Ratio(0.3),
            k: 5.0,
            min_latency: Duration::from_millis(25),
            // A machine's jitter moves a median by tens of percent; a doubling is news.
            min_ratio: 1.0,
            relearn_after: 20,
        }
    }
}

impl Anomaly {
    /// How the baseline of `series` learns.
    pub fn learning(&self, series: &Series) -> Learning {
        Learning {
            alpha: self.alpha.0,
            k: self.k,
            warmup: self.warmup,
            min_spread: match series.is_latency() {
                true => self.min_latency.as_secs_f64() * 1000.0,
                // One failure more than usual is a change.
                false => 0.5,
            },
            min_ratio: self.min_ratio,
            relearn_after: self.relearn_after,
        }
    }
}

/// A number in (0, 1].
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "f64")]
pub struct Ratio(pub f64);

impl TryFrom<f64> for Ratio {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        if v > 0.0 && v <= 1.0 {
            Ok(Self(v))
        } else {
            Err(format!("{v} is not in (0, 1]"))
        }
    }
}

/// How big the monitor's journal may grow: it rotates past `max_bytes`, keeping
/// `keep` older files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalBounds {
    pub max_bytes: u64,
    pub keep: usize,
}

impl Default for JournalBounds {
    fn default() -> Self {
        Self {
            max_bytes: 4 * 1024 * 1024,
            keep: 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drill {
    pub step: StepName,
    #[serde(with = "humantime_serde")]
    pub pause: Duration,
}

/// A step of the workflow, by its name (`persist_decision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct StepName(pub Step);

impl TryFrom<String> for StepName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Step::parse(&s).map(Self).ok_or_else(|| {
            format!(
                "no step is called `{s}`; the steps: {}",
                Step::names().join(", ")
            )
        })
    }
}

/// What a cycle measures, each with a baseline of its own: `request` (median request
/// latency, ms), `step.<name>` (the step's median latency, ms), `error_rate` (failed
/// requests over requests) and `validation_failures` (failed checks).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Series(String);

pub const REQUEST: &str = "request";
pub const ERROR_RATE: &str = "error_rate";
pub const VALIDATION_FAILURES: &str = "validation_failures";

impl Series {
    pub fn step(step: &str) -> Self {
        Self(format!("step.{step}"))
    }

    pub fn named(name: &str) -> Self {
        Self(name.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_latency(&self) -> bool {
        self.0 == REQUEST || self.0.starts_with("step.")
    }
}

impl TryFrom<String> for Series {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let known = [REQUEST, ERROR_RATE, VALIDATION_FAILURES].contains(&s.as_str())
            || s.strip_prefix("step.")
                .is_some_and(|step| Step::parse(step).is_some());
        if known {
            Ok(Self(s))
        } else {
            Err(format!(
                "no series is called `{s}`; the series: {REQUEST}, {ERROR_RATE}, \
                 {VALIDATION_FAILURES}, step.<{}>",
                Step::names().join("|")
            ))
        }
    }
}

impl From<Series> for String {
    fn from(s: Series) -> String {
        s.0
    }
}

impl std::fmt::Display for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An alert rule: a condition that, true for `cycles` cycles in a row, fires the alert
/// once; it resolves once when the condition is false again.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: AlertName,
    pub when: Condition,
    #[serde(default = "one")]
    pub cycles: u32,
    #[serde(default = "warning")]
    pub severity: String,
}

fn one() -> u32 {
    1
}

fn warning() -> String {
    "warning".into()
}

/// An alert's name: a Prometheus label value, kept to what every receiver shows well.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct AlertName(String);

impl AlertName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AlertName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(Self(s))
        } else {
            Err(format!(
                "`{s}`: an alert name is 1 to 64 of A-Z, a-z, 0-9, `-`, `_`, `.`"
            ))
        }
    }
}

impl From<AlertName> for String {
    fn from(a: AlertName) -> String {
        a.0
    }
}

/// When a rule's alert holds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The series' value is above `above` (its unit: ms for latencies).
    Threshold { series: Series, above: f64 },
    /// The series is outside its baseline's band.
    Anomaly { series: Series },
    /// The service (any, when none is named) is not ready.
    ServiceDown { service: Option<ServiceKind> },
    /// A validator of the probe failed a check.
    ValidationFailing {},
    /// The probe could not run or did not pass: the target or a service it needs is
    /// unreachable, a request failed, the cycle overran its deadline.
    ProbeFailing {},
}

/// Where alerts go: a webhook (Alertmanager's webhook format, POSTed) or a command
/// (the same JSON on its stdin).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    pub webhook: Option<WebhookUrl>,
    pub command: Option<Vec<String>>,
}

/// An `http://` URL with a host.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct WebhookUrl(pub url::Url);

impl TryFrom<String> for WebhookUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let url = url::Url::parse(&s).map_err(|e| format!("`{s}` is not a URL: {e}"))?;
        match (url.scheme(), url.host_str()) {
            ("http", Some(_)) => Ok(Self(url)),
            ("https", _) => Err(format!(
                "`{s}`: https is not supported; point it at a plain-HTTP relay on loopback"
            )),
            (_, None) => Err(format!("`{s}` names no host")),
            (scheme, _) => Err(format!("`{s}`: a webhook is http://, not {scheme}://")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MonitorConfigError {
    #[error(transparent)]
    File(#[from] ConfigError),
    #[error("{path}:{line}: {field}: {reason}")]
    Invalid {
        path: PathBuf,
        line: usize,
        field: String,
        reason: String,
    },
}

impl MonitorConfig {
    /// Reads and checks the file.
    pub fn load(path: &Path) -> Result<Self, MonitorConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config: Self = parse_toml(path, &text)?;
        config.check(path, &text)?;
        Ok(config)
    }

    /// What the types cannot say: each `[[notify]]` names one place, rule names differ.
    fn check(&self, path: &Path, text: &str) -> Result<(), MonitorConfigError> {
        let invalid = |table: &str, i: usize, field: String, reason: &str| {
            Err(MonitorConfigError::Invalid {
                path: path.to_path_buf(),
                line: table_line(text, table, i),
                field,
                reason: reason.into(),
            })
        };
        for (i, n) in self.notify.iter().enumerate() {
            let field = format!("notify[{i}]");
            match (&n.webhook, &n.command) {
                (None, None) => return invalid("notify", i, field, "name a webhook or a command"),
                (Some(_), Some(_)) => {
                    return invalid(
                        "notify",
                        i,
                        field,
                        "a webhook or a command, not both: write two [[notify]]",
                    );
                }
                (None, Some(c)) if c.first().is_none_or(|p| p.trim().is_empty()) => {
                    return invalid(
                        "notify",
                        i,
                        format!("{field}.command"),
                        "the command is empty",
                    );
                }
                _ => {}
            }
        }
        for (i, r) in self.rules.iter().enumerate() {
            if self.rules[..i].iter().any(|o| o.name == r.name) {
                return invalid(
                    "rule",
                    i,
                    format!("rule[{i}].name"),
                    &format!("a second rule is called {}", r.name.as_str()),
                );
            }
            if r.cycles == 0 {
                return invalid("rule", i, format!("rule[{i}].cycles"), "at least 1");
            }
        }
        for (key, d) in [
            ("interval", self.interval),
            ("cycle_deadline", self.cycle_deadline),
        ] {
            if d.is_zero() {
                return Err(MonitorConfigError::Invalid {
                    path: path.to_path_buf(),
                    line: key_line(text, key),
                    field: key.into(),
                    reason: "must be longer than zero".into(),
                });
            }
        }
        Ok(())
    }
}

/// The 1-based line of the `i`-th `[[table]]` header (1 when it is not found).
fn table_line(text: &str, table: &str, i: usize) -> usize {
    let header = format!("[[{table}]]");
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.split('#').next().unwrap_or("").trim() == header)
        .nth(i)
        .map_or(1, |(n, _)| n + 1)
}

/// The 1-based line that sets top-level `key` (1 when it is not found).
fn key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| l.split('=').next().is_some_and(|k| k.trim() == key))
        .map_or(1, |n| n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MonitorConfig, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("monitor.toml");
        std::fs::write(&path, text).expect("write");
        MonitorConfig::load(&path).map_err(|e| {
            e.to_string()
                .replace(&path.display().to_string(), "monitor.toml")
        })
    }

    #[test]
    fn a_full_file_reads() {
        let c = parse(
            r#"
interval = "1s"
[probe]
suite = "smoke"
[anomaly]
warmup = 3
min_latency = "100ms"
[drill]
step = "persist_decision"
pause = "1s"
[[rule]]
name = "slow-persist"
when = { kind = "anomaly", series = "step.persist_decision" }
cycles = 2
[[rule]]
name = "redis-down"
when = { kind = "service_down", service = "redis" }
[[notify]]
webhook = "http://127.0.0.1:9099/hook"
[[notify]]
command = ["sh", "-c", "cat >> alerts.log"]
"#,
        )
        .expect("parses");
        assert_eq!(c.interval, Duration::from_secs(1));
        assert_eq!(c.rules.len(), 2);
        assert_eq!(
            c.rules[0].when,
            Condition::Anomaly {
                series: Series::step("persist_decision")
            }
        );
        assert_eq!(c.rules[1].cycles, 1);
        assert_eq!(c.drill.map(|d| d.pause), Some(Duration::from_secs(1)));
        assert_eq!(
            c.anomaly
                .learning(&Series::step("persist_decision"))
                .min_spread,
            100.0
        );
    }

    #[test]
    fn bad_fields_are_named_with_their_line() {
        let cases = [
            (
                "[[rule]]\nname = \"x\"\nwhen = { kind = \"anomaly\", series = \"step.nope\" }\n",
                "monitor.toml:3:",
                "no series is called `step.nope`",
            ),
            (
                "[[notify]]\nwebhook = \"ftp://example.com/\"\n",
                "monitor.toml:2:",
                "a webhook is http://",
            ),
            (
                "[[notify]]\nwebhook = \"not a url\"\n",
                "monitor.toml:2:",
                "is not a URL",
            ),
            (
                "\n[[notify]]\nwebhook = \"http://a/\"\n\n[[notify]]\nwebhook = \"http://a/\"\ncommand = [\"x\"]\n",
                "monitor.toml:5: notify[1]",
                "not both",
            ),
            (
                "[[rule]]\nname = \"x\"\nwhen = { kind = \"sometimes\" }\n",
                "monitor.toml:3:",
                "unknown variant `sometimes`",
            ),
            (
                "[drill]\nstep = \"vote\"\npause = \"1s\"\n",
                "monitor.toml:2:",
                "no step is called `vote`",
            ),
            (
                "[[rule]]\nname = \"a\"\nwhen = { kind = \"probe_failing\" }\n\
                 [[rule]]\nname = \"a\"\nwhen = { kind = \"validation_failing\" }\n",
                "monitor.toml:4: rule[1].name",
                "a second rule",
            ),
            (
                "cycle_deadline = \"1m\"\ninterval = \"0s\"\n",
                "monitor.toml:2: interval",
                "longer than zero",
            ),
        ];
        for (text, at, says) in cases {
            let e = parse(text).expect_err(text);
            assert!(e.starts_with(at) && e.contains(says), "{text}\n=> {e}");
        }
    }
}
