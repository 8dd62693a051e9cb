//! `aura-host run`: one path for everything, the orchestrator. Scenarios (`--suite`,
//! `--scenario`, or nothing: the smoke suite) run through the reference target
//! (`super::scenarios`). Plugins given with `--plugin` join them: validators replace the
//! scenarios' own, a recovery strategy is asked about failures, a generator replaces
//! their requests with its own (`--seed`). `--request` validates an earlier run's
//! requests instead; `--watch` runs again whenever a given plugin changes.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::{CliError, ExitCode};
use crate::chaos::Routes;
use crate::config::AuraConfig;
use crate::dashboard::{Follow, Live, OtlpSink, Served};
use crate::orchestrator::Scenario;
use crate::report::baseline::Baseline;
use crate::report::regression::Tolerance;
use aura_runtime::reload::{self, PluginSlot, ReloadEvent};
use aura_runtime::{Plugin, PluginKind, PluginRuntime, PluginSpec, manifest};
use aura_services::ServiceHub;
use aura_services::namespace::RunId;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A plugin component to run (repeatable); granted read-only access to the run's data.
    #[arg(long = "plugin", value_name = "WASM")]
    plugins: Vec<PathBuf>,
    /// A plugin set (TOML) pinning plugins by sha256, with their grants, limits and config.
    #[arg(long = "plugins", value_name = "MANIFEST")]
    manifest: Option<PathBuf>,
    /// Run id [default: generated]. With `--request`: the namespace of the earlier run
    /// whose requests are validated (this run gets a generated id).
    #[arg(long)]
    run_id: Option<RunId>,
    /// Validate these requests of an earlier run (its data kept, in the namespace
    /// `--run-id`) with the validators given, instead of running scenarios (repeatable).
    #[arg(long = "request", value_name = "ID")]
    requests: Vec<String>,
    /// Seed for scenario generators and `[chaos]` fault schedules [default: each
    /// scenario's own; else 0 for generators and a fresh one, reported, for schedules].
    #[arg(long)]
    seed: Option<u64>,
    /// Keep running: when a plugin given with `--plugin` changes, load it again and run
    /// again (a version that does not load is refused and the old one kept).
    #[arg(long, conflicts_with = "soak")]
    watch: bool,
    /// Run again and again until this long has passed, each round a run of its own (its
    /// own journal and report) with a fresh seed (`--seed N`: N, N+1, ...): seed 000's
    /// 45-minute chaos run is `--suite chaos --soak 45m`. Exit 1 if any round failed.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, conflicts_with_all = ["run_id", "requests"])]
    soak: Option<std::time::Duration>,
    /// Run a suite of scenarios (`smoke`, `integration`, `e2e`, `chaos`, `all` for those
    /// four, or the long `load` and `soak`) through the reference target, in-process
    /// [default: smoke, when neither scenarios nor plugins are given].
    #[arg(long)]
    suite: Option<String>,
    /// Run this scenario file (repeatable).
    #[arg(long = "scenario", value_name = "FILE")]
    scenarios: Vec<PathBuf>,
    /// Write the run's report as JSON (`docs/results.md`) to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write JUnit XML to this file: a test case per scenario and per validator.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the report as one self-contained HTML file: the timeline, each request's
    /// waterfall, the validators' checks (failures first), latency per step.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Independent scenarios to run at once [default: `run.jobs` in the config, 4].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: Option<u16>,
    /// Keep the run's graph nodes, Redis keys and topics (removed by default; the
    /// journal keeps the results and traces either way).
    #[arg(long)]
    keep_data: bool,
    /// No progress bars: one plain line per finished scenario.
    #[arg(long, short)]
    quiet: bool,
    /// Compare the run's per-step latencies with this saved baseline (`baseline save`)
    /// and exit 1 on a regression beyond the tolerance.
    #[arg(long, value_name = "NAME", conflicts_with = "soak")]
    baseline: Option<String>,
    #[command(flatten)]
    tolerance: super::baseline::ToleranceArgs,
    /// Drive the deployed target (`aura-host target serve`) at this base URL over HTTP
    /// instead of starting one in this process: each scenario's requests in a namespace
    /// of the run's own, validated against the configured services and removed
    /// afterwards; scenarios with faults are refused.
    #[arg(long, value_name = "URL", value_parser = super::scenarios::target_url, conflicts_with = "distributed")]
    target: Option<String>,
    /// Run the scenarios' requests on `aura-host worker` processes polling
    /// `--task-queue`, each scenario cut into `--slices` slices; this process journals,
    /// validates and reports.
    #[arg(long, conflicts_with_all = ["requests", "watch"])]
    distributed: bool,
    /// Slices per scenario with --distributed.
    #[arg(long, default_value_t = 2, requires = "distributed", value_parser = clap::value_parser!(u32).range(1..=1024))]
    slices: u32,
    /// The task queue the workers poll, with --distributed.
    #[arg(long, default_value = crate::scheduler::RUNS_TASK_QUEUE, requires = "distributed")]
    task_queue: String,
    /// Serve a live page of the run at this address while it runs: scenarios, each
    /// request's steps as they happen, validators, services, errors [default address:
    /// 127.0.0.1:8089, loopback only].
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = super::dashboard::DASHBOARD_ADDR)]
    dashboard: Option<std::net::SocketAddr>,
    /// Serve the host's Prometheus metrics at http://ADDR/metrics while the run goes
    /// [default address: 127.0.0.1:9464]; the dashboard serves them too.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = super::dashboard::METRICS_ADDR)]
    metrics: Option<std::net::SocketAddr>,
    /// Run failed scenarios again, up to N times, each time as a run of its own
    /// (`<run>-rerun-<k>`); one that passes is `flaky`, reported and not failing the run.
    /// Every run is kept in the state dir's history that `aura-host flakes` reads.
    #[arg(long, value_name = "N", default_value_t = 0, conflicts_with = "requests", value_parser = clap::value_parser!(u32).range(0..=10))]
    rerun_failed: u32,
    /// Export each request's trace over OTLP/HTTP to this collector (its base URL,
    /// `http://127.0.0.1:4318`): a trace per request, a span per step (docs/results.md).
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// Record every plugin call with its host calls and their answers into
    /// `DIR/<run>/<scenario>/<plugin>.jsonl`, for `aura-host plugin test --replay`.
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
}

