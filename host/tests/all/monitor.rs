//! `aura-host monitor` against the local target for 40 one-second cycles, with a
//! webhook receiver of the test's own: a step slowed on purpose (the fire drill, edited
//! into the monitor's file while it runs) raises one anomaly alert, which resolves
//! once the drill is taken out; a Redis killed for three cycles fires `service down`
//! once and resolves once after its restart, and so does a Temporal killed for 3 s;
//! every cycle is journaled, the metrics pass `promtool`, and the monitor's memory at
//! cycle 40 is about what it was at 5.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, Killed};
use crate::run::aura_with;

/// What a webhook receiver got: each message's body.
type Got = Arc<Mutex<Vec<Value>>>;

/// An Alertmanager-style webhook receiver on a free loopback port: its URL.
fn receiver() -> (String, Got) {
    let got: Got = Arc::default();
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let kept = kept.clone();
            async move {
                kept.lock().expect("lock").push(body);
                "ok"
            }
        }),
    );
    let addr = common::serve(app);
    (format!("http://{addr}/hook"), got)
}

/// `firing`/`resolved` of each message about `alert`, in order.
fn statuses(got: &Got, alert: &str) -> Vec<String> {
    got.lock()
        .expect("lock")
        .iter()
        .filter(|m| m["alerts"][0]["labels"]["alertname"] == alert)
        .filter_map(|m| m["status"].as_str().map(str::to_string))
        .collect()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[derive(Debug, PartialEq)]
enum Phase {
    WarmingUp,
    Drilled,
    Undrilled,
    RedisDown(u32),
    RedisBack,
    TemporalKilled,
    Quiet,
}

#[test]
fn the_monitor_alerts_once_per_fault_resolves_once_and_keeps_its_memory() {
    let _cpu = common::timed();
    let (hook, got) = receiver();
    let mut redis = common::PrivateRedis::start();
    // A Temporal of the test's own, which `env fault` kills and starts again.
    let temporal_url = format!("http://127.0.0.1:{}", common::free_port());
    let temporal =
        common::PrivateEnv::new(&format!("[services.temporal]\nurl = \"{temporal_url}\"\n"));
    let up = common::run(&mut temporal.cmd(&["env", "up", "temporal"]));
    assert_eq!(up.status.code(), Some(0), "{}", common::text(&up));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(
        dir.path(),
        &format!(
            "[services.redis]\nurl = \"{}\"\ntimeout = \"1s\"\n\
             [services.temporal]\nurl = \"{temporal_url}\"\ntimeout = \"2s\"\n",
            redis.url()
        ),
    );
    let file = dir.path().join("monitor.toml");
    let rules = format!(
        r#"interval = "1s"
cycle_deadline = "60s"

[anomaly]
warmup = 5
# Wide enough that a busy machine's jitter is not an anomaly; the drill's 1.5 s is.
min_latency = "400ms"
min_ratio = 1.0

[[rule]]
name = "slow-persist"
when = {{ kind = "anomaly", series = "step.persist_decision" }}
cycles = 2

[[rule]]
name = "redis-down"
when = {{ kind = "service_down", service = "redis" }}

[[rule]]
name = "temporal-down"
when = {{ kind = "service_down", service = "temporal" }}

[[notify]]
webhook = "{hook}"
"#
    );
    let drill = "\n[drill]\nstep = \"persist_decision\"\npause = \"1500ms\"\n";
    std::fs::write(&file, &rules).expect("write the monitor's file");
    let name = common::unique("mon");
    let mut monitor = Killed(
        aura_with(&config)
            .arg("monitor")
            .arg(&file)
            .args([
                "--cycles",
                "40",
                "--metrics",
                "127.0.0.1:0",
                "--name",
                &name,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("aura-host monitor"),
    );
    let pid = monitor.0.id();
    // Read as it comes, so the monitor never blocks on a full pipe.
    let mut errors = monitor.0.stderr.take().expect("stderr");
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut errors, &mut s);
        s
    });
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let out = BufReader::new(monitor.0.stdout.take().expect("stdout"));
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let deadline = Instant::now() + Duration::from_secs(600);
    let mut seen = Vec::new();
    let (mut metrics, mut scraped, mut late) = (None, None, None);
    let mut faulted = None;
    let (mut rss5, mut rss40) = (0, 0);
    let mut phase = Phase::WarmingUp;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(_) => break,
        };
        seen.push(line.clone());
        if let Some(addr) = line.strip_prefix("metrics: http://") {
            metrics = addr.split('/').next().map(str::to_string);
            continue;
        }
        let Some(cycle) = line
            .strip_prefix("cycle ")
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        match cycle {
            5 => rss5 = rss_kib(pid),
            40 => rss40 = rss_kib(pid),
            _ => {}
        }
        if cycle == 10
            && let Some(addr) = &metrics
        {
            scraped = Some(common::http_get(addr, "/metrics"));
        }
        phase = match phase {
            // Past the warm-up and two judged cycles: the drill goes in.
            Phase::WarmingUp if cycle >= 7 => {
                std::fs::write(&file, format!("{rules}{drill}")).expect("write the drill");
                Phase::Drilled
            }
            Phase::Drilled if statuses(&got, "slow-persist") == ["firing"] => {
                std::fs::write(&file, &rules).expect("take the drill out");
                Phase::Undrilled
            }
            Phase::Undrilled if statuses(&got, "slow-persist").len() == 2 => {
                redis.kill();
                Phase::RedisDown(0)
            }
            Phase::RedisDown(n) if line.contains("down: redis") => {
                if n + 1 == 3 {
                    redis.restart();
                    Phase::RedisBack
                } else {
                    Phase::RedisDown(n + 1)
                }
            }
            Phase::RedisBack if statuses(&got, "redis-down").len() == 2 => {
                // Killed for 3 s, then started again: the fault runs beside the cycles.
                let mut kill = temporal.cmd(&["env", "fault", "kill", "temporal", "--for", "3s"]);
                faulted = Some(std::thread::spawn(move || common::run(&mut kill)));
                Phase::TemporalKilled
            }
            Phase::TemporalKilled if statuses(&got, "temporal-down").len() == 2 => {
                late = metrics
                    .as_ref()
                    .map(|addr| common::http_get(addr, "/metrics"));
                Phase::Quiet
            }
            p => p,
        };
    }
    // Past the deadline a monitor still running is stopped, and fails the test below.
    if matches!(monitor.0.try_wait(), Ok(None)) && Instant::now() >= deadline {
        let _ = monitor.0.kill();
    }
    let status = monitor.0.wait().expect("the monitor ends");
    let said = format!(
        "{}\n--- stderr\n{}",
        seen.join("\n"),
        errors.join().unwrap_or_default()
    );
    assert_eq!(phase, Phase::Quiet, "every phase was reached:\n{said}");
    assert_eq!(
        status.code(),
        Some(0),
        "no alert firing at the end:\n{said}"
    );
    assert!(
        said.contains("monitor: stopped after 40 cycle(s)"),
        "{said}"
    );
    let fault = faulted.expect("temporal killed").join().expect("env fault");
    assert_eq!(fault.status.code(), Some(0), "{}", common::text(&fault));

    // Each alert fired once and resolved once, in Alertmanager's format.
    assert_eq!(
        statuses(&got, "slow-persist"),
        ["firing", "resolved"],
        "{said}"
    );
    assert_eq!(
        statuses(&got, "redis-down"),
        ["firing", "resolved"],
        "{said}"
    );
    assert_eq!(
        statuses(&got, "temporal-down"),
        ["firing", "resolved"],
        "{said}"
    );
    let messages = got.lock().expect("lock").clone();
    let fired = messages
        .iter()
        .find(|m| m["status"] == "firing" && m["groupLabels"]["alertname"] == "slow-persist")
        .expect("the anomaly alert");
    assert_eq!(fired["version"], "4");
    let alert = &fired["alerts"][0];
    assert_eq!(alert["labels"]["series"], "step.persist_decision");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("outside its baseline")),
        "{fired}"
    );
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");

    // One journal record per cycle, the anomalies among them.
    let journal = common::shared_state_dir().join("monitor").join(&name);
    let records: Vec<Value> = std::fs::read_to_string(journal.join("cycles.jsonl"))
        .expect("the journal")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let cycles: Vec<u64> = records.iter().filter_map(|r| r["cycle"].as_u64()).collect();
    assert_eq!(cycles, (1..=40).collect::<Vec<_>>());
    assert!(
        records.iter().any(|r| r["anomalies"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["series"] == "step.persist_decision"))),
        "an anomaly journaled"
    );
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(journal.join("summary.json")).expect("the summary"),
    )
    .expect("json");
    assert_eq!(summary["cycles"], 40);
    assert_eq!(summary["alerts_fired"], 3);
    assert_eq!(summary["alerts_resolved"], 3);

    let scraped = scraped.expect("metrics scraped at cycle 10");
    assert!(
        scraped.contains("aura_host_monitor_cycles_total{outcome=\"passed\"}"),
        "{scraped}"
    );
    assert!(
        scraped.contains("aura_host_runs_started_total"),
        "{scraped}"
    );
    common::promtool_check("the monitor's", &scraped);
    // After every kind of cycle (anomalies, alerts, outages), the families the
    // Prometheus rules use are all there.
    the_rules_name_only(&late.expect("metrics scraped after the outage"));

    // Flat memory: cycle 40 within a quarter (and 16 MiB) of cycle 5.
    assert!(rss5 > 0 && rss40 > 0, "RSS read: {rss5} {rss40}");
    assert!(
        rss40 <= rss5 + rss5 / 4 + 16 * 1024,
        "RSS grew from {rss5} KiB at cycle 5 to {rss40} KiB at cycle 40"
    );
    eprintln!("monitor RSS: {rss5} KiB at cycle 5, {rss40} KiB at cycle 40");
}

