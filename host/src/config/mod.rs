//! `aura.toml`: where the services are, how long to wait for them, which are required.
//!
//! Precedence, highest first: command-line flags, `AURA_*` environment variables (both
//! handled by clap at the CLI edge and applied through [`Overrides`]), the file, the
//! built-in defaults. The defaults describe the `local` environment profile, so a fresh
//! checkout works with no file at all.

pub mod project;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use aura_reference::TargetConfig;
use aura_reference::gpu::GpuConfig;
pub use aura_services::config::{ConfigError, GraphBackend, ServicesConfig, parse_toml};

/// The whole configuration, after defaults and overrides are applied.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuraConfig {
    /// Where environment state (pids, ports, data dirs, logs, tools) lives.
    pub state_dir: PathBuf,
    /// Where the local profile's server binaries are installed (default `<state_dir>/tools`).
    pub tools_dir: Option<PathBuf>,
    pub services: ServicesConfig,
    pub gpu: GpuConfig,
    pub target: TargetConfig,
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
    /// Plugin calls in flight at once in this process (the sandbox's instance pool);
    /// calls beyond it wait for a free slot within their own deadline.
    pub plugin_instances: u32,
    /// The most requests one scenario may have; a larger one is refused before the run.
    pub max_requests: usize,
    /// The most requests one `[load]` may send (its stages' arrivals, or its virtual
    /// users); a larger one (a rate with a zero too many) is refused before the run.
    pub max_load_requests: usize,
    /// The most a run's own work after its scenarios (health, ending its workflows,
    /// cleanup) may take.
    #[serde(with = "humantime_serde")]
    pub cleanup_timeout: std::time::Duration,
    /// The Toxiproxy API network faults go through (compose: `http://127.0.0.1:8474`)
    /// [default: the host's embedded fault proxy].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_proxy: Option<String>,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            plugins_dir: PathBuf::from("target/wasm32-wasip2/release"),
            scenarios_dir: PathBuf::from("scenarios"),
            jobs: 4,
            plugin_instances: aura_runtime::DEFAULT_INSTANCES,
            max_requests: 10_000,
            max_load_requests: 100_000,
            cleanup_timeout: std::time::Duration::from_secs(30),
            fault_proxy: None,
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
                parse_toml(path, &text)?,
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

    /// The Environment Manager's part: state, tools (`<state_dir>/tools` unless given)
    /// and services.
    pub fn environment(&self) -> crate::environment::EnvConfig {
        crate::environment::EnvConfig {
            state_dir: self.state_dir.clone(),
            tools_dir: self
                .tools_dir
                .clone()
                .unwrap_or_else(|| self.state_dir.join("tools")),
            services: self.services.clone(),
        }
    }

    /// Checks what serde cannot, each part by its owner: the services, the target, the GPUs.
    fn validate(&self) -> Result<(), ConfigError> {
        self.services.validate()?;
        self.target.validate()?;
        self.gpu.validate()?;
        let instances = self.run.plugin_instances;
        if instances == 0 || instances > aura_runtime::MAX_INSTANCES {
            return Err(ConfigError::Invalid {
                field: "run.plugin_instances".into(),
                reason: format!(
                    "must be between 1 and {}, got {instances}",
                    aura_runtime::MAX_INSTANCES
                ),
            });
        }
        Ok(())
    }
}

fn set<T: Clone>(target: &mut T, value: &Option<T>) {
    if let Some(v) = value {
        *target = v.clone();
    }
}
