//! The reference target in this process: one request at a time for its latency, then
//! many at once for its sustained rate. Each request is a real Temporal workflow
//! writing to the graph, Redis and Kafka; the run's data is removed afterwards.

use std::time::{Duration, Instant};

use aura_reference::{DecisionState, GpuAllocationRequest, Target};
use aura_services::namespace::{RunId, RunNamespace, remove};

use super::stats::{Sample, shown};
use super::{Row, Setup};

const RATE: (&str, &str) = (
    "reference target in process: sustained decisions per second",
    "≥ 60/s",
);
const LATENCY: (&str, &str) = (
    "reference target in process: single-request latency p50",
    "≤ 60 ms",
);
const SINGLE: u32 = 20;
const WAIT: Duration = Duration::from_secs(120);

pub async fn rows(setup: &Setup) -> Vec<Row> {
    match measure(setup).await {
        Ok((rate, latency)) => vec![
            Row::new(
                RATE.0,
                RATE.1,
                format!("{rate:.1}/s ({} requests)", setup.requests),
                rate >= 60.0,
            ),
            Row::new(
                LATENCY.0,
                LATENCY.1,
                format!(
                    "{} (p99 {})",
                    shown(latency.median()),
                    shown(latency.quantile(0.99))
                ),
                latency.median() <= Duration::from_millis(60),
            ),
        ],
        Err(e) => vec![
            Row::unmeasured(RATE.0, RATE.1, format!("not measured: {e}")),
            Row::unmeasured(LATENCY.0, LATENCY.1, format!("not measured: {e}")),
        ],
    }
}

fn request(i: u32) -> GpuAllocationRequest {
    GpuAllocationRequest {
        request_id: format!("bench-{i}"),
        team: format!("team-{}", i % 4),
        gpu_count: 1 + i % 2,
        gpu_model: None,
        memory_gb: 16,
        priority: 5 + i % 5,
        duration_minutes: 1,
    }
}

async fn decide(target: &Target, r: GpuAllocationRequest) -> Result<(), String> {
    target.submit(r.clone()).await.map_err(|e| e.to_string())?;
    match target.decision(&r.request_id, WAIT).await {
        Ok(DecisionState::Decided { .. }) => Ok(()),
        other => Err(format!("{}: {other:?}", r.request_id)),
    }
}

async fn measure(setup: &Setup) -> Result<(f64, Sample), String> {
    let run =
        RunId::parse(&format!("bench-target-{}", std::process::id())).map_err(|e| e.to_string())?;
    let target = Target::start(setup.hub.clone(), &setup.target, &setup.gpu, run.clone())
        .await
        .map_err(|e| e.to_string())?;
    let measured = async {
        let mut latency = Sample::default();
        for i in 0..SINGLE {
            latency
                .time(async || decide(&target, request(i)).await)
                .await?;
        }
        let started = Instant::now();
        let all = (SINGLE..SINGLE + setup.requests).map(|i| decide(&target, request(i)));
        for r in futures::future::join_all(all).await {
            r?;
        }
        let rate = setup.requests as f64 / started.elapsed().as_secs_f64();
        Ok::<_, String>((rate, latency))
    }
    .await;
    target.stop().await;
    let report = remove(&setup.hub, &RunNamespace::new(run)).await;
    if !report.failed.is_empty() {
        tracing::warn!("bench data not fully removed: {:?}", report.failed);
    }
    measured
}
