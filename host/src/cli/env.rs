//! `aura-host env up|down|status|reset`.

use clap::Subcommand;

use super::{CliError, ExitCode};
use crate::config::AuraConfig;
use crate::environment::fault::{self, ProcessFault};
use crate::environment::{self, Profile, ServiceOutcome, snapshot};
use std::collections::BTreeSet;

use crate::report::RunEvent;
use aura_contract::names;
use aura_services::namespace::{self, RunId, RunNamespace};
use aura_services::{ServiceHub, ServiceKind, ServiceStatus, health};

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Start the services (all four unless named) and wait until each answers a real round trip.
    Up {
        #[arg(long, value_enum, default_value_t, env = "AURA_PROFILE")]
        profile: Profile,
        /// Only these services: redis, graph, kafka, temporal.
        services: Vec<ServiceKind>,
        #[command(flatten)]
        prometheus: PrometheusArgs,
    },
    /// Stop exactly the processes `env up` started.
    Down {
        #[arg(long, value_enum, default_value_t, env = "AURA_PROFILE")]
        profile: Profile,
        services: Vec<ServiceKind>,
    },
    /// Show what the local environment runs and whether each service is ready.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Inject a process fault into a local server and heal it after --for: `kill`
    /// (SIGKILL, started again), `pause` (SIGSTOP, then SIGCONT) or `restart`. Ctrl-C
    /// heals at once. Local profile only.
    Fault {
        fault: ProcessFault,
        service: ServiceKind,
        /// How long the fault holds (at most 1h); `restart` does not wait.
        #[arg(long = "for", value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
        hold: std::time::Duration,
    },
    /// Keep the local profile's data as snapshot NAME: Redis and FalkorDB as RDB files,
    /// Kafka's messages, the Temporal dev server's database (stopped a moment).
    Snapshot {
        name: String,
        /// Replace a snapshot of that name.
        #[arg(long)]
        force: bool,
    },
    /// Put snapshot NAME back into the local profile (checked first against its digests
    /// and the servers' versions; the environment as it was is put back if it fails).
    Restore { name: String },
    /// List the snapshots.
    Snapshots,
    /// Empty the services' data, or with --run only that run's data.
    Reset {
        /// How the services run [default: local]; not with --run, which removes a run's
        /// data through the configured services however they run.
        #[arg(long, value_enum, env = "AURA_PROFILE", conflicts_with = "run")]
        profile: Option<Profile>,
        /// Remove only the data of this run (graph nodes, Redis keys, Kafka topics).
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
    },
}

