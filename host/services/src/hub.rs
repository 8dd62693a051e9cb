//! Service connections shared by everything in one host process, made on first use: a
//! run whose plugins never touch Kafka never connects to it, and a service that is down
//! fails only the calls that need it.

use std::sync::Arc;

use tokio::sync::OnceCell;

use super::kafka::KafkaEvents;
use super::redis::RedisCache;
use super::temporal::TemporalWorkflows;
use super::{Cache, EventBus, GraphStore, ServiceError, Workflows};
use crate::config::ServicesConfig;

pub struct ServiceHub {
    config: ServicesConfig,
    graph: OnceCell<Arc<dyn GraphStore>>,
    cache: OnceCell<Arc<dyn Cache>>,
    events: OnceCell<Arc<dyn EventBus>>,
    workflows: OnceCell<Arc<dyn Workflows>>,
}

impl ServiceHub {
    pub fn new(config: ServicesConfig) -> Self {
        Self {
            config,
            graph: OnceCell::new(),
            cache: OnceCell::new(),
            events: OnceCell::new(),
            workflows: OnceCell::new(),
        }
    }

    pub fn config(&self) -> &ServicesConfig {
        &self.config
    }

    pub async fn graph(&self) -> Result<Arc<dyn GraphStore>, ServiceError> {
        let graph = &self.config.graph;
        self.graph
            .get_or_try_init(|| async { super::graph::connect(graph).await.map(Arc::from) })
            .await
            .cloned()
    }

    pub async fn cache(&self) -> Result<Arc<dyn Cache>, ServiceError> {
        let redis = &self.config.redis;
        self.cache
            .get_or_try_init(|| async {
                let c: Arc<dyn Cache> = Arc::new(RedisCache::connect(redis).await?);
                Ok(c)
            })
            .await
            .cloned()
    }

    pub async fn events(&self) -> Result<Arc<dyn EventBus>, ServiceError> {
        let kafka = &self.config.kafka;
        self.events
            .get_or_try_init(|| async {
                let e: Arc<dyn EventBus> = Arc::new(KafkaEvents::connect(kafka).await?);
                Ok(e)
            })
            .await
            .cloned()
    }

    pub async fn workflows(&self) -> Result<Arc<dyn Workflows>, ServiceError> {
        let temporal = &self.config.temporal;
        self.workflows
            .get_or_try_init(|| async {
                let w: Arc<dyn Workflows> = Arc::new(TemporalWorkflows::connect(temporal).await?);
                Ok(w)
            })
            .await
            .cloned()
    }
}
