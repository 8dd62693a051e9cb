//! `aura-host target serve|submit`: run the reference GPU-allocation service, or send it
//! a request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::{CliError, ExitCode};
use crate::config::AuraConfig;
use aura_reference::driver::{DriverError, Http, TargetDriver};
use aura_reference::{DecisionState, GpuAllocationRequest, Target, TargetError, http};
use aura_services::ServiceHub;
use aura_services::namespace::RunId;

#[derive(Debug, Subcommand)]
pub enum TargetCommand {
    /// Run the Temporal worker and the HTTP API until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Submit one request to a served target and print its decision.
    Submit(SubmitArgs),
}

/// Where `target serve` listens unless told.
pub const LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the HTTP API.
    #[arg(long, default_value = LISTEN)]
    listen: String,
    /// Run id every request of this target is namespaced under [default: generated].
    #[arg(long)]
    run_id: Option<RunId>,
    /// Export each request's trace over OTLP/HTTP to this collector once it is decided,
    /// in the caller's trace when the request came with a W3C `traceparent` header.
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Base URL of the target's API.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    #[arg(long)]
    request_id: Option<String>,
    #[arg(long)]
    team: String,
    #[arg(long, default_value_t = 1)]
    gpu_count: u32,
    #[arg(long)]
    gpu_model: Option<String>,
    #[arg(long, default_value_t = 16)]
    memory_gb: u32,
    #[arg(long, default_value_t = 5)]
    priority: u32,
    #[arg(long, default_value_t = 60)]
    duration_minutes: u32,
    /// How long to wait for the decision.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    wait: Duration,
    /// Print the decision as JSON.
    #[arg(long)]
    json: bool,
}

impl From<TargetError> for CliError {
    fn from(e: TargetError) -> Self {
        let code = match &e {
            TargetError::BadRequest(_) | TargetError::Duplicate(_) | TargetError::Weights(_) => {
                ExitCode::BadInput
            }
            _ => ExitCode::NotReady,
        };
        Self::new(code, format!("target: {e}"))
    }
}

impl From<DriverError> for CliError {
    fn from(e: DriverError) -> Self {
        match e {
            DriverError::Target(t) => t.into(),
            DriverError::Status {
                status: 400 | 409, ..
            } => Self::caused(ExitCode::BadInput, &e),
            other => Self::new(ExitCode::NotReady, other.to_string()),
        }
    }
}

pub async fn run(
    config: &AuraConfig,
    hub: Arc<ServiceHub>,
    cmd: &TargetCommand,
) -> Result<ExitCode, CliError> {
    match cmd {
        TargetCommand::Serve(args) => serve(config, hub, args).await,
        TargetCommand::Submit(args) => submit(config, args).await,
    }
}

async fn serve(
    config: &AuraConfig,
    hub: Arc<ServiceHub>,
    args: &ServeArgs,
) -> Result<ExitCode, CliError> {
    let addr: SocketAddr = args.listen.parse().map_err(|e| {
        CliError::new(
            ExitCode::BadInput,
            format!("--listen '{}': {e}", args.listen),
        )
    })?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        CliError::new(
            ExitCode::BadInput,
            format!("--listen {addr}: cannot bind: {e}"),
        )
    })?;
    let run_id = args
        .run_id
        .clone()
        .unwrap_or_else(aura_services::namespace::generate_run_id);
    // A bad collector URL is said before anything starts.
    let otlp = match &args.otlp_endpoint {
        Some(url) => Some(
            aura_services::trace::otlp::OtlpExport::new(url, "aura-target")
                .map_err(|e| CliError::caused(ExitCode::BadInput, &e))?,
        ),
        None => None,
    };
    let target = Target::start(hub, &config.target, &config.gpu, run_id.clone()).await?;
    let target = Arc::new(target);
    if let Some(export) = otlp {
        target.export_traces(Arc::new(export));
    }
    let gpu = &target.core().gpu.status;
    out!(
        "aura-host target: listening on http://{addr} (run {run_id}, task queue {}, council on {}, {} {} device(s))",
        config.target.task_queue,
        gpu.compute,
        gpu.devices,
        gpu.inventory_source
    );
    let app = http::router(target.clone());
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(stop_signal())
        .await;
    if let Ok(target) = Arc::try_unwrap(target) {
        target.stop().await;
    }
    served.map_err(|e| CliError::new(ExitCode::Failed, format!("HTTP server: {e}")))?;
    Ok(ExitCode::Ok)
}

async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}

async fn submit(config: &AuraConfig, args: &SubmitArgs) -> Result<ExitCode, CliError> {
    let driver = Http::new(&args.target, config.services.temporal.timeout);
    let request = GpuAllocationRequest {
        request_id: args
            .request_id
            .clone()
            .unwrap_or_else(|| format!("req-{:08x}", rand::random::<u32>())),
        team: args.team.clone(),
        gpu_count: args.gpu_count,
        gpu_model: args.gpu_model.clone(),
        memory_gb: args.memory_gb,
        priority: args.priority,
        duration_minutes: args.duration_minutes,
    };
    let submitted = driver.submit(&request).await?;
    let state = driver.decision(&submitted.request_id, args.wait).await?;
    if args.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&state).unwrap_or_default()
        );
    }
    match state {
        DecisionState::Decided { decision } => {
            if !args.json {
                let d = &decision;
                let devices: Vec<&str> = d.devices.iter().map(|g| g.id.as_str()).collect();
                match &d.denial {
                    None => out!(
                        "{} approved: {} (workflow {})",
                        d.request_id,
                        devices.join(", "),
                        d.workflow_id
                    ),
                    Some(why) => out!(
                        "{} denied ({}): {} (workflow {})",
                        d.request_id,
                        why.class,
                        why.message,
                        d.workflow_id
                    ),
                }
            }
            Ok(ExitCode::Ok)
        }
        DecisionState::Pending => Err(CliError::new(
            ExitCode::Failed,
            format!(
                "{}: no decision within {:?}",
                submitted.request_id, args.wait
            ),
        )),
        DecisionState::Failed { reason, .. } => Err(CliError::new(
            ExitCode::Failed,
            format!("{}: workflow failed: {reason}", submitted.request_id),
        )),
        DecisionState::Unknown => Err(CliError::new(
            ExitCode::Failed,
            format!(
                "{}: the target does not know this request",
                submitted.request_id
            ),
        )),
    }
}
