//! `aura-host run --suite S | --scenario FILE | (nothing: the smoke suite)`: loads and
//! plans the scenarios and their plugins (exit 2 on anything malformed, before anything
//! runs), then hands them to the orchestrator with a live display: a progress bar per
//! suite on a terminal, plain lines otherwise or with `--quiet`. Ctrl-C aborts cleanly.
//! The summary, `--json` and `--junit` are rendered from the same report, which
//! `aura-host report --run <id>` rebuilds from the journal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{CliError, ExitCode};
use crate::chaos::Routes;
use crate::config::AuraConfig;
use crate::dashboard::HostMetrics;
use crate::orchestrator::execute::{Abort, Existing, Remote};
use crate::orchestrator::plugins::PluginSet;
use crate::orchestrator::{Execution, RunError, RunOptions, Scenario, suite};
use crate::report::baseline::Baseline;
use crate::report::regression::Tolerance;
use crate::report::{LiveReport, RunEvent, RunReport, Status, history, junit, summary};
use aura_reference::driver::Http;
use aura_runtime::{Plugin, PluginRuntime};
use aura_services::ServiceHub;
use aura_services::namespace::RunId;

/// What `run` was asked for, beyond the plugins.
pub struct Request<'a> {
    pub suite: Option<&'a str>,
    pub files: &'a [PathBuf],
    pub run_id: Option<RunId>,
    pub jobs: Option<usize>,
    pub keep_data: bool,
    pub quiet: bool,
    pub outputs: Outputs<'a>,
    /// Replaces every scenario generator's seed.
    pub seed: Option<u64>,
    /// Requests an earlier run decided (`--request`, in the namespace `run_id`): the
    /// validators check them instead of scenarios running.
    pub existing: &'a [String],
    /// The fault proxy in front of the services network faults strike.
    pub routes: Option<Arc<Routes>>,
    /// The baseline the run is judged against (`--baseline`), and how strictly.
    pub baseline: Option<&'a (Baseline, Tolerance)>,
    /// Run the requests on workers (`--distributed`): the task queue and the slices.
    pub distributed: Option<(&'a str, u32)>,
    /// The dashboard's and the metrics' view of the run, the OTLP collector.
    pub watching: super::run::Watching<'a>,
    /// Run failed scenarios again up to this many times (`--rerun-failed`).
    pub rerun_failed: u32,
    /// Print nothing (the monitor's probe: the monitor says one line per cycle).
    pub silent: bool,
    /// A deployed target's base URL (`--target`): driven over HTTP instead of starting
    /// the in-process one.
    pub target: Option<&'a str>,
}

/// The HTTP client's own timeout for a deployed target's calls that do not wait on a
/// decision.
pub const TARGET_CALL_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// A deployed target's base URL, as the HTTP driver takes it (`http://host:port`).
pub fn target_url(s: &str) -> Result<String, String> {
    let ok = s
        .strip_prefix("http://")
        .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace));
    match ok {
        true => Ok(s.trim_end_matches('/').to_string()),
        false => Err(format!(
            "'{}' is not an http:// URL (e.g. http://127.0.0.1:8080)",
            aura_runtime::text::escape(s, 100)
        )),
    }
}

/// The deployed target at `url`, as a run drives it: unreachable, or not a served
/// target, is "not ready" (exit 3).
pub async fn remote(url: &str) -> Result<Remote, CliError> {
    let driver = Http::new(url, TARGET_CALL_WITHIN);
    let health = driver.health().await.map_err(|e| {
        CliError::new(
            ExitCode::NotReady,
            format!("the target at {url}: {}", aura_services::error_chain(&e)),
        )
    })?;
    Ok(Remote {
        driver,
        task_queue: health.task_queue,
    })
}

