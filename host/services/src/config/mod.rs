//! Where the services are and how long to wait for them (`[services.*]` in `aura.toml`),
//! and the TOML file layer every file of the project is read with ([`parse_toml`]:
//! errors with file, line, column and field).

mod error;
mod file;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use error::ConfigError;
pub use file::parse_toml;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ServicesConfig {
    pub redis: RedisConfig,
    pub graph: GraphConfig,
    pub kafka: KafkaConfig,
    pub temporal: TemporalConfig,
}

/// Settings every service has. Spelled out in each service's table (not flattened) so
/// unknown keys are still rejected with their line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Common {
    /// A `check` fails (exit 3) when a required service is not ready.
    pub required: bool,
    /// Upper bound for connecting (all retries included) and for any single operation.
    pub timeout: Duration,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    pub url: String,
    pub required: bool,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:16379".into(),
            required: true,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GraphBackend {
    /// FalkorDB over its own protocol (the local profile and CI).
    Falkordb,
    /// Neo4j 5 over Bolt (compose and real deployments).
    Neo4j,
}

impl std::fmt::Display for GraphBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GraphBackend::Falkordb => "falkordb",
            GraphBackend::Neo4j => "neo4j",
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GraphConfig {
    pub backend: GraphBackend,
    /// `falkor://host:port` for FalkorDB, `bolt://host:port` / `neo4j://host:port` for Neo4j.
    pub url: String,
    /// FalkorDB graph key, or Neo4j database name.
    pub database: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub required: bool,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for GraphConfig {
    fn default() -> Self {
        Self {
            backend: GraphBackend::Falkordb,
            url: "falkor://127.0.0.1:16380".into(),
            database: "aura".into(),
            user: None,
            password: None,
            required: true,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` bootstrap list.
    pub brokers: String,
    /// Consumer group session timeout. Joining a group takes about half of it on Tansu;
    /// real Kafka's broker minimum is 6 s by default.
    #[serde(with = "humantime_serde")]
    pub session_timeout: Duration,
    pub required: bool,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:19092".into(),
            session_timeout: Duration::from_secs(6),
            required: true,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TemporalConfig {
    /// gRPC frontend, e.g. `http://127.0.0.1:17233`.
    pub url: String,
    pub namespace: String,
    pub required: bool,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for TemporalConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:17233".into(),
            namespace: "default".into(),
            required: true,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl std::str::FromStr for GraphBackend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "falkordb" => Ok(Self::Falkordb),
            "neo4j" => Ok(Self::Neo4j),
            _ => Err(format!(
                "unknown graph backend '{s}' (expected falkordb or neo4j)"
            )),
        }
    }
}

impl ServicesConfig {
    /// Where `kind` is, as messages show it (a password redacted).
    pub fn address(&self, kind: crate::ServiceKind) -> String {
        use crate::ServiceKind;
        match kind {
            ServiceKind::Redis => crate::display_address(&self.redis.url),
            ServiceKind::Graph => crate::display_address(&self.graph.url),
            ServiceKind::Kafka => self.kafka.brokers.clone(),
            ServiceKind::Temporal => self.temporal.url.clone(),
        }
    }

    /// `host:port` where `kind` listens (Kafka: the first broker).
    pub fn endpoint(&self, kind: crate::ServiceKind) -> Option<String> {
        use crate::ServiceKind;
        let url = match kind {
            ServiceKind::Redis => &self.redis.url,
            ServiceKind::Graph => &self.graph.url,
            ServiceKind::Temporal => &self.temporal.url,
            ServiceKind::Kafka => {
                return self
                    .kafka
                    .brokers
                    .split(',')
                    .next()
                    .map(|b| b.trim().to_string());
            }
        };
        let u = url::Url::parse(url).ok()?;
        Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?))
    }

    /// This configuration with `kind` reached at `addr` (`host:port`) instead: through
    /// a fault proxy. Its scheme, credentials and path are kept.
    pub fn routed(&self, kind: crate::ServiceKind, addr: &str) -> Result<Self, String> {
        use crate::ServiceKind;
        let mut out = self.clone();
        let url = match kind {
            ServiceKind::Redis => &mut out.redis.url,
            ServiceKind::Graph => &mut out.graph.url,
            ServiceKind::Temporal => &mut out.temporal.url,
            ServiceKind::Kafka => {
                out.kafka.brokers = addr.to_string();
                return Ok(out);
            }
        };
        let (host, port) = addr
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .ok_or_else(|| format!("'{addr}' is not host:port"))?;
        let mut u = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
        u.set_host(Some(host)).map_err(|e| format!("{url}: {e}"))?;
        u.set_port(Some(port))
            .map_err(|()| format!("{url}: cannot carry a port"))?;
        *url = u.to_string().trim_end_matches('/').to_string();
        Ok(out)
    }

    /// Checks what serde cannot: URLs parse and carry the scheme their backend speaks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let s = self;
        check_url("services.redis.url", &s.redis.url, &["redis"])?;
        let graph_schemes: &[&str] = match s.graph.backend {
            GraphBackend::Falkordb => &["falkor", "redis"],
            GraphBackend::Neo4j => &["bolt", "neo4j", "bolt+s", "neo4j+s"],
        };
        check_url("services.graph.url", &s.graph.url, graph_schemes)?;
        check_url("services.temporal.url", &s.temporal.url, &["http", "https"])?;
        if s.kafka.brokers.split(',').any(|b| b.trim().is_empty()) {
            return Err(ConfigError::Invalid {
                field: "services.kafka.brokers".into(),
                reason: format!(
                    "'{}' is not a comma-separated list of host:port",
                    s.kafka.brokers
                ),
            });
        }
        for (field, timeout) in [
            ("services.redis.timeout", s.redis.timeout),
            ("services.graph.timeout", s.graph.timeout),
            ("services.kafka.timeout", s.kafka.timeout),
            ("services.temporal.timeout", s.temporal.timeout),
        ] {
            if timeout.is_zero() {
                return Err(ConfigError::Invalid {
                    field: field.into(),
                    reason: "a timeout of zero would fail every call".into(),
                });
            }
        }
        Ok(())
    }
}

