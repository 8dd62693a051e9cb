//! `schedule create`, `list` and `delete` on the server's Schedules: each firing starts
//! `ScheduledRunWorkflow` with the arguments of an `aura-host run` on the runs queue.

use std::time::{Duration, SystemTime};

use futures::StreamExt;
use temporalio_client::schedules::{
    CreateScheduleOptions, DeleteScheduleOptions, ListSchedulesOptions, ScheduleAction,
    ScheduleError, ScheduleOverlapPolicy, ScheduleSpec,
};
use temporalio_client::tonic::Code;
use temporalio_client::{Client, RpcOptions};

use super::workflow::{ScheduledRun, ScheduledRunWorkflow};
use super::{SchedulerError, check_name};
use aura_contract::names::{SCHEDULE_PREFIX, schedule_id};

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq)]
pub enum Firing {
    /// A cron expression (`"0 3 * * *"`), in UTC.
    Cron(String),
    /// Every so often, from the moment it is created.
    Every(Duration),
}

/// A schedule as `schedule list` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleInfo {
    pub name: String,
    pub paused: bool,
    pub note: Option<String>,
    pub next: Option<SystemTime>,
    /// Workflows its recent firings started.
    pub recent: Vec<String>,
}

fn schedule_error(name: &str, what: &'static str, e: ScheduleError) -> SchedulerError {
    match &e {
        ScheduleError::Rpc(status) if status.code() == Code::NotFound => {
            SchedulerError::NotFound(name.to_string())
        }
        ScheduleError::Rpc(status) if status.code() == Code::InvalidArgument => {
            SchedulerError::Invalid {
                name: name.to_string(),
                detail: status.message().to_string(),
            }
        }
        ScheduleError::Rpc(status) => SchedulerError::Schedule {
            name: name.to_string(),
            what,
            detail: status.message().to_string(),
        },
        _ => SchedulerError::Schedule {
            name: name.to_string(),
            what,
            detail: e.to_string(),
        },
    }
}

/// Creates schedule `name`: at each firing, `aura-host run <args>` on a worker of
/// `task_queue`. An overlapping firing waits for the run before it (one at a time).
pub async fn create(
    client: &Client,
    name: &str,
    firing: &Firing,
    task_queue: &str,
    args: Vec<String>,
) -> Result<(), SchedulerError> {
    check_name(name)?;
    let spec = match firing {
        Firing::Cron(c) => ScheduleSpec::builder()
            .cron_strings(vec![c.clone()])
            .build(),
        Firing::Every(d) => ScheduleSpec::from_interval(*d),
    };
    let id = schedule_id(name);
    let action = ScheduleAction::start_workflow(
        ScheduledRunWorkflow::run,
        ScheduledRun {
            schedule: name.to_string(),
            args: args.clone(),
        },
        task_queue,
        id.clone(),
    );
    let options = CreateScheduleOptions::builder()
        .action(action)
        .spec(spec)
        .overlap_policy(ScheduleOverlapPolicy::BufferOne)
        .note(format!("aura-host run {}", args.join(" ")))
        .build();
    client
        .create_schedule(id, options)
        .await
        .map_err(|e| schedule_error(name, "not created", e))?;
    Ok(())
}

/// Deletes schedule `name`; runs it started carry on to their end.
pub async fn delete(client: &Client, name: &str) -> Result<(), SchedulerError> {
    check_name(name)?;
    client
        .get_schedule_handle(schedule_id(name))
        .delete(DeleteScheduleOptions::default())
        .await
        .map_err(|e| schedule_error(name, "not deleted", e))
}

/// aura-host's schedules (`aura-schedule-<name>`); the server lists them from its visibility
/// store, which lags a create or delete by a moment.
pub async fn list(client: &Client) -> Result<Vec<ScheduleInfo>, SchedulerError> {
    let mut stream = client.list_schedules(ListSchedulesOptions::default());
    let mut out = Vec::new();
    while let Some(s) = stream.next().await {
        let s = s.map_err(|e| schedule_error("*", "not listed", e))?;
        let Some(name) = s.schedule_id().strip_prefix(SCHEDULE_PREFIX) else {
            continue;
        };
        out.push(ScheduleInfo {
            name: name.to_string(),
            paused: s.paused(),
            note: s.note().map(str::to_string),
            next: s.future_action_times().into_iter().next(),
            recent: s
                .recent_actions()
                .iter()
                .map(|a| a.workflow_id.clone())
                .collect(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Whether schedule `name` exists (read from the schedule itself, not the lagging list).
pub async fn exists(client: &Client, name: &str) -> Result<bool, SchedulerError> {
    match client
        .get_schedule_handle(schedule_id(name))
        .describe(RpcOptions::default())
        .await
    {
        Ok(_) => Ok(true),
        Err(e) => match schedule_error(name, "not read", e) {
            SchedulerError::NotFound(_) => Ok(false),
            other => Err(other),
        },
    }
}
