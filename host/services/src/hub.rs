//! Service connections shared by everything in one host process, made on first use: a
//! run whose plugins never touch Kafka never connects to it, and a service that is down
//! fails only the calls that need it.
//!
//! Connections are made on the runtime the hub was created on (its home), whoever asks
//! first: a client's background tasks live as long as that runtime, not as long as the
//! runtime of the first caller (the target's Temporal worker runs on a runtime of its own
//! that stops with it).

use std::future::Future;
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::OnceCell;

use super::kafka::KafkaEvents;
use super::redis::RedisCache;
use super::temporal::TemporalWorkflows;
use super::{Cache, EventBus, GraphStore, ServiceError, ServiceKind, Workflows};
use crate::config::ServicesConfig;
use crate::error::Failure;

pub struct ServiceHub {
    config: ServicesConfig,
    home: Option<Handle>,
    graph: OnceCell<Arc<dyn GraphStore>>,
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
            cache: OnceCell::new(),
            events: OnceCell::new(),
            workflows: OnceCell::new(),
        }
    }

    pub fn config(&self) -> &ServicesConfig {
        &self.config
    }

    /// Runs `connect` on the home runtime (inline when the hub has none).
    async fn at_home<T, F>(
        &self,
        kind: ServiceKind,
        address: &str,
        connect: F,
    ) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, ServiceError>> + Send + 'static,
    {
        match &self.home {
            None => connect.await,
            Some(home) => home.spawn(connect).await.map_err(|e| {
                ServiceError::new(
                    kind,
                    address,
                    Failure::Connect(format!("connecting task: {e}")),
                )
            })?,
        }
    }

    pub async fn graph(&self) -> Result<Arc<dyn GraphStore>, ServiceError> {
        let graph = self.config.graph.clone();
        self.graph
            .get_or_try_init(|| async {
                let address = graph.url.clone();
                self.at_home(ServiceKind::Graph, &address, async move {
                    super::graph::connect(&graph).await.map(Arc::from)
                })
                .await
            })
            .await
            .cloned()
    }

    pub async fn cache(&self) -> Result<Arc<dyn Cache>, ServiceError> {
        let redis = self.config.redis.clone();
        self.cache
            .get_or_try_init(|| async {
                let address = redis.url.clone();
                self.at_home(ServiceKind::Redis, &address, async move {
                    let c: Arc<dyn Cache> = Arc::new(RedisCache::connect(&redis).await?);
                    Ok(c)
                })
                .await
            })
            .await
            .cloned()
    }

    pub async fn events(&self) -> Result<Arc<dyn EventBus>, ServiceError> {
        let kafka = self.config.kafka.clone();
        self.events
            .get_or_try_init(|| async {
                let address = kafka.brokers.clone();
                self.at_home(ServiceKind::Kafka, &address, async move {
                    let e: Arc<dyn EventBus> = Arc::new(KafkaEvents::connect(&kafka).await?);
                    Ok(e)
                })
                .await
            })
            .await
            .cloned()
    }

    pub async fn workflows(&self) -> Result<Arc<dyn Workflows>, ServiceError> {
        let temporal = self.config.temporal.clone();
        self.workflows
            .get_or_try_init(|| async {
                let address = temporal.url.clone();
                self.at_home(ServiceKind::Temporal, &address, async move {
                    let w: Arc<dyn Workflows> =
                        Arc::new(TemporalWorkflows::connect(&temporal).await?);
                    Ok(w)
                })
                .await
            })
            .await
            .cloned()
    }
}
