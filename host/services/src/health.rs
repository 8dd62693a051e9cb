//! The Service Health Validator: connects to every configured service, measures a round
//! trip, gathers its facts, and says whether the environment is ready. Every service is
//! checked concurrently and bounded by its own timeout, so a dead or black-holed server
//! costs at most that timeout and never hangs the check.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Serialize;

use super::kafka::{EventBus, KafkaEvents};
use super::redis::{Cache, RedisCache};
use super::temporal::{TemporalWorkflows, Workflows};
use super::{Failure, ServiceError, ServiceFacts, ServiceKind};
use crate::config::{Common, ServicesConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceStatus {
    Ready,
    /// Refused or otherwise failed to connect.
    Unreachable,
    /// Accepted the connection (or not) but did not answer within the timeout.
    TimedOut,
    /// Answered, but not in a state to serve (wrong reply, missing module or namespace).
    NotReady,
}

impl ServiceStatus {
    pub fn label(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Unreachable => "unreachable",
            Self::TimedOut => "timed out",
            Self::NotReady => "not ready",
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceReport {
    pub service: ServiceKind,
    pub address: String,
    pub required: bool,
    pub status: ServiceStatus,
    /// Round trip of one minimal request, once connected.
    pub latency_ms: Option<f64>,
    pub version: Option<String>,
    pub details: BTreeMap<String, serde_json::Value>,
    pub error: Option<String>,
    /// Wall time of the whole check of this service, connect included.
    pub checked_in_ms: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReadinessReport {
    /// True when every required service is ready.
    pub ready: bool,
    pub services: Vec<ServiceReport>,
}

impl ReadinessReport {
    pub fn not_ready_required(&self) -> impl Iterator<Item = &ServiceReport> {
        self.services
            .iter()
            .filter(|s| s.required && s.status != ServiceStatus::Ready)
    }
}

/// Checks the given services (all four when `only` is empty).
pub async fn check(config: &ServicesConfig, only: &[ServiceKind]) -> ReadinessReport {
    let wanted = |k: ServiceKind| only.is_empty() || only.contains(&k);
    let s = config;
    let mut checks: Vec<BoxFuture<'static, ServiceReport>> = Vec::new();
    if wanted(ServiceKind::Redis) {
        let cfg = s.redis.clone();
        checks.push(
            check_one(
                ServiceKind::Redis,
                s.address(ServiceKind::Redis),
                cfg.common(),
                async move {
                    let redis = RedisCache::connect(&cfg).await?;
                    measured(redis.ping(), redis.probe()).await
                },
            )
            .boxed(),
        );
    }
    if wanted(ServiceKind::Graph) {
        let cfg = s.graph.clone();
        checks.push(
            check_one(
                ServiceKind::Graph,
                s.address(ServiceKind::Graph),
                cfg.common(),
                async move {
                    let graph = super::graph::connect(&cfg).await?;
                    measured(super::graph::ping(graph.as_ref()), graph.probe()).await
                },
            )
            .boxed(),
        );
    }
    if wanted(ServiceKind::Kafka) {
        let cfg = s.kafka.clone();
        checks.push(
            check_one(
                ServiceKind::Kafka,
                s.address(ServiceKind::Kafka),
                cfg.common(),
                async move {
                    let kafka = KafkaEvents::connect(&cfg).await?;
                    let checked = measured(kafka.list_topics(), kafka.probe()).await;
                    // Dropping the producer waits for its polling thread's next wake-up
                    // (up to 100 ms), which a run paid twice; nothing is left to deliver.
                    std::thread::spawn(move || drop(kafka));
                    checked
                },
            )
            .boxed(),
        );
    }
    if wanted(ServiceKind::Temporal) {
        let cfg = s.temporal.clone();
        checks.push(
            check_one(
                ServiceKind::Temporal,
                s.address(ServiceKind::Temporal),
                cfg.common(),
                async move {
                    let temporal = TemporalWorkflows::connect(&cfg).await?;
                    measured(temporal.check_namespace(), temporal.probe()).await
                },
            )
            .boxed(),
        );
    }
    let services = futures::future::join_all(checks).await;
    ReadinessReport {
        ready: services
            .iter()
            .all(|s| !s.required || s.status == ServiceStatus::Ready),
        services,
    }
}

/// Times `ping`, then gathers the facts.
async fn measured<P, F>(
    ping: impl Future<Output = Result<P, ServiceError>>,
    facts: F,
) -> Result<(Duration, ServiceFacts), ServiceError>
where
    F: Future<Output = Result<ServiceFacts, ServiceError>>,
{
    let start = Instant::now();
    ping.await?;
    let latency = start.elapsed();
    Ok((latency, facts.await?))
}

async fn check_one(
    service: ServiceKind,
    address: String,
    common: Common,
    work: impl Future<Output = Result<(Duration, ServiceFacts), ServiceError>>,
) -> ServiceReport {
    let start = Instant::now();
    let outcome = match tokio::time::timeout(common.timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(ServiceError::new(
            service,
            address.clone(),
            Failure::Timeout(common.timeout),
        )),
    };
    let mut report = ServiceReport {
        service,
        address,
        required: common.required,
        status: ServiceStatus::Ready,
        latency_ms: None,
        version: None,
        details: BTreeMap::new(),
        error: None,
        checked_in_ms: 0.0,
    };
    match outcome {
        Ok((latency, facts)) => {
            report.latency_ms = Some(millis(latency));
            report.version = facts.version;
            report.details = facts.details;
        }
        Err(e) => {
            report.status = match e.failure {
                Failure::Timeout(_) => ServiceStatus::TimedOut,
                Failure::Connect(_) | Failure::Address(_) => ServiceStatus::Unreachable,
                Failure::Operation { .. } | Failure::Protocol { .. } | Failure::TooLarge { .. } => {
                    ServiceStatus::NotReady
                }
            };
            report.error = Some(e.to_string());
        }
    }
    report.checked_in_ms = millis(start.elapsed());
    tracing::debug!(service = %service, status = report.status.label(), "checked");
    report
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}
