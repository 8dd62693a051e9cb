//! aura-host: a native end-to-end integration-testing host for the AURA Intelligence
//! platform. See the repository README and `docs/` for the user's view.

// The async-trait futures of the graph backends nest deeply.
#![recursion_limit = "256"]

pub mod bench;
pub mod chaos;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod environment;
pub mod gpus;
pub mod init;
pub mod monitor;
pub mod orchestrator;
pub mod report;
pub mod scheduler;
