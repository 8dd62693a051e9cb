//! The CUDA core: the council kernel agrees with the CPU path within the stated
//! tolerance, and a device probe works. Runs where a CUDA driver and device exist;
//! elsewhere each test prints why it was skipped.

use std::io::Write;
use std::sync::Arc;

use aura_reference::council::{Case, Council, CouncilConfig};
use aura_reference::gpu::{self, Compute, ComputePreference, LOGIT_TOLERANCE};
use aura_reference::request::{ContextEntry, GpuAllocationRequest};

fn cuda() -> Option<Arc<Compute>> {
    match Compute::detect(ComputePreference::Cuda) {
        Ok((compute, _)) => Some(Arc::new(compute)),
        Err(e) => {
            // Straight to stderr, past the test harness's capture, so CI logs show it.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: no usable CUDA device here ({e})"
            );
            None
        }
    }
}

fn requests(n: usize) -> Vec<(GpuAllocationRequest, Vec<ContextEntry>)> {
    (0..n)
        .map(|i| {
            let request = GpuAllocationRequest {
                request_id: format!("r{i}"),
                team: format!("team-{}", i % 3),
                gpu_count: 1 + (i % 8) as u32,
                gpu_model: None,
                memory_gb: 8 * (1 + (i % 10) as u32),
                priority: 1 + (i % 10) as u32,
                duration_minutes: 15 * (1 + (i % 96) as u32),
            };
            let window = (0..(i % 17))
                .map(|k| ContextEntry {
                    request_id: format!("p{k}"),
                    team: format!("team-{}", k % 3),
                    gpu_count: 1 + (k % 4) as u32,
                    memory_gb: 40,
                    priority: 1 + (k % 10) as u32,
                    duration_minutes: 60,
                    approved: k % 3 != 0,
                    devices: (k % 4) as u32,
                    decided_at: 1_000_000 - (k as i64) * 45_000,
                })
                .collect();
            (request, window)
        })
        .collect()
}

#[test]
fn gpu_and_cpu_council_logits_agree() {
    let Some(compute) = cuda() else { return };
    let council = Council::new(&CouncilConfig::default(), compute).expect("council");
    let inputs = requests(1024);
    let cases: Vec<Case<'_>> = inputs
        .iter()
        .map(|(r, w)| Case {
            request: r,
            submitted_at_ms: 1_100_000,
            window: w,
        })
        .collect();
    let batch = Council::batch(&cases);
    let gpu = council.logits(&batch).expect("kernel");
    let cpu = council.logits_cpu(&batch);
    assert_eq!(gpu.len(), cpu.len());
    let worst = gpu
        .iter()
        .zip(&cpu)
        .map(|(g, c)| (g - c).abs())
        .fold(0f32, f32::max);
    println!("largest |gpu - cpu| over {} logits: {worst:e}", gpu.len());
    assert!(worst <= LOGIT_TOLERANCE, "{worst} > {LOGIT_TOLERANCE}");
}

#[test]
fn device_probe_reports_a_usable_device() {
    if cuda().is_none() {
        let report = gpu::probe(0);
        assert!(!report.usable, "{report:?}");
        assert!(!report.detail.is_empty());
        return;
    }
    let report = gpu::probe(0);
    assert!(report.usable, "{report:?}");
    assert!(report.elapsed.is_some());
}
