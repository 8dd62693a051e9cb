//! Watching a run: the live dashboard in a real browser (Debian's Chromium driven by
//! Playwright) shows a scenario's steps while the run is still going; the host's
//! metrics, served during the run, pass `promtool check metrics`; `aura-host dashboard`
//! follows a run another process made.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, Killed};
use crate::run::aura_with;

/// Starts the browser, says `ready` and reads the dashboard's URL from stdin (a browser
/// launch on a busy machine can outlast the run); opens the dashboard, waits for a step
/// of `scenario` to appear and reads the page's run status at that moment; then waits
/// for the run's end and reads the page again.
const WATCH: &str = r##"
import json, sys
from playwright.sync_api import sync_playwright
scenario, shot, browser = sys.argv[1:4]
with sync_playwright() as p:
    b = p.chromium.launch(executable_path=browser, args=["--no-sandbox"])
    page = b.new_page(viewport={"width": 1280, "height": 800})
    print("ready", flush=True)
    url = sys.stdin.readline().strip()
    asked = []
    page.on("request", lambda r: asked.append(r.url))
    page.goto(url)
    step = f"[data-scenario='{scenario}'] [data-step]"
    page.wait_for_selector(step, timeout=120000)
    seen = page.evaluate("""(step) => ({
        state: document.querySelector('#run-status').dataset.state,
        steps: [...document.querySelectorAll(step)].map(s => s.dataset.step)})""", step)
    page.wait_for_selector("#run-status[data-state='finished'], #run-status[data-state='failed']",
                           timeout=180000)
    page.wait_for_selector("#services tr[data-service]", timeout=30000)
    end = page.evaluate("""(scenario) => ({
        state: document.querySelector('#run-status').dataset.state,
        status: document.querySelector(`[data-scenario='${scenario}']`).dataset.status,
        requests: document.querySelectorAll(`[data-scenario='${scenario}'] [data-request]`).length,
        steps: [...new Set([...document.querySelectorAll('[data-step]')].map(s => s.dataset.step))],
        services: [...document.querySelectorAll('#services tr[data-service]')]
            .map(r => [r.dataset.service, r.dataset.status]),
        validators: [...document.querySelectorAll('.validator')].map(v => v.dataset.validator)})""",
        scenario)
    page.screenshot(path=shot, full_page=False)
    b.close()
print(json.dumps({"seen": seen, "end": end, "asked": asked}))
"##;