impl RunArgs {
    /// The suite to run: the one named, else smoke when no scenario file is given.
    fn suite(&self) -> Option<&str> {
        self.suite
            .as_deref()
            .or(self.scenarios.is_empty().then_some("smoke"))
    }
}

pub async fn run(
    config: &AuraConfig,
    hub: Arc<ServiceHub>,
    args: &RunArgs,
) -> Result<ExitCode, CliError> {
    // Network faults need the target's and the plugins' connections through the fault
    // proxy: the hub is built with the proxied addresses before anything connects.
    let routes = match args.requests.is_empty() {
        true => super::scenarios::fault_routes(config, args.suite(), &args.scenarios).await?,
        false => None,
    };
    let (hub, routes) = match routes {
        Some((r, routed)) => (Arc::new(ServiceHub::new(routed)), Some(Arc::new(r))),
        None => (hub, None),
    };
    let live = (args.dashboard.is_some() || args.metrics.is_some()).then(Live::new);
    let otlp = match &args.otlp_endpoint {
        Some(url) => {
            Some(OtlpSink::new(url).map_err(|e| CliError::caused(ExitCode::BadInput, &e))?)
        }
        None => None,
    };
    let servers = watched(config, args, live.as_ref()).await?;
    let watching = Watching {
        live: live.as_ref(),
        otlp: otlp.as_ref(),
    };
    let code = routed(config, hub, args, routes.clone(), watching).await;
    if let Some(dir) = &args.record {
        out!(
            "recorded the plugins' calls under {}/<run>/<scenario>/<plugin>.jsonl; \
             replay one with `aura-host plugin test <plugin> --replay <file>`",
            dir.display()
        );
    }
    // The pages get the run's last records before the process goes, the collector its
    // last traces.
    for s in servers {
        s.close().await;
    }
    if let Some(o) = otlp {
        out!("{}", o.finish().await);
    }
    if let Some(r) = routes.and_then(Arc::into_inner) {
        r.stop().await;
    }
    code
}

