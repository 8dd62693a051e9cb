//! The test orchestrator: scenarios (after seed 000's TestScenario), suites (the folders
//! of `scenarios/`) the run plan (seed 002's PlanExecution) and the runner of one
//! scenario; recovery, journaling and reports come next.

pub mod plan;
pub mod runner;
pub mod scenario;
pub mod suite;

pub use plan::{PlanError, stages};
pub use scenario::{Scenario, ScenarioError};
pub use suite::{SUITES, SuiteError};