/// `docs/compose/alerts.yml`, the monitor's conditions as Prometheus rules, passes
/// `promtool check rules` and `check config` (the scrape configuration loads it); the
/// monitor test checks that the metrics it names are exported.
#[test]
fn the_alerting_rules_pass_promtool_and_name_the_hosts_metrics() {
    let root = common::workspace_root();
    let promtool = common::debian("prometheus", "/usr/bin/promtool");
    for args in [
        ["check", "rules", "docs/compose/alerts.yml"],
        ["check", "config", "docs/compose/prometheus.yml"],
    ] {
        let out = common::run(
            std::process::Command::new(&promtool)
                .args(args)
                .current_dir(&root),
        );
        assert!(out.status.success(), "{args:?}: {}", common::text(&out));
    }
}

/// Every `aura_host_` metric `docs/compose/alerts.yml` names is a family in `scraped`.
fn the_rules_name_only(scraped: &str) {
    let rules = std::fs::read_to_string(common::workspace_root().join("docs/compose/alerts.yml"))
        .expect("rules");
    let mut named = 0;
    for word in rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if !word.starts_with("aura_host_") {
            continue;
        }
        named += 1;
        // A counter's family is typed with its `_total`, a histogram's without the
        // suffix of its samples.
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| word.strip_suffix(s))
            .unwrap_or(word);
        assert!(
            scraped.contains(&format!("# TYPE {family} ")),
            "{word} of docs/compose/alerts.yml is not exported:\n{scraped}"
        );
    }
    assert!(named >= 6, "the rules name the host's metrics");
}

/// Ctrl-C (SIGINT) stops the monitor: at once between cycles, or once the cycle in
/// flight has ended; it says how many cycles it judged and exits 0.
#[test]
fn ctrl_c_stops_the_monitor_with_its_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let mut monitor = Killed(
        aura_with(&config)
            .args([
                "monitor",
                "--interval",
                "1s",
                "--name",
                &common::unique("int"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("aura-host monitor"),
    );
    let out = BufReader::new(monitor.0.stdout.take().expect("stdout"));
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut seen = String::new();
    let mut interrupted = false;
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        seen.push_str(&line);
        seen.push('\n');
        if !interrupted && line.starts_with("cycle 2 ") {
            let pid = nix::unistd::Pid::from_raw(monitor.0.id() as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
            interrupted = true;
        }
    }
    assert!(interrupted, "no second cycle:\n{seen}");
    if matches!(monitor.0.try_wait(), Ok(None)) {
        let _ = monitor.0.kill();
    }
    let status = monitor.0.wait().expect("the monitor ends");
    assert_eq!(status.code(), Some(0), "{seen}");
    assert!(seen.contains("monitor: stopped after "), "{seen}");
}
