//! `aura-host verify-rollback --target URL --before RUN`: after a rollback, the probe
//! suite runs again against the deployment (a run of its own, in its own namespace,
//! journaled) and is held to a run recorded before the deployment went out: the same
//! decisions request by request, each step's latency within tolerance
//! (`crate::monitor::canary`), the probe run passing its validators, and nothing the
//! failed version left in the target's namespace (`crate::orchestrator::leftovers`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use super::{CliError, ExitCode};
use crate::config::AuraConfig;
use crate::monitor::canary::{self, Answer, CanaryReport, Sides, Verdict};
use crate::orchestrator::leftovers::{self, Leftovers};
use crate::orchestrator::suite::PROD_SMOKE;
use crate::report::{RequestResult, RunReport, Status};
use aura_reference::driver::Http;
use aura_services::ServiceHub;
use aura_services::namespace::RunId;

#[derive(Debug, Args)]
pub struct VerifyRollbackArgs {
    /// Base URL of the deployment rolled back to (`aura-host target serve`).
    #[arg(long, value_parser = super::scenarios::target_url)]
    target: String,
    /// The run recorded against the deployment before the change went out (e.g.
    /// `aura-host run --target URL --suite prod-smoke`).
    #[arg(long, value_name = "RUN")]
    before: RunId,
    /// The probe suite run now; the before run must have run its scenarios.
    #[arg(long, default_value = PROD_SMOKE)]
    suite: String,
    /// The least time between the two reads of the target's namespace: a lease or a
    /// decision of traffic in flight is only left over if it is still there after it.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    settle: Duration,
    /// Write the verification as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    #[command(flatten)]
    tolerance: super::baseline::ToleranceArgs,
}

const SIDES: Sides = Sides {
    old: "before",
    new: "after",
};

#[derive(Serialize)]
struct Verification<'a> {
    /// `verified`, `hold` or `not_verified`.
    verdict: &'static str,
    before_run: &'a str,
    after_run: &'a str,
    target: &'a str,
    /// The target's own namespace, read for leftovers.
    namespace: &'a str,
    reasons: &'a [String],
    requests: usize,
    orphan_leases: &'a [String],
    decisions_without_events: &'a [String],
    /// Requests decided otherwise than before (`baseline`: before, `canary`: after).
    differences: &'a [canary::Difference],
    /// Per step (and `request`, the whole), before against after.
    latency: &'a BTreeMap<String, crate::report::regression::Comparison>,
}

fn word(v: Verdict) -> &'static str {
    match v {
        Verdict::Promote => "verified",
        Verdict::Hold => "hold",
        Verdict::Rollback => "not_verified",
    }
}

pub async fn run(
    config: &AuraConfig,
    hub: Arc<ServiceHub>,
    args: &VerifyRollbackArgs,
) -> Result<ExitCode, CliError> {
    let before = super::baseline::report_of(config, &args.before)?;
    let probe = super::scenarios::load(&config.run.scenarios_dir, Some(&args.suite), &[])?;
    if let Some((_, s)) = probe
        .iter()
        .find(|(_, s)| !before.scenarios.iter().any(|b| b.id == s.id))
    {
        return Err(CliError::new(
            ExitCode::BadInput,
            format!(
                "run {} did not run {} of suite {}: record the before run with `aura-host run --target URL --suite {}`",
                args.before, s.id, args.suite, args.suite
            ),
        ));
    }
    let health = Http::new(&args.target, super::scenarios::TARGET_CALL_WITHIN)
        .health()
        .await
        .map_err(|e| {
            CliError::new(
                ExitCode::NotReady,
                format!(
                    "the target at {}: {}",
                    args.target,
                    aura_services::error_chain(&e)
                ),
            )
        })?;
    let namespace = health.run_id;
    let unread = |e: aura_services::ServiceError| {
        CliError::new(
            ExitCode::NotReady,
            format!(
                "the target's namespace {namespace} could not be read: {}",
                aura_services::error_chain(&e)
            ),
        )
    };
    let started = Instant::now();
    let first = leftovers::read(&hub, &namespace).await.map_err(unread)?;
    let runtime = Arc::new(super::plugin::runtime(config, hub.clone())?);
    let run_id = aura_services::namespace::generate_run_id();
    out!(
        "verify-rollback: suite {} against {} (run {run_id}), held to run {}",
        args.suite,
        args.target,
        args.before
    );
    let watching = super::run::Watching {
        live: None,
        otlp: None,
    };
    let after = super::scenarios::probe(
        config,
        &hub,
        &runtime,
        (Some(&args.suite), &[]),
        run_id.clone(),
        watching,
        Some(&args.target),
    )
    .await?;
    tokio::time::sleep_until((started + args.settle).into()).await;
    let second = leftovers::read(&hub, &namespace).await.map_err(unread)?;
    let mut report =
        canary::compare_as(&pairs(&before, &after), &args.tolerance.tolerance(), SIDES);
    let orphans = leftovers::orphan_leases(&first, &second);
    let silent = leftovers::decisions_without_events(&first, &second);
    judge(&mut report, &after, &second, &orphans, &silent, &namespace);
    let verdict = word(report.verdict);
    super::compare_targets::print(&report, SIDES, &verdict.replace('_', " "));
    if let Some(path) = &args.json {
        let v = Verification {
            verdict,
            before_run: args.before.as_str(),
            after_run: run_id.as_str(),
            target: &args.target,
            namespace: &namespace,
            reasons: &report.reasons,
            requests: report.requests,
            orphan_leases: &orphans,
            decisions_without_events: &silent,
            differences: &report.differences,
            latency: &report.latency,
        };
        super::scenarios::write_json(path, &v)?;
    }
    Ok(super::compare_targets::exit_code(report.verdict))
}

