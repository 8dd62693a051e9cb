//! The command line: argument parsing, and the one place errors become user-facing
//! messages and exit codes.

/// Writes a line to stdout, and carries on when stdout is closed (`aura-host run | head
/// -1`): a reader going away must not end a run half-way, with its data left behind.
macro_rules! out {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// [`out!`] without the newline.
macro_rules! out_part {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// [`out!`] for stderr.
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod backup;
mod baseline;
mod bench;
mod check;
mod compare_targets;
mod dashboard;
mod env;
mod exit;
mod flakes;
mod init;
mod monitor;
mod plugin;
mod plugin_set;
mod replay;
mod report;
mod run;
mod scaffold;
mod scaffold_langs;
mod scaffold_replays;
mod scenarios;
mod schedule;
mod sdks;
mod target;
mod trace;
mod verify_rollback;
mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aura_services::ServiceHub;
use clap::{Parser, Subcommand};

use crate::config::{AuraConfig, ConfigSource, GraphBackend, Overrides, project};
pub use exit::{CliError, ExitCode};

/// `aura-host --version`: the release and the plugin contract it serves.
fn version() -> &'static str {
    static TEXT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        use aura_runtime::bindings::{PACKAGE, PACKAGE_VERSION, SERVED_VERSIONS};
        format!(
            "{} (plugin contract {PACKAGE}@{PACKAGE_VERSION}; loads components built against {})",
            env!("CARGO_PKG_VERSION"),
            SERVED_VERSIONS.map(|v| format!("{PACKAGE}@{v}")).join(", ")
        )
    });
    TEXT.as_str()
}

#[derive(Debug, Parser)]
#[command(
    name = "aura-host",
    version = version(),
    about = "End-to-end integration-testing host for the AURA platform"
)]
pub struct Cli {
    /// Configuration file [default: ./aura.toml, built-in local defaults when absent].
    #[arg(long, global = true, env = "AURA_CONFIG")]
    config: Option<PathBuf>,
    /// Where `scenarios/`, the plugins dir and the state dir are found [default: the
    /// config file's directory, else the nearest directory with `scenarios/`].
    #[arg(long, global = true, env = "AURA_PROJECT_DIR")]
    project_dir: Option<PathBuf>,
    /// Environment state directory (pids, ports, data, logs).
    #[arg(long, global = true, env = "AURA_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Where the local profile's server binaries are installed.
    #[arg(long, global = true, env = "AURA_TOOLS_DIR")]
    tools_dir: Option<PathBuf>,
    #[arg(long, global = true, env = "AURA_REDIS_URL")]
    redis_url: Option<String>,
    /// `falkordb` or `neo4j`.
    #[arg(long, global = true, env = "AURA_GRAPH_BACKEND", value_parser = <GraphBackend as std::str::FromStr>::from_str)]
    graph_backend: Option<GraphBackend>,
    #[arg(long, global = true, env = "AURA_GRAPH_URL")]
    graph_url: Option<String>,
    #[arg(long, global = true, env = "AURA_GRAPH_DATABASE")]
    graph_database: Option<String>,
    #[arg(long, global = true, env = "AURA_GRAPH_USER")]
    graph_user: Option<String>,
    #[arg(
        long,
        global = true,
        env = "AURA_GRAPH_PASSWORD",
        hide_env_values = true
    )]
    graph_password: Option<String>,
    #[arg(long, global = true, env = "AURA_KAFKA_BROKERS")]
    kafka_brokers: Option<String>,
    #[arg(long, global = true, env = "AURA_TEMPORAL_URL")]
    temporal_url: Option<String>,
    #[arg(long, global = true, env = "AURA_TEMPORAL_NAMESPACE")]
    temporal_namespace: Option<String>,
    /// Timeout for every service (e.g. `2s`, `500ms`), replacing the configured ones.
    #[arg(long, global = true, env = "AURA_TIMEOUT", value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// More log output (repeat for more); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check that every configured service is reachable and ready (exit 3 if a required one is not).
    Check(check::CheckArgs),
    /// Start, stop, inspect or reset the services.
    #[command(subcommand)]
    Env(env::EnvCommand),
    /// Back up a deployment's Redis, graph and topics over the network, or restore a
    /// backup into empty services elsewhere.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// Print the effective configuration (file, environment and flags applied) as TOML.
    Config,
    /// Run scenarios through the reference target with validator and recovery plugins
    /// (the smoke suite by default).
    Run(Box<run::RunArgs>),
    /// Inspect or create plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Run the reference GPU-allocation service (Temporal worker + HTTP API), or call it.
    #[command(subcommand)]
    Target(target::TargetCommand),
    /// Print a request's WorkflowTrace as a waterfall (or JSON).
    Trace(trace::TraceArgs),
    /// Serve the live dashboard of the state dir's runs (the newest, or `--run`).
    Dashboard(dashboard::DashboardArgs),
    /// Pass, fail and flaky rates per scenario and validator from the run history, and a
    /// quarantine proposal.
    Flakes(flakes::FlakesArgs),
    /// Rebuild a run's summary, JSON and JUnit from its journal.
    Report(report::ReportArgs),
    /// Measure the performance goals on this machine (release build, services up).
    Bench(bench::BenchArgs),
    /// Keep a run's latency distributions as a baseline, or list the baselines.
    #[command(subcommand)]
    Baseline(baseline::BaselineCommand),
    /// Compare a run's per-step latencies with a baseline (exit 1 on a regression).
    Compare(baseline::CompareArgs),
    /// Create, list or delete scheduled runs (Temporal Schedules).
    #[command(subcommand)]
    Schedule(schedule::ScheduleCommand),
    /// Run what schedules and distributed runs hand out: poll the runs task queue
    /// until Ctrl-C.
    Worker(worker::WorkerArgs),
    /// Keep validating: the services' readiness and a probe run every interval,
    /// anomalies against rolling baselines, alerts to webhooks and commands.
    Monitor(monitor::MonitorArgs),
    /// Send a scenario's requests to a baseline and a canary deployment and compare
    /// them decision by decision and step by step: promote, hold or rollback.
    CompareTargets(compare_targets::CompareTargetsArgs),
    /// After a rollback: run the probe suite against the deployment and hold it to a
    /// run from before the change (decisions, latencies, leftovers in its namespace).
    VerifyRollback(verify_rollback::VerifyRollbackArgs),
    /// Write a project aura-host runs in from this binary alone: `aura.toml`, the
    /// shipped suites and plugins, a plugin set pinning them, CI files on request.
    Init(init::InitArgs),
}

