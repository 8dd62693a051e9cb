//! The reference target's costs (criterion): council inference per request on the CPU
//! (batch 1 and 1024) and on CUDA where present, and end-to-end requests per second of
//! the in-process target against the local services (`aura-host env up`; skipped with a
//! message when they are not ready).
//!
//!   cargo bench -p aura-host --bench target

#![recursion_limit = "256"]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aura_host::config::AuraConfig;
use aura_reference::council::{Case, Council, CouncilConfig};
use aura_reference::gpu::{Compute, ComputePreference};
use aura_reference::request::ContextEntry;
use aura_reference::{DecisionState, GpuAllocationRequest, Target};
use aura_services::ServiceHub;
use aura_services::namespace::RunId;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn request(i: u64) -> GpuAllocationRequest {
    GpuAllocationRequest {
        request_id: format!("bench-{i}"),
        team: format!("team-{}", i % 4),
        gpu_count: 1 + (i % 2) as u32,
        gpu_model: None,
        memory_gb: 16,
        priority: 5 + (i % 5) as u32,
        duration_minutes: 1,
    }
}

fn window() -> Vec<ContextEntry> {
    (0..8)
        .map(|k| ContextEntry {
            request_id: format!("p{k}"),
            team: format!("team-{}", k % 4),
            gpu_count: 2,
            memory_gb: 40,
            priority: 5,
            duration_minutes: 60,
            approved: k % 2 == 0,
            devices: 2,
            decided_at: k * 30_000,
        })
        .collect()
}

fn council_on(c: &mut Criterion, name: &str, compute: Arc<Compute>) {
    let council = Council::new(&CouncilConfig::default(), compute).expect("council");
    let ctx = window();
    let requests: Vec<GpuAllocationRequest> = (0..1024).map(request).collect();
    let mut group = c.benchmark_group(name);
    for n in [1usize, 1024] {
        let cases: Vec<Case<'_>> = requests[..n]
            .iter()
            .map(|r| Case {
                request: r,
                submitted_at_ms: 300_000,
                window: &ctx,
            })
            .collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("batch", n), &cases, |b, cases| {
            b.iter(|| council.decide(cases).expect("inference"))
        });
    }
    group.finish();
}

fn council(c: &mut Criterion) {
    council_on(c, "council_cpu", Arc::new(Compute::Cpu));
    match Compute::detect(ComputePreference::Cuda) {
        Ok((cuda, _)) => council_on(c, "council_cuda", Arc::new(cuda)),
        Err(e) => eprintln!("skipping council_cuda: {e}"),
    }
}

/// Requests per measured batch, submitted together.
const BATCH: u64 = 20;

fn end_to_end(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    let mut config = AuraConfig::default();
    config.target.task_queue = format!("aura-bench-{}", std::process::id());
    let report = rt.block_on(aura_services::health::check(&config.services, &[]));
    if !report.ready {
        eprintln!("skipping end_to_end: the local services are not ready (run `aura-host env up`)");
        return;
    }
    let run = RunId::parse(&format!("bench-{}", std::process::id())).expect("run id");
    let target = Arc::new(
        rt.block_on(Target::start(
            Arc::new(ServiceHub::new(config.services.clone())),
            &config.target,
            &config.gpu,
            run,
        ))
        .expect("target"),
    );
    let next = AtomicU64::new(0);
    let mut group = c.benchmark_group("target_end_to_end");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("in_process_requests", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let ids: Vec<u64> = (0..BATCH)
                        .map(|_| next.fetch_add(1, Ordering::Relaxed))
                        .collect();
                    let runs = ids.iter().map(|i| {
                        let t = target.clone();
                        async move {
                            let r = request(*i);
                            t.submit(r.clone()).await.expect("submit");
                            match t.decision(&r.request_id, Duration::from_secs(60)).await {
                                Ok(DecisionState::Decided { .. }) => {}
                                other => panic!("{}: {other:?}", r.request_id),
                            }
                        }
                    });
                    futures::future::join_all(runs).await;
                }
                start.elapsed()
            })
        })
    });
    group.finish();
    // The bench's decisions, leases and traces go with its run.
    let ns = aura_services::namespace::RunNamespace::new(target.run_id().clone());
    let removed = rt.block_on(aura_services::namespace::remove(
        &ServiceHub::new(config.services.clone()),
        &ns,
    ));
    for f in removed.failed {
        eprintln!(
            "cleanup of run {}: {}: {}",
            target.run_id(),
            f.service,
            f.error
        );
    }
}

criterion_group!(benches, council, end_to_end);
criterion_main!(benches);
