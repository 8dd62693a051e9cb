//! Record and replay: `run --record DIR` keeps every plugin call with its host calls and
//! their answers; `plugin test PLUGIN --replay FILE` runs the plugin against that file
//! with every service unreachable, and fails when a recorded answer changes, when the
//! plugin asks for what the file lacks, or when the file is corrupt or of another plugin.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::{self, aura, run, run_within, text};
use crate::run::LONG;

/// One recorded smoke run with decision_persistence, shared by the tests (kept for the
/// process's life, its data kept in the stores).
fn recording() -> &'static PathBuf {
    static RECORDED: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &RECORDED
        .get_or_init(|| {
            common::ensure_env();
            let dir = tempfile::tempdir().expect("tempdir");
            let record = dir.path().join("recorded");
            let (out, _) = run_within(
                aura()
                    .args([
                        "run",
                        "-q",
                        "--plugin",
                        "decision_persistence.wasm",
                        // Its graph nodes stay for the pass-through test.
                        "--keep-data",
                        "--record",
                    ])
                    .arg(&record),
                LONG,
            );
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
            assert!(text(&out).contains("recorded the plugins' calls under"));
            let file = find(&record, "decision_persistence.jsonl")
                .unwrap_or_else(|| panic!("no recording under {}", record.display()));
            (dir, file)
        })
        .1
}

fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

/// An `aura.toml` whose every service is on a closed port: nothing can be reached.
fn nowhere(dir: &Path) -> PathBuf {
    let path = dir.join("aura.toml");
    let port = common::free_port;
    std::fs::write(
        &path,
        format!(
            "[services.redis]\nurl = \"redis://127.0.0.1:{}\"\n\
             [services.graph]\nurl = \"falkor://127.0.0.1:{}\"\n\
             [services.kafka]\nbrokers = \"127.0.0.1:{}\"\n\
             [services.temporal]\nurl = \"http://127.0.0.1:{}\"\n",
            port(),
            port(),
            port(),
            port()
        ),
    )
    .expect("config");
    path
}

/// `plugin test <plugin> --replay <file>` with no service reachable.
fn replay(plugin: &str, file: &Path) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = nowhere(dir.path());
    let out = run(aura()
        .arg("--config")
        .arg(&config)
        .env("AURA_STATE_DIR", dir.path().join("state"))
        .args(["plugin", "test", plugin, "--replay"])
        .arg(file));
    (out.status.code(), text(&out))
}

/// The recording's lines, each edited by `edit` (which may drop one by returning None).
fn edited(dir: &Path, edit: impl Fn(Value) -> Option<Value>) -> PathBuf {
    let lines: Vec<String> = std::fs::read_to_string(recording())
        .expect("recording")
        .lines()
        .filter_map(|l| edit(serde_json::from_str(l).expect("a JSON line")))
        .map(|v| v.to_string())
        .collect();
    let path = dir.join("edited.jsonl");
    std::fs::write(&path, lines.join("\n")).expect("write");
    path
}

fn is_call(line: &Value, call: &str) -> bool {
    line["host-call"]["call"] == call
}

#[test]
fn a_recorded_run_replays_offline_with_the_same_checks() {
    let file = recording();
    let recorded = std::fs::read_to_string(file).expect("recording");
    assert!(
        recorded.lines().any(|l| l.contains("\"graph.query\"")),
        "the validator's graph reads are recorded: {recorded}"
    );
    let (code, said) = replay("decision_persistence", file);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("PASS (the same result as recorded)"),
        "{said}"
    );
    assert!(said.contains("0 not in the recording"), "{said}");
}

#[test]
fn a_changed_store_answer_in_the_recording_fails_the_validator() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The graph answers that it has no rows: no Decision node for any request.
    let file = edited(dir.path(), |mut line| {
        if is_call(&line, "graph.query") {
            line["host-call"]["answer"]["Ok"]["rows"] = Value::Array(vec![]);
        }
        Some(line)
    });
    let (code, said) = replay("decision_persistence", &file);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("FAIL (differs from the recording)"), "{said}");
    assert!(
        said.contains("recorded  pass") && said.contains("replayed  FAIL"),
        "each changed check shows both: {said}"
    );
}

#[test]
fn a_host_call_missing_from_the_recording_is_named_and_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = edited(dir.path(), |line| {
        (!is_call(&line, "graph.query")).then_some(line)
    });
    let (code, said) = replay("decision_persistence", &file);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("missing: graph.query [\""), "{said}");
}

