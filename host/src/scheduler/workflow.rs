//! The workflow a schedule starts, and its one activity: an `aura-host run` with the
//! schedule's arguments, as a child process of the worker that picked it up. The
//! activity heartbeats while the run goes: a worker killed mid-run has the run started
//! again on another worker, under a new run id.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use temporalio_common::RetryPolicy;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::ApplicationFailure;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowResult};

/// What a firing runs: `aura-host run <args>`, its runs named `<schedule>-<time>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledRun {
    pub schedule: String,
    pub args: Vec<String>,
}

/// How a scheduled run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    pub run_id: String,
    /// `aura-host run`'s exit code (0 passed, 1 failed, 2 bad input, 3 not ready).
    pub exit_code: i32,
}

/// The longest one scheduled run may take.
const MAX_RUN: Duration = Duration::from_secs(6 * 3600);
/// A worker that has not said it is alive for this long is taken for dead.
const HEARTBEAT: Duration = Duration::from_secs(30);

#[workflow]
#[derive(Default)]
pub struct ScheduledRunWorkflow;

#[workflow_methods]
impl ScheduledRunWorkflow {
    #[run(name = "AuraScheduledRun")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: ScheduledRun,
    ) -> WorkflowResult<RunOutcome> {
        let options = ActivityOptions::with_start_to_close_timeout(MAX_RUN)
            .heartbeat_timeout(HEARTBEAT)
            .retry_policy(RetryPolicy::builder().maximum_attempts(2).build())
            .build();
        Ok(ctx
            .execute_activity(RunActivities::run_scheduled, input, options)
            .await?)
    }
}

/// Runs a firing as `<exe> <global...> run -q --run-id <id> <args...>`.
pub struct RunActivities {
    pub exe: PathBuf,
    /// The worker's own global options (its `--config`), passed on.
    pub global: Vec<String>,
}

/// The run id of a firing: the schedule's name, the time, and the attempt after the
/// first (a retried firing is a new run).
fn run_id(schedule: &str, attempt: u32) -> String {
    let at = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    match attempt {
        0 | 1 => format!("{schedule}-{at}"),
        n => format!("{schedule}-{at}-a{n}"),
    }
}

#[activities]
impl RunActivities {
    #[activity(name = "aura_scheduled_run")]
    pub async fn run_scheduled(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ScheduledRun,
    ) -> Result<RunOutcome, ActivityError> {
        let run_id = run_id(&input.schedule, ctx.info().attempt);
        let failed = |what: String| {
            ActivityError::application(
                ApplicationFailure::builder(what)
                    .type_name("ScheduledRunFailed".to_string())
                    .non_retryable(true)
                    .build(),
            )
        };
        let mut command = tokio::process::Command::new(&self.exe);
        // SAFETY: between fork and exec only prctl(2) runs, which is async-signal-safe.
        // A worker killed outright must not leave its run going beside the retry on
        // another worker: the run gets SIGINT, which it takes as Ctrl-C (it stops, says
        // what did not run and cleans up).
        unsafe {
            command.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGINT)
                    .map_err(std::io::Error::from)
            });
        }
        let mut child = command
            .args(&self.global)
            .args(["run", "-q", "--run-id", &run_id])
            .args(&input.args)
            .stdin(Stdio::null())
            // The run's journal and report hold its results; its lines would only
            // fill a pipe nobody reads.
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| failed(format!("cannot start {}: {e}", self.exe.display())))?;
        tracing::info!(target: "aura::scheduler", run = %run_id, schedule = %input.schedule, "scheduled run started");
        let mut beat = tokio::time::interval(HEARTBEAT / 3);
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                _ = beat.tick() => {
                    let _ = ctx.record_heartbeat(run_id.clone()).await;
                    if ctx.is_cancelled() {
                        let _ = child.kill().await;
                        return Err(failed(format!("run {run_id} cancelled")));
                    }
                }
            }
        }
        .map_err(|e| failed(format!("run {run_id}: {e}")))?;
        let exit_code = status.code().unwrap_or(-1);
        tracing::info!(target: "aura::scheduler", run = %run_id, exit_code, "scheduled run ended");
        Ok(RunOutcome { run_id, exit_code })
    }
}
