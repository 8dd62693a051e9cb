//! The Grafana dashboard the compose profile provisions (`docs/compose/grafana/aura.json`,
//! mounted by `docker-compose.dev.yml`): every panel queries the provisioned Prometheus
//! datasource and names only metrics that aura-host or the reference target really
//! export, as scraped from real processes after they did the things the panels count.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, Killed};
use crate::run::aura_with;

/// The datasource uid `docs/compose/grafana-datasource.yml` provisions.
const DATASOURCE: &str = "aura-prometheus";

/// How long a process may take to show what it was made to do in its metrics.
const SETTLE: Duration = Duration::from_secs(60);

/// Run beside the smoke suite: one request under a harmless fault (1 ms of latency on
/// Redis through the run's own fault proxy, for a second from the start), so the run's
/// journal holds a fault that struck and `aura_host_faults_injected_total` has a sample.
const FAULTED: &str = r#"
id = "grafana-fault"
name = "A fault for the dashboard to count"
required_services = ["redis", "graph", "kafka", "temporal"]
max_execution_time = "90s"

[[faults]]
service = "redis"
action = "latency"
latency = "1ms"
duration = "1s"

[[gpu_requests]]
request_id = "grafana-fault-1"
team = "platform"
gpu_count = 1
memory_gb = 16
priority = 5
duration_minutes = 30

[[expected_outcomes]]
request_id = "grafana-fault-1"
decision = "approved"
"#;

/// A panel of the dashboard: its title and its queries.
struct Panel {
    title: String,
    exprs: Vec<String>,
}

/// Every panel's queries name metrics that a real `aura-host dashboard` (fed from the
/// journal of a smoke run with one faulted scenario beside it) or a real
/// `aura-host target serve` (after one decided request and one whose first step timed
/// out) serves at `/metrics`.
///
/// The rule: a name an expr uses is exported when the scraped text (the Prometheus text
/// format, what `http_get` is answered with) has a sample line that starts with exactly
/// that name followed by `{` or a space. So a histogram is named by its `_bucket`, `_sum`
/// or `_count` series and a counter by its `_total` series, as PromQL sees them, and a
/// misspelt or invented name fails. prometheus-client prints no `# HELP`/`# TYPE` for a
/// family that has no sample yet, so a family that only appears once something happens
/// (a fault, a failed step) is made to happen here rather than accepted from its
/// metadata.
#[test]
fn every_grafana_panel_queries_a_metric_the_host_or_target_exports() {
    let panels = dashboard_panels();
    assert!(!panels.is_empty(), "the dashboard has no panels");
    for p in &panels {
        for expr in &p.exprs {
            assert!(
                !metric_names(expr).is_empty(),
                "panel \"{}\": `{expr}` names no aura_ metric, so nothing here checks it",
                p.title
            );
        }
    }

    let scraped = format!("{}\n{}", host_metrics(), target_metrics());

    // The check fails for a name nobody exports, a misspelling, a histogram's bare
    // family name and a prefix of a real name.
    let made_up = Panel {
        title: "made up".into(),
        exprs: vec![
            "sum(rate(aura_host_no_such_metric_total[5m]))".into(),
            "sum(aura_host_request_total)".into(),
            "aura_host_step_duration_seconds".into(),
            "aura_target_decisions".into(),
        ],
    };
    assert_eq!(
        missing(std::slice::from_ref(&made_up), &scraped),
        [
            "panel \"made up\": aura_host_no_such_metric_total",
            "panel \"made up\": aura_host_request_total",
            "panel \"made up\": aura_host_step_duration_seconds",
            "panel \"made up\": aura_target_decisions",
        ]
    );

    let missing = missing(&panels, &scraped);
    assert!(
        missing.is_empty(),
        "metrics neither aura-host nor the target exports:\n{}\n--- scraped\n{scraped}",
        missing.join("\n")
    );
}

/// `docker-compose.dev.yml` mounts the provider where Grafana reads provisioning and
/// the dashboard in the folder the provider reads.
#[test]
fn the_compose_stack_provisions_the_dashboard() {
    let root = common::workspace_root();
    let compose = std::fs::read_to_string(root.join("docker-compose.dev.yml")).expect("compose");
    let provider = std::fs::read_to_string(root.join("docs/compose/grafana/dashboards.yml"))
        .expect("dashboards.yml");
    let path = provider
        .lines()
        .find_map(|l| l.trim().strip_prefix("path:"))
        .map(|p| p.trim().trim_end_matches('/').to_string())
        .expect("the provider's path");
    for mount in [
        "./docs/compose/grafana/dashboards.yml:/etc/grafana/provisioning/dashboards/aura.yml:ro"
            .to_string(),
        format!("./docs/compose/grafana/aura.json:{path}/aura.json:ro"),
    ] {
        assert!(
            compose.contains(&format!("      - {mount}\n")),
            "docker-compose.dev.yml does not mount {mount}"
        );
    }
    let dashboard = read_dashboard();
    assert_eq!(dashboard["uid"], "aura-host");
    assert_eq!(dashboard["title"], "aura-host runs");
}