#[test]
fn the_live_dashboard_shows_a_scenarios_steps_before_the_run_ends() {
    let _cpu = common::timed();
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = crate::load::scenario(
        dir.path(),
        "dashboard-live",
        "2m",
        "[load]\nmodel = \"open\"\nstages = [{ rate = 4, duration = \"20s\" }]\n\
         [load.template]\nteam = [\"nlp\", \"vision\"]\n",
    );
    let config = common::queue_config(dir.path(), "");
    let shot = dir.path().join("dashboard.png");
    let mut watcher = Command::new("python3")
        .args(["-c", WATCH])
        .arg("dashboard-live")
        .arg(&shot)
        .arg(common::chromium())
        .env("PYTHONPATH", common::playwright())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut watched = BufReader::new(watcher.stdout.take().expect("stdout"));
    let mut ready = String::new();
    let _ = watched.read_line(&mut ready);
    if ready.trim() != "ready" {
        let out = watcher.wait_with_output().expect("python3");
        panic!(
            "the browser did not start:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut run = Killed(
        aura_with(&config)
            .args(["run", "-q", "--dashboard", "127.0.0.1:0", "--metrics"])
            .arg("127.0.0.1:0")
            .arg("--scenario")
            .arg(&scenario)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("aura-host run"),
    );
    let mut out = BufReader::new(run.0.stdout.take().expect("stdout"));
    let lines = common::announced(&mut out, &["dashboard:", "metrics:"]);
    let (dashboard, metrics) = (
        common::announced_address(&lines, "dashboard:"),
        common::announced_address(&lines, "metrics:"),
    );
    // The rest of the output, read as it comes so the run never blocks on a full pipe.
    let rest = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });

    writeln!(watcher.stdin.take().expect("stdin"), "http://{dashboard}/").expect("the URL");

    // While the run goes: the host's metrics have the steps of decided requests.
    let deadline = Instant::now() + Duration::from_secs(120);
    let scraped = loop {
        // A run that ended early took its servers with it: say how it ended.
        if let Ok(Some(status)) = run.0.try_wait() {
            let said = rest.join().unwrap_or_default();
            panic!("the run ended ({status}) before its steps showed in the metrics:\n{said}");
        }
        let text = common::http_get(&metrics, "/metrics");
        if text.contains("aura_host_step_duration_seconds_count{step=\"publish_decision\"") {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no step latency in the metrics:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    common::promtool_check("the host's", &scraped);
    for family in [
        "aura_host_runs_started_total 1",
        "aura_host_requests_total{suite=",
        "aura_host_service_up{service=\"redis\"} 1",
    ] {
        assert!(scraped.contains(family), "{family} missing:\n{scraped}");
    }

    let mut said = String::new();
    let _ = watched.read_to_string(&mut said);
    let page = watcher.wait_with_output().expect("python3");
    assert!(
        page.status.success(),
        "{}",
        String::from_utf8_lossy(&page.stderr)
    );
    let page: Value = serde_json::from_str(&said).expect("json");
    assert_eq!(
        page["seen"]["state"], "running",
        "steps were on the page while the run went on: {page}"
    );
    assert!(
        !page["seen"]["steps"].as_array().expect("steps").is_empty(),
        "{page}"
    );
    let end = &page["end"];
    assert_eq!(end["state"], "finished", "{page}");
    assert_eq!(end["status"], "passed", "{page}");
    assert!(end["requests"].as_u64().unwrap_or(0) >= 70, "{page}");
    let steps: Vec<&str> = end["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for step in aura_contract::Step::names() {
        assert!(steps.contains(&step), "{step} not on the page: {steps:?}");
    }
    let services = end["services"].as_array().expect("services");
    assert_eq!(services.len(), 4, "{page}");
    assert!(
        services.iter().all(|s| s[1] == "ready"),
        "every service ready: {page}"
    );
    assert!(
        end["validators"]
            .as_array()
            .is_some_and(|v| v.iter().any(|v| v == "decision_persistence")),
        "{page}"
    );
    let own = format!("http://{dashboard}/");
    let asked: Vec<&str> = page["asked"]
        .as_array()
        .expect("asked")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        asked.iter().all(|u| u.starts_with(&own)),
        "the page asked another server: {asked:?}"
    );
    let status = run.0.wait().expect("run");
    let rest = rest.join().unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{rest}");
    assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 0));
    // Kept for the README's picture of the dashboard.
    let kept = common::workspace_root().join("target/screenshots");
    let _ = std::fs::create_dir_all(&kept);
    let _ = std::fs::copy(&shot, kept.join("dashboard.png"));
}

