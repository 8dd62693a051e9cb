//! Resident memory: what one more loaded plugin costs a warm host (its compiled code
//! already in the compile cache), and an idle `target serve`.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aura_runtime::{PluginRuntime, PluginSpec, RuntimeOptions};

use super::{Row, Setup};

const PER_PLUGIN: (&str, &str) = ("RSS per loaded plugin (12 loaded)", "≤ 1 MiB");
const IDLE: (&str, &str) = ("RSS of an idle `target serve`", "≤ 40 MiB");
const PLUGINS: usize = 12;

pub async fn rows(setup: &Setup) -> Vec<Row> {
    vec![per_plugin(setup), idle_serve(setup).await]
}

/// The process's resident set, from /proc.
pub fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1u64 << 20) as f64)
}

fn components(setup: &Setup) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(&setup.wasm_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    found.sort();
    found.truncate(PLUGINS);
    found
}

fn load_all(runtime: &PluginRuntime, paths: &[PathBuf]) -> Result<usize, String> {
    let loaded = paths
        .iter()
        .filter(|p| runtime.load(PluginSpec::from_path(p)).is_ok())
        .count();
    if loaded == 0 {
        return Err("no component could be loaded".into());
    }
    Ok(loaded)
}

fn per_plugin(setup: &Setup) -> Row {
    let paths = components(setup);
    if paths.len() < PLUGINS {
        return Row::unmeasured(
            PER_PLUGIN.0,
            PER_PLUGIN.1,
            format!(
                "not measured: {} components in {} (run `just plugins`)",
                paths.len(),
                setup.wasm_dir.display()
            ),
        );
    }
    let options = || RuntimeOptions {
        cache_dir: Some(setup.cache_dir.clone()),
        ..RuntimeOptions::default()
    };
    let measured = (|| {
        // First fill the compile cache, so that what is measured is a warm host's load.
        let warm = PluginRuntime::new(setup.hub.clone(), options()).map_err(|e| e.to_string())?;
        load_all(&warm, &paths)?;
        drop(warm);
        let fresh = PluginRuntime::new(setup.hub.clone(), options()).map_err(|e| e.to_string())?;
        let before = rss_of(std::process::id()).ok_or("no /proc")?;
        let loaded = load_all(&fresh, &paths)?;
        let after = rss_of(std::process::id()).ok_or("no /proc")?;
        drop(Arc::new(fresh));
        Ok::<_, String>((after.saturating_sub(before) / loaded as u64, loaded))
    })();
    match measured {
        Ok((each, loaded)) => Row::new(
            PER_PLUGIN.0,
            PER_PLUGIN.1,
            format!("{} ({loaded} loaded)", mib(each)),
            each <= 1 << 20,
        ),
        Err(e) => Row::unmeasured(PER_PLUGIN.0, PER_PLUGIN.1, format!("not measured: {e}")),
    }
}

async fn idle_serve(setup: &Setup) -> Row {
    match serve_rss(setup).await {
        Ok(rss) => Row::new(IDLE.0, IDLE.1, mib(rss), rss <= 40 << 20),
        Err(e) => Row::unmeasured(IDLE.0, IDLE.1, format!("not measured: {e}")),
    }
}

/// Starts `target serve` on a free port, waits until it answers, reads its RSS.
async fn serve_rss(setup: &Setup) -> Result<u64, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let mut child = tokio::process::Command::new(&setup.exe)
        .args(["target", "serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--run-id", &format!("bench-serve-{}", std::process::id())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", setup.exe.display()))?;
    let pid = child.id().ok_or("target serve ended at once")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Err(format!("target serve exited: {status}"));
        }
        if super::process::http_ok(port, "/ready").await {
            break Ok(());
        }
        if Instant::now() > deadline {
            break Err("target serve was not ready within 60 s".to_string());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let rss = ready.and_then(|()| rss_of(pid).ok_or_else(|| "no /proc".to_string()));
    let _ = child.kill().await;
    rss
}
