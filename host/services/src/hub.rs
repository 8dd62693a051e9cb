//! Service connections shared by everything in one host process, made on first use: a
//! run whose plugins never touch Kafka never connects to it, and a service that is down
//! fails only the calls that need it.
//!
//! Connections are made on the runtime the hub was created on (its home), whoever asks
//! first: a client's background tasks live as long as that runtime, not as long as the
//! runtime of the first caller (the target's Temporal worker runs on a runtime of its own
//! that stops with it).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::OnceCell;

use super::kafka::KafkaEvents;
use super::redis::RedisCache;
use super::temporal::TemporalWorkflows;
use super::{Cache, EventBus, GraphStore, ServiceError, ServiceKind, Workflows};
use crate::config::ServicesConfig;
use crate::error::Failure;

/// Making one connection, on whichever runtime polls it.
type Connecting<T> = Pin<Box<dyn Future<Output = Result<Arc<T>, ServiceError>> + Send>>;

pub struct ServiceHub {
    config: ServicesConfig,
    home: Option<Handle>,
    graph: OnceCell<Arc<dyn GraphStore>>,
    plugin_graph: OnceCell<Arc<dyn GraphStore>>,
    cache: OnceCell<Arc<dyn Cache>>,
    events: OnceCell<Arc<dyn EventBus>>,
    workflows: OnceCell<Arc<dyn Workflows>>,
}

impl ServiceHub {
    pub fn new(config: ServicesConfig) -> Self {
        Self {
            config,
            home: Handle::try_current().ok(),
            graph: OnceCell::new(),
            plugin_graph: OnceCell::new(),
            cache: OnceCell::new(),
            events: OnceCell::new(),
            workflows: OnceCell::new(),
        }
    }

    pub fn config(&self) -> &ServicesConfig {
        &self.config
    }

    /// The connection in `cell`, made on first use by `connect` on the home runtime
    /// (inline when the hub has none). The connecting future is boxed: the clients'
    /// connect futures are large, and a caller's stack (a Temporal worker thread's)
    /// must not carry copies of them.
    async fn shared<T>(
        &self,
        cell: &OnceCell<Arc<T>>,
        kind: ServiceKind,
        address: String,
        connect: Connecting<T>,
    ) -> Result<Arc<T>, ServiceError>
    where
        T: ?Sized + Send + Sync + 'static,
    {
        cell.get_or_try_init(|| async {
            match &self.home {
                None => connect.await,
                Some(home) => home.spawn(connect).await.map_err(|e| {
                    let failure = Failure::Connect(format!("connecting task: {e}"));
                    ServiceError::new(kind, address, failure)
                })?,
            }
        })
        .await
        .cloned()
    }

    pub async fn graph(&self) -> Result<Arc<dyn GraphStore>, ServiceError> {
        self.graph_in(&self.graph).await
    }

    /// The graph a run writes and reads: its own where the backend gives it one (see
    /// [`GraphStore::for_run`]), the shared database otherwise.
    pub async fn run_graph(&self, run_id: &str) -> Result<Arc<dyn GraphStore>, ServiceError> {
        let shared = self.graph().await?;
        Ok(shared.for_run(run_id).unwrap_or(shared))
    }

    /// A run's own graph for its plugins, on their connection; `None` where the backend
    /// has no graph per run, so that no plugin query can reach another run's data.
    pub async fn plugin_run_graph(
        &self,
        run_id: &str,
    ) -> Result<Option<Arc<dyn GraphStore>>, ServiceError> {
        Ok(self.graph_in(&self.plugin_graph).await?.for_run(run_id))
    }

    /// The graph on a connection of its own, for plugins' queries: a slow one never
    /// queues the host's own queries (cleanup, readiness) behind it.
    pub async fn plugin_graph(&self) -> Result<Arc<dyn GraphStore>, ServiceError> {
        self.graph_in(&self.plugin_graph).await
    }

    async fn graph_in(
        &self,
        cell: &OnceCell<Arc<dyn GraphStore>>,
    ) -> Result<Arc<dyn GraphStore>, ServiceError> {
        let graph = self.config.graph.clone();
        let address = graph.url.clone();
        let connect: Connecting<dyn GraphStore> =
            Box::pin(async move { super::graph::connect(&graph).await.map(Arc::from) });
        self.shared(cell, ServiceKind::Graph, address, connect)
            .await
    }

    pub async fn cache(&self) -> Result<Arc<dyn Cache>, ServiceError> {
        let redis = self.config.redis.clone();
        let address = redis.url.clone();
        let connect: Connecting<dyn Cache> =
            Box::pin(async move { Ok(Arc::new(RedisCache::connect(&redis).await?) as _) });
        self.shared(&self.cache, ServiceKind::Redis, address, connect)
            .await
    }

    pub async fn events(&self) -> Result<Arc<dyn EventBus>, ServiceError> {
        let kafka = self.config.kafka.clone();
        let address = kafka.brokers.clone();
        let connect: Connecting<dyn EventBus> =
            Box::pin(async move { Ok(Arc::new(KafkaEvents::connect(&kafka).await?) as _) });
        self.shared(&self.events, ServiceKind::Kafka, address, connect)
            .await
    }

    pub async fn workflows(&self) -> Result<Arc<dyn Workflows>, ServiceError> {
        let temporal = self.config.temporal.clone();
        let address = temporal.url.clone();
        let connect: Connecting<dyn Workflows> =
            Box::pin(
                async move { Ok(Arc::new(TemporalWorkflows::connect(&temporal).await?) as _) },
            );
        self.shared(&self.workflows, ServiceKind::Temporal, address, connect)
            .await
    }
}