/// A fault proxy in front of each service the scenarios' network faults may strike, and
/// the services' config routed through it; `None` when no scenario has network faults
/// (or the scenarios do not load: that is said when they are run).
pub async fn fault_routes(
    config: &AuraConfig,
    suite_name: Option<&str>,
    files: &[PathBuf],
) -> Result<Option<(Routes, aura_services::config::ServicesConfig)>, CliError> {
    let Ok(scenarios) = load(&config.run.scenarios_dir, suite_name, files) else {
        return Ok(None);
    };
    let mut services: Vec<_> = scenarios
        .iter()
        .flat_map(|(_, s)| crate::chaos::proxied(&s.faults, s.chaos.as_ref(), &s.required_services))
        .collect();
    services.sort();
    services.dedup();
    let worker = scenarios
        .iter()
        .any(|(_, s)| crate::chaos::stalls_worker(&s.faults, s.chaos.as_ref()));
    if services.is_empty() && !worker {
        return Ok(None);
    }
    Routes::start(
        config.run.fault_proxy.as_deref(),
        &config.services,
        &services,
        worker,
    )
    .await
    .map(Some)
    .map_err(|e| CliError::new(ExitCode::NotReady, format!("fault proxy: {e}")))
}

/// Refuses, before anything runs, a scenario with more requests than `run.max_requests`:
/// a typo (one zero too many) must not take the machine and the services down.
fn within_limits(
    scenarios: Vec<(String, Scenario)>,
    max_requests: usize,
    max_load: usize,
) -> Result<Vec<(String, Scenario)>, CliError> {
    for (_, s) in &scenarios {
        if let Some(planned) = s.load.as_ref().map(|l| l.planned())
            && planned > max_load as f64
        {
            return Err(CliError::new(
                ExitCode::BadInput,
                format!(
                    "scenario {}: load: about {planned:.0} requests, more than run.max_load_requests ({max_load}); \
                     raise it in aura.toml if the machine and services can take it",
                    s.id
                ),
            ));
        }
    }
    if let Some((_, s)) = scenarios
        .iter()
        .find(|(_, s)| s.gpu_requests.len() > max_requests)
    {
        return Err(CliError::new(
            ExitCode::BadInput,
            format!(
                "scenario {}: gpu_requests: {} requests, more than run.max_requests ({max_requests}); \
                 raise run.max_requests in aura.toml if the machine and services can take it",
                s.id,
                s.gpu_requests.len()
            ),
        ));
    }
    Ok(scenarios)
}

/// The scenarios named on the command line, each with its suite, in the order given.
pub fn load(
    scenarios_dir: &Path,
    suite_name: Option<&str>,
    files: &[PathBuf],
) -> Result<Vec<(String, Scenario)>, CliError> {
    let bad = |e: String| CliError::new(ExitCode::BadInput, e);
    let mut out = Vec::new();
    if let Some(s) = suite_name {
        for (path, sc) in suite::load(scenarios_dir, s).map_err(|e| bad(e.to_string()))? {
            let suite = path
                .parent()
                .and_then(|p| p.file_name())
                .map_or_else(|| s.to_string(), |n| n.to_string_lossy().into_owned());
            out.push((suite, sc));
        }
    }
    for f in files {
        out.push((
            "scenario".to_string(),
            Scenario::load(f).map_err(|e| bad(e.to_string()))?,
        ));
    }
    if out.is_empty() {
        return Err(bad(format!(
            "no scenarios to run (suite {} is empty)",
            suite_name.unwrap_or("-")
        )));
    }
    Ok(out)
}

fn run_error(e: RunError) -> CliError {
    let code = match &e {
        RunError::Plan(_)
        | RunError::Journal(_)
        | RunError::RunIdTooLong(_)
        | RunError::FaultsNeedInProcess(_) => ExitCode::BadInput,
        RunError::NotReady(_) | RunError::Target(_) => ExitCode::NotReady,
        RunError::Lost => ExitCode::Failed,
    };
    CliError::caused(code, &e)
}

