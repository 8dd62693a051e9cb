//! The proxies: each listens on its address while enabled and links every client it
//! accepts to its upstream, through the toxics of each stream.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, warn};

use super::api::ApiError;
use super::chain::{Chain, ChainToxic};
use super::link;
use super::toxic::{Effect, Stream, Toxic};

/// Every proxy by name. One lock: API calls are few, and a proxy being started or
/// stopped must not be seen half done.
pub(super) type Proxies = Mutex<BTreeMap<String, Proxy>>;

/// Where a proxy listens when the request names no address: loopback, not every
/// interface, so a test host never exposes its proxies.
const DEFAULT_LISTEN: &str = "127.0.0.1:0";
/// Pause after a failed accept (out of file descriptors, say) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// A proxy as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProxyInfo {
    pub name: String,
    /// The address it listens on, its port resolved once it has listened.
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    #[serde(default)]
    pub toxics: Vec<Toxic>,
}

pub(super) struct Proxy {
    name: String,
    listen: String,
    upstream: String,
    /// In the order they were added.
    toxics: Vec<Entry>,
    next_id: u64,
    upstream_chain: watch::Sender<Chain>,
    downstream_chain: watch::Sender<Chain>,
    running: Option<Running>,
}

struct Entry {
    id: u64,
    toxic: Toxic,
    effect: Effect,
}

impl Proxy {
    pub(super) fn new(name: String, listen: String, upstream: String) -> Self {
        let listen = if listen.is_empty() {
            DEFAULT_LISTEN.to_string()
        } else {
            listen
        };
        Self {
            name,
            listen,
            upstream,
            toxics: Vec::new(),
            next_id: 0,
            upstream_chain: watch::Sender::new(Chain::default()),
            downstream_chain: watch::Sender::new(Chain::default()),
            running: None,
        }
    }

    pub(super) fn info(&self) -> ProxyInfo {
        ProxyInfo {
            name: self.name.clone(),
            listen: self.listen.clone(),
            upstream: self.upstream.clone(),
            enabled: self.running.is_some(),
            toxics: self.toxics(),
        }
    }

