//! The shipped validators over a finished run of many requests, measured on a child
//! `aura-host run` of a generated scenario: every check of every request, and the
//! run's throughput with its validation against the same run's deciding alone.

use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;

use super::{Row, Setup};

const CHECKS: (&str, &str) = (
    "checks per second of the shipped validators (e2e/generated_burst) over a finished run",
    "≥ 5,000",
);
const VALIDATED: (&str, &str) = (
    "validated ÷ raw throughput of the reference target (same run)",
    "≥ 0.90",
);
/// The shipped scenario that validates every decision in every store: its generator and
/// validators are the ones measured, with more requests.
const SOURCE: &str = "e2e/generated_burst.toml";

#[derive(Deserialize)]
struct Report {
    scenarios: Vec<Scenario>,
}

#[derive(Deserialize)]
struct Scenario {
    elapsed_ms: u64,
    requests: Vec<serde_json::Value>,
    validators: Vec<Validator>,
}

#[derive(Deserialize)]
struct Validator {
    validator: String,
    passed: bool,
    checks: Vec<serde_json::Value>,
    wall_ms: f64,
    error: Option<String>,
}

pub async fn rows(setup: &Setup) -> Vec<Row> {
    match measure(setup).await {
        Ok(s) => {
            let checks: usize = s.validators.iter().map(|v| v.checks.len()).sum();
            // The validators run at once, after every request was decided.
            let slowest = s
                .validators
                .iter()
                .max_by(|a, b| a.wall_ms.total_cmp(&b.wall_ms));
            let validating = slowest.map_or(0.0, |v| v.wall_ms) / 1e3;
            let slowest = slowest.map_or("", |v| v.validator.as_str());
            let per_second = checks as f64 / validating.max(1e-9);
            let total = s.elapsed_ms as f64 / 1e3;
            let deciding = (total - validating).max(1e-9);
            let ratio = deciding / total.max(1e-9);
            let n = s.requests.len();
            vec![
                Row::new(
                    CHECKS.0,
                    CHECKS.1,
                    format!(
                        "{per_second:.0} ({checks} checks of {n} requests in {validating:.2} s; slowest {slowest})"
                    ),
                    per_second >= 5_000.0,
                ),
                Row::new(
                    VALIDATED.0,
                    VALIDATED.1,
                    format!(
                        "{ratio:.3} ({:.1}/s validated ÷ {:.1}/s decided)",
                        n as f64 / total,
                        n as f64 / deciding
                    ),
                    ratio >= 0.90,
                ),
            ]
        }
        Err(e) => vec![
            Row::unmeasured(CHECKS.0, CHECKS.1, format!("not measured: {e}")),
            Row::unmeasured(VALIDATED.0, VALIDATED.1, format!("not measured: {e}")),
        ],
    }
}

/// The source scenario with `requests` generated requests and no deadline of its own to
/// speak of, and the names of its validators.
fn scenario(setup: &Setup) -> Result<(String, Vec<String>), String> {
    let path = setup.scenarios_dir.join(SOURCE);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut source: toml::Table =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let validators: Vec<String> = source
        .remove("validation_rules")
        .and_then(|r| r.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.get("plugin")?.as_str().map(String::from))
        .collect();
    let mut generator = source
        .remove("generator")
        .and_then(|g| g.as_table().cloned())
        .ok_or_else(|| format!("{} has no [generator]", path.display()))?;
    if let Some(config) = generator.get_mut("config").and_then(|c| c.as_table_mut()) {
        config.insert(
            "requests".into(),
            toml::Value::Integer(setup.validation_requests.into()),
        );
    }
    let mut bench = toml::Table::new();
    bench.insert("id".into(), "bench-validation".into());
    bench.insert("name".into(), "Bench: validation throughput".into());
    bench.insert(
        "description".into(),
        format!("{SOURCE} with {} requests", setup.validation_requests).into(),
    );
    if let Some(services) = source.remove("required_services") {
        bench.insert("required_services".into(), services);
    }
    bench.insert("max_execution_time".into(), "1800s".into());
    bench.insert("generator".into(), toml::Value::Table(generator));
    let text = toml::to_string(&bench).map_err(|e| e.to_string())?;
    Ok((text, validators))
}

/// The validators with the grants of `run --plugin` and time for every request: the
/// row measures how fast they check, not whether their default deadlines suffice.
fn plugin_set(setup: &Setup, validators: &[String]) -> Result<String, String> {
    validators
        .iter()
        .map(|v| {
            let path = setup.wasm_dir.join(format!("{v}.wasm"));
            // Pinned, as a plugin set must be.
            let sha256 = std::fs::read(&path)
                .map(|b| aura_runtime::digest(&b))
                .map_err(|e| {
                    format!("plugin {}: cannot read: {e} (run `just plugins`)", path.display())
                })?;
            Ok(format!(
                "[[plugin]]\nname = \"{v}\"\npath = {path:?}\nsha256 = \"{sha256}\"\nkind = \"validator\"\n\
                 grants = {{ graph = \"read\", workflow = true, trace = true, \
                 cache = {{ access = \"read\", key-prefixes = [\"aura:{{run}}:\"] }}, \
                 events = {{ access = \"read\", topics = [\"aura.{{run}}.*\"] }} }}\n\
                 limits = {{ timeout = \"1800s\", max-host-bytes = 268435456 }}\n\
                 config = {{ deadline_ms = 1800000 }}\n\n"
            ))
        })
        .collect()
}

async fn measure(setup: &Setup) -> Result<Scenario, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (file, json) = (
        dir.path().join("validation.toml"),
        dir.path().join("run.json"),
    );
    let set = dir.path().join("validators.toml");
    let (scenario, validators) = scenario(setup)?;
    std::fs::write(&file, scenario).map_err(|e| e.to_string())?;
    std::fs::write(&set, plugin_set(setup, &validators)?).map_err(|e| e.to_string())?;
    let output = tokio::process::Command::new(&setup.exe)
        .arg("run")
        .arg("--scenario")
        .arg(&file)
        .arg("--plugins")
        .arg(&set)
        .arg("--json")
        .arg(&json)
        .arg("-q")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let output = tokio::time::timeout(Duration::from_secs(3600), output)
        .await
        .map_err(|_| "the run took over an hour".to_string())?
        .map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(&json).map_err(|e| {
        let stderr = String::from_utf8_lossy(&output.stderr);
        format!("no report ({e}); the run said: {}", stderr.trim())
    })?;
    let report: Report = serde_json::from_str(&text).map_err(|e| format!("its report: {e}"))?;
    let scenario = report
        .scenarios
        .into_iter()
        .next()
        .ok_or("the report has no scenario")?;
    if let Some(v) = scenario.validators.iter().find(|v| !v.passed) {
        return Err(format!(
            "{} did not pass: {}",
            v.validator,
            v.error.as_deref().unwrap_or("a check failed")
        ));
    }
    Ok(scenario)
}
