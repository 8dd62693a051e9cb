//! The `local` profile: real servers on loopback, no Docker. Ports come from the
//! configured service URLs, so `aura.toml` describes both where `check` looks and where
//! `env up` starts things.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;

use super::EnvConfig;
use super::process;
use super::state::{EnvState, ProcessRecord};
use super::tools::{Tools, version_of};
use super::{EnvironmentError, ServiceOutcome};
use aura_services::config::GraphBackend;
use aura_services::{ServiceKind, ServiceStatus, health};

/// How long a freshly started server may take to answer a real round trip.
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(10);

struct Launch {
    kind: ServiceKind,
    binary: PathBuf,
    args: Vec<String>,
    port: u16,
    extra_ports: Vec<u16>,
    version: Option<String>,
}

/// Starts of a server that lost a port it picked to another process.
const START_RETRIES: u32 = 2;

/// Starts the `wanted` servers not already running and waits until each answers. A
/// configured port in use is refused before anything starts; one that a server picks for
/// itself (Temporal's HTTP and metrics ports) can be taken between picking and binding:
/// that start is tried again, wherever servers are started (`env up`, a reset, a
/// restore).
pub async fn up(
    config: &EnvConfig,
    tools_dir: &Path,
    wanted: &[ServiceKind],
) -> Result<Vec<ServiceOutcome>, EnvironmentError> {
    let mut tries = 0;
    loop {
        match start(config, tools_dir, wanted).await {
            Err(e @ EnvironmentError::PortTaken { .. }) if tries < START_RETRIES => {
                tracing::warn!("{e}; starting it again");
                tries += 1;
            }
            other => return other,
        }
    }
}

async fn start(
    config: &EnvConfig,
    tools_dir: &Path,
    wanted: &[ServiceKind],
) -> Result<Vec<ServiceOutcome>, EnvironmentError> {
    let state_dir = &std::path::absolute(&config.state_dir).map_err(|e| EnvironmentError::Io {
        what: format!("resolve {}", config.state_dir.display()),
        reason: e.to_string(),
    })?;
    let mut state = EnvState::load(state_dir)?;
    let mut outcomes = Vec::new();
    let mut to_start = Vec::new();
    for &kind in wanted {
        match state.services.get(&kind) {
            Some(rec) if process::is_ours(rec.pid, &rec.binary) => {
                outcomes.push(ServiceOutcome::new(
                    kind,
                    rec.pid,
                    rec.port,
                    "already running",
                ));
            }
            _ => to_start.push(kind),
        }
    }
    if to_start.is_empty() {
        return Ok(outcomes);
    }
    let tools = Tools::ensure(tools_dir)?;
    let mut started = Vec::new();
    for kind in to_start {
        state.services.remove(&kind);
        let launch = plan(config, &tools, kind)?;
        let data_dir = state_dir.join("data").join(kind.name());
        std::fs::create_dir_all(&data_dir).map_err(|e| EnvironmentError::Io {
            what: format!("create {}", data_dir.display()),
            reason: e.to_string(),
        })?;
        let log = data_dir.join(format!("{}.log", kind.name()));
        let mut child =
            process::spawn(&launch.binary, &launch.args, &data_dir, &log).map_err(|e| {
                EnvironmentError::Start {
                    service: kind,
                    reason: format!("cannot run {}: {e}", launch.binary.display()),
                }
            })?;
        let pid = child.id();
        // Recorded before waiting, so `down` can stop it even if it never becomes ready.
        state.services.insert(
            kind,
            ProcessRecord {
                pid,
                port: launch.port,
                extra_ports: launch.extra_ports.clone(),
                binary: launch.binary.clone(),
                data_dir,
                log: log.clone(),
                version: launch.version.clone(),
                started_at: Utc::now(),
            },
        );
        state.save(state_dir)?;
        // Reap the child in the background so an early exit is seen (not left a zombie).
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        started.push((kind, pid, launch, log, rx));
    }
    let waits = started
        .into_iter()
        .map(|(kind, pid, launch, log, exited)| async move {
            wait_ready(config, kind, &log, exited)
                .await
                .map(|()| ServiceOutcome::new(kind, pid, launch.port, "started"))
        });
    let results = futures::future::join_all(waits).await;
    let mut first_error = None;
    for result in results {
        match result {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) => {
                if let EnvironmentError::NotReady { service, .. } = &e
                    && let Some(rec) = state.services.remove(service)
                {
                    process::terminate(rec.pid, &rec.binary, STOP_GRACE);
                }
                first_error.get_or_insert(e);
            }
        }
    }
    state.save(state_dir)?;
    match first_error {
        Some(e) => Err(e),
        None => Ok(outcomes),
    }
}

