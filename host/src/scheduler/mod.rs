//! Scheduled runs (seed 002's Schedule) on Temporal Schedules. A schedule starts
//! `ScheduledRunWorkflow` on the runs task queue at each firing; any `aura-host worker`
//! polling that queue runs its one activity: an ordinary `aura-host run`, a child
//! process of the worker with its own journal and report. `schedule create`, `list`
//! and `delete` manage the schedules.

mod schedules;
mod workflow;

pub use schedules::{Firing, ScheduleInfo, create, delete, exists, list};
pub use workflow::{RunActivities, RunOutcome, ScheduledRun, ScheduledRunWorkflow};

pub use aura_contract::names::RUNS_TASK_QUEUE;

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Service(#[from] aura_services::ServiceError),
    #[error("schedule name '{0}': use 1-40 characters of a-z, 0-9 and '-'")]
    BadName(String),
    #[error("schedule {name}: {what}: {detail}")]
    Schedule {
        name: String,
        what: &'static str,
        detail: String,
    },
    #[error("schedule {name}: refused by the server: {detail}")]
    Invalid { name: String, detail: String },
    #[error("no schedule '{0}' (`aura-host schedule list` shows them)")]
    NotFound(String),
}

/// A schedule's name names its runs (`<name>-<time>`) too: the run-id rule, shorter.
pub fn check_name(name: &str) -> Result<(), SchedulerError> {
    let ok = (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(SchedulerError::BadName(name.to_string()))
    }
}
