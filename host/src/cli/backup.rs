//! `aura-host backup create|restore DIR`: a deployment's Redis, graph and topics kept and
//! put back over the network, through the services `aura.toml` names.

use std::path::PathBuf;

use clap::Subcommand;

use super::{CliError, ExitCode};
use crate::environment::backup;
use aura_services::ServiceHub;

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back up the configured Redis (every key with its TTL), graph (nodes and
    /// relationships) and Kafka topics (messages in order) into DIR, new or empty.
    Create { dir: PathBuf },
    /// Restore the backup in DIR into the configured services, which must hold no data
    /// (checked first; what was written is removed if a store fails half-way).
    Restore { dir: PathBuf },
}

pub async fn run(hub: &ServiceHub, cmd: &BackupCommand) -> Result<ExitCode, CliError> {
    let (verb, b, dir) = match cmd {
        BackupCommand::Create { dir } => ("backed up", backup::take(hub, dir).await?, dir),
        BackupCommand::Restore { dir } => ("restored", backup::restore(hub, dir).await?, dir),
    };
    let graph = match b.graphs {
        0 => format!(
            "{} node(s) and {} relationship(s)",
            b.nodes, b.relationships
        ),
        n => format!("{n} FalkorDB graph(s)"),
    };
    out!(
        "{verb} {}: {} Redis key(s), {graph}, {} message(s) in {} topic(s) (taken {} from {})",
        dir.display(),
        b.keys,
        b.messages,
        b.topics,
        b.taken_at.format("%Y-%m-%d %H:%M:%S"),
        b.from.values().cloned().collect::<Vec<_>>().join(", ")
    );
    Ok(ExitCode::Ok)
}