impl Cli {
    fn overrides(&self) -> Overrides {
        Overrides {
            project_dir: self.project_dir.clone(),
            state_dir: self.state_dir.clone(),
            tools_dir: self.tools_dir.clone(),
            redis_url: self.redis_url.clone(),
            graph_backend: self.graph_backend,
            graph_url: self.graph_url.clone(),
            graph_database: self.graph_database.clone(),
            graph_user: self.graph_user.clone(),
            graph_password: self.graph_password.clone(),
            kafka_brokers: self.kafka_brokers.clone(),
            temporal_url: self.temporal_url.clone(),
            temporal_namespace: self.temporal_namespace.clone(),
            timeout: self.timeout,
        }
    }

    fn load_config(&self) -> Result<(AuraConfig, ConfigSource), CliError> {
        let cwd = std::env::current_dir().map_err(|e| {
            CliError::new(
                ExitCode::BadInput,
                format!("cannot read the current directory: {e}"),
            )
        })?;
        let path = self.config.clone().unwrap_or_else(|| {
            project::find_config(&cwd).unwrap_or_else(|| PathBuf::from(project::CONFIG_FILE))
        });
        Ok(AuraConfig::load(
            &path,
            self.config.is_some(),
            &self.overrides(),
            &cwd,
        )?)
    }
}

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            err!("aura-host: cannot start the async runtime: {e}");
            return ExitCode::Failed as i32;
        }
    };
    let result = runtime.block_on(run(cli));
    // A librdkafka client stuck closing against a black-holed broker must not keep the
    // process alive after the answer is known.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(code) => code as i32,
        Err(e) => {
            err!("aura-host: {e}");
            e.code as i32
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let (config, source) = cli.load_config()?;
    tracing::debug!(?source, "configuration loaded");
    // The one hub of the process: connections are made on first use and shared by
    // everything below (plugins, the target, cleanup).
    let hub = Arc::new(ServiceHub::new(config.services.clone()));
    match &cli.command {
        Command::Check(args) => check::run(&config, &source, args).await,
        Command::Env(cmd) => env::run(&config, &hub, cmd).await,
        Command::Backup(cmd) => backup::run(&hub, cmd).await,
        Command::Run(args) => run::run(&config, hub, args).await,
        Command::Plugin(cmd) => plugin::run(&config, hub, cmd).await,
        Command::Target(cmd) => target::run(&config, hub, cmd).await,
        Command::Trace(args) => trace::run(&config, &hub, args).await,
        Command::Report(args) => report::run(&config, args),
        Command::Dashboard(args) => dashboard::run(&config, args).await,
        Command::Flakes(args) => flakes::run(&config, args),
        Command::Bench(args) => bench::run(&config, hub, args).await,
        Command::Baseline(cmd) => baseline::run(&config, cmd),
        Command::Compare(args) => baseline::compare(&config, args),
        Command::Schedule(cmd) => schedule::schedule(&config, cmd).await,
        Command::Worker(args) => worker::run(&config, &source, hub, args).await,
        Command::Monitor(args) => monitor::run(&config, hub, args).await,
        Command::CompareTargets(args) => compare_targets::run(args).await,
        Command::VerifyRollback(args) => verify_rollback::run(&config, hub, args).await,
        Command::Init(args) => init::run(args),
        Command::Config => {
            let mut shown = config.clone();
            if shown.services.graph.password.is_some() {
                shown.services.graph.password = Some("***".into());
            }
            let text = toml::to_string_pretty(&shown)
                .map_err(|e| CliError::caused(ExitCode::Failed, &e))?;
            if let ConfigSource::File(path) = &source {
                out!(
                    "# from {} (with environment and flag overrides)",
                    path.display()
                );
            } else {
                out!("# built-in defaults (no aura.toml), with environment and flag overrides");
            }
            out_part!("{text}");
            Ok(ExitCode::Ok)
        }
    }
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn,librdkafka=off,rdkafka=off",
        1 => "info,aura_host=debug",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only on a terminal: a log file or a CI page gets plain text.
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Cli;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn a_profile_does_not_apply_to_a_run_reset() {
        let e = Cli::try_parse_from([
            "aura-host",
            "env",
            "reset",
            "--run",
            "r1",
            "--profile",
            "local",
        ])
        .expect_err("--profile with --run is refused");
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert!(Cli::try_parse_from(["aura-host", "env", "reset", "--run", "r1"]).is_ok());
        assert!(Cli::try_parse_from(["aura-host", "env", "reset", "--profile", "local"]).is_ok());
    }
}