    /// Listens (again) on its address; a port 0 is resolved the first time, and kept.
    pub(super) async fn start(&mut self) -> Result<(), ApiError> {
        if self.running.is_some() {
            return Ok(());
        }
        let listener = TcpListener::bind(self.listen.as_str())
            .await
            .map_err(|error| ApiError::internal(format!("listen tcp {}: {error}", self.listen)))?;
        if let Ok(address) = listener.local_addr() {
            self.listen = address.to_string();
        }
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(
            listener,
            self.upstream.clone(),
            self.upstream_chain.subscribe(),
            self.downstream_chain.subscribe(),
            stopped,
        ));
        self.running = Some(Running {
            stop: Some(stop),
            task,
        });
        debug!(proxy = %self.name, listen = %self.listen, upstream = %self.upstream, "proxy listening");
        Ok(())
    }

    /// Closes the listener and every link; once this returns, connections are refused.
    pub(super) async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
            debug!(proxy = %self.name, "proxy stopped");
        }
    }

    /// Applies an update; a new listen address or upstream restarts the proxy, dropping
    /// its links (as in Toxiproxy).
    pub(super) async fn update(
        &mut self,
        listen: Option<String>,
        upstream: Option<String>,
        enabled: Option<bool>,
    ) -> Result<(), ApiError> {
        let enabled = enabled.unwrap_or(self.running.is_some());
        let listen = listen
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| self.listen.clone());
        let upstream = upstream
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| self.upstream.clone());
        if self.differs(&listen, &upstream) {
            self.stop().await;
            self.listen = listen;
            self.upstream = upstream;
        }
        if enabled {
            self.start().await
        } else {
            self.stop().await;
            Ok(())
        }
    }

    /// Whether `listen` and `upstream` name other addresses than this proxy's. A port 0
    /// is satisfied by the port already chosen, so populating again changes nothing.
    pub(super) fn differs(&self, listen: &str, upstream: &str) -> bool {
        if upstream != self.upstream {
            return true;
        }
        if listen.is_empty() || listen == self.listen {
            return false;
        }
        match (
            listen.parse::<SocketAddr>(),
            self.listen.parse::<SocketAddr>(),
        ) {
            (Ok(wanted), Ok(current)) => {
                wanted.ip() != current.ip()
                    || (wanted.port() != 0 && wanted.port() != current.port())
            }
            _ => true,
        }
    }

    /// Upstream toxics first, then downstream, each in the order added (as Toxiproxy
    /// lists them).
    pub(super) fn toxics(&self) -> Vec<Toxic> {
        [Stream::Upstream, Stream::Downstream]
            .iter()
            .flat_map(|&stream| self.toxics.iter().filter(move |e| e.toxic.stream == stream))
            .map(|e| e.toxic.clone())
            .collect()
    }

    pub(super) fn toxic(&self, name: &str) -> Result<Toxic, ApiError> {
        self.entry(name).map(|e| e.toxic.clone())
    }

    pub(super) fn add_toxic(&mut self, toxic: Toxic) -> Result<Toxic, ApiError> {
        let (toxic, effect) = toxic.checked().map_err(ApiError::bad_request)?;
        if self.toxics.iter().any(|e| e.toxic.name == toxic.name) {
            return Err(ApiError::conflict("toxic already exists"));
        }
        let id = self.new_id();
        self.toxics.push(Entry {
            id,
            toxic: toxic.clone(),
            effect,
        });
        self.publish();
        Ok(toxic)
    }

    /// Merges new attributes and toxicity into a toxic; its name, type and stream stay.
    pub(super) fn update_toxic(
        &mut self,
        name: &str,
        attributes: Option<Map<String, Value>>,
        toxicity: Option<f32>,
    ) -> Result<Toxic, ApiError> {
        let mut toxic = self.entry(name)?.toxic.clone();
        toxic.attributes.extend(attributes.unwrap_or_default());
        toxic.toxicity = toxicity.unwrap_or(toxic.toxicity);
        let (toxic, effect) = toxic.checked().map_err(ApiError::bad_request)?;
        let id = self.new_id();
        if let Some(entry) = self.toxics.iter_mut().find(|e| e.toxic.name == name) {
            *entry = Entry {
                id,
                toxic: toxic.clone(),
                effect,
            };
        }
        self.publish();
        Ok(toxic)
    }

    pub(super) fn remove_toxic(&mut self, name: &str) -> Result<(), ApiError> {
        self.entry(name)?;
        self.toxics.retain(|e| e.toxic.name != name);
        self.publish();
        Ok(())
    }

    pub(super) fn remove_toxics(&mut self) {
        self.toxics.clear();
        self.publish();
    }

    fn entry(&self, name: &str) -> Result<&Entry, ApiError> {
        self.toxics
            .iter()
            .find(|e| e.toxic.name == name)
            .ok_or_else(|| ApiError::not_found("toxic not found"))
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Hands each stream's chain to every link, open or still to come.
    fn publish(&self) {
        for (stream, sender) in [
            (Stream::Upstream, &self.upstream_chain),
            (Stream::Downstream, &self.downstream_chain),
        ] {
            let chain = self
                .toxics
                .iter()
                .filter(|e| e.toxic.stream == stream)
                .map(|e| ChainToxic {
                    id: e.id,
                    name: e.toxic.name.clone(),
                    toxicity: e.toxic.toxicity,
                    effect: e.effect,
                })
                .collect();
            sender.send_replace(Arc::new(chain));
        }
    }
}

/// A listening proxy's accept loop.
struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Running {
    // A proxy dropped without being stopped (its server dropped, say) still closes its
    // listener and links: aborting the loop drops them.
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: String,
    upstream_chain: watch::Receiver<Chain>,
    downstream_chain: watch::Receiver<Chain>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut links = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(_) = links.join_next(), if !links.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    links.spawn(link::run(
                        client,
                        upstream.clone(),
                        upstream_chain.clone(),
                        downstream_chain.clone(),
                    ));
                }
                Err(error) => {
                    warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    // Aborting a link drops its sockets, which closes them.
    links.shutdown().await;
}
