//! Toxics: their kinds and attributes as Toxiproxy names them (the JSON shapes of its v2
//! API), and the checks that turn one into the effect a link applies.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The longest delay any attribute may ask for: beyond an hour it is a typo, not a fault.
const MAX_DELAY_MS: u64 = 3_600_000;
const MAX_DELAY_US: u64 = MAX_DELAY_MS * 1000;
/// 100 GB/s: far above what a loopback link carries.
const MAX_RATE_KB_S: u64 = 100_000_000;
/// A slice larger than a read is never cut.
const MAX_SLICE: u64 = 1 << 20;
const MAX_LIMIT_BYTES: u64 = 1 << 50;

/// What a toxic does (`type` in the API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToxicKind {
    /// Delays each chunk by `latency` ± `jitter` ms.
    Latency,
    /// Caps the stream at `rate` KB/s.
    Bandwidth,
    /// Delays the close of the stream by `delay` ms.
    SlowClose,
    /// Drops all data; closes the connection after `timeout` ms (0: never).
    Timeout,
    /// Resets the connection (TCP RST) `timeout` ms after the stream's next data.
    ResetPeer,
    /// Cuts data into slices of `average_size` ± `size_variation` bytes, `delay` µs apart.
    Slicer,
    /// Closes the connection once `bytes` bytes have passed.
    LimitData,
}

impl ToxicKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Latency => "latency",
            Self::Bandwidth => "bandwidth",
            Self::SlowClose => "slow_close",
            Self::Timeout => "timeout",
            Self::ResetPeer => "reset_peer",
            Self::Slicer => "slicer",
            Self::LimitData => "limit_data",
        }
    }

    fn attribute_names(self) -> &'static [&'static str] {
        match self {
            Self::Latency => &["latency", "jitter"],
            Self::Bandwidth => &["rate"],
            Self::SlowClose => &["delay"],
            Self::Timeout | Self::ResetPeer => &["timeout"],
            Self::Slicer => &["average_size", "size_variation", "delay"],
            Self::LimitData => &["bytes"],
        }
    }
}

/// The direction a toxic acts on: `upstream` is client → server, `downstream` server →
/// client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Upstream,
    #[default]
    Downstream,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Self::Upstream => "upstream",
            Self::Downstream => "downstream",
        }
    }
}

/// A toxic as the API carries it. An empty `name` is filled by the server as
/// `<type>_<stream>`; attributes left out are 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Toxic {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ToxicKind,
    #[serde(default)]
    pub stream: Stream,
    /// The chance, per connection, that the toxic applies to it.
    #[serde(default = "always")]
    pub toxicity: f32,
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

fn always() -> f32 {
    1.0
}

impl Toxic {
    /// A downstream toxic that always applies, named by the server.
    pub fn new(kind: ToxicKind, attributes: Map<String, Value>) -> Self {
        Self {
            name: String::new(),
            kind,
            stream: Stream::Downstream,
            toxicity: 1.0,
            attributes,
        }
    }

    pub fn latency(latency_ms: u64, jitter_ms: u64) -> Self {
        Self::with(
            ToxicKind::Latency,
            &[("latency", latency_ms), ("jitter", jitter_ms)],
        )
    }

    pub fn bandwidth(rate_kb_per_s: u64) -> Self {
        Self::with(ToxicKind::Bandwidth, &[("rate", rate_kb_per_s)])
    }

    pub fn slow_close(delay_ms: u64) -> Self {
        Self::with(ToxicKind::SlowClose, &[("delay", delay_ms)])
    }

    pub fn timeout(timeout_ms: u64) -> Self {
        Self::with(ToxicKind::Timeout, &[("timeout", timeout_ms)])
    }

    pub fn reset_peer(timeout_ms: u64) -> Self {
        Self::with(ToxicKind::ResetPeer, &[("timeout", timeout_ms)])
    }

    pub fn slicer(average_size: u64, size_variation: u64, delay_us: u64) -> Self {
        Self::with(
            ToxicKind::Slicer,
            &[
                ("average_size", average_size),
                ("size_variation", size_variation),
                ("delay", delay_us),
            ],
        )
    }

    pub fn limit_data(bytes: u64) -> Self {
        Self::with(ToxicKind::LimitData, &[("bytes", bytes)])
    }

    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub fn on(mut self, stream: Stream) -> Self {
        self.stream = stream;
        self
    }

    pub fn with_toxicity(mut self, toxicity: f32) -> Self {
        self.toxicity = toxicity;
        self
    }

    fn with(kind: ToxicKind, attributes: &[(&str, u64)]) -> Self {
        let attributes = attributes
            .iter()
            .map(|&(key, value)| (key.to_string(), Value::from(value)))
            .collect();
        Self::new(kind, attributes)
    }

