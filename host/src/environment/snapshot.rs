//! Snapshots of the local profile (seed 002's environment manager): `env snapshot NAME`
//! keeps each store in its own format under `<state_dir>/snapshots/NAME/`: Redis and
//! FalkorDB as RDB files (`SAVE`), Kafka's topics as their messages in order (Tansu keeps
//! them in memory), the Temporal dev server's SQLite database (copied while it is stopped
//! a moment). `env restore NAME` checks everything first (the files against the
//! manifest's digests, each server's version against the one the snapshot was taken
//! from), then puts the data back through a restart; if that fails half-way, the
//! environment as it was is put back the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::state::EnvState;
use super::{EnvConfig, EnvironmentError, local};
use aura_services::{OutgoingEvent, ReadLimit, ServiceHub, ServiceKind};

/// A snapshot's description, beside its files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub taken_at: chrono::DateTime<chrono::Utc>,
    /// Each server's version string when it was taken.
    pub versions: BTreeMap<ServiceKind, String>,
    /// Each file's sha256.
    pub files: BTreeMap<String, String>,
    pub topics: usize,
    pub messages: usize,
}

/// One Kafka message, as kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Message {
    pub(super) topic: String,
    partition: i32,
    key: Option<String>,
    payload: Vec<u8>,
    headers: BTreeMap<String, String>,
}

const MANIFEST: &str = "manifest.json";
pub(super) const KAFKA_FILE: &str = "kafka.jsonl";
/// The RDB file `SAVE` writes in a Redis server's working directory.
const RDB: &str = "dump.rdb";
const TEMPORAL_FILES: [&str; 3] = ["temporal.db", "temporal.db-wal", "temporal.db-shm"];
/// The most messages a snapshot keeps; more is refused, not cut.
const MAX_MESSAGES: usize = 1_000_000;
const KAFKA_WAIT: Duration = Duration::from_secs(10);
const SAVE_WITHIN: Duration = Duration::from_secs(120);

pub(super) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> EnvironmentError {
    let what = what.into();
    move |e| EnvironmentError::Io {
        what,
        reason: e.to_string(),
    }
}

/// A snapshot's name: 1-64 of a-z, 0-9, `-`, `_`.
fn check_name(name: &str) -> Result<(), EnvironmentError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    match ok {
        true => Ok(()),
        false => Err(EnvironmentError::Snapshot(format!(
            "snapshot name {name:?}: use 1-64 of a-z, 0-9, '-' and '_'"
        ))),
    }
}

pub fn dir(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join("snapshots").join(name)
}

/// The running servers' records; every one of the four must be up.
fn running(state_dir: &Path) -> Result<EnvState, EnvironmentError> {
    let state = EnvState::load(state_dir)?;
    let down: Vec<&str> = ServiceKind::ALL
        .iter()
        .filter(|k| {
            !state
                .services
                .get(k)
                .is_some_and(|r| super::process::is_ours(r.pid, &r.binary))
        })
        .map(|k| k.name())
        .collect();
    match down.is_empty() {
        true => Ok(state),
        false => Err(EnvironmentError::NotRunning(format!(
            "{} not running in the local profile: `aura-host env up` first",
            down.join(", ")
        ))),
    }
}

/// Takes snapshot `name` of the running local profile.
pub async fn take(
    config: &EnvConfig,
    hub: &ServiceHub,
    name: &str,
    force: bool,
) -> Result<Manifest, EnvironmentError> {
    check_name(name)?;
    let _lock = super::state::DirLock::acquire(&config.state_dir, "env.lock")?;
    take_as(config, hub, name, force).await
}