pub async fn run(
    config: &AuraConfig,
    hub: Arc<ServiceHub>,
    runtime: Arc<PluginRuntime>,
    cli_plugins: &[Plugin],
    req: Request<'_>,
) -> Result<ExitCode, CliError> {
    let mut report = execute(config, &hub, &runtime, cli_plugins, &req, None).await?;
    remember(config, &report, None);
    for round in 1..=req.rerun_failed {
        let failed: Vec<String> = report
            .scenarios
            .iter()
            .filter(|s| s.status == Status::Failed)
            .map(|s| s.id.clone())
            .collect();
        if failed.is_empty() || report.aborted.is_some() {
            break;
        }
        let run_id = RunId::parse(&format!("{}-rerun-{round}", report.run_id))
            .unwrap_or_else(|_| aura_services::namespace::generate_run_id());
        out!(
            "rerun {round} of {}: {} failed scenario(s) again ({})",
            req.rerun_failed,
            failed.len(),
            failed.join(", ")
        );
        let rerun = Rerun {
            only: &failed,
            run_id,
        };
        let again = execute(config, &hub, &runtime, cli_plugins, &req, Some(rerun)).await?;
        remember(config, &again, Some(&report.run_id));
        annotate(config, &mut report);
    }
    annotate(config, &mut report);
    out!("{}", summary::render(&report, req.rerun_failed > 0));
    let mut code = exit_code(&report);
    if let Some((b, tolerance)) = req.baseline {
        let c = crate::report::baseline::compare(b, &report, tolerance);
        if super::baseline::verdict(&c) != ExitCode::Ok {
            code = ExitCode::Failed;
        }
        report.regressions = Some(c);
    }
    write_outputs(&report, req.outputs)?;
    Ok(code)
}

/// One silent run of `suite` or `files` under `run_id` for the monitor's probe: its
/// report, not added to the flake history (the monitor keeps its own).
pub async fn probe(
    config: &AuraConfig,
    hub: &Arc<ServiceHub>,
    runtime: &Arc<PluginRuntime>,
    (suite, files): (Option<&str>, &[PathBuf]),
    run_id: RunId,
    watching: super::run::Watching<'_>,
    target: Option<&str>,
) -> Result<RunReport, CliError> {
    let req = Request {
        suite,
        files,
        run_id: Some(run_id),
        jobs: None,
        keep_data: false,
        quiet: true,
        outputs: Outputs::default(),
        seed: None,
        existing: &[],
        routes: None,
        baseline: None,
        distributed: None,
        watching,
        rerun_failed: 0,
        silent: true,
        target,
    };
    execute(config, hub, runtime, &[], &req, None).await
}

/// The failed scenarios of a run to run again, under a run id of their own.
struct Rerun<'a> {
    only: &'a [String],
    run_id: RunId,
}

/// Adds a finished run to the state dir's history; a history that cannot be written
/// costs the flake statistics, not the run.
fn remember(config: &AuraConfig, report: &RunReport, rerun_of: Option<&str>) {
    if let Err(e) = history::append(&config.state_dir, report, rerun_of) {
        err!(
            "aura-host: {}: this run is missing from the flake statistics",
            aura_services::error_chain(&e)
        );
    }
}

/// Marks flaky and known-flaky scenarios from the state dir's history.
pub fn annotate(config: &AuraConfig, report: &mut RunReport) {
    match history::read(&config.state_dir) {
        Ok(h) => history::annotate(report, &h),
        Err(e) => err!(
            "aura-host: {}: flaky scenarios are not marked",
            aura_services::error_chain(&e)
        ),
    }
}

