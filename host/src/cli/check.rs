//! `aura-host check`: the readiness report.

use clap::Args;
use serde::Serialize;

use super::{CliError, ExitCode};
use crate::config::{AuraConfig, ConfigSource};
use crate::environment;
use aura_services::{ReadinessReport, ServiceKind, ServiceStatus, health};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Check only these services (repeatable): redis, graph, kafka, temporal.
    #[arg(long = "service", value_name = "SERVICE")]
    services: Vec<ServiceKind>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    config: &'a ConfigSource,
    #[serde(flatten)]
    report: &'a ReadinessReport,
}

pub async fn run(
    config: &AuraConfig,
    source: &ConfigSource,
    args: &CheckArgs,
) -> Result<ExitCode, CliError> {
    let mut report = health::check(&config.services, &args.services).await;
    add_local_versions(config, &mut report);
    if args.json {
        let json = serde_json::to_string_pretty(&JsonReport {
            config: source,
            report: &report,
        })
        .map_err(|e| CliError::caused(ExitCode::Failed, &e))?;
        out!("{json}");
    } else {
        print_human(source, &report);
    }
    Ok(if report.ready {
        ExitCode::Ok
    } else {
        ExitCode::NotReady
    })
}

/// Kafka brokers do not report a software version over the protocol; when the broker is
/// one the local environment started, say which binary it is.
fn add_local_versions(config: &AuraConfig, report: &mut ReadinessReport) {
    let Ok(recorded) = environment::recorded(&config.state_dir) else {
        return;
    };
    for service in report
        .services
        .iter_mut()
        .filter(|s| s.version.is_none() && s.status == ServiceStatus::Ready)
    {
        let local = recorded.iter().find(|(kind, rec, alive)| {
            *alive
                && *kind == service.service
                && service.address.contains(&format!(":{}", rec.port))
        });
        if let Some((_, rec, _)) = local {
            service.version = rec.version.clone();
        }
    }
}

fn print_human(source: &ConfigSource, report: &ReadinessReport) {
    match source {
        ConfigSource::File(p) => out!("config: {}", p.display()),
        ConfigSource::BuiltInDefaults => {
            out!("config: built-in defaults (local profile; no aura.toml)")
        }
    }
    out!(
        "{:<9} {:<9} {:<12} {:>10}  {:<34} ADDRESS",
        "SERVICE",
        "REQUIRED",
        "STATUS",
        "LATENCY",
        "VERSION"
    );
    for s in &report.services {
        let latency = s
            .latency_ms
            .map_or_else(|| "-".to_string(), |ms| format!("{ms:.2} ms"));
        out!(
            "{:<9} {:<9} {:<12} {:>10}  {:<34} {}",
            s.service.name(),
            if s.required { "required" } else { "optional" },
            s.status.label(),
            latency,
            s.version.as_deref().unwrap_or("-"),
            s.address
        );
        if !s.details.is_empty() {
            let facts: Vec<String> = s
                .details
                .iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(text) => format!("{k}={text}"),
                    other => format!("{k}={other}"),
                })
                .collect();
            out!("          {}", facts.join("  "));
        }
        if let Some(err) = &s.error {
            out!("          error: {err}");
        }
    }
    let failing: Vec<&str> = report
        .not_ready_required()
        .map(|s| s.service.name())
        .collect();
    if failing.is_empty() {
        out!("ready: every required service is ready");
    } else {
        out!(
            "NOT READY: {} ({} of {} required)",
            failing.join(", "),
            failing.len(),
            report.services.iter().filter(|s| s.required).count()
        );
    }
}
