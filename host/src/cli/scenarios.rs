//! `aura-host run --suite S | --scenario FILE`: plans the scenarios, checks the services
//! they need (exit 3 naming those not ready), starts the reference target in-process and
//! runs each scenario's requests through it, stage by stage; the plugins given run as
//! validators on each scenario's requests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{CliError, ExitCode};
use crate::config::AuraConfig;
use crate::namespace::RunId;
use crate::orchestrator::{Scenario, plan, runner, suite};
use crate::services::{self, ServiceKind};
use crate::target::Target;
use crate::target::driver::InProcess;

/// The scenarios named on the command line, in the order given (suite first).
pub fn load(suite_name: Option<&str>, files: &[PathBuf]) -> Result<Vec<Scenario>, CliError> {
    let bad = |e: String| CliError::new(ExitCode::BadInput, e);
    let mut out = Vec::new();
    if let Some(s) = suite_name {
        let root = Path::new("scenarios");
        out.extend(
            suite::load(root, s)
                .map_err(|e| bad(e.to_string()))?
                .into_iter()
                .map(|(_, sc)| sc),
        );
    }
    for f in files {
        out.push(Scenario::load(f).map_err(|e| bad(e.to_string()))?);
    }
    if out.is_empty() {
        return Err(bad(format!(
            "no scenarios to run (suite {} is empty)",
            suite_name.unwrap_or("-")
        )));
    }
    Ok(out)
}

/// Runs the scenarios; returns the scenario ids with their request ids, and whether
/// every scenario passed.
pub async fn run(
    config: &AuraConfig,
    run_id: &RunId,
    scenarios: &[Scenario],
) -> Result<(Vec<(String, Vec<String>)>, bool), CliError> {
    let refs: Vec<&Scenario> = scenarios.iter().collect();
    let stages =
        plan::stages(&refs).map_err(|e| CliError::new(ExitCode::BadInput, e.to_string()))?;
    let mut needed: Vec<ServiceKind> = scenarios
        .iter()
        .flat_map(|s| s.required_services.iter().copied())
        .collect();
    needed.sort();
    needed.dedup();
    let report = services::health::check(config, &needed).await;
    let down: Vec<String> = report
        .services
        .iter()
        .filter(|s| s.status != services::ServiceStatus::Ready)
        .map(|s| {
            format!(
                "{} ({})",
                s.service,
                s.error.as_deref().unwrap_or("not ready")
            )
        })
        .collect();
    if !down.is_empty() {
        return Err(CliError::new(
            ExitCode::NotReady,
            format!("required service(s) not ready: {}", down.join(", ")),
        ));
    }
    let target = Arc::new(Target::start(config, run_id.clone()).await?);
    let driver = InProcess(target.clone());
    let mut all_passed = true;
    let mut ran = Vec::new();
    for stage in stages {
        let in_stage: Vec<&Scenario> = stage
            .iter()
            .filter_map(|id| scenarios.iter().find(|s| &s.id == id))
            .collect();
        let results =
            futures::future::join_all(in_stage.iter().map(|s| runner::run(&driver, s))).await;
        for (scenario, result) in in_stage.iter().zip(results) {
            let passed = result.passed();
            all_passed &= passed;
            println!(
                "{} scenario {} · {} request(s) · {:.1} s",
                if passed { "PASS" } else { "FAIL" },
                scenario.id,
                result.requests.len(),
                result.elapsed.as_secs_f64()
            );
            for f in result.failures() {
                println!("    FAIL {f}");
            }
            ran.push((
                scenario.id.clone(),
                result
                    .requests
                    .iter()
                    .map(|r| r.request_id.clone())
                    .collect(),
            ));
        }
    }
    if let Ok(t) = Arc::try_unwrap(target) {
        t.stop().await;
    }
    Ok((ran, all_passed))
}
