//! `aura-host plugin test PLUGIN --replay FILE`: a plugin run against a recording (`run
//! --record DIR`), its host calls answered from the file, with no service running; the
//! result shown beside the recorded one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, ValueEnum};

use super::{CliError, ExitCode};
use crate::config::AuraConfig;
use aura_runtime::bindings::Check;
use aura_runtime::tape::{CallOutput, OnMiss, Recording};
use aura_runtime::{CallFailure, Plugin, PluginSpec, Replayed};
use aura_services::ServiceHub;

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The component (`.wasm`), or the name of a shipped plugin.
    plugin: String,
    /// A recording of this plugin's call (`<record-dir>/<run>/<scenario>/<plugin>.jsonl`);
    /// repeat for several.
    #[arg(long = "replay", value_name = "FILE", required = true)]
    replays: Vec<PathBuf>,
    /// A host call the recording does not have: `fail` answers it `unavailable` and fails
    /// the test; `passthrough` makes the real call (the environment must be up).
    #[arg(long, value_enum, default_value_t = Miss::Fail)]
    on_miss: Miss,
    /// Print a JSON object per recording instead of the table: `file`, `passed`,
    /// `same` (as recorded), `recorded`, `replayed`, `misses`, `unused`.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Miss {
    Fail,
    Passthrough,
}

pub async fn test(
    config: &AuraConfig,
    hub: Arc<ServiceHub>,
    args: &TestArgs,
) -> Result<ExitCode, CliError> {
    let path = crate::orchestrator::plugins::locate(&config.run.plugins_dir, &args.plugin)
        .map_err(|e| CliError::caused(ExitCode::BadInput, &e))?;
    let runtime = super::plugin::runtime(config, hub)?;
    let plugin = runtime.load(PluginSpec::from_path(&path))?;
    let on_miss = match args.on_miss {
        Miss::Fail => OnMiss::Fail,
        Miss::Passthrough => OnMiss::Passthrough,
    };
    let mut code = ExitCode::Ok;
    for file in &args.replays {
        let bad = |e: &dyn std::error::Error| CliError::caused(ExitCode::BadInput, e);
        let recording = Recording::read(file).map_err(|e| bad(&e))?;
        let replayed = runtime
            .replay(&plugin, file, &recording, on_miss)
            .await
            .map_err(|e| bad(&e))?;
        let passed = if args.json {
            json(file, &recording, &replayed, on_miss)
        } else {
            show(&plugin, file, &recording, &replayed, on_miss)
        };
        if !passed {
            code = ExitCode::Failed;
        }
    }
    Ok(code)
}

/// Whether a replay passed: a validation whose checks all pass, or another kind's
/// answer; and nothing asked for that the recording lacks (unless passed through).
fn passed(replayed: &Replayed, on_miss: OnMiss) -> bool {
    let answered = match &replayed.invocation.outcome {
        Ok(CallOutput::Validation(v)) => !v.checks.is_empty() && v.checks.iter().all(|c| c.passed),
        other => other.is_ok(),
    };
    answered && (replayed.misses.is_empty() || on_miss == OnMiss::Passthrough)
}

fn json(file: &Path, recording: &Recording, replayed: &Replayed, on_miss: OnMiss) -> bool {
    let ok = passed(replayed, on_miss);
    let value = serde_json::json!({
        "file": file,
        "passed": ok,
        "same": recording.result == replayed.invocation.outcome,
        "recorded": recording.result,
        "replayed": replayed.invocation.outcome,
        "misses": replayed.misses,
        "unused": replayed.unused,
    });
    out!("{value}");
    ok
}

/// Prints the replay beside the recording; whether it passed.
fn show(
    plugin: &Plugin,
    file: &Path,
    recording: &Recording,
    replayed: &Replayed,
    on_miss: OnMiss,
) -> bool {
    out!("{} against {}", plugin.identity(), file.display());
    if recording.identity.digest != plugin.digest {
        out!("  recorded from a different build: {}", recording.identity);
    }
    let now = &replayed.invocation.outcome;
    match (&recording.result, now) {
        (Ok(CallOutput::Validation(before)), Ok(CallOutput::Validation(after))) => {
            checks(&before.checks, &after.checks)
        }
        (before, after) => {
            out!("  recorded  {}", outcome(before));
            out!("  replayed  {}", outcome(after));
        }
    }
    let missed = replayed.misses.len();
    out!(
        "  host calls: {} recorded, {missed} not in the recording, {} recorded but not asked for",
        recording.calls.len(),
        replayed.unused
    );
    // The same call asked again and again (a validator polling) is said once, counted.
    let mut seen: Vec<(&String, usize)> = Vec::new();
    for miss in &replayed.misses {
        match seen.iter_mut().find(|(m, _)| *m == miss) {
            Some((_, n)) => *n += 1,
            None => seen.push((miss, 1)),
        }
    }
    for (miss, n) in seen {
        let times = if n > 1 {
            format!(" ({n} times)")
        } else {
            String::new()
        };
        out!("    missing: {miss}{times}");
    }
    let ok = passed(replayed, on_miss);
    let same = recording.result == *now;
    out!(
        "  {} ({})",
        if ok { "PASS" } else { "FAIL" },
        if same {
            "the same result as recorded"
        } else {
            "differs from the recording"
        }
    );
    ok
}

/// The checks side by side, by name.
fn checks(before: &[Check], after: &[Check]) {
    let mark = |c: Option<&Check>| match c {
        None => "absent".to_string(),
        Some(c) if c.passed => format!("pass  {}", c.actual),
        Some(c) => format!("FAIL  {} (expected {})", c.actual, c.expected),
    };
    let mut names: Vec<&str> = after.iter().map(|c| c.name.as_str()).collect();
    names.extend(
        before
            .iter()
            .map(|c| c.name.as_str())
            .filter(|n| !after.iter().any(|c| c.name == *n)),
    );
    for name in names {
        let (b, a) = (
            before.iter().find(|c| c.name == name),
            after.iter().find(|c| c.name == name),
        );
        let changed = if b == a { " " } else { "*" };
        out!("  {changed} {name}");
        out!("      recorded  {}", mark(b));
        out!("      replayed  {}", mark(a));
    }
}

fn outcome(result: &Result<CallOutput, CallFailure>) -> String {
    match result {
        Ok(output) => serde_json::to_string(output).unwrap_or_default(),
        Err(failure) => format!("failed: {failure}"),
    }
}