/// [`take`] under the environment's lock, any name.
async fn take_as(
    config: &EnvConfig,
    hub: &ServiceHub,
    name: &str,
    force: bool,
) -> Result<Manifest, EnvironmentError> {
    let state_dir = &std::path::absolute(&config.state_dir).map_err(io("resolve the state dir"))?;
    let state = running(state_dir)?;
    let target = dir(state_dir, name);
    if target.exists() && !force {
        return Err(EnvironmentError::Snapshot(format!(
            "snapshot {name} exists at {}; --force replaces it",
            target.display()
        )));
    }
    // Written beside, then moved into place: a snapshot that fails half-way is no snapshot.
    let partial = state_dir.join("snapshots").join(format!(".{name}.partial"));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(io(format!("create {}", partial.display())))?;
    let taken = into_dir(config, hub, state_dir, &state, &partial, name).await;
    let manifest = match taken {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    let _ = std::fs::remove_dir_all(&target);
    std::fs::rename(&partial, &target).map_err(io(format!("move into {}", target.display())))?;
    Ok(manifest)
}

async fn into_dir(
    config: &EnvConfig,
    hub: &ServiceHub,
    state_dir: &Path,
    state: &EnvState,
    out: &Path,
    name: &str,
) -> Result<Manifest, EnvironmentError> {
    for (kind, file) in [
        (ServiceKind::Redis, "redis.rdb"),
        (ServiceKind::Graph, "graph.rdb"),
    ] {
        save_rdb(config, state, kind, &out.join(file)).await?;
    }
    let messages = read_topics(hub).await?;
    let topics = write_messages(&out.join(KAFKA_FILE), &messages)?;
    copy_temporal(config, state_dir, state, out).await?;
    let files = digests(out)?;
    let manifest = Manifest {
        name: name.to_string(),
        taken_at: chrono::Utc::now(),
        versions: state
            .services
            .iter()
            .map(|(k, r)| (*k, r.version.clone().unwrap_or_default()))
            .collect(),
        files,
        topics,
        messages: messages.len(),
    };
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    std::fs::write(out.join(MANIFEST), text).map_err(io("write the manifest"))?;
    Ok(manifest)
}

/// Writes `messages` to `path`, one JSON line each; how many topics they are in.
pub(super) fn write_messages(path: &Path, messages: &[Message]) -> Result<usize, EnvironmentError> {
    let lines: Vec<String> = messages
        .iter()
        .map(|m| serde_json::to_string(m).unwrap_or_default())
        .collect();
    std::fs::write(path, lines.join("\n")).map_err(io(format!("write {}", path.display())))?;
    Ok(messages
        .iter()
        .map(|m| m.topic.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len())
}

/// Each file of `dir` (not the manifest) with its sha256.
pub(super) fn digests(dir: &Path) -> Result<BTreeMap<String, String>, EnvironmentError> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir)
        .map_err(io(format!("list {}", dir.display())))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == MANIFEST {
            continue;
        }
        let bytes = std::fs::read(entry.path()).map_err(io(format!("read {name}")))?;
        files.insert(name, aura_runtime::digest(&bytes));
    }
    Ok(files)
}