pub async fn run(
    config: &AuraConfig,
    hub: &ServiceHub,
    cmd: &EnvCommand,
) -> Result<ExitCode, CliError> {
    let env = config.environment();
    match cmd {
        EnvCommand::Up {
            profile,
            services,
            prometheus,
        } => {
            if prometheus.prometheus && *profile == Profile::Compose {
                return Err(CliError::new(
                    ExitCode::BadInput,
                    "--prometheus starts a local Prometheus; the compose profile runs its own (http://127.0.0.1:9090)",
                ));
            }
            print_outcomes(&environment::up(&env, *profile, services).await?);
            if prometheus.prometheus {
                let scrape = prometheus.scrape();
                print_outcomes(&[environment::prometheus::up(&env, &scrape).await?]);
                out!(
                    "prometheus: http://127.0.0.1:{} scrapes the host at {} and the target at {}",
                    scrape.port,
                    scrape.host,
                    scrape.target
                );
            }
            Ok(ExitCode::Ok)
        }
        EnvCommand::Down { profile, services } => {
            let outcomes = environment::down(&env, *profile, services)?;
            if outcomes.is_empty() && *profile == Profile::Local {
                out!(
                    "nothing recorded in {}; nothing to stop",
                    config.state_dir.display()
                );
            }
            print_outcomes(&outcomes);
            Ok(ExitCode::Ok)
        }
        EnvCommand::Status { json } => status(config, *json).await,
        EnvCommand::Fault {
            fault,
            service,
            hold,
        } => {
            // Listening before the fault is injected, so Ctrl-C always heals it.
            let mut interrupt =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                    .map_err(|e| CliError::new(ExitCode::Failed, format!("Ctrl-C handler: {e}")))?;
            let stop = async move {
                interrupt.recv().await;
            };
            let done = fault::inject(&env, *service, *fault, *hold, stop).await?;
            out!(
                "{} {}: injected {} (pid {}), healed {} (pid {}){}",
                done.fault.name(),
                done.service,
                done.injected_at.format("%H:%M:%S%.3f"),
                done.pid,
                done.healed_at.format("%H:%M:%S%.3f"),
                done.healed_pid,
                if done.cut_short { ", cut short" } else { "" }
            );
            Ok(ExitCode::Ok)
        }
        EnvCommand::Snapshot { name, force } => {
            let m = snapshot::take(&env, hub, name, *force).await?;
            out!(
                "snapshot {} · {} · {} topic(s), {} message(s) · {}",
                m.name,
                m.taken_at.format("%Y-%m-%d %H:%M:%S"),
                m.topics,
                m.messages,
                snapshot::dir(&env.state_dir, &m.name).display()
            );
            Ok(ExitCode::Ok)
        }
        EnvCommand::Restore { name } => {
            let m = snapshot::restore(&env, hub, name).await?;
            out!(
                "restored snapshot {} (taken {}): Redis, FalkorDB, Temporal and {} message(s) in {} topic(s)",
                m.name,
                m.taken_at.format("%Y-%m-%d %H:%M:%S"),
                m.messages,
                m.topics
            );
            Ok(ExitCode::Ok)
        }
        EnvCommand::Snapshots => {
            for m in snapshot::list(&env.state_dir) {
                if m.name.starts_with('.') {
                    continue;
                }
                out!(
                    "{}\t{}\t{} topic(s), {} message(s)",
                    m.name,
                    m.taken_at.format("%Y-%m-%d %H:%M:%S"),
                    m.topics,
                    m.messages
                );
            }
            Ok(ExitCode::Ok)
        }
        EnvCommand::Reset { run: Some(run), .. } => {
            reset_run(config, hub, RunId::parse(run)?).await
        }
        EnvCommand::Reset { profile, run: None } => {
            print_outcomes(&environment::reset(&env, profile.unwrap_or_default()).await?);
            Ok(ExitCode::Ok)
        }
    }
}

/// Removes every namespace of `run` (its own and its scenarios' `run-<n>`, from its
/// journal and from what the stores hold) and terminates its open workflows; each store
/// of each namespace on its own, what could not be done listed and the exit 1.
async fn reset_run(
    config: &AuraConfig,
    hub: &ServiceHub,
    run: RunId,
) -> Result<ExitCode, CliError> {
    let mut spaces: BTreeSet<RunId> = BTreeSet::from([run.clone()]);
    // The journal, read once: the namespaces it planned and the workflows it started.
    let journal = crate::report::journal_path(&config.state_dir, run.as_str());
    let events: Vec<RunEvent> = crate::report::read_events(&journal)
        .map(|events| events.into_iter().map(|(_, e)| e).collect())
        .unwrap_or_default();
    for event in &events {
        if let RunEvent::RunStarted { scenarios, .. } = event {
            spaces.extend(
                scenarios
                    .iter()
                    .filter_map(|s| RunId::parse(&s.namespace).ok()),
            );
        }
    }
    let workflows = crate::report::workflows(&events);
    spaces.extend(namespace::discover(hub, &run).await);
    let queue = names::task_queue(&config.target.task_queue, run.as_str());
    let terminated = async {
        hub.workflows()
            .await?
            .end_run(
                &workflows,
                &queue,
                &format!("aura-host env reset --run {run}"),
            )
            .await
    };
    let removals = futures::future::join_all(spaces.iter().map(|ns| async move {
        (
            ns,
            namespace::remove(hub, &RunNamespace::new(ns.clone())).await,
        )
    }));
    let (terminated, removals) = tokio::join!(terminated, removals);
    let mut complete = true;
    for (ns, removed) in removals {
        out!(
            "run {ns}: removed {} graph nodes, {} Redis keys, {} Kafka topics",
            removed.graph_nodes,
            removed.cache_keys,
            removed.topics.len()
        );
        for f in &removed.failed {
            complete = false;
            out!("run {ns}: {} not cleaned: {}", f.service, f.error);
        }
    }
    match terminated {
        Ok(ids) => out!(
            "run {run}: terminated {} open workflow(s) on {queue}",
            ids.len()
        ),
        Err(e) => {
            complete = false;
            out!("run {run}: workflows on {queue} not terminated: {e}");
        }
    }
    if complete {
        Ok(ExitCode::Ok)
    } else {
        Err(CliError::new(
            ExitCode::Failed,
            format!(
                "run {run}: some data could not be removed (above); run `env reset --run {run}` again once the stores answer"
            ),
        ))
    }
}

