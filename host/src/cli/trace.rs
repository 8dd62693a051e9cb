//! `aura-host trace <request-id>`: a request's WorkflowTrace as a waterfall (step,
//! component, offset, duration, status) or JSON, read from a finished run's saved
//! results (its journal), from the run's store in Redis, or from a served target.

use clap::Args;

use super::{CliError, ExitCode};
use crate::config::AuraConfig;
use aura_reference::driver::{Http, TargetDriver};
use aura_services::ServiceHub;
use aura_services::namespace::RunId;
use aura_services::trace::{StepStatus, WorkflowTrace};

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The request id.
    request_id: String,
    /// The run the request belongs to: its saved results first, then Redis [default:
    /// the only run in Redis that has it].
    #[arg(long = "run", visible_alias = "run-id")]
    run_id: Option<RunId>,
    /// Ask a served target instead of Redis (e.g. http://127.0.0.1:8080).
    #[arg(long)]
    target: Option<String>,
    /// Print the trace as JSON.
    #[arg(long)]
    json: bool,
}

const BAR: usize = 24;

pub async fn run(
    config: &AuraConfig,
    hub: &ServiceHub,
    args: &TraceArgs,
) -> Result<ExitCode, CliError> {
    let trace = match &args.target {
        Some(url) => Http::new(url, config.services.redis.timeout)
            .trace(&args.request_id)
            .await?
            .ok_or_else(|| not_found(&args.request_id, &format!("target {url}")))?,
        None => match saved(config, args)? {
            Some(t) => t,
            None => from_redis(hub, args).await?,
        },
    };
    if args.json {
        let text = serde_json::to_string_pretty(&trace)
            .map_err(|e| CliError::caused(ExitCode::Failed, &e))?;
        out!("{text}");
    } else {
        out_part!("{}", waterfall(&trace));
    }
    Ok(ExitCode::Ok)
}

fn not_found(request_id: &str, place: &str) -> CliError {
    CliError::new(
        ExitCode::BadInput,
        format!("no trace for request '{request_id}' in {place}"),
    )
}

/// The trace from the run's journal, when the run has one.
fn saved(config: &AuraConfig, args: &TraceArgs) -> Result<Option<WorkflowTrace>, CliError> {
    let Some(run) = &args.run_id else {
        return Ok(None);
    };
    let path = crate::report::journal_path(&config.state_dir, run.as_str());
    if !path.exists() {
        return Ok(None);
    }
    let report =
        crate::report::load(&path).map_err(|e| CliError::caused(ExitCode::BadInput, &e))?;
    Ok(report.trace(&args.request_id).cloned())
}

async fn from_redis(hub: &ServiceHub, args: &TraceArgs) -> Result<WorkflowTrace, CliError> {
    let cache = hub.cache().await?;
    let id = &args.request_id;
    let run = match &args.run_id {
        Some(r) => r.to_string(),
        None => {
            let runs = aura_services::trace::runs_with(cache.as_ref(), id).await?;
            match runs.as_slice() {
                [] => return Err(not_found(id, "any run in Redis")),
                [one] => one.clone(),
                many => {
                    return Err(CliError::new(
                        ExitCode::BadInput,
                        format!(
                            "request '{id}' has traces in several runs ({}); pick one with --run",
                            many.join(", ")
                        ),
                    ));
                }
            }
        }
    };
    aura_services::trace::load(cache.as_ref(), &run, id)
        .await
        .map_err(|e| CliError::caused(ExitCode::NotReady, &e))?
        .ok_or_else(|| not_found(id, &format!("run {run}")))
}

fn ms(v: i64) -> String {
    format!("{v} ms")
}

/// The waterfall text: one line per step, offsets from the trace's start.
pub fn waterfall(t: &WorkflowTrace) -> String {
    let end = t
        .steps
        .iter()
        .filter_map(|s| s.end_time)
        .max()
        .unwrap_or(t.start_time);
    let total = (end - t.start_time).max(1);
    let mut out = format!(
        "trace {} · {} · {} step(s) · {}\n",
        t.request_id,
        status(t.completion_status),
        t.steps.len(),
        ms(total)
    );
    out.push_str(&format!(
        "{:<18} {:<9} {:>9} {:>9}  {:<10} {}\n",
        "STEP", "COMPONENT", "OFFSET", "DURATION", "STATUS", "WATERFALL"
    ));
    for s in &t.steps {
        let offset = s.start_time - t.start_time;
        let duration = s.end_time.map(|e| e - s.start_time);
        let from = (offset * BAR as i64 / total) as usize;
        let width = duration.map_or(1, |d| ((d * BAR as i64 / total) as usize).max(1));
        let bar = format!(
            "{}{}",
            " ".repeat(from.min(BAR)),
            if s.status == StepStatus::Skipped {
                "·"
            } else {
                "█"
            }
            .repeat(width.min(BAR + 1 - from.min(BAR)))
        );
        out.push_str(&format!(
            "{:<18} {:<9} {:>9} {:>9}  {:<10} |{bar}\n",
            s.step_name,
            s.component,
            format!("+{}", ms(offset)),
            duration.map_or("-".into(), ms),
            status(s.status),
        ));
        if let Some(e) = &s.error_details {
            out.push_str(&format!("{:<18}   error: {e}\n", ""));
        }
    }
    if let Some(current) = &t.current_step {
        out.push_str(&format!("running: {current}\n"));
    }
    out
}

fn status(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Pending => "pending",
        StepStatus::Running => "running",
        StepStatus::Completed => "completed",
        StepStatus::Failed => "failed",
        StepStatus::Skipped => "skipped",
    }
}
