//! The integration tests, one module per feature, linked into one binary (wasmtime's
//! `tests/all/` layout): linking the host once instead of once per file is most of what
//! a clean `cargo test` costs. Service, target and run tests talk to the real local
//! servers (`common::ensure_env` starts them or reuses those that are up).

// The async-trait futures of the graph backends and the store checks nest deeply.
#![recursion_limit = "256"]

mod common;

mod distributed;

mod architecture;
mod canary;
mod chaos;
mod cli;
mod contract;
mod dashboard;
mod data;
mod deployed;
mod flakes;
mod gpu;
mod grafana;
mod graph_conformance;
mod html;
mod js;
mod lifecycle;
mod load;
mod monitor;
mod operations;
mod orchestrator;
mod otlp;
mod plugins;
mod python;
mod replay;
mod run;
mod sandbox;
mod schedule;
mod services;
mod snapshots;
mod target;