/// `run` with the services reached as `hub` says, through `routes` where faulted.
async fn routed(
    config: &AuraConfig,
    hub: Arc<ServiceHub>,
    args: &RunArgs,
    routes: Option<Arc<Routes>>,
    watching: Watching<'_>,
) -> Result<ExitCode, CliError> {
    let mut specs = Vec::new();
    for name in &args.plugins {
        let path =
            crate::orchestrator::plugins::locate(&config.run.plugins_dir, &name.to_string_lossy())
                .map_err(|e| CliError::caused(ExitCode::BadInput, &e))?;
        specs.push(PluginSpec::from_path(&path));
    }
    if let Some(path) = &args.manifest {
        specs.extend(manifest::load(path)?);
    }
    let runtime =
        Arc::new(super::plugin::runtime(config, hub.clone())?.record_into(args.record.clone()));
    let plugins = specs
        .into_iter()
        .map(|s| runtime.load(s))
        .collect::<Result<Vec<_>, _>>()?;
    // Validating nothing must not pass.
    if !args.requests.is_empty() && !plugins.iter().any(|p| p.kind == PluginKind::Validator) {
        return Err(CliError::new(
            ExitCode::BadInput,
            "--request needs at least one validator to check the requests with (--plugin or --plugins)",
        ));
    }
    if !args.requests.is_empty()
        && let Some(p) = plugins.iter().find(|p| p.kind != PluginKind::Validator)
    {
        return Err(CliError::new(
            ExitCode::BadInput,
            format!(
                "--request validates requests an earlier run decided; {} is a {}, which has nothing to do there",
                p.name(),
                p.kind
            ),
        ));
    }
    if args.watch && args.plugins.is_empty() {
        return Err(CliError::new(
            ExitCode::BadInput,
            "--watch runs again when a plugin given with --plugin changes: give one",
        ));
    }
    // A baseline that does not exist is bad input, said before anything runs.
    let baseline = match &args.baseline {
        Some(name) => Some((
            super::baseline::load(config, name)?,
            args.tolerance.tolerance(),
        )),
        None => None,
    };
    let baseline = baseline.as_ref();
    let once_with = |plugins: Vec<Plugin>, run_id: Option<RunId>, seed: Option<u64>| {
        let (hub, runtime, routes) = (hub.clone(), runtime.clone(), routes.clone());
        let round = Round {
            run_id,
            seed,
            baseline,
            watching,
        };
        async move { once(config, &hub, &runtime, &plugins, args, round, routes).await }
    };
    let once = |plugins: Vec<Plugin>, run_id: Option<RunId>| once_with(plugins, run_id, args.seed);
    if let Some(total) = args.soak {
        return soak(total, args.seed, |seed| {
            once_with(plugins.clone(), None, seed)
        })
        .await;
    }
    if !args.watch {
        return once(plugins, args.run_id.clone()).await;
    }
    let slots: Vec<Arc<PluginSlot>> = plugins.into_iter().map(PluginSlot::new).collect();
    let current = |slots: &[Arc<PluginSlot>]| -> Vec<Plugin> {
        slots.iter().map(|s| Plugin::clone(&s.get())).collect()
    };
    let mut code = once(current(&slots), args.run_id.clone()).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _watcher = reload::watch(runtime.clone(), slots.clone(), tx)?;
    out!("watching {} plugin file(s); Ctrl-C to stop", slots.len());
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(code),
            event = rx.recv() => match event {
                None => return Ok(code),
                Some(ReloadEvent::Refused { plugin, error }) => {
                    err!("reload of {plugin} refused, the old version keeps serving: {error}");
                }
                Some(ReloadEvent::Swapped { plugin, new_digest, .. }) => {
                    out!("reloaded {plugin} ({}); running again", &new_digest[..12]);
                    // A fresh run id per round, so each round has its own journal; with
                    // --request the run id names the earlier run's namespace and stays.
                    let run_id = if args.requests.is_empty() {
                        None
                    } else {
                        args.run_id.clone()
                    };
                    code = once(current(&slots), run_id).await?;
                }
            },
        }
    }
}

/// Rounds of runs until `total` has passed or Ctrl-C; each round's seed is `seed` plus
/// its number (a fresh one each when none is given).
async fn soak<F, Fut>(
    total: std::time::Duration,
    seed: Option<u64>,
    round: F,
) -> Result<ExitCode, CliError>
where
    F: Fn(Option<u64>) -> Fut,
    Fut: std::future::Future<Output = Result<ExitCode, CliError>>,
{
    let started = std::time::Instant::now();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let on_ctrl_c = stop.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let (mut rounds, mut failed) = (0u64, 0u64);
    loop {
        let this = seed.map(|s| s.wrapping_add(rounds));
        rounds += 1;
        let code = round(this).await?;
        if code != ExitCode::Ok {
            failed += 1;
        }
        if started.elapsed() >= total || stop.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
    }
    watcher.abort();
    out!(
        "soak: {rounds} round(s) in {}, {failed} failed",
        humantime::format_duration(std::time::Duration::from_secs(started.elapsed().as_secs()))
    );
    Ok(if failed == 0 {
        ExitCode::Ok
    } else {
        ExitCode::Failed
    })
}

