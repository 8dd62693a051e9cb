//! `aura-host monitor [FILE]`: the loop of continuous validation. Each cycle checks
//! every service's readiness and runs the probe (a small suite with its validators,
//! under a run id of its own, its data removed), within the cycle's deadline; the
//! monitor (`crate::monitor`) judges it, alerts, journals; one line says how it went.
//! The file is read again when it changes; an edit that does not read is refused and
//! the last good one kept.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clap::Args;

use super::{CliError, ExitCode};
use crate::config::AuraConfig;
use crate::dashboard::{Follow, Live};
use crate::monitor::journal::{CycleRecord, ServiceLine};
use crate::monitor::{CycleInput, Monitor, MonitorConfig, Probed, measure};
use aura_runtime::PluginRuntime;
use aura_services::health::ServiceStatus;
use aura_services::namespace::RunId;
use aura_services::{ServiceHub, ServiceKind};

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// The monitor's file: interval, probe, anomaly detection, alert rules, receivers
    /// (docs/monitor.md) [default: the smoke probe every 30 s, no alerts].
    file: Option<PathBuf>,
    /// Time between cycle starts, over the file's `interval`.
    #[arg(long, value_parser = humantime::parse_duration)]
    interval: Option<Duration>,
    /// The most one cycle (readiness and probe) may take, over the file's
    /// `cycle_deadline`.
    #[arg(long, value_parser = humantime::parse_duration)]
    deadline: Option<Duration>,
    /// Stop after this many cycles [default: run until Ctrl-C].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    cycles: Option<u64>,
    /// Serve the host's Prometheus metrics at http://ADDR/metrics, the monitor's among
    /// them [default address: 127.0.0.1:9464].
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = super::dashboard::METRICS_ADDR)]
    metrics: Option<SocketAddr>,
    /// Probe the deployed target (`aura-host target serve`) at this base URL over HTTP
    /// instead of the in-process one: its requests in the cycle's own namespace,
    /// validated against the configured services and removed; an unreachable target
    /// fails the probe (a `probe_failing` alert).
    #[arg(long, value_name = "URL", value_parser = super::scenarios::target_url)]
    target: Option<String>,
    /// The journal's directory under `<state_dir>/monitor/`.
    #[arg(long, default_value = "default", value_parser = journal_name)]
    name: String,
}

fn journal_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    match ok {
        true => Ok(s.to_string()),
        false => Err("1 to 64 of A-Z, a-z, 0-9, `-` and `_`".into()),
    }
}

/// Probe run journals kept of cycles that did not pass (those that passed are removed).
const FAILED_RUNS_KEPT: usize = 10;
/// How long stopping waits for queued alerts to be delivered.
const DELIVER_WITHIN: Duration = Duration::from_secs(10);