/// `env up --prometheus`: a local Prometheus beside the services.
#[derive(Debug, clap::Args)]
pub struct PrometheusArgs {
    /// Also start a local Prometheus (Debian's `prometheus` package) with the compose
    /// profile's scrape configuration, scraping the host's and the target's metrics.
    #[arg(long)]
    prometheus: bool,
    /// Its port, on loopback.
    #[arg(long, default_value_t = 19090, requires = "prometheus")]
    prometheus_port: u16,
    /// Where it scrapes the host's metrics (`run --metrics`, the dashboard).
    #[arg(long, default_value = super::dashboard::METRICS_ADDR, requires = "prometheus")]
    scrape_host: String,
    /// Where it scrapes the reference target's (`target serve --listen`).
    #[arg(long, default_value = super::target::LISTEN, requires = "prometheus")]
    scrape_target: String,
}

impl PrometheusArgs {
    fn scrape(&self) -> environment::prometheus::Scrape {
        environment::prometheus::Scrape {
            port: self.prometheus_port,
            host: self.scrape_host.clone(),
            target: self.scrape_target.clone(),
        }
    }
}

fn print_outcomes(outcomes: &[ServiceOutcome]) {
    for o in outcomes {
        out!(
            "{:<9} {:<16} pid {:<8} port {}",
            o.service,
            o.what,
            o.pid,
            o.port
        );
    }
}

async fn status(config: &AuraConfig, json: bool) -> Result<ExitCode, CliError> {
    let recorded = environment::recorded(&config.state_dir)?;
    let kinds: Vec<ServiceKind> = recorded.iter().map(|(k, _, _)| *k).collect();
    let report = if kinds.is_empty() {
        None
    } else {
        Some(health::check(&config.services, &kinds).await)
    };
    let ready = |kind: ServiceKind| {
        report
            .as_ref()
            .and_then(|r| r.services.iter().find(|s| s.service == kind))
            .is_some_and(|s| s.status == ServiceStatus::Ready)
    };
    let all_ok = !recorded.is_empty() && recorded.iter().all(|(k, _, alive)| *alive && ready(*k));
    if json {
        let rows: Vec<serde_json::Value> = recorded
            .iter()
            .map(|(kind, rec, alive)| {
                serde_json::json!({
                    "service": kind, "pid": rec.pid, "port": rec.port, "extra_ports": rec.extra_ports,
                    "running": alive, "ready": ready(*kind), "version": rec.version,
                    "data_dir": rec.data_dir, "log": rec.log, "started_at": rec.started_at,
                })
            })
            .collect();
        out!(
            "{}",
            serde_json::json!({ "state_dir": config.state_dir, "ready": all_ok, "services": rows })
        );
    } else if recorded.is_empty() {
        out!(
            "no local environment recorded in {} (run `aura-host env up`)",
            config.state_dir.display()
        );
    } else {
        out!(
            "{:<9} {:<8} {:<6} {:<8} {:<6} DATA",
            "SERVICE",
            "PID",
            "PORT",
            "RUNNING",
            "READY"
        );
        for (kind, rec, alive) in &recorded {
            out!(
                "{:<9} {:<8} {:<6} {:<8} {:<6} {}",
                kind.name(),
                rec.pid,
                rec.port,
                if *alive { "yes" } else { "NO" },
                if ready(*kind) { "yes" } else { "NO" },
                rec.data_dir.display()
            );
        }
    }
    Ok(if all_ok {
        ExitCode::Ok
    } else {
        ExitCode::NotReady
    })
}
