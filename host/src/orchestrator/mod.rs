//! The test orchestrator: scenarios (after seed 000's TestScenario), and, as issue 5
//! lands, suites, the run plan, the runner and recovery.

pub mod scenario;

pub use scenario::{Scenario, ScenarioError};