/// Each file `files` lists is in `dir` with the digest it lists.
pub(super) fn check_digests(
    dir: &Path,
    files: &BTreeMap<String, String>,
) -> Result<(), EnvironmentError> {
    for (file, digest) in files {
        let bytes = std::fs::read(dir.join(file)).map_err(|e| {
            EnvironmentError::Snapshot(format!("{}: {e}", dir.join(file).display()))
        })?;
        if &aura_runtime::digest(&bytes) != digest {
            return Err(EnvironmentError::Snapshot(format!(
                "{}: {file} does not match its digest in {MANIFEST}",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// How long one command of a snapshot or a backup may take to be answered: `SAVE`, a
/// `RESTORE` of a whole graph (the client's default, 500 ms, is for requests).
const BULK_ANSWER: Duration = Duration::from_secs(120);

/// A Redis-protocol connection for bulk work: connected within the client's default
/// (1 s), every answer awaited up to [`BULK_ANSWER`], so a stalled server ends it.
pub(super) async fn bulk_connection(
    url: &str,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(BULK_ANSWER));
    redis::Client::open(url)?
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// `SAVE` on the server of `kind`, its RDB file moved to `to` (not left where a restart
/// would load it).
async fn save_rdb(
    config: &EnvConfig,
    state: &EnvState,
    kind: ServiceKind,
    to: &Path,
) -> Result<(), EnvironmentError> {
    let url = match kind {
        ServiceKind::Graph => {
            let port = state.services.get(&kind).map_or(0, |r| r.port);
            format!("redis://127.0.0.1:{port}")
        }
        _ => config.services.redis.url.clone(),
    };
    let failed = |e: redis::RedisError| EnvironmentError::Snapshot(format!("{kind}: SAVE: {e}"));
    let saved = async {
        let mut conn = bulk_connection(&url).await.map_err(failed)?;
        redis::cmd("SAVE")
            .query_async::<()>(&mut conn)
            .await
            .map_err(failed)
    };
    // A server that stalls does not hold the snapshot forever.
    tokio::time::timeout(SAVE_WITHIN, saved)
        .await
        .map_err(|_| {
            EnvironmentError::Snapshot(format!(
                "{kind}: SAVE did not finish within {SAVE_WITHIN:?}"
            ))
        })??;
    let data = state
        .services
        .get(&kind)
        .map(|r| r.data_dir.join(RDB))
        .ok_or_else(|| EnvironmentError::Snapshot(format!("{kind}: no data dir")))?;
    std::fs::copy(&data, to).map_err(io(format!("copy {}", data.display())))?;
    std::fs::remove_file(&data).map_err(io(format!("remove {}", data.display())))?;
    Ok(())
}

/// Every message of every topic, each topic's partitions in order.
pub(super) async fn read_topics(hub: &ServiceHub) -> Result<Vec<Message>, EnvironmentError> {
    let events = hub.events().await?;
    let mut topics = events.list_topics().await?;
    topics.retain(|t| !t.starts_with("__"));
    topics.sort();
    let mut out = Vec::new();
    for topic in topics {
        let limit = ReadLimit {
            messages: MAX_MESSAGES + 1,
            bytes: usize::MAX,
        };
        // To each partition's end as its fetches report it: an end counted before the
        // read missed the message a workflow had just published (a DR drill lost one).
        let mut read = events.read_to_end(&topic, limit, KAFKA_WAIT).await?;
        read.sort_by_key(|e| (e.partition, e.offset));
        out.extend(read.into_iter().map(|e| Message {
            topic: e.topic,
            partition: e.partition,
            key: e.key,
            payload: e.payload,
            headers: e.headers,
        }));
        if out.len() > MAX_MESSAGES {
            return Err(EnvironmentError::Snapshot(format!(
                "Kafka holds more than {MAX_MESSAGES} messages: too many to snapshot"
            )));
        }
    }
    Ok(out)
}

/// Copies the Temporal dev server's database while the server is stopped, then starts it.
async fn copy_temporal(
    config: &EnvConfig,
    state_dir: &Path,
    state: &EnvState,
    out: &Path,
) -> Result<(), EnvironmentError> {
    let data = state
        .services
        .get(&ServiceKind::Temporal)
        .map(|r| r.data_dir.clone())
        .ok_or_else(|| EnvironmentError::Snapshot("temporal: no data dir".into()))?;
    local::down(state_dir, &[ServiceKind::Temporal])?;
    let copied = TEMPORAL_FILES
        .iter()
        .filter(|f| data.join(f).is_file())
        .try_for_each(|f| {
            std::fs::copy(data.join(f), out.join(f))
                .map(|_| ())
                .map_err(io(format!("copy {f}")))
        });
    let started = local::up(config, &config.tools_dir, &[ServiceKind::Temporal]).await;
    copied?;
    started.map(|_| ())
}

/// Every snapshot's manifest, by name; unreadable ones are skipped.
pub fn list(state_dir: &Path) -> Vec<Manifest> {
    let mut out: Vec<Manifest> = std::fs::read_dir(state_dir.join("snapshots"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| read_manifest(&e.path()).ok())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn read_manifest(dir: &Path) -> Result<Manifest, EnvironmentError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(io(format!("read {}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| EnvironmentError::State {
        path,
        reason: e.to_string(),
    })
}

/// Checks snapshot `name` against its manifest and the running servers: what restoring
/// it would put back, or why it cannot be.
fn check(state_dir: &Path, state: &EnvState, name: &str) -> Result<Manifest, EnvironmentError> {
    check_name(name)?;
    let at = dir(state_dir, name);
    if !at.is_dir() {
        return Err(EnvironmentError::Snapshot(format!(
            "no snapshot {name} at {}",
            at.display()
        )));
    }
    let manifest = read_manifest(&at)?;
    check_digests(&at, &manifest.files)?;
    for (kind, taken) in &manifest.versions {
        let now = state
            .services
            .get(kind)
            .and_then(|r| r.version.clone())
            .unwrap_or_default();
        if &now != taken {
            return Err(EnvironmentError::Snapshot(format!(
                "snapshot {name} was taken from {kind} {taken:?}; this environment runs {now:?}"
            )));
        }
    }
    Ok(manifest)
}

/// Restores snapshot `name` into the running local profile.
pub async fn restore(
    config: &EnvConfig,
    hub: &ServiceHub,
    name: &str,
) -> Result<Manifest, EnvironmentError> {
    let _lock = super::state::DirLock::acquire(&config.state_dir, "env.lock")?;
    let state_dir = &std::path::absolute(&config.state_dir).map_err(io("resolve the state dir"))?;
    let state = running(state_dir)?;
    let manifest = check(state_dir, &state, name)?;
    // The environment as it is, to put back if restoring fails half-way.
    let before = format!(".before-restore-{name}");
    take_as(config, hub, &before, true).await?;
    let put = put_back(config, hub, state_dir, &dir(state_dir, name)).await;
    let outcome = match put {
        Ok(()) => Ok(manifest),
        Err(e) => {
            let back = put_back(config, hub, state_dir, &dir(state_dir, &before)).await;
            Err(EnvironmentError::Restore(match back {
                Ok(()) => format!("restoring {name} failed, the environment is as it was: {e}"),
                Err(b) => format!(
                    "restoring {name} failed ({e}) and so did putting the environment back ({b}); `env reset` empties it"
                ),
            }))
        }
    };
    let _ = std::fs::remove_dir_all(dir(state_dir, &before));
    outcome
}

/// Stops the servers, puts the snapshot's files in fresh data dirs, starts them and
/// publishes its messages again.
async fn put_back(
    config: &EnvConfig,
    hub: &ServiceHub,
    state_dir: &Path,
    from: &Path,
) -> Result<(), EnvironmentError> {
    local::down(state_dir, &ServiceKind::ALL)?;
    for kind in ServiceKind::ALL {
        let data = state_dir.join("data").join(kind.name());
        match std::fs::remove_dir_all(&data) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io(format!("empty {}", data.display()))(e));
            }
            _ => {}
        }
        std::fs::create_dir_all(&data).map_err(io(format!("create {}", data.display())))?;
        let files: Vec<(String, &str)> = match kind {
            ServiceKind::Redis => vec![("redis.rdb".into(), RDB)],
            ServiceKind::Graph => vec![("graph.rdb".into(), RDB)],
            ServiceKind::Temporal => TEMPORAL_FILES.iter().map(|f| (f.to_string(), *f)).collect(),
            ServiceKind::Kafka => vec![],
        };
        for (kept, as_) in files {
            if from.join(&kept).is_file() {
                std::fs::copy(from.join(&kept), data.join(as_))
                    .map_err(io(format!("put back {kept}")))?;
            }
        }
    }
    local::up(config, &config.tools_dir, &ServiceKind::ALL).await?;
    // The RDB files are loaded: none is left for a later restart to load again.
    for kind in [ServiceKind::Redis, ServiceKind::Graph] {
        let _ = std::fs::remove_file(state_dir.join("data").join(kind.name()).join(RDB));
    }
    publish(hub, &from.join(KAFKA_FILE)).await
}

/// The messages kept in `file`.
pub(super) fn read_messages(file: &Path) -> Result<Vec<Message>, EnvironmentError> {
    let text = std::fs::read_to_string(file).map_err(io(format!("read {}", file.display())))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l).map_err(|e| {
                EnvironmentError::Snapshot(format!("{}:{}: {e}", file.display(), n + 1))
            })
        })
        .collect()
}

/// Publishes the kept messages again, in order, into the (empty) broker.
async fn publish(hub: &ServiceHub, file: &Path) -> Result<(), EnvironmentError> {
    publish_messages(hub, read_messages(file)?).await
}

/// Publishes `messages`, in order, creating their topics with the partitions they had.
pub(super) async fn publish_messages(
    hub: &ServiceHub,
    messages: Vec<Message>,
) -> Result<(), EnvironmentError> {
    let events = hub.events().await?;
    // A broker restarted behind the process's client: its topics are gone.
    events.forget_topics();
    let mut partitions: BTreeMap<&str, i32> = BTreeMap::new();
    for m in &messages {
        let n = partitions.entry(&m.topic).or_insert(1);
        *n = (*n).max(m.partition + 1);
    }
    for (topic, n) in &partitions {
        events.ensure_topic(topic, *n).await?;
    }
    for m in messages {
        events
            .publish(OutgoingEvent {
                topic: m.topic,
                key: m.key.unwrap_or_default(),
                payload: m.payload,
                headers: m.headers,
            })
            .await?;
    }
    Ok(())
}
