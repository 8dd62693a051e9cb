//! The test orchestrator: scenarios (after seed 000's TestScenario), suites (the folders
//! of `scenarios/`) and the run plan (seed 002's PlanExecution); the runner, recovery
//! and reports come next.

pub mod plan;
pub mod scenario;
pub mod suite;

pub use plan::{PlanError, stages};
pub use scenario::{Scenario, ScenarioError};
pub use suite::{SUITES, SuiteError};
