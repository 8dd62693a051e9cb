//! A TCP fault proxy that speaks Toxiproxy's HTTP API (v2 JSON shapes and status codes),
//! embedded in the host so network faults need no extra binary. [`ProxyClient`] drives
//! it and the real Toxiproxy image (compose profile) alike.
//!
//! Each proxy listens on its address and pipes every client it accepts to its upstream,
//! each direction through the toxics of its stream (`latency`, `bandwidth`,
//! `slow_close`, `timeout`, `reset_peer`, `slicer`, `limit_data`). Toxics act on links
//! already open as well as new ones: the clients being faulted keep pooled connections.
//! Disabling a proxy closes its listener and links; enabling it listens again on the
//! same address.

mod api;
mod chain;
mod client;
mod link;
mod proxies;
mod toxic;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::warn;

pub use client::ProxyClient;
pub use proxies::ProxyInfo;
pub use toxic::{Stream, Toxic, ToxicKind};

use proxies::Proxies;

/// How long shutdown lets requests in flight finish before cutting them off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot serve the fault proxy API on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("bad fault proxy API URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot reach the fault proxy API at {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("the fault proxy API at {addr} did not answer {request} within {timeout:?}")]
    Timeout {
        addr: String,
        request: String,
        timeout: Duration,
    },
    /// The API's own error (`{"error": message, "status": status}`).
    #[error("fault proxy API {request}: {message} (HTTP {status})")]
    Api {
        request: String,
        status: u16,
        message: String,
    },
    #[error("the fault proxy API at {addr} answered oddly: {reason}")]
    Protocol { addr: String, reason: String },
}

/// The embedded server: the HTTP API and every proxy it creates.
pub struct FaultProxy {
    api_addr: SocketAddr,
    proxies: Arc<Proxies>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts the HTTP API on `api` (port 0: any free port).
    pub async fn start(api: SocketAddr) -> Result<FaultProxy, ProxyError> {
        let bind_error = |source| ProxyError::Bind { addr: api, source };
        let listener = TcpListener::bind(api).await.map_err(bind_error)?;
        let api_addr = listener.local_addr().map_err(bind_error)?;
        let proxies = Arc::new(Proxies::default());
        let router = api::router(proxies.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            if let Err(error) = axum::serve(listener, router)
                .with_graceful_shutdown(stopped)
                .await
            {
                warn!(%error, "fault proxy API failed");
            }
        });
        Ok(FaultProxy {
            api_addr,
            proxies,
            stop: Some(stop),
            server: Some(server),
        })
    }

    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The API's base URL, for a [`ProxyClient`].
    pub fn url(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    /// Stops the API, every listener and every link.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
        let mut proxies = self.proxies.lock().await;
        for proxy in proxies.values_mut() {
            proxy.stop().await;
        }
        proxies.clear();
    }
}

impl Drop for FaultProxy {
    // Dropped without `shutdown`: the server goes now, and the proxies with the last
    // reference to them (each aborts its listener and links as it drops).
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}
