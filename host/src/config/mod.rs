//! `aura.toml`: where the services are, how long to wait for them, which are required.
//!
//! Precedence, highest first: command-line flags, `AURA_*` environment variables (both
//! handled by clap at the CLI edge and applied through [`Overrides`]), the file, the
//! built-in defaults. The defaults describe the `local` environment profile, so a fresh
//! checkout works with no file at all.

mod error;
mod file;
pub mod project;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use error::ConfigError;
pub use file::parse_toml;

/// The whole configuration, after defaults and overrides are applied.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuraConfig {
    /// Where environment state (pids, ports, data dirs, logs, tools) lives.
    pub state_dir: PathBuf,
    /// Where the local profile's server binaries are installed (default `<state_dir>/tools`).
    pub tools_dir: Option<PathBuf>,
    pub services: ServicesConfig,
    pub gpu: crate::gpu::GpuConfig,
    pub target: crate::target::TargetConfig,
    pub run: RunConfig,
    /// Where the relative paths above are anchored ([`project`]); not a file setting.
    #[serde(skip)]
    pub project_dir: PathBuf,
}

/// How `aura-host run` runs scenarios.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Where shipped plugins named in scenarios (`plugin = "decision_persistence"`) are
    /// found, as `<name>.wasm` (`just plugins` builds them there).
    pub plugins_dir: PathBuf,
    /// Where suites are found, one folder each (`scenarios/<suite>/*.toml`).
    pub scenarios_dir: PathBuf,
    /// Independent scenarios run at once (`--jobs` overrides).
    pub jobs: usize,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            plugins_dir: PathBuf::from("target/wasm32-wasip2/release"),
            scenarios_dir: PathBuf::from("scenarios"),
            jobs: 4,
        }
    }
}

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

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
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

impl Default for AuraConfig {
    fn default() -> Self {
        Self {
            state_dir: PathBuf::from(".aura"),
            tools_dir: None,
            services: ServicesConfig::default(),
            gpu: Default::default(),
            target: Default::default(),
            run: RunConfig::default(),
            project_dir: PathBuf::new(),
        }
    }
}

/// Values from flags or `AURA_*` variables that replace what the file says.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Anchors the file's relative paths instead of the config file's directory.
    pub project_dir: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub tools_dir: Option<PathBuf>,
    pub redis_url: Option<String>,
    pub graph_backend: Option<GraphBackend>,
    pub graph_url: Option<String>,
    pub graph_database: Option<String>,
    pub graph_user: Option<String>,
    pub graph_password: Option<String>,
    pub kafka_brokers: Option<String>,
    pub temporal_url: Option<String>,
    pub temporal_namespace: Option<String>,
    pub timeout: Option<Duration>,
}

/// Where the configuration came from, for messages and `check --json`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "kind", content = "path")]
pub enum ConfigSource {
    File(PathBuf),
    BuiltInDefaults,
}

impl AuraConfig {
    /// Loads `path`. A missing file is fine only when the caller did not name it explicitly:
    /// then the built-in local-profile defaults apply. The file's relative paths are
    /// anchored at the project directory (see [`project`]), found from `cwd`.
    pub fn load(
        path: &Path,
        explicit: bool,
        overrides: &Overrides,
        cwd: &Path,
    ) -> Result<(Self, ConfigSource), ConfigError> {
        let (mut config, source) = match std::fs::read_to_string(path) {
            Ok(text) => (
                file::parse(path, &text)?,
                ConfigSource::File(path.to_path_buf()),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                (Self::default(), ConfigSource::BuiltInDefaults)
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let root = match (&overrides.project_dir, &source) {
            (Some(dir), _) => project::anchor(cwd, dir),
            (None, ConfigSource::File(file)) => {
                project::anchor(cwd, file.parent().unwrap_or(Path::new("")))
            }
            (None, ConfigSource::BuiltInDefaults) => project::find_root(cwd),
        };
        config.anchor(&root);
        config.apply(overrides);
        config.validate()?;
        Ok((config, source))
    }

    /// Makes the file's relative paths absolute under `root`; paths from flags and
    /// variables, applied later, stay relative to the current directory as usual.
    fn anchor(&mut self, root: &Path) {
        self.state_dir = project::anchor(root, &self.state_dir);
        if let Some(tools) = &self.tools_dir {
            self.tools_dir = Some(project::anchor(root, tools));
        }
        self.run.plugins_dir = project::anchor(root, &self.run.plugins_dir);
        self.run.scenarios_dir = project::anchor(root, &self.run.scenarios_dir);
        self.project_dir = root.to_path_buf();
    }

    pub fn apply(&mut self, o: &Overrides) {
        let s = &mut self.services;
        set(&mut self.state_dir, &o.state_dir);
        if o.tools_dir.is_some() {
            self.tools_dir.clone_from(&o.tools_dir);
        }
        set(&mut s.redis.url, &o.redis_url);
        set(&mut s.graph.backend, &o.graph_backend);
        set(&mut s.graph.url, &o.graph_url);
        set(&mut s.graph.database, &o.graph_database);
        if o.graph_user.is_some() {
            s.graph.user.clone_from(&o.graph_user);
        }
        if o.graph_password.is_some() {
            s.graph.password.clone_from(&o.graph_password);
        }
        set(&mut s.kafka.brokers, &o.kafka_brokers);
        set(&mut s.temporal.url, &o.temporal_url);
        set(&mut s.temporal.namespace, &o.temporal_namespace);
        if let Some(t) = o.timeout {
            s.redis.timeout = t;
            s.graph.timeout = t;
            s.kafka.timeout = t;
            s.temporal.timeout = t;
        }
    }

    /// Checks what serde cannot: URLs parse and carry the scheme their backend speaks.
    fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.services;
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
        self.validate_target()
    }

    fn validate_target(&self) -> Result<(), ConfigError> {
        let t = &self.target;
        let invalid = |field: &str, reason: &str| {
            Err(ConfigError::Invalid {
                field: field.into(),
                reason: reason.into(),
            })
        };
        if t.council.weights.is_none() && t.council.agents == 0 {
            return invalid(
                "target.council.agents",
                "the council needs at least one agent",
            );
        }
        if !(1..=16).contains(&t.council.context_window) {
            return invalid("target.council.context_window", "must be 1-16");
        }
        if !(0.0..1.0).contains(&t.council.abstain_below) {
            return invalid("target.council.abstain_below", "must be in [0, 1)");
        }
        if t.step_attempts == 0 {
            return invalid("target.step_attempts", "at least one attempt is needed");
        }
        if t.step_timeout.is_zero() {
            return invalid(
                "target.step_timeout",
                "a timeout of zero would fail every step",
            );
        }
        if self
            .gpu
            .devices
            .iter()
            .any(|d| d.id.is_empty() || d.memory_gb == 0)
        {
            return invalid("gpu.devices", "every device needs an id and memory_gb > 0");
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

fn set<T: Clone>(target: &mut T, value: &Option<T>) {
    if let Some(v) = value {
        *target = v.clone();
    }
}

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
