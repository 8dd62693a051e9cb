//! The test orchestrator: scenarios (after seed 000's TestScenario), suites (the folders
//! of `scenarios/`), the run plan (seed 002's PlanExecution), the plugins a run uses,
//! the runner of one scenario and the run of many ([`execute`]): readiness first, then
//! stages of independent scenarios up to `--jobs` at once, validators, recovery, the
//! journal, abort and cleanup.

pub mod data;
pub mod distributed;
pub mod execute;
mod expect;
mod facts;
mod leases;
pub mod leftovers;
pub mod load;
pub mod plan;
pub mod plugins;
pub mod runner;
pub mod scenario;
mod state;
mod steady;
pub mod suite;
pub mod thresholds;
mod validate;

pub use execute::{Execution, RunError, RunOptions};
pub use plan::{PlanError, stages, time_bound};
pub use scenario::{Scenario, ScenarioError};
pub use suite::{SUITES, SuiteError};
