//! `aura-host dashboard`: the live dashboard of the state dir's runs, whoever runs them
//! (the newest, or `--run`), until Ctrl-C; and the servers `run --dashboard` and
//! `run --metrics` start for their own run.

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Args;

use super::{CliError, ExitCode};
use crate::config::AuraConfig;
use crate::dashboard::{Follow, Live, Serve, Served};

/// Where the dashboard listens unless told: loopback only.
pub const DASHBOARD_ADDR: &str = "127.0.0.1:8089";
/// Where `--metrics` listens unless told.
pub const METRICS_ADDR: &str = "127.0.0.1:9464";

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Address to serve on (port 0 picks a free one). Loopback by default: anyone who
    /// can reach another address sees the runs.
    #[arg(long, default_value = DASHBOARD_ADDR)]
    addr: SocketAddr,
    /// Follow this run [default: the most recently written, switching to each new one].
    #[arg(long)]
    run: Option<String>,
}

pub async fn run(config: &AuraConfig, args: &DashboardArgs) -> Result<ExitCode, CliError> {
    if let Some(run) = &args.run {
        let journal = crate::report::journal_path(&config.state_dir, run);
        if !journal.exists() {
            return Err(CliError::new(
                ExitCode::BadInput,
                format!("no run {run}: {} does not exist", journal.display()),
            ));
        }
    }
    let served = start(config, args.addr, true, Follow::Newest, Live::new()).await?;
    let query = args
        .run
        .as_ref()
        .map(|r| format!("?run={r}"))
        .unwrap_or_default();
    announce("dashboard", &served, &format!("/{query}"));
    out!(
        "following {}; Ctrl-C to stop",
        config.state_dir.join("runs").display()
    );
    let _ = tokio::signal::ctrl_c().await;
    Ok(ExitCode::Ok)
}

/// Starts a server for `live`: the page and `/metrics`, or `/metrics` alone.
pub async fn start(
    config: &AuraConfig,
    addr: SocketAddr,
    page: bool,
    follow: Follow,
    live: Arc<Live>,
) -> Result<Served, CliError> {
    let what = Serve {
        state_dir: config.state_dir.clone(),
        services: config.services.clone(),
        follow,
        page,
    };
    crate::dashboard::serve(addr, what, live)
        .await
        .map_err(|e| CliError::caused(ExitCode::BadInput, &e))
}

/// Says where a server is, and who can reach it.
pub fn announce(what: &str, served: &Served, path: &str) {
    let reach = if served.addr.ip().is_loopback() {
        "loopback only"
    } else {
        "reachable from the network: anyone who can connect sees the runs"
    };
    out!("{what}: http://{}{path} ({reach})", served.addr);
}
