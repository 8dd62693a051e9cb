//! The `compose` profile: the full stack of `docker-compose.dev.yml` (Neo4j, Redis, Kafka,
//! Temporal's dev server, Toxiproxy, Prometheus, Grafana) for machines with Docker.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::EnvironmentError;

pub const COMPOSE_FILE: &str = "docker-compose.dev.yml";
/// The stack's project name, given on the command line: the file has no `name:` so that
/// every Compose reads it (`docker-compose` 1.29 refuses the key).
pub const PROJECT: &str = "aura-dev";

/// Finds the compose file in the current directory or one of its parents.
pub fn find_file() -> Result<PathBuf, EnvironmentError> {
    let cwd = std::env::current_dir().map_err(|e| EnvironmentError::Io {
        what: "read the current directory".into(),
        reason: e.to_string(),
    })?;
    cwd.ancestors()
        .map(|d| d.join(COMPOSE_FILE))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            EnvironmentError::Unsupported(format!(
                "no {COMPOSE_FILE} in {} or its parents",
                cwd.display()
            ))
        })
}

/// Runs `docker compose -p aura-dev -f <file> <args>` with output going to the terminal.
pub fn run(file: &Path, args: &[&str]) -> Result<(), EnvironmentError> {
    let status = Command::new("docker")
        .args(["compose", "-p", PROJECT])
        .arg("-f")
        .arg(file)
        .args(args)
        .status()
        .map_err(|e| EnvironmentError::Compose(format!("cannot run docker: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(EnvironmentError::Compose(format!(
            "`docker compose {}` failed ({status}); is a Docker engine running?",
            args.join(" ")
        )))
    }
}