/// One run of the request's scenarios (`rerun`: only those, under its run id): its report.
async fn execute(
    config: &AuraConfig,
    hub: &Arc<ServiceHub>,
    runtime: &Arc<PluginRuntime>,
    cli_plugins: &[Plugin],
    req: &Request<'_>,
    rerun: Option<Rerun<'_>>,
) -> Result<RunReport, CliError> {
    let (hub, runtime) = (hub.clone(), runtime.clone());
    let (scenarios, existing, run_id) = match (req.existing, &req.run_id) {
        ([], _) => (
            within_limits(
                load(&config.run.scenarios_dir, req.suite, req.files)?,
                config.run.max_requests,
                config.run.max_load_requests,
            )?,
            None,
            req.run_id.clone(),
        ),
        (_, None) => {
            return Err(CliError::new(
                ExitCode::BadInput,
                "--request names requests of an earlier run: give the namespace their data is under with --run-id",
            ));
        }
        (ids, Some(ns)) => (
            vec![("requests".to_string(), Scenario::existing(ns.as_str()))],
            Some(Existing {
                namespace: ns.clone(),
                request_ids: ids.to_vec(),
            }),
            None,
        ),
    };
    let plugins = PluginSet::resolve(
        runtime,
        &config.run.plugins_dir,
        &scenarios_of(&scenarios),
        cli_plugins,
        req.seed,
    )
    .map_err(|e| CliError::caused(ExitCode::BadInput, &e))?;
    if let (Some(url), Some((plugin, grant))) = (req.target, plugins.write_outside_run()) {
        return Err(CliError::new(
            ExitCode::BadInput,
            format!(
                "plugin {plugin} is granted {grant}: against a deployed target ({url}) plugins may write only in the run's own namespace"
            ),
        ));
    }
    let (scenarios, run_id) = match rerun {
        Some(r) => (
            scenarios
                .into_iter()
                .filter(|(_, s)| r.only.contains(&s.id))
                .collect(),
            Some(r.run_id),
        ),
        None => (scenarios, run_id),
    };
    let run_id = run_id.unwrap_or_else(aura_services::namespace::generate_run_id);
    let journal = crate::report::journal_path(&config.state_dir, run_id.as_str());
    if journal.exists() {
        // Said before anything runs; creating the journal refuses it again, race-free.
        let used = crate::report::JournalError::Exists { path: journal };
        return Err(CliError::caused(ExitCode::BadInput, &used));
    }
    super::run::start_from_snapshot(config, &hub, &scenarios, req.target, req.silent).await?;
    let jobs = req.jobs.unwrap_or(config.run.jobs).max(1);
    end_killed_runs(config, &hub).await;
    let refs: Vec<&Scenario> = scenarios.iter().map(|(_, s)| s).collect();
    let bound = crate::orchestrator::time_bound(&refs, jobs)
        .map(|b| {
            format!(
                " · ends within {}",
                humantime::format_duration(run_bound(config, b))
            )
        })
        .unwrap_or_default();
    if !req.silent {
        out!(
            "run {run_id} · {} scenario(s) · {jobs} at a time{bound} · journal {}",
            scenarios.len(),
            crate::report::journal_path(&config.state_dir, run_id.as_str()).display()
        );
    }
    if let Some(r) = &req.routes {
        let through: Vec<String> = r
            .proxied()
            .iter()
            .map(|(s, addr)| format!("{s} via {addr}"))
            .chain(
                r.worker()
                    .map(|addr| format!("the target's worker to temporal via {addr}")),
            )
            .collect();
        out!(
            "network faults go through the fault proxy: {}; the other services directly",
            through.join(", ")
        );
    }
    let distributed = match req.distributed {
        None => None,
        Some((queue, slices)) => Some(distributed(config, &scenarios, queue, slices).await?),
    };
    let remote = match req.target {
        Some(url) => Some(remote(url).await?),
        None => None,
    };
    let abort = Abort::default();
    let on_ctrl_c = abort.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.abort("interrupted (Ctrl-C)");
        }
    });
    let execution = Execution {
        chaos: crate::chaos::Chaos::new(config.environment(), hub.clone(), req.routes.clone()),
        hub,
        state_dir: &config.state_dir,
        target: &config.target,
        gpu: &config.gpu,
        run_id,
        scenarios,
        plugins,
        options: RunOptions {
            jobs,
            existing,
            keep_data: req.keep_data,
            command: std::env::args().collect::<Vec<_>>().join(" "),
            seed: req.seed,
            cleanup_timeout: config.run.cleanup_timeout,
            distributed,
            steps: req.watching.live.map(|l| l.step_hook().clone()),
            remote,
        },
        abort,
    };
    if let Some(live) = req.watching.live {
        live.run_started(execution.run_id.as_str());
    }
    let metrics = req.watching.live.map(|l| l.metrics.clone());
    let progress = Progress::new(req.quiet, req.silent, metrics);
    let otlp = req.watching.otlp.cloned();
    let observer = move |e: &RunEvent| {
        progress.on(e);
        if let Some(o) = &otlp {
            o.observe(e);
        }
    };
    let result = execution.run(Box::new(observer)).await;
    watcher.abort();
    result.map_err(run_error)
}

