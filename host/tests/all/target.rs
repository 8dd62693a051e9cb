//! The reference target against the real local services: decisions readable through
//! every store, approvals and denials, capacity under concurrency, a Redis killed
//! mid-request, the HTTP API and `/ready`.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use aura_contract::{Step, names};
use aura_host::config::AuraConfig;
use aura_reference::driver::{Http, InProcess, TargetDriver};
use aura_reference::request::{DenialClass, Outcome};
use aura_reference::{Decision, DecisionState, GpuAllocationRequest, Target};
use aura_services::trace::StepStatus;
use aura_services::{Cypher, KeyTtl, ServiceHub};

const WAIT: Duration = Duration::from_secs(60);

/// A config with a task queue of its own, so no other test's worker takes its workflows.
fn config() -> AuraConfig {
    let mut c = common::config();
    c.target.task_queue = common::unique("aura-test");
    c
}

async fn start(config: &AuraConfig) -> Arc<Target> {
    common::start_target(config, "t").await
}

fn request(id: &str, gpus: u32, priority: u32) -> GpuAllocationRequest {
    GpuAllocationRequest {
        request_id: id.into(),
        team: "ml-platform".into(),
        gpu_count: gpus,
        gpu_model: None,
        memory_gb: 16,
        priority,
        duration_minutes: 60,
    }
}

/// A config on a private Redis with a pause before every step, so a test can act on
/// the services while a request is between steps.
fn slow_steps_on(redis: &common::PrivateRedis, attempts: u32) -> AuraConfig {
    let mut c = config();
    c.services.redis.url = redis.url();
    c.services.redis.timeout = Duration::from_secs(1);
    c.target.step_pause = Duration::from_millis(400);
    c.target.step_attempts = attempts;
    c.target.retry_interval = Duration::from_millis(100);
    c
}

/// Waits until `request_id` is in its council step (the one before allocation).
async fn in_council_vote(driver: &dyn TargetDriver, request_id: &str) {
    common::eventually("council step", Duration::from_secs(30), || async {
        let t = driver.trace(request_id).await.ok().flatten()?;
        (t.current_step.as_deref() == Some(Step::CouncilVote.name())).then_some(())
    })
    .await;
}