macro_rules! common {
    ($($t:ty),*) => {$(
        impl $t {
            pub fn common(&self) -> Common {
                Common { required: self.required, timeout: self.timeout }
            }
        }
    )*};
}
common!(RedisConfig, GraphConfig, KafkaConfig, TemporalConfig);

fn check_url(field: &str, value: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    let url = url::Url::parse(value).map_err(|e| ConfigError::Invalid {
        field: field.into(),
        reason: format!("'{value}' is not a URL: {e}"),
    })?;
    if !schemes.contains(&url.scheme()) {
        return Err(ConfigError::Invalid {
            field: field.into(),
            reason: format!(
                "'{value}' uses scheme '{}', expected one of: {}",
                url.scheme(),
                schemes.join(", ")
            ),
        });
    }
    if url.host_str().is_none() {
        return Err(ConfigError::Invalid {
            field: field.into(),
            reason: format!("'{value}' names no host"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServiceKind;

    /// A service routed through a proxy keeps its scheme, credentials and database.
    #[test]
    fn a_routed_service_keeps_all_but_its_address() {
        let mut c = ServicesConfig::default();
        c.redis.url = "redis://:secret@10.0.0.5:6379/3".into();
        c.temporal.url = "http://127.0.0.1:7233".into();
        assert_eq!(
            c.endpoint(ServiceKind::Redis).as_deref(),
            Some("10.0.0.5:6379")
        );
        let r = c
            .routed(ServiceKind::Redis, "127.0.0.1:40001")
            .and_then(|r| r.routed(ServiceKind::Temporal, "127.0.0.1:40002"))
            .and_then(|r| r.routed(ServiceKind::Kafka, "127.0.0.1:40003"))
            .expect("routed");
        assert_eq!(r.redis.url, "redis://:secret@127.0.0.1:40001/3");
        assert_eq!(r.temporal.url, "http://127.0.0.1:40002");
        assert_eq!(r.kafka.brokers, "127.0.0.1:40003");
        assert_eq!(r.graph, c.graph);
        assert!(c.routed(ServiceKind::Graph, "no-port").is_err());
    }
}