/// Polls the real readiness probe (a round trip, not an open port) until it passes, the
/// process dies, or the deadline passes.
async fn wait_ready(
    config: &EnvConfig,
    kind: ServiceKind,
    log: &Path,
    mut exited: tokio::sync::oneshot::Receiver<std::io::Result<std::process::ExitStatus>>,
) -> Result<(), EnvironmentError> {
    let deadline = Instant::now() + STARTUP_DEADLINE;
    let mut last_error = String::new();
    loop {
        if let Ok(status) = exited.try_recv() {
            let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
            let text = std::fs::read_to_string(log).unwrap_or_default();
            // A stack trace's tail hides its cause: the panic line is said first.
            let cause = text
                .lines()
                .find(|l| l.starts_with("panic:") || l.contains("address already in use"))
                .map(|l| format!("{}\n", l.trim()))
                .unwrap_or_default();
            let reason = format!(
                "exited during start-up ({status}): {cause}last log lines:\n{}",
                process::log_tail(log, 15)
            );
            return Err(match text.contains("address already in use") {
                true => EnvironmentError::PortTaken {
                    service: kind,
                    reason,
                },
                false => EnvironmentError::NotReady {
                    service: kind,
                    reason,
                },
            });
        }
        let report = health::check(&config.services, &[kind]).await;
        match report.services.first() {
            Some(s) if s.status == ServiceStatus::Ready => return Ok(()),
            Some(s) => last_error = s.error.clone().unwrap_or_default(),
            None => {}
        }
        if Instant::now() >= deadline {
            return Err(EnvironmentError::NotReady {
                service: kind,
                reason: format!(
                    "not ready after {STARTUP_DEADLINE:?}: {last_error}; log: {}",
                    log.display()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

pub fn down(
    state_dir: &Path,
    wanted: &[ServiceKind],
) -> Result<Vec<ServiceOutcome>, EnvironmentError> {
    let mut state = EnvState::load(state_dir)?;
    let mut outcomes = Vec::new();
    for kind in wanted {
        let Some(rec) = state.services.remove(kind) else {
            continue;
        };
        let what = if !process::is_ours(rec.pid, &rec.binary) {
            "was not running"
        } else if process::terminate(rec.pid, &rec.binary, STOP_GRACE) {
            "stopped"
        } else {
            state.services.insert(*kind, rec.clone());
            state.save(state_dir)?;
            return Err(EnvironmentError::Stop {
                service: *kind,
                pid: rec.pid,
            });
        };
        outcomes.push(ServiceOutcome::new(*kind, rec.pid, rec.port, what));
    }
    state.save(state_dir)?;
    Ok(outcomes)
}

fn plan(config: &EnvConfig, tools: &Tools, kind: ServiceKind) -> Result<Launch, EnvironmentError> {
    let s = &config.services;
    let version = |bin: &Path, args: &[&str]| version_of(bin, args);
    let redis_args = |port: u16| -> Vec<String> {
        [
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            ".",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let launch = match kind {
        ServiceKind::Redis => {
            let port = loopback_port("services.redis.url", &s.redis.url)?;
            Launch {
                kind,
                binary: tools.redis_server.clone(),
                args: redis_args(port),
                port,
                extra_ports: vec![],
                version: version(&tools.redis_server, &["--version"]),
            }
        }
        ServiceKind::Graph => {
            if s.graph.backend != GraphBackend::Falkordb {
                return Err(EnvironmentError::Unsupported(
                    "the local profile runs FalkorDB; services.graph.backend = \"neo4j\" needs the compose profile or an external Neo4j".into(),
                ));
            }
            let port = loopback_port("services.graph.url", &s.graph.url)?;
            let mut args = redis_args(port);
            args.push("--loadmodule".into());
            args.push(tools.falkordb_module.display().to_string());
            args.extend(aura_services::falkordb::server_module_args());
            Launch {
                kind,
                binary: tools.redis_server.clone(),
                args,
                port,
                extra_ports: vec![],
                version: version(&tools.redis_server, &["--version"]),
            }
        }
        ServiceKind::Kafka => {
            let first = s.kafka.brokers.split(',').next().unwrap_or_default().trim();
            let port = loopback_port("services.kafka.brokers", &format!("tcp://{first}"))?;
            let listener = format!("tcp://127.0.0.1:{port}");
            Launch {
                kind,
                binary: tools.tansu.clone(),
                args: vec![
                    "broker".into(),
                    "--storage-engine".into(),
                    "memory://tansu/".into(),
                    "--listener-url".into(),
                    listener.clone(),
                    "--advertised-listener-url".into(),
                    listener,
                ],
                port,
                extra_ports: vec![],
                version: version(&tools.tansu, &["--version"]),
            }
        }
        ServiceKind::Temporal => {
            let port = loopback_port("services.temporal.url", &s.temporal.url)?;
            let (http, metrics) = (free_port()?, free_port()?);
            Launch {
                kind,
                binary: tools.temporal.clone(),
                args: [
                    "server",
                    "start-dev",
                    "--headless",
                    "--ip",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--http-port",
                    &http.to_string(),
                    "--metrics-port",
                    &metrics.to_string(),
                    "--namespace",
                    &s.temporal.namespace,
                    // In its data dir (the working directory), so a killed and
                    // restarted server keeps its workflows, as a cluster would. With
                    // SQLite's defaults (a rollback journal, fsync per commit) a burst
                    // of 1,000 workflows timed out starting (5 s each); WAL without
                    // fsync keeps the in-memory store's speed and loses nothing to a
                    // killed process (only to a machine that loses power).
                    "--db-filename",
                    TEMPORAL_DB,
                    "--sqlite-pragma",
                    "journal_mode=wal",
                    "--sqlite-pragma",
                    "synchronous=off",
                    "--log-level",
                    "warn",
                ]
                .iter()
                .map(|a| a.to_string())
                .chain(
                    TEMPORAL_DYNAMIC_CONFIG
                        .iter()
                        .flat_map(|v| ["--dynamic-config-value".into(), format!("{v}=100000")]),
                )
                .collect(),
                port,
                extra_ports: vec![http, metrics],
                version: version(&tools.temporal, &["--version"]),
            }
        }
    };
    for p in std::iter::once(launch.port).chain(launch.extra_ports.iter().copied()) {
        if TcpListener::bind(("127.0.0.1", p)).is_err() {
            return Err(EnvironmentError::PortInUse {
                service: launch.kind,
                port: p,
            });
        }
    }
    Ok(launch)
}

/// The Temporal dev server's SQLite file, in its data dir.
const TEMPORAL_DB: &str = "temporal.db";

/// The history service reads each of its task queues at most 20 times a second by
/// default, so on a dev server (one shard) every workflow task waited ~45 ms to be
/// dispatched once a few requests had used up the burst: a request of eight workflow
/// tasks took 400 ms instead of 55 (docs/performance.md). Raised, not removed.
const TEMPORAL_DYNAMIC_CONFIG: [&str; 3] = [
    "history.transferProcessorMaxPollRPS",
    "history.timerProcessorMaxPollRPS",
    "history.visibilityProcessorMaxPollRPS",
];

/// The port of a loopback URL; the local profile never binds anything else.
fn loopback_port(field: &str, url: &str) -> Result<u16, EnvironmentError> {
    let bad = |reason: &str| EnvironmentError::Unsupported(format!("{field} = '{url}': {reason}"));
    let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    match parsed.host_str() {
        Some("127.0.0.1" | "localhost" | "[::1]") => {}
        _ => {
            return Err(bad(
                "the local profile only starts servers on loopback (127.0.0.1)",
            ));
        }
    }
    let port = parsed.port().ok_or_else(|| bad("name an explicit port"))?;
    if let Some((low, high)) = ephemeral_range()
        && (low..=high).contains(&port)
    {
        // A client reconnecting to a stopped server can be given this very port as its
        // own source port and then "connect" to itself; the defaults stay below it.
        tracing::warn!(
            "{field} = '{url}': port {port} is in this machine's ephemeral range \
             {low}-{high}; a client may take it while the server is down. Prefer a port \
             below {low} (the defaults are 16379, 16380, 19092, 17233)"
        );
    }
    Ok(port)
}

/// The kernel's range of ports for outgoing connections (Linux), if it can be read.
fn ephemeral_range() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut bounds = text.split_whitespace().map(|n| n.parse().ok());
    Some((bounds.next()??, bounds.next()??))
}

fn free_port() -> Result<u16, EnvironmentError> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| EnvironmentError::Io {
            what: "find a free loopback port".into(),
            reason: e.to_string(),
        })
}
