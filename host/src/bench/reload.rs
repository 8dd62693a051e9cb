//! Hot reload as a user sees it: a plugin's file is replaced while calls keep coming;
//! how long until the new version serves, and how many calls failed meanwhile.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aura_runtime::bindings::RunContext;
use aura_runtime::reload::{PluginSlot, watch};
use aura_runtime::{Grants, PluginSpec};

use super::stats::shown;
use super::{Row, Setup};

const MEASURE: &str = "hot reload: file replaced → new version serving; calls failed";
const GOAL: &str = "≤ 200 ms; 0";
/// Longer than any reload should take: past it, the row says so.
const GIVE_UP: Duration = Duration::from_secs(30);

pub async fn row(setup: &Setup) -> Row {
    match measure(setup).await {
        Ok((swap, failed, calls, compile)) => Row::new(
            MEASURE,
            GOAL,
            format!(
                "{}; {failed} of {calls} calls failed (compiling a new version alone: {})",
                shown(swap),
                shown(compile)
            ),
            swap <= Duration::from_millis(200) && failed == 0,
        ),
        Err(e) => Row::unmeasured(MEASURE, GOAL, format!("not measured: {e}")),
    }
}

/// A component with one more custom section: the same code, a different digest.
fn new_version(bytes: &[u8], tag: u32) -> Vec<u8> {
    let (name, payload) = (b"aura-bench", tag.to_le_bytes());
    let body = 1 + name.len() + payload.len();
    let mut out = bytes.to_vec();
    out.push(0); // custom section
    out.push(body as u8); // LEB128: both lengths are below 128
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    out
}

async fn measure(setup: &Setup) -> Result<(Duration, u32, u32, Duration), String> {
    let source = setup.wasm_dir.join("bench_probe.wasm");
    let bytes = std::fs::read(&source).map_err(|e| format!("{}: {e}", source.display()))?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("probe.wasm");
    std::fs::write(&path, &bytes).map_err(|e| e.to_string())?;
    let mut spec = PluginSpec::from_path(&path);
    spec.config = "mode = \"trivial\"".into();
    spec.grants = Grants::run_read_only();
    let slot = PluginSlot::new(setup.runtime.load(spec).map_err(|e| e.to_string())?);
    let old = slot.get().digest.clone();
    let (events, mut swapped) = tokio::sync::mpsc::unbounded_channel();
    let _watcher =
        watch(setup.runtime.clone(), vec![slot.clone()], events).map_err(|e| e.to_string())?;

    let (stop, failed, calls) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU32::new(0)),
        Arc::new(AtomicU32::new(0)),
    );
    let caller = {
        let (slot, runtime) = (slot.clone(), setup.runtime.clone());
        let (stop, failed, calls) = (stop.clone(), failed.clone(), calls.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let plugin = slot.get();
                let ctx = RunContext {
                    run_id: format!("bench-{}", std::process::id()),
                    scenario: "bench".into(),
                    request_ids: vec![],
                    config: plugin.spec.config.clone(),
                    faults: Vec::new(),
                    load: None,
                };
                if !runtime.validate(&plugin, ctx).await.passed() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                calls.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        })
    };
    let replaced = Instant::now();
    replace(&path, &new_version(&bytes, std::process::id()))?;
    // The watcher reports the swap; the call after it is served by the new version.
    let outcome = tokio::time::timeout(GIVE_UP, swapped.recv()).await;
    let swap = replaced.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = caller.await;
    let swapped = matches!(
        outcome,
        Ok(Some(aura_runtime::reload::ReloadEvent::Swapped { .. }))
    ) && slot.get().digest != old;
    // What of the swap is compiling: a third version, loaded directly.
    let third = dir.path().join("compile.wasm");
    std::fs::write(&third, new_version(&bytes, !std::process::id())).map_err(|e| e.to_string())?;
    let mut spec = slot.get().spec.clone();
    spec.path = third;
    let compiling = Instant::now();
    setup.runtime.load(spec).map_err(|e| e.to_string())?;
    let compile = compiling.elapsed();
    match outcome {
        Ok(Some(_)) if swapped => Ok((
            swap,
            failed.load(Ordering::Relaxed),
            calls.load(Ordering::Relaxed),
            compile,
        )),
        Ok(other) => Err(format!("the reload did not swap: {other:?}")),
        Err(_) => Err(format!("no swap within {GIVE_UP:?}")),
    }
}

/// Replaces the file the way a build does: written beside it, then renamed over it.
fn replace(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("wasm.tmp");
    std::fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_new_version_is_the_old_bytes_and_one_custom_section() {
        let header = b"\0asm\x0d\0\x01\0".to_vec();
        let v = super::new_version(&header, 7);
        assert_eq!(&v[..8], &header[..]);
        assert_eq!(v[8], 0, "custom section id");
        assert_eq!(v[9] as usize, v.len() - 10, "section size");
    }
}
