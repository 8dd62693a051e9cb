//! The Environment Manager: starts, inspects, resets and stops the services a run needs.
//!
//! Two profiles: `local` starts real servers on loopback with no Docker (Redis, FalkorDB,
//! Tansu, the Temporal dev server), recording pids, ports and data dirs under the state
//! dir; `compose` drives `docker-compose.dev.yml` for people who have Docker.

pub mod backup;
mod compose;
pub mod fault;
mod local;
mod process;
pub mod prometheus;
pub mod snapshot;
mod state;
mod tools;

use std::path::{Path, PathBuf};

use serde::Serialize;

use aura_services::config::ServicesConfig;
use aura_services::{self, ServiceError, ServiceKind};

pub use state::{EnvState, ProcessRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Profile {
    #[default]
    Local,
    Compose,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvironmentError {
    #[error("installing service binaries: {0}")]
    Tools(String),
    #[error("{service}: cannot start: {reason}")]
    Start {
        service: ServiceKind,
        reason: String,
    },
    /// It exited at start-up because a port it picked for itself was taken between
    /// picking and binding: a start to try again.
    #[error("{service}: cannot start: {reason}")]
    PortTaken {
        service: ServiceKind,
        reason: String,
    },
    #[error("{service}: {reason}")]
    NotReady {
        service: ServiceKind,
        reason: String,
    },
    #[error(
        "{service}: port {port} is already in use by another process; stop it or change the port in aura.toml"
    )]
    PortInUse { service: ServiceKind, port: u16 },
    #[error("{service}: pid {pid} did not exit after SIGTERM and SIGKILL")]
    Stop { service: ServiceKind, pid: u32 },
    #[error("environment state {path}: {reason}")]
    State { path: PathBuf, reason: String },
    #[error("{what}: {reason}")]
    Io { what: String, reason: String },
    #[error("{name}: {reason}")]
    Addon { name: &'static str, reason: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Compose(String),
    /// A snapshot that cannot be taken or restored: named, with why (bad input).
    #[error("{0}")]
    Snapshot(String),
    /// Restoring failed after it began; says what state it left.
    #[error("{0}")]
    Restore(String),
    #[error("{0}")]
    NotRunning(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// What happened to one service.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceOutcome {
    /// The service's name (`redis`...), or an addon's (`prometheus`).
    pub service: &'static str,
    pub pid: u32,
    pub port: u16,
    pub what: &'static str,
}

impl ServiceOutcome {
    fn new(service: ServiceKind, pid: u32, port: u16, what: &'static str) -> Self {
        Self {
            service: service.name(),
            pid,
            port,
            what,
        }
    }
}

/// What the Environment Manager works with: where its state lives, where the servers'
/// binaries are installed and the services it runs.
#[derive(Debug, Clone)]
pub struct EnvConfig {
    pub state_dir: PathBuf,
    pub tools_dir: PathBuf,
    pub services: ServicesConfig,
}

fn all_or(wanted: &[ServiceKind]) -> Vec<ServiceKind> {
    if wanted.is_empty() {
        ServiceKind::ALL.to_vec()
    } else {
        wanted.to_vec()
    }
}

/// Starts the services (all when `wanted` is empty) and waits until each answers.
/// Services already running are left alone.
pub async fn up(
    config: &EnvConfig,
    profile: Profile,
    wanted: &[ServiceKind],
) -> Result<Vec<ServiceOutcome>, EnvironmentError> {
    match profile {
        Profile::Local => {
            let _lock = state::DirLock::acquire(&config.state_dir, "env.lock")?;
            local::up(config, &config.tools_dir, &all_or(wanted)).await
        }
        Profile::Compose => {
            compose::run(&compose::find_file()?, &["up", "-d", "--wait"])?;
            Ok(vec![])
        }
    }
}

/// Stops exactly the processes `up` recorded (all when `wanted` is empty).
pub fn down(
    config: &EnvConfig,
    profile: Profile,
    wanted: &[ServiceKind],
) -> Result<Vec<ServiceOutcome>, EnvironmentError> {
    match profile {
        Profile::Local => {
            let _lock = state::DirLock::acquire(&config.state_dir, "env.lock")?;
            let mut outcomes = local::down(&config.state_dir, &all_or(wanted))?;
            // Everything: the environment's Prometheus too.
            if wanted.is_empty() {
                outcomes.extend(prometheus::down(&config.state_dir)?);
            }
            Ok(outcomes)
        }
        Profile::Compose => {
            compose::run(&compose::find_file()?, &["down"])?;
            Ok(vec![])
        }
    }
}

/// Empties every service's data: the local profile restarts the running servers with
/// fresh data dirs (their stores are in memory); compose drops its volumes.
pub async fn reset(
    config: &EnvConfig,
    profile: Profile,
) -> Result<Vec<ServiceOutcome>, EnvironmentError> {
    match profile {
        Profile::Local => {
            let _lock = state::DirLock::acquire(&config.state_dir, "env.lock")?;
            let running: Vec<ServiceKind> = EnvState::load(&config.state_dir)?
                .services
                .into_iter()
                .filter(|(_, rec)| process::is_ours(rec.pid, &rec.binary))
                .map(|(kind, _)| kind)
                .collect();
            local::down(&config.state_dir, &running)?;
            for kind in &running {
                let dir = config.state_dir.join("data").join(kind.name());
                match std::fs::remove_dir_all(&dir) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(EnvironmentError::Io {
                            what: format!("empty {}", dir.display()),
                            reason: e.to_string(),
                        });
                    }
                    _ => {}
                }
            }
            local::up(config, &config.tools_dir, &running).await
        }
        Profile::Compose => {
            let file = compose::find_file()?;
            compose::run(&file, &["down", "--volumes"])?;
            compose::run(&file, &["up", "-d", "--wait"])?;
            Ok(vec![])
        }
    }
}

/// The recorded processes with whether each is still alive.
pub fn recorded(
    state_dir: &Path,
) -> Result<Vec<(ServiceKind, ProcessRecord, bool)>, EnvironmentError> {
    Ok(EnvState::load(state_dir)?
        .services
        .into_iter()
        .map(|(kind, rec)| {
            let alive = process::is_ours(rec.pid, &rec.binary);
            (kind, rec, alive)
        })
        .collect())
}