/// `aura-host dashboard` follows the newest run of its state dir, made by another
/// process: the page's events carry that run's records and the report's verdicts.
#[test]
fn the_standalone_dashboard_follows_another_process_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let state = dir.path().join("state");
    let ran = common::run(
        aura_with(&config)
            .env("AURA_STATE_DIR", &state)
            .args(["run", "-q", "--suite", "smoke"]),
    );
    assert_eq!(ran.status.code(), Some(0), "{}", common::text(&ran));
    let mut cmd = aura_with(&config);
    cmd.env("AURA_STATE_DIR", &state);
    let (_dashboard, addr) = common::standalone_dashboard(cmd);
    let events = events_until(&addr, "data: {\"status\":");
    assert!(
        events.contains("event: run\ndata: {\"run_id\":"),
        "{events}"
    );
    for kind in ["run_started", "request_finished", "run_finished"] {
        assert!(
            events.contains(&format!("\"kind\":\"{kind}\"")),
            "{kind}: {events}"
        );
    }
    let settled: Value = events
        .split("event: scenario\ndata: ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .and_then(|line| serde_json::from_str(line).ok())
        .expect("a scenario event");
    assert_eq!(settled["scenario"], "smoke-single-approval", "{events}");
    assert_eq!(settled["status"], "passed", "{events}");
    // The system state the report compares: the scenario wrote its decision's nodes.
    assert!(
        settled["state"]
            .as_str()
            .is_some_and(|s| s.contains("graph nodes 0 → ")),
        "{events}"
    );
    assert!(
        events.contains("event: verdict\ndata: {\"status\":\"passed\"}"),
        "{events}"
    );
    // The metrics follow the journal on their own clock: poll until the scenario is in.
    let counted = "aura_host_scenarios_total{suite=\"smoke\",status=\"passed\"} 1";
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let metrics = common::http_get(&addr, "/metrics");
        if metrics.contains(counted) {
            break metrics;
        }
        assert!(
            Instant::now() < deadline,
            "the journal fed the metrics: {metrics}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    common::promtool_check("the dashboard's", &metrics);
}

/// The server-sent events of `/events` until one line contains `until`.
fn events_until(addr: &str, until: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(stream, "GET /events HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("request");
    let mut seen = String::new();
    for line in BufReader::new(stream).lines() {
        let line = line.expect("an event within 30 s");
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(until) {
            return seen;
        }
    }
    panic!("the stream ended before {until}: {seen}");
}

/// `env up --prometheus`: a real Prometheus (Debian's) scrapes the host's metrics during
/// a run and the target's, and has the run's step latencies afterwards.
#[test]
fn the_local_prometheus_scrapes_the_host_and_the_target() {
    let _cpu = common::timed();
    common::debian("prometheus", "/usr/bin/prometheus");
    let (host, target) = (
        format!("127.0.0.1:{}", common::free_port()),
        format!("127.0.0.1:{}", common::free_port()),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let up = common::run(aura_with(&config).args([
        "env",
        "up",
        "--prometheus",
        "--scrape-host",
        &host,
        "--scrape-target",
        &target,
    ]));
    assert_eq!(up.status.code(), Some(0), "{}", common::text(&up));
    let said = common::text(&up);
    let prometheus = said
        .lines()
        .find_map(|l| l.strip_prefix("prometheus: http://"))
        .and_then(|l| l.split_whitespace().next())
        .expect("where prometheus listens")
        .to_string();
    let _serving = Killed(
        aura_with(&config)
            .args(["target", "serve", "--listen", &target])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("target serve"),
    );
    let scenario = crate::load::scenario(
        dir.path(),
        "prometheus-scraped",
        "2m",
        "[load]\nmodel = \"open\"\nstages = [{ rate = 2, duration = \"20s\" }]\n\
         [load.template]\nteam = [\"nlp\"]\n",
    );
    let mut run = Killed(
        aura_with(&config)
            .args(["run", "-q", "--metrics", &host, "--scenario"])
            .arg(&scenario)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aura-host run"),
    );
    // While the run goes, both jobs are up at the addresses given.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let targets: Value =
            serde_json::from_str(&common::http_get(&prometheus, "/api/v1/targets"))
                .expect("targets json");
        let up = |job: &str, addr: &str| {
            targets["data"]["activeTargets"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| {
                    t["labels"]["job"] == job
                        && t["health"] == "up"
                        && t["scrapeUrl"].as_str().is_some_and(|u| u.contains(addr))
                })
        };
        if up("aura-host", &host) && up("aura-target", &target) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the host and the target are not both up: {targets}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(run.0.wait().expect("run").code(), Some(0));
    let query = "/api/v1/query?query=last_over_time(aura_host_step_duration_seconds_count\
                 %7Bstep%3D%22persist_decision%22%7D%5B10m%5D)";
    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        let answer: Value =
            serde_json::from_str(&common::http_get(&prometheus, query)).expect("query json");
        if answer["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
        {
            break answer;
        }
        assert!(Instant::now() < deadline, "no step latency: {answer}");
        std::thread::sleep(Duration::from_millis(500));
    };
    let count: f64 = answer["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("a count");
    assert!(count >= 1.0, "{answer}");
}
