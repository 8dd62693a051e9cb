//! Results of runs: the events a run journals as it goes, the report built from them
//! (after seed 000's IntegrationTestResult), and its renderings: the human summary,
//! JSON and JUnit XML. Every output is rendered from a [`RunReport`], live or rebuilt
//! from the journal by `aura-host report --run <id>`.

mod analysis;
pub mod baseline;
pub mod history;
pub mod html;
pub mod journal;
pub mod junit;
pub mod load;
pub mod model;
mod recorder;
pub mod regression;
pub mod state;
pub mod summary;

pub use analysis::{percentiles, performance_of};
pub use journal::{Journal, JournalError, Record};
pub use load::{LoadRecord, StageRecord};
pub use model::{
    ChaosSchedule, Check, FaultRecord, LiveReport, Percentiles, Performance, RecoveryRecord,
    RequestResult, RequestStatus, RunEvent, RunReport, SandboxCost, ServiceHealth, Status,
    SystemState, TargetState, ValidatorResult, add_validator,
};
pub use recorder::{
    Recorder, journal_path, journaled_workflows, killed_runs, mark_ended, read_events, read_record,
    workflows,
};

/// The report of the run whose journal is at `path`.
pub fn load(path: &std::path::Path) -> Result<RunReport, JournalError> {
    let events = read_events(path)?;
    RunReport::build(&events).ok_or_else(|| JournalError::Malformed {
        path: path.to_path_buf(),
        line: 1,
        reason: "no run_started record".into(),
    })
}
