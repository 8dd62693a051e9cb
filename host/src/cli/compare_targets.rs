//! `aura-host compare-targets --baseline URL --canary URL --scenario F`: the scenario's
//! requests sent to two served targets (`aura-host target serve`), each `--rounds`
//! times under ids of their own, in the same order on both, so that identical builds
//! decide identically; then the canary's verdict (`crate::monitor::canary`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{CliError, ExitCode};
use crate::monitor::canary::{self, Answer, CanaryReport, Verdict};
use crate::orchestrator::Scenario;
use aura_reference::driver::{Http, TargetDriver};
use aura_reference::{DecisionState, GpuAllocationRequest};

#[derive(Debug, Args)]
pub struct CompareTargetsArgs {
    /// Base URL of the deployment in service now.
    #[arg(long, value_parser = super::scenarios::target_url)]
    baseline: String,
    /// Base URL of the deployment being tried.
    #[arg(long, value_parser = super::scenarios::target_url)]
    canary: String,
    /// The scenario whose written requests are sent to both.
    #[arg(long, value_name = "FILE")]
    scenario: PathBuf,
    /// Times each request is sent (each time under an id of its own): latency samples.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    rounds: u32,
    /// How long each side may take to decide one request.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    wait: Duration,
    /// Write the comparison as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    #[command(flatten)]
    tolerance: super::baseline::ToleranceArgs,
}

/// The HTTP client's own timeout for calls that do not wait on a decision.
const CALL_WITHIN: Duration = Duration::from_secs(10);

pub async fn run(args: &CompareTargetsArgs) -> Result<ExitCode, CliError> {
    let scenario =
        Scenario::load(&args.scenario).map_err(|e| CliError::caused(ExitCode::BadInput, &e))?;
    if scenario.gpu_requests.is_empty() {
        return Err(CliError::new(
            ExitCode::BadInput,
            format!(
                "{}: no [[gpu_requests]] to send (a generator's requests are not compared)",
                args.scenario.display()
            ),
        ));
    }
    if args.baseline.trim_end_matches('/') == args.canary.trim_end_matches('/') {
        return Err(CliError::new(
            ExitCode::BadInput,
            format!(
                "--baseline and --canary are the same deployment ({}): compare two",
                args.baseline
            ),
        ));
    }
    let sides = [
        (
            "baseline",
            Http::new(&args.baseline, CALL_WITHIN),
            &args.baseline,
        ),
        ("canary", Http::new(&args.canary, CALL_WITHIN), &args.canary),
    ];
    for (name, driver, url) in &sides {
        let ready = driver
            .readiness()
            .await
            .map_err(|e| CliError::new(ExitCode::NotReady, format!("the {name} at {url}: {e}")))?;
        if ready.status != "ready" {
            return Err(CliError::new(
                ExitCode::NotReady,
                format!("the {name} at {url} is {}", ready.status),
            ));
        }
    }
    out!(
        "comparing {} (canary) with {} (baseline): {} request(s) × {} round(s)",
        args.canary,
        args.baseline,
        scenario.gpu_requests.len(),
        args.rounds
    );
    let mut pairs = Vec::new();
    for round in 1..=args.rounds {
        for r in &scenario.gpu_requests {
            let request = GpuAllocationRequest {
                request_id: format!("{}-r{round}", r.request_id),
                ..r.clone()
            };
            let (base, canary) = tokio::join!(
                answer(&sides[0].1, &request, args.wait),
                answer(&sides[1].1, &request, args.wait)
            );
            pairs.push((request.request_id, base, canary));
        }
    }
    let report = canary::compare(&pairs, &args.tolerance.tolerance());
    print(&report, canary::CANARY, report.verdict.word());
    if let Some(path) = &args.json {
        super::scenarios::write_json(path, &report)?;
    }
    Ok(exit_code(report.verdict))
}

/// The comparison as the terminal shows it: each step's latency, the first differences,
/// the verdict and its reasons. What a target answered (a failure's reason) is escaped.
pub fn print(report: &CanaryReport, sides: canary::Sides, verdict: &str) {
    let shown = |s: &str| aura_runtime::text::escape(s, 500);
    for (step, c) in &report.latency {
        out!("  {step:<18} {}", c.reason);
    }
    for d in report.differences.iter().take(10) {
        out!(
            "  {}: {} {}, {} {}",
            shown(&d.request_id),
            sides.old,
            shown(&d.baseline),
            sides.new,
            shown(&d.canary)
        );
    }
    out!("verdict: {verdict}");
    for r in &report.reasons {
        out!("  {}", shown(r));
    }
}

/// Exit 0 promote (verified), 1 rollback (not verified), 4 hold.
pub fn exit_code(v: Verdict) -> ExitCode {
    match v {
        Verdict::Promote => ExitCode::Ok,
        Verdict::Rollback => ExitCode::Failed,
        Verdict::Hold => ExitCode::Hold,
    }
}

/// One side's decision and trace for `request`; what went wrong is the answer's error.
async fn answer(driver: &Http, request: &GpuAllocationRequest, wait: Duration) -> Answer {
    let decision = match driver.submit(request).await {
        Err(e) => Err(format!("not submitted: {e}")),
        Ok(_) => match driver.decision(&request.request_id, wait).await {
            Ok(DecisionState::Decided { decision }) => Ok(canary::decided(&decision)),
            Ok(DecisionState::Failed { reason, .. }) => Err(format!("failed: {reason}")),
            Ok(DecisionState::Pending) => Err(format!("undecided after {wait:?}")),
            Ok(DecisionState::Unknown) => Err("the target does not know the request".into()),
            Err(e) => Err(e.to_string()),
        },
    };
    let trace = driver.trace(&request.request_id).await.ok().flatten();
    canary::answer(decision, trace.as_ref())
}
