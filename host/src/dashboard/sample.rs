//! Service samples for the dashboard and the metrics: a readiness check of every service
//! on an interval (round trips, Redis keyspace hits, the graph's node count), each
//! bounded by the service's own timeout, so a dead server slows the samples down but
//! never stops them.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::metrics::HostMetrics;
use aura_services::config::ServicesConfig;
use aura_services::health;

/// The latest sample as the page gets it: `{"at": ms, "services": [...]}`.
pub type Sample = Option<Arc<serde_json::Value>>;

/// Samples every `every` until the returned sender's receivers are all gone or the
/// task is aborted.
pub fn spawn(
    config: ServicesConfig,
    metrics: Arc<HostMetrics>,
    every: Duration,
) -> (watch::Receiver<Sample>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(None);
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let report = health::check(&config, &[]).await;
            metrics.services(&report.services);
            let sample = serde_json::json!({
                "at": chrono::Utc::now().timestamp_millis(),
                "services": report.services,
            });
            if tx.send(Some(Arc::new(sample))).is_err() {
                return;
            }
        }
    });
    (rx, task)
}