/// Adds what the decisions and latencies do not show: the probe run's own verdict and
/// the leftovers; any of them fails the verification.
fn judge(
    report: &mut CanaryReport,
    after: &RunReport,
    second: &Leftovers,
    orphans: &[String],
    silent: &[String],
    namespace: &str,
) {
    let mut failed = Vec::new();
    if after.status != Status::Passed {
        let why: Vec<String> = after
            .scenarios
            .iter()
            .flat_map(|s| s.failures())
            .take(3)
            .collect();
        failed.push(format!(
            "the probe run {} did not pass: {}",
            after.run_id,
            why.join("; ")
        ));
    }
    if !orphans.is_empty() {
        failed.push(format!(
            "{} orphan lease(s) in {namespace}: {}",
            orphans.len(),
            orphans.join(", ")
        ));
    }
    if !silent.is_empty() {
        failed.push(format!(
            "{} decision(s) without an event in {namespace}: {}",
            silent.len(),
            silent.join(", ")
        ));
    }
    if !failed.is_empty() {
        if report.verdict == Verdict::Promote {
            report.reasons.clear();
        }
        report.verdict = Verdict::Rollback;
        report.reasons.extend(failed);
    } else if second.truncated && report.verdict == Verdict::Promote {
        report.verdict = Verdict::Hold;
        report.reasons = vec![format!(
            "{namespace} holds more than could be read: its leftovers are not vouched for"
        )];
    }
}

/// Each request of `after`'s scenarios with the same request of the same scenario
/// before, in `after`'s order.
fn pairs(before: &RunReport, after: &RunReport) -> Vec<(String, Answer, Answer)> {
    let earlier: BTreeMap<(&str, &str), &RequestResult> = before
        .scenarios
        .iter()
        .flat_map(|s| {
            s.requests
                .iter()
                .map(move |r| ((s.id.as_str(), r.request_id.as_str()), r))
        })
        .collect();
    after
        .scenarios
        .iter()
        .flat_map(|s| s.requests.iter().map(move |r| (s.id.as_str(), r)))
        .map(|(scenario, r)| {
            let old = earlier.get(&(scenario, r.request_id.as_str())).map_or_else(
                || canary::answer(Err("not in the before run".into()), None),
                |b| answer(b),
            );
            (format!("{scenario}/{}", r.request_id), old, answer(r))
        })
        .collect()
}

fn answer(r: &RequestResult) -> Answer {
    let decision = match &r.decision {
        Some(d) => Ok(canary::decided(d)),
        None => Err(r.error.clone().unwrap_or_else(|| "no decision".into())),
    };
    canary::answer(decision, r.trace.as_ref())
}
