//! The recordings a scaffolded plugin ships in `replays/`: what its skeleton is called
//! with, the host calls it makes with their answers, and what it must return. Its test
//! replays them (`aura-host plugin test --replay`), so it runs offline; a team records
//! its own with `aura-host run --record DIR` once the plugin does real work.

use aura_contract::names::decision_key;
use aura_runtime::PluginKind;
use aura_runtime::bindings::{
    Check, Failure, GeneratedScenario, GpuRequest, PACKAGE_VERSION, RecoveryAction, RunContext,
    ValidationResult,
};
use aura_runtime::tape::{CallInput, CallOutput, HostCall, Identity, Recording};

const RUN: &str = "test-run";
const REQUEST: &str = "req-1";

/// `(path in the crate, text)` of each recording for a plugin `name` of `kind`.
pub fn files(name: &str, kind: PluginKind) -> Vec<(&'static str, String)> {
    let identity = Identity {
        plugin: name.replace('-', "_"),
        kind,
        contract: PACKAGE_VERSION.into(),
        // Not built yet: a replay names a different build, and still runs.
        digest: String::new(),
    };
    let recordings = match kind {
        PluginKind::Validator => vec![
            ("replays/decided.jsonl", validator(&identity, true)),
            ("replays/undecided.jsonl", validator(&identity, false)),
        ],
        PluginKind::RecoveryStrategy => vec![("replays/retry.jsonl", recovery(&identity))],
        PluginKind::ScenarioGenerator => vec![("replays/seed-7.jsonl", generator(&identity))],
    };
    recordings
        .into_iter()
        .map(|(path, r)| (path, r.to_jsonl().unwrap_or_default()))
        .collect()
}

fn context(config: &str, request_ids: &[&str]) -> RunContext {
    RunContext {
        run_id: RUN.into(),
        scenario: "test".into(),
        request_ids: request_ids.iter().map(|r| r.to_string()).collect(),
        config: config.into(),
        faults: Vec::new(),
        load: None,
    }
}

/// The skeleton validator with one request whose decision is (or is not) cached.
fn validator(identity: &Identity, decided: bool) -> Recording {
    let decision = r#"{"request_id":"req-1","status":"approved","devices":["gpu-0"]}"#;
    let cached = decided.then(|| decision.to_string());
    let check = |name: &str, passed: bool, expected: &str, actual: &str, message: &str| Check {
        name: name.into(),
        passed,
        expected: expected.into(),
        actual: actual.into(),
        message: if passed {
            String::new()
        } else {
            message.into()
        },
    };
    Recording {
        identity: identity.clone(),
        input: CallInput::Validate {
            ctx: context("min_requests = 1", &[REQUEST]),
        },
        calls: vec![HostCall {
            call: "cache.get".into(),
            args: serde_json::json!([decision_key(RUN, REQUEST)]),
            answer: serde_json::json!({ "Ok": cached }),
        }],
        result: Ok(CallOutput::Validation(ValidationResult {
            checks: vec![
                check("enough requests", true, "at least 1", "1", ""),
                check(
                    &format!("decision cached for {REQUEST}"),
                    decided,
                    "a cached decision",
                    cached.as_deref().unwrap_or("nothing"),
                    "the request's decision is not in the cache",
                ),
            ],
        })),
    }
}

fn recovery(identity: &Identity) -> Recording {
    Recording {
        identity: identity.clone(),
        input: CallInput::Decide {
            ctx: context("max_attempts = 3", &[]),
            failure: Failure {
                service: "redis".into(),
                operation: "get".into(),
                attempt: 1,
                error: "redis refused the connection".into(),
                elapsed_ms: 0,
            },
        },
        calls: Vec::new(),
        result: Ok(CallOutput::Action(RecoveryAction::Retry(250))),
    }
}

fn generator(identity: &Identity) -> Recording {
    let seed = 7u64;
    let requests = (0..4u32)
        .map(|i| GpuRequest {
            request_id: format!("test-{i}"),
            team: "platform".into(),
            gpu_count: 1 + ((seed as u32).wrapping_add(i) % 4),
            gpu_model: None,
            memory_gb: 40,
            priority: 5,
            duration_minutes: 60,
        })
        .collect();
    Recording {
        identity: identity.clone(),
        input: CallInput::Generate {
            ctx: context("", &[]),
            seed,
        },
        calls: Vec::new(),
        result: Ok(CallOutput::Scenario(GeneratedScenario {
            id: "test".into(),
            name: "generated".into(),
            description: format!("four requests from seed {seed}"),
            requests,
        })),
    }
}
