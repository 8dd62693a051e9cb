//! `aura-host bench`: the performance goal table, measured on this machine.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::{CliError, ExitCode};
use crate::bench::{self, Row, Setup};
use crate::config::AuraConfig;
use aura_services::ServiceHub;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Timed calls per plugin-call measurement (after a tenth as many to warm up).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(10..=1_000_000))]
    calls: u32,
    /// Requests submitted at once for the target's sustained rate.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    requests: u32,
    /// Requests of the finished run the shipped validators check.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    validation_requests: u32,
    /// Print the rows as JSON on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

pub async fn run(
    config: &AuraConfig,
    hub: Arc<ServiceHub>,
    args: &BenchArgs,
) -> Result<ExitCode, CliError> {
    if cfg!(debug_assertions) {
        err!(
            "aura-host bench: this is a debug build; its figures say little (use `cargo run --release -p aura-host -- bench`)"
        );
    }
    let exe = std::env::current_exe().map_err(|e| CliError::caused(ExitCode::Failed, &e))?;
    let setup = Setup {
        services: config.services.clone(),
        target: config.target.clone(),
        gpu: config.gpu.clone(),
        cache_dir: super::plugin::cache_dir(config),
        runtime: Arc::new(super::plugin::runtime(config, hub.clone())?),
        hub,
        wasm_dir: PathBuf::from(&config.run.plugins_dir),
        scenarios_dir: PathBuf::from(&config.run.scenarios_dir),
        exe,
        calls: args.calls,
        requests: args.requests,
        validation_requests: args.validation_requests,
    };
    let rows = bench::run(&setup, |stage| err!("measuring: {stage}")).await;
    if args.json {
        let text = serde_json::to_string_pretty(&rows)
            .map_err(|e| CliError::caused(ExitCode::Failed, &e))?;
        out!("{text}");
    } else {
        print_table(&rows);
    }
    Ok(ExitCode::Ok)
}

fn print_table(rows: &[Row]) {
    out!("| measure | goal | measured | met |");
    out!("| --- | --- | --- | --- |");
    for r in rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "no",
            None => "—",
        };
        out!("| {} | {} | {} | {met} |", r.measure, r.goal, r.measured);
    }
    let measured = rows.iter().filter(|r| r.met.is_some()).count();
    let met = rows.iter().filter(|r| r.met == Some(true)).count();
    out!(
        "\n{met} of {} goals met; {measured} measured; {} cores, {}",
        rows.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        }
    );
}