fn read_dashboard() -> Value {
    let path = common::workspace_root().join("docs/compose/grafana/aura.json");
    let text = std::fs::read_to_string(&path).expect("docs/compose/grafana/aura.json");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every panel (those in rows included) with its queries; each has at least one
/// non-empty query and uses the provisioned datasource, itself and in each query.
fn dashboard_panels() -> Vec<Panel> {
    fn collect(panels: &Value, out: &mut Vec<Panel>) {
        for p in panels.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("(untitled)").to_string();
            if p["type"] == "row" {
                collect(&p["panels"], out);
                continue;
            }
            assert_eq!(
                p["datasource"]["uid"], DATASOURCE,
                "panel \"{title}\": datasource {}",
                p["datasource"]
            );
            let mut exprs = Vec::new();
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(ds) = t.get("datasource") {
                    assert_eq!(
                        ds["uid"], DATASOURCE,
                        "panel \"{title}\": a query's datasource {ds}"
                    );
                }
                match t["expr"].as_str().map(str::trim) {
                    Some(e) if !e.is_empty() => exprs.push(e.to_string()),
                    _ => panic!("panel \"{title}\": a query without an expr: {t}"),
                }
            }
            assert!(!exprs.is_empty(), "panel \"{title}\" has no query");
            out.push(Panel { title, exprs });
        }
    }
    let mut out = Vec::new();
    collect(&read_dashboard()["panels"], &mut out);
    out
}

/// The metric names in a PromQL expression: identifiers `aura_[a-z0-9_]+` that no
/// identifier character precedes.
fn metric_names(expr: &str) -> Vec<&str> {
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    let bytes = expr.as_bytes();
    let mut names = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if expr[i..].starts_with("aura_") && (i == 0 || !ident(bytes[i - 1])) {
            let len = bytes[i..]
                .iter()
                .take_while(|&&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                .count();
            names.push(&expr[i..i + len]);
            i += len;
        } else {
            i += 1;
        }
    }
    names
}

/// Whether `scraped` has a sample of exactly `name`.
fn exported(scraped: &str, name: &str) -> bool {
    scraped.lines().any(|line| {
        line.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
    })
}

/// `panel "<title>": <name>` for each name a panel uses that `scraped` has no sample of.
fn missing(panels: &[Panel], scraped: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in panels {
        for name in p.exprs.iter().flat_map(|e| metric_names(e)) {
            let line = format!("panel \"{}\": {name}", p.title);
            if !exported(scraped, name) && !out.contains(&line) {
                out.push(line);
            }
        }
    }
    out
}

/// Polls `addr`'s `/metrics` until each of `want` has a sample.
fn metrics_with(addr: &str, whose: &str, want: &[&str]) -> String {
    let deadline = Instant::now() + SETTLE;
    loop {
        let metrics = common::http_get(addr, "/metrics");
        if want.iter().all(|w| exported(&metrics, w)) {
            return metrics;
        }
        assert!(
            Instant::now() < deadline,
            "{whose} metrics had no {want:?} within {SETTLE:?}:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The host's metrics as `aura-host dashboard` serves them, fed from the journal of a
/// smoke run (with one faulted scenario beside it) in a state dir of its own, and from
/// its own readiness checks of the services.
fn host_metrics() -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let state = dir.path().join("state");
    let faulted = dir.path().join("faulted.toml");
    std::fs::write(&faulted, FAULTED).expect("scenario");
    let (ran, _) = common::run_within(
        aura_with(&config)
            .env("AURA_STATE_DIR", &state)
            .args(["run", "-q", "--suite", "smoke", "--scenario"])
            .arg(&faulted),
        Duration::from_secs(240),
    );
    assert_eq!(ran.status.code(), Some(0), "{}", common::text(&ran));

    let mut cmd = aura_with(&config);
    cmd.env("AURA_STATE_DIR", &state);
    let (dashboard, addr) = common::standalone_dashboard(cmd);
    // The run's last record counted, and a readiness check of the services done.
    let metrics = metrics_with(
        &addr,
        "the dashboard's",
        &[
            "aura_host_runs_finished_total",
            "aura_host_faults_injected_total",
            "aura_host_service_up",
        ],
    );
    drop(dashboard);
    metrics
}

/// The target's metrics as `aura-host target serve` serves them, after one request it
/// decided (`target submit`) and one whose first step timed out on every attempt (a
/// 100 ms step timeout against a 200 ms pause before every step), so that its failed
/// steps are counted.
fn target_metrics() -> String {
    common::ensure_env();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "step_pause = \"200ms\"\n");
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let url = format!("http://{addr}");
    let _served = Killed(
        common::aura()
            .arg("--config")
            .arg(&config)
            .args(["target", "serve", "--listen", &addr])
            .args(["--run-id", &common::unique("grafana")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aura-host target serve"),
    );
    let deadline = Instant::now() + SETTLE;
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "target serve did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }

    let (submitted, _) = common::run_within(
        common::aura().args(["target", "submit", "--target", &url, "--team", "nlp"]),
        Duration::from_secs(90),
    );
    assert_eq!(
        submitted.status.code(),
        Some(0),
        "{}",
        common::text(&submitted)
    );

    let id = common::unique("grafana-timeout");
    let body = format!(
        "{{\"request_id\":\"{id}\",\"team\":\"nlp\",\"gpu_count\":1,\"memory_gb\":16,\
         \"priority\":5,\"duration_minutes\":30}}"
    );
    let answer = common::http_post(
        &addr,
        "/requests?step_timeouts_ms=validate_request:100",
        &[],
        &body,
    );
    let status = answer.split_whitespace().nth(1);
    assert_eq!(status, Some("202"), "{answer}");

    metrics_with(
        &addr,
        "the target's",
        &[
            "aura_target_decisions_total",
            "aura_target_council_inference_seconds_bucket",
            "aura_target_store_errors_total",
        ],
    )
}
