//! `<state-dir>/env.json`: what the local profile started, so `down` stops exactly that.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::EnvironmentError;
use aura_services::ServiceKind;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProcessRecord {
    pub pid: u32,
    pub port: u16,
    /// Other ports the server listens on (Temporal's HTTP API and metrics).
    #[serde(default)]
    pub extra_ports: Vec<u16>,
    pub binary: PathBuf,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    /// `--version` of the binary, e.g. `tansu 0.6.0`.
    pub version: Option<String>,
    pub started_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EnvState {
    pub services: BTreeMap<ServiceKind, ProcessRecord>,
    /// Servers of the environment that are not services of a run (`prometheus`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub addons: BTreeMap<String, ProcessRecord>,
}

impl EnvState {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("env.json")
    }

    pub fn load(state_dir: &Path) -> Result<Self, EnvironmentError> {
        let path = Self::path(state_dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| EnvironmentError::State {
                path,
                reason: format!("line {}: {e}", e.line()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(EnvironmentError::State {
                path,
                reason: e.to_string(),
            }),
        }
    }

    /// Writes atomically (temp file + rename) so a crash never leaves half a file.
    pub fn save(&self, state_dir: &Path) -> Result<(), EnvironmentError> {
        let path = Self::path(state_dir);
        let io = |e: std::io::Error| EnvironmentError::State {
            path: path.clone(),
            reason: e.to_string(),
        };
        if self.services.is_empty() && self.addons.is_empty() {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
                _ => Ok(()),
            };
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}

/// Exclusive lock on a directory (the state dir while an `env` command changes it, the
/// tools dir while installing), so concurrent `env up` calls from parallel test
/// processes start each server once and install the binaries once.
pub struct DirLock(#[allow(dead_code)] Flock<File>);

impl DirLock {
    pub fn acquire(dir: &Path, name: &str) -> Result<Self, EnvironmentError> {
        let path = dir.join(name);
        let err = |reason: String| EnvironmentError::State {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| err(e.to_string()))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map(DirLock)
            .map_err(|(_, e)| err(e.to_string()))
    }
}