/// What a run promises at its start: the readiness check (the services at once, each
/// within its timeout), starting the target (a Temporal connection), the scenarios
/// (`scenarios`, see `time_bound`), then its own work after them (`run.cleanup_timeout`),
/// to the second.
fn run_bound(config: &AuraConfig, scenarios: std::time::Duration) -> std::time::Duration {
    let s = &config.services;
    let readiness = [
        s.redis.timeout,
        s.graph.timeout,
        s.kafka.timeout,
        s.temporal.timeout,
    ]
    .into_iter()
    .max()
    .unwrap_or_default();
    let total = readiness + s.temporal.timeout + scenarios + config.run.cleanup_timeout;
    std::time::Duration::from_secs(total.as_secs_f64().ceil() as u64)
}

/// Terminates the open workflows of runs a killed process left behind (the journals say
/// which), so none of them ever writes again. Their data stays for `env reset --run`: a
/// killed run may have been told to keep it.
async fn end_killed_runs(config: &AuraConfig, hub: &ServiceHub) {
    let killed = crate::report::killed_runs(&config.state_dir);
    if killed.is_empty() {
        return;
    }
    let workflows = match hub.workflows().await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(
                "killed runs' workflows not terminated (Temporal: {e}); `env reset --run` ends them"
            );
            return;
        }
    };
    let ends = killed.iter().map(|run| {
        let workflows = workflows.clone();
        async move {
            let queue = aura_contract::names::task_queue(&config.target.task_queue, run);
            let reason = format!("run {run} was killed before it finished");
            let journal = crate::report::journal_path(&config.state_dir, run);
            let ids = crate::report::journaled_workflows(&journal);
            (run, workflows.end_run(&ids, &queue, &reason).await)
        }
    });
    for (run, ended) in futures::future::join_all(ends).await {
        match ended {
            Ok(ids) => {
                let _ = crate::report::mark_ended(&config.state_dir, run);
                if !ids.is_empty() {
                    out!(
                        "run {run} was killed before it finished: terminated its {} open workflow(s); `aura-host env reset --run {run}` removes its data",
                        ids.len()
                    );
                }
            }
            Err(e) => tracing::warn!("run {run} was killed; its workflows not terminated: {e}"),
        }
    }
}

fn scenarios_of(s: &[(String, Scenario)]) -> Vec<Scenario> {
    s.iter().map(|(_, sc)| sc.clone()).collect()
}

pub fn exit_code(r: &RunReport) -> ExitCode {
    if r.status == Status::Passed {
        ExitCode::Ok
    } else {
        ExitCode::Failed
    }
}

/// Writes `--json` and `--junit` from the report.
/// Where a report is written besides the terminal.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outputs<'a> {
    pub json: Option<&'a Path>,
    pub junit: Option<&'a Path>,
    pub html: Option<&'a Path>,
}

/// Writes `text` to a file the user named; one that cannot be written is bad input.
pub fn write(path: &Path, text: String) -> Result<(), CliError> {
    std::fs::write(path, text).map_err(|e| {
        CliError::new(
            ExitCode::BadInput,
            format!("cannot write {}: {e}", path.display()),
        )
    })
}

/// Writes `value` as pretty JSON to a file the user named (`--json`).
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), CliError> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| CliError::caused(ExitCode::Failed, &e))?;
    write(path, text)
}

pub fn write_outputs(r: &RunReport, to: Outputs<'_>) -> Result<(), CliError> {
    if let Some(path) = to.json {
        write_json(path, r)?;
    }
    if let Some(path) = to.junit {
        let text = junit::render(r).map_err(|e| CliError::caused(ExitCode::Failed, &e))?;
        write(path, text)?;
    }
    if let Some(path) = to.html {
        write(path, crate::report::html::render(r))?;
    }
    Ok(())
}

