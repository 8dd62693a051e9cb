//! A validator that misbehaves on purpose, for the host's sandbox tests only (never
//! shipped). A plugin is untrusted code: the host must survive one that loops, hoards
//! memory, overflows its stack, panics, floods its result, reaches for the file system,
//! the network or the environment, or calls outside its grants. The manifest's
//! `[config]` picks the misbehaviour:
//!
//! ```toml
//! mode = "cache-write"   # see `validate` for the modes
//! key = "secret:other-team"                        # for "key-outside-prefix"
//! topic = "aura.other-run.gpu.allocation.decided"  # for "topic-outside-allow-list"
//! ```
//!
//! The modes that return record what the host did in a check (`passed` when the host
//! refused as it should, `actual` = what happened), so that tests can assert on it.

use std::hint::black_box;

use aura_sdk::validator::Guest;
use aura_sdk::{
    Check, HostError, PluginError, RunContext, ValidationResult, cache, events, export_validator,
    gpu,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Config {
    mode: String,
    key: Option<String>,
    topic: Option<String>,
    /// For "graph-query": the Cypher to run.
    query: Option<String>,
    /// For "many-checks": how many.
    count: Option<usize>,
    /// For "describe-workflow": the workflow id to ask about.
    workflow: Option<String>,
}

/// What a plugin forging the host's output would print: a summary line and a verdict.
const FORGED: &str = "\n    PASS validator forged · 99/99 checks\nverdict: PASSED\x1b[2K";

const MIB: usize = 1 << 20;

fn one(check: Check) -> Result<ValidationResult, PluginError> {
    Ok(ValidationResult {
        checks: vec![check],
    })
}

/// A check that passes when a host call was denied; `actual` says what the host did.
fn expect_denied<T>(name: &str, result: Result<T, HostError>, allowed: &str) -> Check {
    let passed = matches!(result, Err(HostError::Denied(_)));
    let actual = match &result {
        Ok(_) => allowed.to_string(),
        Err(e) => e.reason(),
    };
    Check::expect(
        name,
        passed,
        "denied",
        actual,
        "the host let the call through",
    )
}

fn infinite_loop() -> ! {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

fn memory_bomb() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; MIB];
        // Touch every page so the memory is really used.
        chunk.iter_mut().step_by(4096).for_each(|b| *b = 1);
        hoard.push(black_box(chunk));
        black_box(&hoard);
    }
}

/// Unbounded, and not a tail call: the frame's array is used after the call returns.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 64]);
    // Never true; it only keeps the compiler from proving the recursion endless.
    if black_box(depth) == u64::MAX {
        return 0;
    }
    let below = recurse(black_box(depth + 1));
    black_box(frame[(below % 64) as usize]).wrapping_add(below)
}

fn open_file() -> Check {
    let file = std::fs::read("/etc/passwd");
    let dir = std::fs::read_dir("/");
    let passed = file.is_err() && dir.is_err();
    let file = match file {
        Ok(bytes) => format!("read {} bytes", bytes.len()),
        Err(e) => e.to_string(),
    };
    let dir = match dir {
        Ok(entries) => format!("listed {} entries", entries.count()),
        Err(e) => e.to_string(),
    };
    Check::expect(
        "file access refused",
        passed,
        "no file system",
        format!("/etc/passwd: {file}; /: {dir}"),
        "the plugin could reach the host's file system",
    )
}

fn open_socket() -> Check {
    let tcp = std::net::TcpStream::connect("127.0.0.1:6379");
    let udp = std::net::UdpSocket::bind("0.0.0.0:0");
    let passed = tcp.is_err() && udp.is_err();
    let tcp = match tcp {
        Ok(_) => "connected".to_string(),
        Err(e) => e.to_string(),
    };
    let udp = match udp {
        Ok(_) => "bound".to_string(),
        Err(e) => e.to_string(),
    };
    Check::expect(
        "socket refused",
        passed,
        "no network",
        format!("tcp 127.0.0.1:6379: {tcp}; udp bind: {udp}"),
        "the plugin could open a socket",
    )
}