/// With `--on-miss passthrough` a call the recording lacks goes to the real service: the
/// recorded run's Decision nodes are still in the graph, so the validator passes, and the
/// call is still named.
#[test]
fn a_missing_host_call_passes_through_to_the_live_service_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = edited(dir.path(), |line| {
        (!is_call(&line, "graph.query")).then_some(line)
    });
    common::ensure_env();
    let out = run(aura()
        .args([
            "plugin",
            "test",
            "decision_persistence",
            "--on-miss",
            "passthrough",
            "--replay",
        ])
        .arg(&file));
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("missing: graph.query [\""), "{said}");
    assert!(
        said.contains("PASS (the same result as recorded)"),
        "{said}"
    );
}

#[test]
fn a_corrupt_recording_exits_2_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("corrupt.jsonl");
    let mut lines: Vec<String> = std::fs::read_to_string(recording())
        .expect("recording")
        .lines()
        .map(String::from)
        .collect();
    let half = lines[1].len() / 2;
    lines[1].truncate(half);
    std::fs::write(&file, lines.join("\n")).expect("write");
    let (code, said) = replay("decision_persistence", &file);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains(&format!("{}:2: column", file.display())),
        "{said}"
    );
}

#[test]
fn a_recording_of_another_plugin_is_refused_naming_both() {
    let (code, said) = replay("smoke_validator", recording());
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("is of decision_persistence (validator, aura:host@")
            && said.contains("not of smoke_validator (validator, aura:host@"),
        "{said}"
    );
}

/// `plugin lock` pins a set written without digests (its comments kept); `plugin verify`
/// then passes it, and fails it naming the plugin once a file changes or a kind is wrong.
#[test]
fn lock_pins_a_set_and_verify_checks_it_without_running_anything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (smoke, backoff) = (
        common::plugin_wasm("smoke-validator"),
        common::plugin_wasm("exponential-backoff"),
    );
    let set = dir.path().join("set.toml");
    let entry = |name: &str, wasm: &Path, kind: &str| {
        format!(
            "[[plugin]]\nname = \"{name}\"\npath = {:?}\nkind = \"{kind}\"\n\n",
            wasm.display().to_string()
        )
    };
    std::fs::write(
        &set,
        format!(
            "# CI's plugins\n{}{}",
            entry("smoke", &smoke, "validator"),
            entry("backoff", &backoff, "recovery-strategy")
        ),
    )
    .expect("set");
    let plugin = |verb: &str| run(aura().args(["plugin", verb]).arg(&set));

    let unpinned = plugin("verify");
    assert_eq!(unpinned.status.code(), Some(2), "{}", text(&unpinned));
    assert!(
        text(&unpinned).contains("aura-host plugin lock"),
        "{}",
        text(&unpinned)
    );

    let locked = plugin("lock");
    assert_eq!(locked.status.code(), Some(0), "{}", text(&locked));
    let written = std::fs::read_to_string(&set).expect("set");
    let digest = aura_runtime::digest(&std::fs::read(&smoke).expect("wasm"));
    assert!(written.starts_with("# CI's plugins\n"), "{written}");
    assert!(
        written.contains(&format!("sha256 = \"{digest}\"")),
        "{written}"
    );
    let again = plugin("lock");
    assert!(
        text(&again).contains("0 digest(s) written"),
        "{}",
        text(&again)
    );

    let verified = plugin("verify");
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified));
    for line in [
        "ok    smoke  validator  aura:host@",
        "ok    backoff  recovery-strategy  aura:host@",
        "nothing was run",
    ] {
        assert!(
            text(&verified).contains(line),
            "{line}: {}",
            text(&verified)
        );
    }

    // The smoke entry now points at another component; backoff is declared a validator.
    std::fs::write(
        &set,
        written
            .replace(&smoke.display().to_string(), &backoff.display().to_string())
            .replace("kind = \"recovery-strategy\"", "kind = \"validator\""),
    )
    .expect("set");
    let refused = plugin("verify");
    let said = text(&refused);
    assert_eq!(refused.status.code(), Some(2), "{said}");
    assert!(
        said.contains("FAIL  smoke: plugin smoke") && said.contains("the manifest pins"),
        "{said}"
    );
    assert!(
        said.contains("FAIL  backoff:") && said.contains("but the manifest says validator"),
        "{said}"
    );
    assert!(said.contains("2 plugin(s) would not load"), "{said}");
}