    /// Checks the toxic and gives it back as the server stores it (its name filled, every
    /// attribute of its kind present), with the effect a link applies. The error names
    /// the field at fault.
    pub(super) fn checked(mut self) -> Result<(Toxic, Effect), String> {
        if self.name.is_empty() {
            self.name = format!("{}_{}", self.kind.name(), self.stream.name());
        }
        if !(0.0..=1.0).contains(&self.toxicity) {
            return Err(format!(
                "toxicity must be between 0 and 1, not {}",
                self.toxicity
            ));
        }
        let known = self.kind.attribute_names();
        if let Some(unknown) = self
            .attributes
            .keys()
            .find(|k| !known.contains(&k.as_str()))
        {
            return Err(format!(
                "unknown attribute {unknown} for a {} toxic (it has {})",
                self.kind.name(),
                known.join(", ")
            ));
        }
        let effect = Effect::parse(self.kind, &self.attributes)?;
        self.attributes = effect.attributes();
        Ok((self, effect))
    }
}

/// What a checked toxic does to a stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Effect {
    Latency {
        latency: Duration,
        jitter: Duration,
    },
    /// `rate` in KB/s (1000 bytes); 0 is unlimited, as in Toxiproxy.
    Bandwidth {
        rate: u64,
    },
    SlowClose {
        delay: Duration,
    },
    /// Zero: hold the connection open for as long as the toxic lasts.
    Timeout {
        timeout: Duration,
    },
    ResetPeer {
        timeout: Duration,
    },
    Slicer {
        average_size: usize,
        size_variation: usize,
        delay: Duration,
    },
    LimitData {
        bytes: u64,
    },
}

impl Effect {
    fn parse(kind: ToxicKind, attributes: &Map<String, Value>) -> Result<Self, String> {
        let number = |key: &str, max: u64| whole(attributes, key, max);
        let millis = |key: &str| number(key, MAX_DELAY_MS).map(Duration::from_millis);
        Ok(match kind {
            ToxicKind::Latency => Self::Latency {
                latency: millis("latency")?,
                jitter: millis("jitter")?,
            },
            ToxicKind::Bandwidth => Self::Bandwidth {
                rate: number("rate", MAX_RATE_KB_S)?,
            },
            ToxicKind::SlowClose => Self::SlowClose {
                delay: millis("delay")?,
            },
            ToxicKind::Timeout => Self::Timeout {
                timeout: millis("timeout")?,
            },
            ToxicKind::ResetPeer => Self::ResetPeer {
                timeout: millis("timeout")?,
            },
            ToxicKind::Slicer => {
                let average_size = number("average_size", MAX_SLICE)?;
                let size_variation = number("size_variation", MAX_SLICE)?;
                // Toxiproxy loops forever cutting slices of zero bytes otherwise.
                if average_size == 0 {
                    return Err("attribute average_size must be at least 1".into());
                }
                if size_variation >= average_size {
                    return Err(format!(
                        "attribute size_variation must be smaller than average_size ({average_size})"
                    ));
                }
                Self::Slicer {
                    average_size: average_size as usize,
                    size_variation: size_variation as usize,
                    delay: Duration::from_micros(number("delay", MAX_DELAY_US)?),
                }
            }
            ToxicKind::LimitData => Self::LimitData {
                bytes: number("bytes", MAX_LIMIT_BYTES)?,
            },
        })
    }

