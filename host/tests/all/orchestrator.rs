//! Scenarios run through the reference target on the real local services.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use aura_host::orchestrator::{Scenario, runner, suite};
use aura_host::report::RunEvent;
use aura_reference::Target;
use aura_reference::driver::InProcess;
use aura_reference::request::Outcome;

async fn target() -> Arc<Target> {
    let mut config = common::config();
    config.target.task_queue = common::unique("aura-orch");
    common::start_target(&config, "o").await
}

/// Runs one scenario through `target` without plugins.
async fn run(target: Arc<Target>, scenario: &Scenario) -> runner::ScenarioResult {
    let run_id = target.run_id().to_string();
    let config = target.core().config.clone();
    let driver = InProcess::new(target);
    let record = |_: RunEvent| {};
    runner::Runner {
        driver: &driver,
        run_id: &run_id,
        target: &config,
        plugins: None,
        record: &record,
    }
    .run(scenario)
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_smoke_suite_passes_and_a_wrong_expectation_fails_with_expected_and_actual() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let smoke = suite::load(&root, "smoke").expect("smoke suite");
    let shared = target().await;
    for (path, scenario) in &smoke {
        let result = run(shared.clone(), scenario).await;
        assert!(
            result.passed(),
            "{}: {:#?}",
            path.display(),
            result.failures()
        );
        assert!(result.requests.iter().all(|r| r.decision.is_some()));
    }

    let (_, mut wrong) = smoke
        .into_iter()
        .find(|(_, s)| s.id == "smoke-single-approval")
        .expect("shipped smoke scenario");
    wrong.expected_outcomes[0].decision = Outcome::Denied;
    wrong.expected_outcomes[0].device_count = None;
    // A fresh run, so the request id is new to the target.
    let result = run(target().await, &wrong).await;
    assert!(!result.passed());
    let failures = result.failures();
    assert_eq!(
        failures,
        ["smoke-req-1: decision: expected denied, actual approved"],
        "{failures:?}"
    );
}