async fn decide(driver: &dyn TargetDriver, r: &GpuAllocationRequest) -> Decision {
    driver.submit(r).await.expect("submit");
    match driver
        .decision(&r.request_id, WAIT)
        .await
        .expect("decision")
    {
        DecisionState::Decided { decision } => *decision,
        other => panic!("{}: {other:?}", r.request_id),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_decision_is_in_the_graph_redis_kafka_and_temporal() {
    let config = config();
    let target = start(&config).await;
    let driver = InProcess::new(target.clone());
    let run = target.run_id().to_string();
    let d = decide(&driver, &request("req-ok", 2, 8)).await;
    assert_eq!(d.outcome, Outcome::Approved, "{d:?}");
    assert_eq!(d.devices.len(), 2);
    assert_eq!(d.votes.len(), 5);
    let hub = ServiceHub::new(config.services.clone());

    let rows = hub
        .run_graph(target.run_id().as_str())
        .await
        .expect("graph")
        .query(
            Cypher::new(
                "MATCH (r:Request {run_id: $run, request_id: $id})-[:DECIDED_BY]->(d:Decision) \
                 OPTIONAL MATCH (d)-[:ALLOCATES]->(g:Gpu) \
                 WITH d, count(DISTINCT g) AS gpus \
                 OPTIONAL MATCH (a:Agent)-[:VOTED]->(d) \
                 RETURN d.outcome AS outcome, gpus, count(a) AS votes",
            )
            .param("run", run.as_str())
            .param("id", "req-ok"),
        )
        .await
        .expect("match");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        rows[0].get("outcome").and_then(|v| v.as_str()),
        Some("approved")
    );
    assert_eq!(rows[0].get("gpus").and_then(|v| v.as_int()), Some(2));
    assert_eq!(rows[0].get("votes").and_then(|v| v.as_int()), Some(5));

    let cache = hub.cache().await.expect("redis");
    let key = names::decision_key(&run, "req-ok");
    let cached: Decision =
        serde_json::from_str(&cache.get(&key).await.expect("get").expect("cached")).expect("json");
    assert_eq!(cached, d);
    match cache.ttl(&key).await.expect("ttl") {
        KeyTtl::Expires(t) => assert!(t <= config.target.context_ttl && t > Duration::ZERO),
        other => panic!("decision key without TTL: {other:?}"),
    }
    let window = cache
        .list_head(&names::context_key(&run), 16)
        .await
        .expect("context");
    assert!(
        window.iter().any(|e| e.contains("\"req-ok\"")),
        "{window:?}"
    );

    let events = hub.events().await.expect("kafka");
    let read = events
        .read(
            &names::decided_topic(&run),
            &common::unique("g"),
            1,
            Duration::from_secs(20),
        )
        .await
        .expect("read");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].key.as_deref(), Some("req-ok"));
    assert_eq!(read[0].headers.get("aura-run-id"), Some(&run));
    let published: Decision = serde_json::from_slice(&read[0].payload).expect("payload");
    assert_eq!(published, d);

    let execution = hub
        .workflows()
        .await
        .expect("temporal")
        .describe_execution(&d.workflow_id)
        .await
        .expect("describe");
    assert_eq!(execution.status, "COMPLETED");
    let activities: Vec<&str> = execution
        .activities
        .iter()
        .map(|a| a.activity_type.as_str())
        .collect();
    assert_eq!(activities, Step::names());
    let result: Decision =
        serde_json::from_str(execution.result.as_deref().expect("result")).expect("result json");
    assert_eq!(result, d);

    let trace = driver
        .trace("req-ok")
        .await
        .expect("trace")
        .expect("a trace");
    assert_eq!(trace.completion_status, StepStatus::Completed);
    let traced: Vec<&str> = trace.steps.iter().map(|s| s.step_name.as_str()).collect();
    assert_eq!(traced, Step::names());
    assert!(
        trace
            .steps
            .iter()
            .all(|s| s.status == StepStatus::Completed && s.end_time.is_some())
    );
    // Another process sees the same trace through Redis.
    let stored = common::eventually("trace in redis", Duration::from_secs(10), || async {
        aura_services::trace::load(cache.as_ref(), &run, "req-ok")
            .await
            .ok()
            .flatten()
            .filter(|t| t.completion_status == StepStatus::Completed)
    })
    .await;
    assert_eq!(stored, trace);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn denials_are_decisions_with_their_reason() {
    let config = config();
    let target = start(&config).await;
    let driver = InProcess::new(target.clone());

    let invalid = GpuAllocationRequest {
        priority: 11,
        ..request("req-invalid", 1, 5)
    };
    let d = decide(&driver, &invalid).await;
    assert_eq!(d.outcome, Outcome::Denied);
    let denial = d.denial.clone().expect("reason");
    assert_eq!(denial.class, DenialClass::InvalidRequest);
    assert!(denial.message.contains("priority 11"), "{denial:?}");
    let trace = driver
        .trace("req-invalid")
        .await
        .expect("trace")
        .expect("some");
    let skipped: Vec<&str> = trace
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Skipped)
        .map(|s| s.step_name.as_str())
        .collect();
    assert_eq!(
        skipped,
        [Step::LoadContext, Step::CouncilVote, Step::AllocateDevices].map(Step::name)
    );
    assert_eq!(trace.steps.len(), 7);

    let rejected = decide(
        &driver,
        &GpuAllocationRequest {
            memory_gb: 80,
            ..request("req-greedy", 8, 1)
        },
    )
    .await;
    assert_eq!(
        rejected.denial.expect("reason").class,
        DenialClass::CouncilRejected
    );

    let unavailable = decide(
        &driver,
        &GpuAllocationRequest {
            memory_gb: 200,
            ..request("req-huge", 1, 9)
        },
    )
    .await;
    let denial = unavailable.denial.expect("reason");
    assert_eq!(denial.class, DenialClass::CapacityShort, "{denial:?}");

    let hub = ServiceHub::new(config.services);
    let rows = hub
        .run_graph(target.run_id().as_str())
        .await
        .expect("graph")
        .query(
            Cypher::new(
                "MATCH (d:Decision {run_id: $run}) RETURN d.request_id AS id, \
                 d.outcome AS outcome, d.reason_class AS class ORDER BY id",
            )
            .param("run", target.run_id().as_str()),
        )
        .await
        .expect("match");
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            let s = |c: &str| r.get(c).and_then(|v| v.as_str()).unwrap_or("").to_string();
            (s("id"), s("class"))
        })
        .collect();
    assert_eq!(
        got,
        [
            ("req-greedy".to_string(), "council_rejected".to_string()),
            ("req-huge".to_string(), "capacity_short".to_string()),
            ("req-invalid".to_string(), "invalid_request".to_string()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_never_over_allocate() {
    let config = config();
    let h100s = config
        .gpu
        .devices
        .iter()
        .filter(|d| d.model == "H100")
        .count();
    let target = start(&config).await;
    let driver = Arc::new(InProcess::new(target.clone()));
    let requests: Vec<GpuAllocationRequest> = (0..6)
        .map(|i| GpuAllocationRequest {
            gpu_model: Some("H100".into()),
            memory_gb: 80,
            ..request(&format!("req-c{i}"), 2, 9)
        })
        .collect();
    let decisions = futures::future::join_all(requests.iter().map(|r| {
        let driver = driver.clone();
        async move { decide(driver.as_ref(), r).await }
    }))
    .await;
    let approved: Vec<&Decision> = decisions.iter().filter(|d| d.approved()).collect();
    assert_eq!(approved.len(), h100s / 2, "{decisions:#?}");
    let mut devices: Vec<&str> = approved
        .iter()
        .flat_map(|d| d.devices.iter().map(|g| g.id.as_str()))
        .collect();
    devices.sort_unstable();
    let before = devices.len();
    devices.dedup();
    assert_eq!(
        devices.len(),
        before,
        "a device was leased twice: {devices:?}"
    );
    // The losers ran out of devices (the council may also turn one down at the margin,
    // as its context window fills with this burst).
    let classes: Vec<DenialClass> = decisions
        .iter()
        .filter_map(|d| d.denial.as_ref().map(|x| x.class))
        .collect();
    assert!(classes.contains(&DenialClass::CapacityShort), "{classes:?}");
    assert!(
        classes
            .iter()
            .all(|c| matches!(c, DenialClass::CapacityShort | DenialClass::CouncilRejected)),
        "{classes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_request_and_context_get_the_same_votes() {
    // Two runs, each with an empty context window: identical inputs.
    let config = config();
    let a = start(&config).await;
    let b = start(&config).await;
    let r = request("req-same", 3, 6);
    let da = decide(&InProcess::new(a), &r).await;
    let db = decide(&InProcess::new(b), &r).await;
    assert_eq!(da.votes, db.votes);
    assert_eq!(da.outcome, db.outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_killed_mid_request_fails_the_step_and_the_api_says_so() {
    let mut redis = common::PrivateRedis::start();
    let mut config = slow_steps_on(&redis, 2);
    config.target.step_timeout = Duration::from_secs(5);
    let target = start(&config).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = aura_reference::http::router(target.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = Http::new(&format!("http://{addr}"), Duration::from_secs(10));

    let ready = http.readiness().await.expect("ready");
    assert!(ready.ready(), "{ready:?}");

    let r = request("req-killed", 1, 8);
    http.submit(&r).await.expect("submit");
    in_council_vote(&http, "req-killed").await;
    redis.kill();

    let state = http.decision("req-killed", WAIT).await.expect("decision");
    assert!(matches!(state, DecisionState::Failed { .. }), "{state:?}");
    let trace = http
        .trace("req-killed")
        .await
        .expect("trace")
        .expect("kept in memory");
    assert_eq!(trace.completion_status, StepStatus::Failed, "{trace:#?}");
    let failed = trace
        .steps
        .iter()
        .find(|s| s.status == StepStatus::Failed)
        .expect("a failed step");
    assert_eq!(failed.step_name, Step::AllocateDevices.name());
    let why = failed.error_details.as_deref().unwrap_or("");
    assert!(
        why.contains("redis") && why.contains(&redis.port.to_string()),
        "{why}"
    );
    assert!(
        !trace
            .steps
            .iter()
            .any(|s| s.step_name == Step::PersistDecision.name()),
        "nothing was persisted after the failure"
    );

    let hub = ServiceHub::new(config.services.clone());
    let rows = hub
        .run_graph(target.run_id().as_str())
        .await
        .expect("graph")
        .query(
            Cypher::new("MATCH (d:Decision {run_id: $run}) RETURN count(d) AS n")
                .param("run", target.run_id().as_str()),
        )
        .await
        .expect("count");
    assert_eq!(rows[0].get("n").and_then(|v| v.as_int()), Some(0));

    let ready = http.readiness().await.expect("ready");
    assert!(!ready.ready());
    assert_eq!(ready.components["redis"].status, "down", "{ready:?}");
    assert_eq!(ready.components["graph"].status, "up");
    let metrics = get_text(&format!("http://{addr}/metrics")).await;
    assert!(
        metrics.contains("aura_target_store_errors_total{service=\"redis\"}"),
        "{metrics}"
    );
    common::promtool_check("the target's", &metrics);
}

/// A plain GET through hyper, returning the body (for the text endpoints).
async fn get_text(url: &str) -> String {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<hyper::body::Bytes>>();
    let response = client.get(url.parse().expect("uri")).await.expect("get");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transient_store_failure_is_retried_and_visible_in_the_history() {
    let mut redis = common::PrivateRedis::start();
    let config = slow_steps_on(&redis, 5);
    let target = start(&config).await;
    let driver = InProcess::new(target.clone());
    let r = request("req-flaky", 1, 8);
    driver.submit(&r).await.expect("submit");
    in_council_vote(&driver, "req-flaky").await;
    redis.kill();
    common::eventually(
        "a failed allocation attempt",
        Duration::from_secs(30),
        || async {
            let t = target
                .core()
                .traces
                .get(target.run_id().as_str(), "req-flaky")?;
            t.steps
                .iter()
                .any(|s| {
                    s.step_name == Step::AllocateDevices.name() && s.status == StepStatus::Failed
                })
                .then_some(())
        },
    )
    .await;
    redis.restart();

    let d = match driver.decision("req-flaky", WAIT).await.expect("decision") {
        DecisionState::Decided { decision } => *decision,
        other => panic!("{other:?}"),
    };
    assert!(d.approved(), "{d:?}");
    let hub = ServiceHub::new(config.services);
    let execution = hub
        .workflows()
        .await
        .expect("temporal")
        .describe_execution(&d.workflow_id)
        .await
        .expect("describe");
    let allocate = execution
        .activities
        .iter()
        .find(|a| a.activity_type == Step::AllocateDevices.name())
        .expect("allocate in history");
    // A local activity's marker records its final attempt's number; the earlier
    // attempts' failures are in the trace (below), not in the history.
    assert!(allocate.attempts >= 2, "{allocate:?}");
    assert_eq!(allocate.failures, allocate.attempts - 1, "{allocate:?}");
    let trace = driver
        .trace("req-flaky")
        .await
        .expect("trace")
        .expect("some");
    assert_eq!(trace.completion_status, StepStatus::Completed);
    let step = trace
        .steps
        .iter()
        .find(|s| s.step_name == Step::AllocateDevices.name())
        .expect("step");
    assert_eq!(step.status, StepStatus::Completed);
    assert!(
        step.error_details
            .as_deref()
            .is_some_and(|e| e.contains("earlier attempt")),
        "{step:?}"
    );
}