fn read_env() -> Check {
    // Names and counts only: never copy the host's values into a result.
    let count = std::env::vars_os().count();
    let home = if std::env::var_os("HOME").is_some() {
        "set"
    } else {
        "unset"
    };
    Check::expect(
        "environment empty",
        count == 0,
        "0 variables",
        format!("{count} variables, HOME {home}"),
        "the plugin could see environment variables",
    )
}

/// Host calls that return at once, forever: wasm never waits, so only the host's
/// scheduling lets a neighbour on the same thread run.
fn log_flood() -> ! {
    loop {
        aura_sdk::log(
            aura_sdk::Level::Info,
            &format!("flood{FORGED} aura_host: FORGED line"),
        );
    }
}

fn denied_flood() -> ! {
    let key = format!("{}{FORGED}", "k".repeat(2048));
    loop {
        let _ = black_box(cache::get(&key));
        let _ = black_box(events::read(&format!("x{FORGED}"), None, 1, 0));
    }
}

/// A neighbour that is not hostile: a little work and a few host calls that really
/// wait (the GPU inventory runs on a blocking thread), then a pass.
fn neighbour() -> Check {
    let mut sum = 0u64;
    for round in 0..20u64 {
        let devices = gpu::inventory().map(|d| d.len()).unwrap_or(0) as u64;
        for i in 0..20_000u64 {
            sum = black_box(sum.wrapping_add(i ^ round ^ devices));
        }
    }
    Check::expect("neighbour", true, "done", sum, "")
}

fn graph_query(query: &str) -> Check {
    let (passed, actual) = match aura_sdk::graph::query(query, &[]) {
        Ok(set) => (false, format!("{} rows", set.rows.len())),
        Err(e) => (true, format!("{e:?}")),
    };
    Check::expect(
        "graph query refused",
        passed,
        "an error",
        actual,
        "the query was answered",
    )
}

struct Hostile;

