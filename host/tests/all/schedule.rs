//! Scheduled runs on the real Temporal dev server: a schedule created with a short
//! interval fires, an `aura-host worker` runs the firing as an ordinary run with its
//! journal and report, and `schedule delete` removes it.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{self, run_within, text};
use crate::run::{LONG, aura_with};

/// The first run of schedule `name` that finished, under `state`.
fn finished_run(state: &Path, name: &str) -> Option<String> {
    std::fs::read_dir(state.join("runs"))
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|run| run.starts_with(&format!("{name}-")))
        .find(|run| {
            std::fs::read_to_string(state.join("runs").join(run).join("journal.jsonl"))
                .is_ok_and(|j| j.contains("\"run_finished\""))
        })
}

#[test]
fn a_schedule_fires_runs_on_a_worker_until_it_is_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let state = dir.path().join("state");
    let queue = common::unique("runs");
    let name = format!("s{:08x}", rand::random::<u32>());
    let _worker = common::worker(
        {
            let mut cmd = aura_with(&config);
            cmd.env("AURA_STATE_DIR", &state);
            cmd
        },
        &queue,
    );
    let aura = || {
        let mut cmd = aura_with(&config);
        cmd.env("AURA_STATE_DIR", &state);
        cmd
    };
    let (created, _) = run_within(
        aura().args([
            "schedule",
            "create",
            &name,
            "--every",
            "2s",
            "--suite",
            "smoke",
            "--task-queue",
            &queue,
        ]),
        LONG,
    );
    assert_eq!(created.status.code(), Some(0), "{}", text(&created));
    let deadline = Instant::now() + Duration::from_secs(150);
    let run = loop {
        if let Some(run) = finished_run(&state, &name) {
            break run;
        }
        assert!(Instant::now() < deadline, "no run of {name} finished");
        std::thread::sleep(Duration::from_millis(200));
    };
    let (report, _) = run_within(aura().args(["report", "--run", &run]), LONG);
    assert_eq!(report.status.code(), Some(0), "{}", text(&report));
    assert!(
        text(&report).contains("verdict: PASSED"),
        "{}",
        text(&report)
    );
    let (deleted, _) = run_within(aura().args(["schedule", "delete", &name]), LONG);
    assert_eq!(deleted.status.code(), Some(0), "{}", text(&deleted));
    let (again, _) = run_within(aura().args(["schedule", "delete", &name]), LONG);
    assert_eq!(again.status.code(), Some(2), "gone: {}", text(&again));
}

#[test]
fn bad_schedules_exit_2_naming_what_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    for (args, says) in [
        (
            vec!["schedule", "create", "nightly", "--cron", "every night"],
            "refused by the server",
        ),
        (
            vec!["schedule", "create", "Nightly", "--every", "1h"],
            "schedule name 'Nightly'",
        ),
        (
            vec![
                "schedule", "create", "nightly", "--every", "1h", "--suite", "nope",
            ],
            "unknown suite 'nope'",
        ),
        (
            vec!["schedule", "delete", "never-made"],
            "no schedule 'never-made'",
        ),
    ] {
        let (out, _) = run_within(aura_with(&config).args(&args), LONG);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }
}