pub async fn run(
    config: &AuraConfig,
    hub: Arc<ServiceHub>,
    args: &MonitorArgs,
) -> Result<ExitCode, CliError> {
    let monitor_config = read(args)?;
    // A probe that does not load is bad input now, not a failed cycle later.
    probe_scenarios(config, &monitor_config)?;
    let live = Live::new();
    let served = match args.metrics {
        Some(addr) => {
            let s =
                super::dashboard::start(config, addr, false, Follow::Current, live.clone()).await?;
            super::dashboard::announce("metrics", &s, "/metrics");
            Some(s)
        }
        None => None,
    };
    let runtime = Arc::new(super::plugin::runtime(config, hub.clone())?);
    let dir = config.state_dir.join("monitor").join(&args.name);
    let interval = monitor_config.interval;
    let mut monitor =
        Monitor::new(monitor_config, &dir, Some(live.metrics.clone())).map_err(|e| {
            CliError::new(
                ExitCode::BadInput,
                format!("cannot open the monitor journal in {}: {e}", dir.display()),
            )
        })?;
    out!(
        "monitor: {} a cycle every {}, each within {}; journal {}; {}",
        args.target.as_deref().map_or_else(
            || "the in-process target,".to_string(),
            |u| format!("the target at {u},")
        ),
        humantime::format_duration(interval),
        humantime::format_duration(monitor.config().cycle_deadline),
        dir.join("cycles.jsonl").display(),
        match args.cycles {
            Some(n) => format!("{n} cycle(s)"),
            None => "Ctrl-C to stop".into(),
        }
    );
    let mut modified = args.file.as_deref().and_then(modified_at);
    let mut failed_runs: VecDeque<PathBuf> = VecDeque::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut cycle = 0u64;
    let mut stopping = false;
    loop {
        cycle += 1;
        let started = Instant::now();
        let started_at = chrono::Utc::now();
        let mut config_refused = None;
        if let Some(path) = &args.file {
            let now = modified_at(path);
            if now != modified {
                modified = now;
                match read(args).and_then(|c| probe_scenarios(config, &c).map(|()| c)) {
                    Ok(c) => {
                        out!("monitor: {} read again", path.display());
                        monitor.reconfigure(c);
                    }
                    Err(e) => {
                        err!("aura-host: {e}; the monitor keeps its last good file");
                        config_refused = Some(e.to_string());
                    }
                }
            }
        }
        let deadline = monitor.config().cycle_deadline;
        let run_id = aura_services::namespace::generate_run_id();
        // Ctrl-C during a cycle lets the probe run stop as a run does (its workflows
        // ended, its data removed); that cycle is not judged: an interrupted probe is no
        // alert. Between cycles the monitor stops at once.
        let done = {
            let work = one_cycle(
                config,
                &hub,
                &runtime,
                monitor.config(),
                run_id.clone(),
                &live,
                args.target.as_deref(),
            );
            let work = tokio::time::timeout(deadline, work);
            tokio::pin!(work);
            loop {
                tokio::select! {
                    done = &mut work => break done,
                    _ = &mut ctrl_c, if !stopping => {
                        stopping = true;
                        out!("monitor: stopping once cycle {cycle} has ended");
                    }
                }
            }
        };
        if stopping {
            break;
        }
        let (services, probe) = match done {
            Ok(r) => r,
            Err(_) => (
                Vec::new(),
                Probed::Failed {
                    run_id: Some(run_id.to_string()),
                    why: format!(
                        "the cycle passed its deadline of {}",
                        humantime::format_duration(deadline)
                    ),
                },
            ),
        };
        let record = monitor.conclude(CycleInput {
            cycle,
            started_at,
            duration: started.elapsed(),
            services,
            probe,
            config_refused,
        });
        out!("{}", line(&record));
        keep_failed_runs(config, &record, &mut failed_runs);
        if args.cycles.is_some_and(|n| cycle >= n) {
            break;
        }
        let next = started + monitor.config().interval;
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()) => {}
            _ = &mut ctrl_c => break,
        }
    }
    let firing = monitor.firing();
    monitor.finish(DELIVER_WITHIN).await;
    if let Some(s) = served {
        s.close().await;
    }
    let judged = if stopping { cycle - 1 } else { cycle };
    out!(
        "monitor: stopped after {judged} cycle(s); summary {}",
        dir.join("summary.json").display()
    );
    Ok(match firing {
        0 => ExitCode::Ok,
        n => {
            out!("monitor: {n} alert(s) still firing");
            ExitCode::Failed
        }
    })
}

/// The file (or the defaults), with the command line's overrides.
fn read(args: &MonitorArgs) -> Result<MonitorConfig, CliError> {
    let mut c = match &args.file {
        Some(path) => {
            MonitorConfig::load(path).map_err(|e| CliError::caused(ExitCode::BadInput, &e))?
        }
        None => MonitorConfig::default(),
    };
    if let Some(i) = args.interval {
        c.interval = i;
    }
    if let Some(d) = args.deadline {
        c.cycle_deadline = d;
    }
    if let (Some(url), Some(d)) = (&args.target, &c.drill) {
        return Err(CliError::new(
            ExitCode::BadInput,
            format!(
                "[drill] pauses {} of the in-process target; a deployed one ({url}) is not paused from here: remove the drill or --target",
                d.step.0
            ),
        ));
    }
    if c.interval.is_zero() || c.cycle_deadline.is_zero() {
        return Err(CliError::new(
            ExitCode::BadInput,
            "the interval and the cycle deadline must be longer than zero",
        ));
    }
    Ok(c)
}