/// What differs between the runs of one `aura-host run`: the run id, the seed; and
/// what they share: the baseline each is judged against, the live view of them.
struct Round<'a> {
    run_id: Option<RunId>,
    seed: Option<u64>,
    baseline: Option<&'a (Baseline, Tolerance)>,
    watching: Watching<'a>,
}

/// Who watches the runs besides the terminal: the dashboard and metrics, the collector.
#[derive(Clone, Copy)]
pub struct Watching<'a> {
    pub live: Option<&'a Arc<Live>>,
    pub otlp: Option<&'a Arc<OtlpSink>>,
}

/// The dashboard and metrics servers the run asked for, serving every round.
async fn watched(
    config: &AuraConfig,
    args: &RunArgs,
    live: Option<&Arc<Live>>,
) -> Result<Vec<Served>, CliError> {
    let Some(live) = live else {
        return Ok(Vec::new());
    };
    let mut servers = Vec::new();
    for (addr, page) in [(args.dashboard, true), (args.metrics, false)] {
        let Some(addr) = addr else { continue };
        let served =
            super::dashboard::start(config, addr, page, Follow::Current, live.clone()).await?;
        let (what, path) = if page {
            ("dashboard", "/")
        } else {
            ("metrics", "/metrics")
        };
        super::dashboard::announce(what, &served, path);
        servers.push(served);
    }
    Ok(servers)
}

/// One orchestrated run with `plugins`.
async fn once(
    config: &AuraConfig,
    hub: &Arc<ServiceHub>,
    runtime: &Arc<PluginRuntime>,
    plugins: &[Plugin],
    args: &RunArgs,
    round: Round<'_>,
    routes: Option<Arc<Routes>>,
) -> Result<ExitCode, CliError> {
    let Round {
        run_id,
        seed,
        baseline,
        watching,
    } = round;
    let request = super::scenarios::Request {
        suite: args.suite(),
        files: &args.scenarios,
        run_id,
        jobs: args.jobs.map(usize::from),
        keep_data: args.keep_data,
        quiet: args.quiet,
        outputs: super::scenarios::Outputs {
            json: args.json.as_deref(),
            junit: args.junit.as_deref(),
            html: args.html.as_deref(),
        },
        seed,
        existing: &args.requests,
        routes,
        baseline,
        distributed: args
            .distributed
            .then_some((args.task_queue.as_str(), args.slices)),
        watching,
        rerun_failed: args.rerun_failed,
        silent: false,
        target: args.target.as_deref(),
    };
    super::scenarios::run(config, hub.clone(), runtime.clone(), plugins, request).await
}

/// Restores the snapshot the run's scenarios start from (`[data] snapshot`), if any:
/// one for the whole run, on the local profile, once its input has been checked (a bad
/// plugin or file costs nothing) and before anything runs.
pub(super) async fn start_from_snapshot(
    config: &AuraConfig,
    hub: &ServiceHub,
    scenarios: &[(String, Scenario)],
    target: Option<&str>,
    silent: bool,
) -> Result<(), CliError> {
    let named: std::collections::BTreeMap<&str, &str> = scenarios
        .iter()
        .filter_map(|(_, s)| Some((s.data.as_ref()?.snapshot.as_deref()?, s.id.as_str())))
        .collect();
    let (name, scenario) = match named.len() {
        0 => return Ok(()),
        1 => named.into_iter().next().unwrap_or_default(),
        _ => {
            return Err(CliError::new(
                ExitCode::BadInput,
                format!(
                    "scenarios start from different snapshots ({}): run them apart",
                    named
                        .iter()
                        .map(|(n, s)| format!("{s}: {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    };
    if target.is_some() {
        return Err(CliError::new(
            ExitCode::BadInput,
            format!(
                "{scenario} starts from snapshot {name}: a deployed target (--target) is never restored"
            ),
        ));
    }
    let m = crate::environment::snapshot::restore(&config.environment(), hub, name).await?;
    if !silent {
        out!(
            "restored snapshot {} (taken {}) for {scenario}",
            m.name,
            m.taken_at.format("%Y-%m-%d %H:%M:%S")
        );
    }
    Ok(())
}
