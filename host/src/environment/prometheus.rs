//! An optional local Prometheus (Debian's `prometheus` package): `env up --prometheus`
//! starts it on loopback with the compose profile's scrape configuration and alerting
//! rules (`docs/compose/prometheus.yml` and `alerts.yml`, one home for both) and target
//! files of its own, and records it in the state dir so `env down` stops it. The target
//! files are written on every `env up --prometheus`, and Prometheus re-reads them:
//! pointing it elsewhere needs no restart.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::state::{EnvState, ProcessRecord};
use super::{EnvConfig, EnvironmentError, ServiceOutcome, process};
use aura_services::ServiceKind;

/// Its name in the state dir and in messages.
pub const NAME: &str = "prometheus";
const CONFIG: &str = include_str!("../../../docs/compose/prometheus.yml");
/// The alerting rules `CONFIG` loads from beside it.
const ALERTS: &str = include_str!("../../../docs/compose/alerts.yml");
const READY_WITHIN: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Where the local Prometheus listens and what it scrapes.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub port: u16,
    /// The host's metrics (`run --metrics`, the dashboard), `host:port`.
    pub host: String,
    /// The reference target's (`target serve`), `host:port`.
    pub target: String,
}

fn error(reason: impl Into<String>) -> EnvironmentError {
    EnvironmentError::Addon {
        name: NAME,
        reason: reason.into(),
    }
}

/// Debian's binary, else one on the PATH.
fn binary() -> Result<PathBuf, EnvironmentError> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(NAME));
    std::iter::once(PathBuf::from("/usr/bin/prometheus"))
        .chain(on_path)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            error("not installed: install Debian's prometheus package (`apt-get install prometheus`) or put `prometheus` on the PATH")
        })
}

fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join(NAME)
}

/// Writes the scrape configuration and the target files: the host, the target and the
/// local Temporal dev server's metrics port when it runs.
fn configure(state_dir: &Path, scrape: &Scrape) -> Result<PathBuf, EnvironmentError> {
    let dir = dir(state_dir);
    let targets = dir.join("targets");
    let io = |e: std::io::Error| error(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(&targets).map_err(io)?;
    let temporal = EnvState::load(state_dir)?
        .services
        .get(&ServiceKind::Temporal)
        .and_then(|r| r.extra_ports.get(1).copied())
        .map(|port| format!("127.0.0.1:{port}"));
    let files = [
        (
            "prometheus.json",
            Some(format!("127.0.0.1:{}", scrape.port)),
        ),
        ("aura-host.json", Some(scrape.host.clone())),
        ("aura-target.json", Some(scrape.target.clone())),
        ("temporal.json", temporal),
    ];
    for (file, target) in files {
        let groups = match target {
            Some(t) => serde_json::json!([{ "targets": [t], "labels": { "profile": "local" } }]),
            None => serde_json::json!([]),
        };
        // Written whole, then renamed: Prometheus never reads half a file.
        let tmp = targets.join(format!(".{file}.tmp"));
        std::fs::write(&tmp, groups.to_string()).map_err(io)?;
        std::fs::rename(&tmp, targets.join(file)).map_err(io)?;
    }
    std::fs::write(dir.join("alerts.yml"), ALERTS).map_err(io)?;
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, CONFIG).map_err(io)?;
    Ok(config)
}

/// Starts it (or points the running one at `scrape`'s targets) and waits until ready.
pub async fn up(config: &EnvConfig, scrape: &Scrape) -> Result<ServiceOutcome, EnvironmentError> {
    let state_dir = &config.state_dir;
    let file = configure(state_dir, scrape)?;
    let mut state = EnvState::load(state_dir)?;
    if let Some(rec) = state.addons.get(NAME)
        && process::is_ours(rec.pid, &rec.binary)
    {
        return Ok(ServiceOutcome {
            service: NAME,
            pid: rec.pid,
            port: rec.port,
            what: "already running",
        });
    }
    let binary = binary()?;
    let addr = format!("127.0.0.1:{}", scrape.port);
    if std::net::TcpListener::bind(&addr).is_err() {
        return Err(error(format!(
            "port {} is already in use by another process; stop it or pick another with --prometheus-port",
            scrape.port
        )));
    }
    let dir = dir(state_dir);
    let log = dir.join("prometheus.log");
    let args = vec![
        format!("--config.file={}", file.display()),
        format!("--storage.tsdb.path={}", dir.join("data").display()),
        // A local profile's history stays small however long it runs.
        "--storage.tsdb.retention.time=2d".to_string(),
        format!("--web.listen-address={addr}"),
    ];
    let child = process::spawn(&binary, &args, &dir, &log)
        .map_err(|e| error(format!("cannot start {}: {e}", binary.display())))?;
    let pid = child.id();
    let version = super::tools::version_of(&binary, &["--version"]);
    state.addons.insert(
        NAME.to_string(),
        ProcessRecord {
            pid,
            port: scrape.port,
            extra_ports: Vec::new(),
            binary: binary.clone(),
            data_dir: dir.join("data"),
            log: log.clone(),
            version,
            started_at: chrono::Utc::now(),
        },
    );
    state.save(state_dir)?;
    let deadline = Instant::now() + READY_WITHIN;
    while !ready(&addr).await {
        if !process::is_ours(pid, &binary) || Instant::now() >= deadline {
            return Err(error(format!(
                "not ready on {addr} within {}s; its log ({}):\n{}",
                READY_WITHIN.as_secs(),
                log.display(),
                process::log_tail(&log, 10)
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(ServiceOutcome {
        service: NAME,
        pid,
        port: scrape.port,
        what: "started",
    })
}

/// Whether `/-/ready` answers 200.
async fn ready(addr: &str) -> bool {
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(b"GET /-/ready HTTP/1.0\r\n\r\n").await.ok()?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await.ok()?;
        Some(head.ends_with(b" 200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), probe).await,
        Ok(Some(true))
    )
}

/// Stops it if `up` started it; `None` when nothing was recorded.
pub fn down(state_dir: &Path) -> Result<Option<ServiceOutcome>, EnvironmentError> {
    let mut state = EnvState::load(state_dir)?;
    let Some(rec) = state.addons.remove(NAME) else {
        return Ok(None);
    };
    let what = if !process::is_ours(rec.pid, &rec.binary) {
        "was not running"
    } else if process::terminate(rec.pid, &rec.binary, STOP_GRACE) {
        "stopped"
    } else {
        return Err(error(format!(
            "pid {} did not exit after SIGTERM and SIGKILL",
            rec.pid
        )));
    };
    state.save(state_dir)?;
    Ok(Some(ServiceOutcome {
        service: NAME,
        pid: rec.pid,
        port: rec.port,
        what,
    }))
}