fn probe_scenarios(config: &AuraConfig, m: &MonitorConfig) -> Result<(), CliError> {
    let suite = probe_suite(m);
    super::scenarios::load(&config.run.scenarios_dir, suite, &m.probe.scenarios).map(|_| ())
}

/// The probe's suite: the one named, or none when scenario files are given.
fn probe_suite(m: &MonitorConfig) -> Option<&str> {
    match m.probe.scenarios.is_empty() {
        true => m.probe.suite.as_deref().or(Some("smoke")),
        false => m.probe.suite.as_deref(),
    }
}

fn modified_at(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Readiness of every service, then the probe (when they are all ready).
async fn one_cycle(
    config: &AuraConfig,
    hub: &Arc<ServiceHub>,
    runtime: &Arc<PluginRuntime>,
    m: &MonitorConfig,
    run_id: RunId,
    live: &Arc<Live>,
    target: Option<&str>,
) -> (Vec<ServiceLine>, Probed) {
    let readiness = aura_services::health::check(hub.config(), &ServiceKind::ALL).await;
    live.metrics.services(&readiness.services);
    let services: Vec<ServiceLine> = readiness
        .services
        .iter()
        .map(|s| ServiceLine {
            service: s.service.to_string(),
            ready: s.status == ServiceStatus::Ready,
            latency_ms: s.latency_ms,
            error: s.error.clone(),
        })
        .collect();
    // The drill slows one step of this cycle's target.
    let drilled;
    let config = match &m.drill {
        Some(d) => {
            let mut c = config.clone();
            c.target
                .step_pauses
                .insert(d.step.0, humantime_serde::Serde::from(d.pause));
            drilled = c;
            &drilled
        }
        None => config,
    };
    let watching = super::run::Watching {
        live: Some(live),
        otlp: None,
    };
    let probe = super::scenarios::probe(
        config,
        hub,
        runtime,
        (probe_suite(m), &m.probe.scenarios),
        run_id.clone(),
        watching,
        target,
    )
    .await;
    let probe = match probe {
        Ok(report) => Probed::Ran {
            run_id: run_id.to_string(),
            measured: measure::measure(&report),
        },
        Err(e) => Probed::Failed {
            run_id: Some(run_id.to_string()),
            why: e.to_string(),
        },
    };
    (services, probe)
}

/// One line per cycle: its outcome, its time, what is down, anomalies and alerts.
fn line(r: &CycleRecord) -> String {
    let mut parts = vec![format!(
        "cycle {} {} in {} ms",
        r.cycle,
        if r.passed { "passed" } else { "FAILED" },
        r.duration_ms
    )];
    let down: Vec<&str> = r
        .services
        .iter()
        .filter(|s| !s.ready)
        .map(|s| s.service.as_str())
        .collect();
    if !down.is_empty() {
        parts.push(format!("down: {}", down.join(", ")));
    }
    if let Some(f) = &r.failure {
        parts.push(aura_runtime::text::escape(f, 200));
    }
    for a in &r.anomalies {
        parts.push(format!(
            "anomaly {} = {:.1} outside {:.1}..{:.1}",
            a.series, a.value, a.low, a.high
        ));
    }
    for a in &r.alerts {
        parts.push(format!(
            "alert {} {}",
            a.labels.get("alertname").map_or("?", String::as_str),
            a.status
        ));
    }
    if r.config_refused.is_some() {
        parts.push("file refused, the last good one kept".into());
    }
    parts.join(" · ")
}

/// Removes a passed probe's run journal; keeps the last few of those that failed.
fn keep_failed_runs(config: &AuraConfig, r: &CycleRecord, failed: &mut VecDeque<PathBuf>) {
    let Some(run) = &r.run_id else { return };
    let dir = config.state_dir.join("runs").join(run);
    if r.passed {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    failed.push_back(dir);
    while failed.len() > FAILED_RUNS_KEPT {
        if let Some(old) = failed.pop_front() {
            let _ = std::fs::remove_dir_all(old);
        }
    }
}