/// The live display: one bar per suite on a terminal (hidden elsewhere), and a line per
/// finished scenario, printed above the bars.
struct Progress {
    multi: MultiProgress,
    silent: bool,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
    suite_of: Mutex<BTreeMap<String, String>>,
    report: Mutex<LiveReport>,
    metrics: Option<Arc<HostMetrics>>,
}

impl Progress {
    fn new(quiet: bool, silent: bool, metrics: Option<Arc<HostMetrics>>) -> Self {
        let target = if quiet || silent {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        Self {
            multi: MultiProgress::with_draw_target(target),
            silent,
            bars: Mutex::default(),
            suite_of: Mutex::default(),
            report: Mutex::default(),
            metrics,
        }
    }

    fn on(&self, event: &RunEvent) {
        locked(&self.report).apply(chrono::Utc::now().timestamp_millis(), event);
        let finished = match event {
            RunEvent::ScenarioFinished { scenario, .. } => locked(&self.report).scenario(scenario),
            _ => None,
        };
        if let Some(m) = &self.metrics {
            m.observe(event, finished.as_ref());
        }
        match event {
            RunEvent::RunStarted { scenarios, .. } => {
                let mut per_suite: BTreeMap<&str, u64> = BTreeMap::new();
                for s in scenarios {
                    *per_suite.entry(s.suite.as_str()).or_default() += 1;
                    locked(&self.suite_of).insert(s.id.clone(), s.suite.clone());
                }
                let style =
                    ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> ");
                for (suite, n) in per_suite {
                    let bar = self.multi.add(ProgressBar::new(n));
                    bar.set_style(style.clone());
                    bar.set_prefix(suite.to_string());
                    locked(&self.bars).insert(suite.to_string(), bar);
                }
            }
            RunEvent::ScenarioStarted { scenario, .. } => {
                self.bar(scenario, |b| b.set_message(scenario.clone()))
            }
            RunEvent::ScenarioFinished { scenario, .. }
            | RunEvent::NotRun { scenario, .. }
            | RunEvent::ScenarioSkipped { scenario, .. } => {
                self.bar(scenario, |b| b.inc(1));
                let s = finished.or_else(|| locked(&self.report).scenario(scenario));
                if let Some(s) = s {
                    self.print(&summary::scenario_lines(&s));
                }
            }
            RunEvent::RunFinished { .. } => {
                locked(&self.bars)
                    .values()
                    .for_each(ProgressBar::finish_and_clear);
            }
            _ => {}
        }
    }

    fn bar(&self, scenario: &str, f: impl FnOnce(&ProgressBar)) {
        let suite = locked(&self.suite_of).get(scenario).cloned();
        if let Some(suite) = suite
            && let Some(b) = locked(&self.bars).get(&suite)
        {
            f(b);
        }
    }

    fn print(&self, line: &str) {
        if self.silent {
            return;
        }
        if self.multi.is_hidden() {
            out!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }
}

/// A display lock: a panic elsewhere while it was held leaves the data whole (each
/// update is one call), so the display goes on with it.
fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A distributed run's Temporal client and plan; scenarios with faults are refused
/// (their faults strike this machine's servers, the workers' requests are elsewhere).
async fn distributed(
    config: &AuraConfig,
    scenarios: &[(String, Scenario)],
    queue: &str,
    slices: u32,
) -> Result<crate::orchestrator::distributed::Distributed, CliError> {
    if let Some((_, s)) = scenarios
        .iter()
        .find(|(_, s)| !s.faults.is_empty() || s.chaos.is_some())
    {
        return Err(CliError::new(
            ExitCode::BadInput,
            format!(
                "scenario {}: --distributed runs no faults; run it without --distributed",
                s.id
            ),
        ));
    }
    let client = aura_services::temporal::client(&config.services.temporal, "aura-host")
        .await
        .map_err(|e| CliError::caused(ExitCode::NotReady, &e))?;
    Ok(crate::orchestrator::distributed::Distributed {
        client,
        task_queue: queue.to_string(),
        slices,
    })
}