impl Guest for Hostile {
    fn validate(ctx: RunContext) -> Result<ValidationResult, PluginError> {
        let config: Config = ctx.config()?;
        match config.mode.as_str() {
            "well-behaved" => one(Check::expect_eq("well-behaved", "ok", "ok")),
            // A failing check made of markup: a report must show it as text, never run
            // it or load what it names.
            "markup" => one(Check::expect_eq(
                "<script>document.title='owned'</script>markup",
                "<b>expected</b> <img src=\"http://192.0.2.1/x.png\">",
                "<i>actual</i> <link rel=\"stylesheet\" href=\"http://192.0.2.1/x.css\">",
            )),
            // Fails a run and passes its reruns (`run --rerun-failed`, `<run>-rerun-<k>`):
            // a validator as flaky as they come.
            "pass-on-rerun" => one(Check::expect_eq(
                "an attempt after the first",
                true,
                ctx.run_id.contains("-rerun-"),
            )),
            "infinite-loop" => infinite_loop(),
            "count-calls" => {
                // A global survives only if the host reuses an instance between calls.
                static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let seen = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                one(Check::expect_eq("calls this instance has seen", 1, seen))
            }
            "memory-bomb" => memory_bomb(),
            "recursion" => {
                let depth = recurse(0);
                one(Check::expect(
                    "recursion",
                    false,
                    "the host stops the plugin",
                    depth,
                    "unbounded recursion returned",
                ))
            }
            "panic" => panic!("hostile plugin panicked on purpose"),
            "oversized-result" => one(Check::expect(
                "oversized-result",
                true,
                "the host refuses the result",
                "x".repeat(16 * MIB),
                "",
            )),
            "open-file" => one(open_file()),
            "open-socket" => one(open_socket()),
            "read-env" => one(read_env()),
            "cache-write" => one(expect_denied(
                "cache write denied",
                cache::set(&ctx.key("hostile"), "x", None),
                "written",
            )),
            // One granted item and one not in each batch: the whole call is denied,
            // naming the one outside.
            "batch-outside-grant" => {
                let request = ctx.request_ids.first().cloned().unwrap_or_default();
                let keys = [ctx.key("decision:x"), "secret:other-team".to_string()];
                let ids = [
                    aura_sdk::contract::names::workflow_id(&ctx.run_id, &request),
                    "aura-other-run-req-1".to_string(),
                ];
                Ok(ValidationResult {
                    checks: vec![
                        expect_denied("batched keys denied", cache::get_many(&keys), "read"),
                        expect_denied(
                            "batched workflows denied",
                            aura_sdk::workflow::describe_many(&ids),
                            "described",
                        ),
                    ],
                })
            }
            "key-outside-prefix" => {
                let key = config.key.as_deref().unwrap_or("secret:other-team");
                one(expect_denied(
                    "key outside prefix denied",
                    cache::get(key),
                    "read",
                ))
            }
            "topic-outside-allow-list" => {
                let topic = config
                    .topic
                    .as_deref()
                    .unwrap_or("aura.other-run.gpu.allocation.decided");
                one(expect_denied(
                    "topic denied",
                    events::read(topic, None, 1, 100),
                    "read",
                ))
            }
            "slow-host-call" => {
                // Asks the host to wait 10 minutes; its deadline should cut the call.
                let actual = match events::read(&ctx.topic("never-published"), None, 1000, 600_000)
                {
                    Ok(events) => format!("{} events", events.len()),
                    Err(e) => e.reason(),
                };
                one(Check::expect(
                    "slow-host-call",
                    true,
                    "the call ends at the plugin's deadline",
                    actual,
                    "",
                ))
            }
            "neighbour" => one(neighbour()),
            "write-flood" => {
                // Granted writes of 1 MiB each, until the host says no.
                let value = "w".repeat(MIB);
                let mut written = 0;
                let stopped = loop {
                    match cache::set(&ctx.key(&format!("flood-{written}")), &value, Some(60)) {
                        Ok(()) => written += 1,
                        Err(e) => break e.reason(),
                    }
                };
                one(Check::expect(
                    "writes bounded",
                    stopped.contains("max-host-bytes"),
                    "refused past max-host-bytes",
                    format!("{written} written, then: {stopped}"),
                    "",
                ))
            }
            // Blocks in WASI (a clock poll), where no epoch tick can interrupt it.
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(600));
                one(Check::expect("sleep", false, "cut off", "woke up", ""))
            }
            "log-flood" => log_flood(),
            "denied-flood" => denied_flood(),
            "graph-query" => one(graph_query(config.query.as_deref().unwrap_or("RETURN 1"))),
            "many-checks" => Ok(ValidationResult {
                checks: (0..config.count.unwrap_or(1_000_000))
                    .map(|_| Check {
                        name: String::new(),
                        passed: true,
                        expected: String::new(),
                        actual: String::new(),
                        message: String::new(),
                    })
                    .collect(),
            }),
            "huge-error" => Err(PluginError::Internal(format!(
                "{FORGED}{}",
                "e".repeat(20 * MIB)
            ))),
            "forged-check" => one(Check::expect(
                &format!("ok{FORGED}"),
                false,
                &format!("\x1b[32mPASS{FORGED}"),
                FORGED,
                FORGED,
            )),
            "describe-workflow" => {
                let id = config.workflow.as_deref().unwrap_or("aura-other-run-req-1");
                one(expect_denied(
                    "other run's workflow denied",
                    aura_sdk::workflow::describe(id),
                    "described",
                ))
            }
            "gpu-inventory" => {
                // Not hostile: reports what the `gpu` interface gave, granted or not.
                let (passed, actual) = match gpu::inventory() {
                    Ok(devices) => (
                        !devices.is_empty(),
                        format!(
                            "{} device(s) from {}",
                            devices.len(),
                            devices.first().map_or("nowhere", |d| d.source.as_str())
                        ),
                    ),
                    Err(e) => (false, e.reason()),
                };
                one(Check::expect(
                    "gpu inventory",
                    passed,
                    "devices",
                    actual,
                    "none",
                ))
            }
            other => Err(PluginError::Config(format!(
                "unknown mode {other:?}; expected one of well-behaved, infinite-loop, \
                 memory-bomb, recursion, panic, oversized-result, open-file, open-socket, \
                 read-env, cache-write, key-outside-prefix, topic-outside-allow-list, \
                 slow-host-call, gpu-inventory, neighbour, log-flood, denied-flood, \
                 graph-query, many-checks, huge-error, forged-check, describe-workflow, sleep, \
                 write-flood, markup, pass-on-rerun"
            ))),
        }
    }
}

export_validator!(Hostile);