    fn attributes(&self) -> Map<String, Value> {
        let ms = |d: &Duration| Value::from(d.as_millis() as u64);
        let pairs: Vec<(&str, Value)> = match self {
            Self::Latency { latency, jitter } => {
                vec![("latency", ms(latency)), ("jitter", ms(jitter))]
            }
            Self::Bandwidth { rate } => vec![("rate", Value::from(*rate))],
            Self::SlowClose { delay } => vec![("delay", ms(delay))],
            Self::Timeout { timeout } | Self::ResetPeer { timeout } => {
                vec![("timeout", ms(timeout))]
            }
            Self::Slicer {
                average_size,
                size_variation,
                delay,
            } => vec![
                ("average_size", Value::from(*average_size)),
                ("size_variation", Value::from(*size_variation)),
                ("delay", Value::from(delay.as_micros() as u64)),
            ],
            Self::LimitData { bytes } => vec![("bytes", Value::from(*bytes))],
        };
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

/// A whole, non-negative attribute no larger than `max`; absent or null is 0 (as Go
/// decodes it into Toxiproxy's structs).
fn whole(attributes: &Map<String, Value>, key: &str, max: u64) -> Result<u64, String> {
    let number = match attributes.get(key) {
        None | Some(Value::Null) => return Ok(0),
        Some(Value::Number(number)) => number,
        Some(other) => return Err(format!("attribute {key} must be a number, not {other}")),
    };
    match (number.as_u64(), number.as_f64()) {
        (Some(value), _) if value <= max => Ok(value),
        (_, Some(value)) if value < 0.0 => Err(format!("attribute {key} must not be negative")),
        (_, Some(value)) if value.fract() != 0.0 => {
            Err(format!("attribute {key} must be a whole number"))
        }
        _ => Err(format!("attribute {key} must be at most {max}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(body: Value) -> Result<(Toxic, Effect), String> {
        let toxic: Toxic = serde_json::from_value(body).map_err(|e| e.to_string())?;
        toxic.checked()
    }

    #[test]
    fn defaults_follow_toxiproxy() {
        let (toxic, effect) = parse(json!({"type": "latency"})).unwrap();
        assert_eq!(toxic.name, "latency_downstream");
        assert_eq!(toxic.stream, Stream::Downstream);
        assert_eq!(toxic.toxicity, 1.0);
        assert_eq!(
            toxic.attributes,
            json!({"latency": 0, "jitter": 0})
                .as_object()
                .unwrap()
                .clone()
        );
        assert_eq!(
            effect,
            Effect::Latency {
                latency: Duration::ZERO,
                jitter: Duration::ZERO
            }
        );
        let (toxic, _) = parse(json!({"type": "timeout", "stream": "upstream"})).unwrap();
        assert_eq!(toxic.name, "timeout_upstream");
    }

    #[test]
    fn serialises_with_toxiproxy_field_names() {
        let toxic = Toxic::slicer(10, 2, 50)
            .named("cut")
            .on(Stream::Upstream)
            .with_toxicity(0.5);
        assert_eq!(
            serde_json::to_value(&toxic).unwrap(),
            json!({
                "name": "cut",
                "type": "slicer",
                "stream": "upstream",
                "toxicity": 0.5,
                "attributes": {"average_size": 10, "size_variation": 2, "delay": 50},
            })
        );
    }

    #[test]
    fn every_constructor_passes_its_own_checks() {
        for toxic in [
            Toxic::latency(100, 10),
            Toxic::bandwidth(64),
            Toxic::slow_close(100),
            Toxic::timeout(0),
            Toxic::reset_peer(10),
            Toxic::slicer(10, 5, 100),
            Toxic::limit_data(1024),
        ] {
            let (checked, _) = toxic.clone().checked().unwrap();
            assert_eq!(checked.attributes, toxic.attributes, "{:?}", toxic.kind);
        }
    }

    #[test]
    fn bad_attributes_name_their_field() {
        let cases = [
            (
                json!({"type": "latency", "attributes": {"latency": -5}}),
                "latency must not be negative",
            ),
            (
                json!({"type": "latency", "attributes": {"jitter": 1.5}}),
                "jitter must be a whole number",
            ),
            (
                json!({"type": "latency", "attributes": {"latency": "100"}}),
                "latency must be a number",
            ),
            (
                json!({"type": "latency", "attributes": {"latency": 3_600_001}}),
                "latency must be at most",
            ),
            (
                json!({"type": "latency", "attributes": {"latancy": 100}}),
                "unknown attribute latancy",
            ),
            (
                json!({"type": "bandwidth", "attributes": {"rate": 1e30}}),
                "rate must be at most",
            ),
            (
                json!({"type": "slicer", "attributes": {"average_size": 0}}),
                "average_size must be at least 1",
            ),
            (
                json!({"type": "slicer", "attributes": {"average_size": 4, "size_variation": 4}}),
                "size_variation must be smaller",
            ),
            (
                json!({"type": "timeout", "toxicity": 1.5}),
                "toxicity must be between 0 and 1",
            ),
            (
                json!({"type": "timeout", "toxicity": -0.1}),
                "toxicity must be between 0 and 1",
            ),
        ];
        for (body, expected) in cases {
            let error = parse(body.clone()).unwrap_err();
            assert!(error.contains(expected), "{body}: {error}");
        }
    }

    #[test]
    fn bad_shapes_fail_to_deserialise() {
        for body in [
            json!({"type": "sideways"}),
            json!({"type": "latency", "stream": "sideways"}),
            json!({"attributes": {}}),
            json!({"type": "latency", "attributes": [1]}),
            json!({"type": "latency", "toxicity": "high"}),
        ] {
            assert!(
                serde_json::from_value::<Toxic>(body.clone()).is_err(),
                "{body}"
            );
        }
    }
}
