//! What the agents see: one feature vector per past decision in the context window, then
//! one for the request, each with the time gap (minutes, capped) since the step before.

use crate::gpu::cfc::INPUTS;
use crate::request::{ContextEntry, GpuAllocationRequest};

pub const GPU_COUNT: usize = 0;
pub const MEMORY: usize = 1;
pub const PRIORITY: usize = 2;
pub const DURATION: usize = 3;
/// +1 approved, −1 denied, 0 for the request itself.
pub const APPROVED: usize = 4;
/// 1 when the entry is the same team as the request.
pub const SAME_TEAM: usize = 5;
/// 1 for the request step.
pub const IS_REQUEST: usize = 6;
/// Devices the entry holds (approved entries only), scaled.
pub const HELD: usize = 7;

/// Gaps are in minutes, capped so an idle hour does not saturate the gate.
const MAX_GAP_MINUTES: f32 = 60.0;

fn base(gpu_count: u32, memory_gb: u32, priority: u32, duration_minutes: u32) -> [f32; INPUTS] {
    let mut f = [0f32; INPUTS];
    f[GPU_COUNT] = gpu_count as f32 / 8.0;
    f[MEMORY] = memory_gb as f32 / 80.0;
    f[PRIORITY] = priority as f32 / 10.0;
    f[DURATION] = (1.0 + duration_minutes as f32).ln() / (1.0 + 10_080f32).ln();
    f
}

fn gap(later_ms: i64, earlier_ms: i64) -> f32 {
    ((later_ms - earlier_ms).max(0) as f32 / 60_000.0).min(MAX_GAP_MINUTES)
}

/// The input sequence for `request`, given the context window (newest first, as stored).
pub fn sequence(
    request: &GpuAllocationRequest,
    submitted_at_ms: i64,
    window: &[ContextEntry],
) -> Vec<(f32, [f32; INPUTS])> {
    let mut seq = Vec::with_capacity(window.len() + 1);
    let mut previous: Option<i64> = None;
    for e in window.iter().rev() {
        let mut f = base(e.gpu_count, e.memory_gb, e.priority, e.duration_minutes);
        f[APPROVED] = if e.approved { 1.0 } else { -1.0 };
        f[SAME_TEAM] = (e.team == request.team) as u8 as f32;
        f[HELD] = e.devices as f32 / 8.0;
        let t = previous.map_or(1.0, |p| gap(e.decided_at, p));
        seq.push((t, f));
        previous = Some(e.decided_at);
    }
    let mut f = base(
        request.gpu_count,
        request.memory_gb,
        request.priority,
        request.duration_minutes,
    );
    f[SAME_TEAM] = 1.0;
    f[IS_REQUEST] = 1.0;
    let t = previous.map_or(1.0, |p| gap(submitted_at_ms, p));
    seq.push((t, f));
    seq
}
