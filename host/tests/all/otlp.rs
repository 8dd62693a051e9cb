//! OpenTelemetry export: a collector of the test's own (axum, decoding the OTLP/HTTP
//! protobuf with the proto crate's messages) receives each request's trace, a span for
//! the request with a child per step, from `run --otlp-endpoint`; and from `target serve
//! --otlp-endpoint`, in the trace of the `traceparent` the HTTP API was called with.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use crate::common::{self, Killed, run_within, text};
use crate::run::{LONG, aura_with, read_json};

/// What a collector received: each span with its resource's `service.name`.
type Received = Arc<Mutex<Vec<(String, Span)>>>;

/// A collector on a free loopback port: its base URL and what it received, with the
/// `service.name` of each span's resource.
fn collector() -> (String, Received) {
    let got: Received = Arc::default();
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                let mut got = kept.lock().expect("lock");
                for rs in request.resource_spans {
                    let service = rs
                        .resource
                        .iter()
                        .flat_map(|r| &r.attributes)
                        .find(|a| a.key == "service.name")
                        .and_then(|a| a.value.as_ref())
                        .map(|v| format!("{:?}", v.value))
                        .unwrap_or_default();
                    for ss in rs.scope_spans {
                        got.extend(ss.spans.into_iter().map(|s| (service.clone(), s)));
                    }
                }
                (
                    [("content-type", "application/x-protobuf")],
                    ExportTraceServiceResponse::default().encode_to_vec(),
                )
            }
        }),
    );
    let addr = common::serve(app);
    (format!("http://{addr}"), got)
}

/// The spans received so far once `ready` holds of them, within a minute.
fn received(got: &Received, ready: impl Fn(&[(String, Span)]) -> bool) -> Vec<(String, Span)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let spans = got.lock().expect("lock").clone();
        if ready(&spans) {
            return spans;
        }
        assert!(Instant::now() < deadline, "not received: {spans:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_runs_request_reaches_the_collector_as_one_trace_with_a_span_per_step() {
    let (url, got) = collector();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let json = dir.path().join("r.json");
    let (out, _) = run_within(
        aura_with(&config)
            .args(["run", "-q", "--otlp-endpoint", &url, "--json"])
            .arg(&json),
        LONG,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("otlp: 1 request trace(s) exported"),
        "{}",
        text(&out)
    );
    let report = read_json(&json);
    let request = &report["scenarios"][0]["requests"][0];
    let id = request["request_id"].as_str().expect("request id");
    let steps: Vec<&str> = request["trace"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["step_name"].as_str())
        .collect();
    // Sent before the run exited: no waiting.
    let spans = got.lock().expect("lock").clone();
    let root = spans
        .iter()
        .map(|(_, s)| s)
        .find(|s| s.name == format!("request {id}"))
        .unwrap_or_else(|| panic!("no request span: {spans:#?}"));
    assert!(
        root.parent_span_id.is_empty(),
        "the request starts its trace"
    );
    assert!(
        spans
            .iter()
            .all(|(service, _)| service.contains("aura-host")),
        "{spans:#?}"
    );
    let mut children: Vec<&Span> = spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.parent_span_id == root.span_id)
        .collect();
    children.sort_by_key(|s| s.start_time_unix_nano);
    let names: Vec<&str> = children.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, steps, "a span per step of the trace, in its order");
    for c in &children {
        assert_eq!(c.trace_id, root.trace_id);
        assert!(c.start_time_unix_nano >= root.start_time_unix_nano);
        assert!(c.end_time_unix_nano <= root.end_time_unix_nano);
    }
}

#[test]
fn the_target_exports_a_request_in_the_trace_its_caller_sent() {
    let (url, got) = collector();
    common::ensure_env();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let addr = format!("127.0.0.1:{}", common::free_port());
    let _served = Killed(
        aura_with(&config)
            .args([
                "target",
                "serve",
                "--listen",
                &addr,
                "--otlp-endpoint",
                &url,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("target serve"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "target serve did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (trace_id, parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let id = common::unique("otlp");
    let body = format!(
        "{{\"request_id\":\"{id}\",\"team\":\"nlp\",\"gpu_count\":1,\"memory_gb\":16,\
         \"priority\":5,\"duration_minutes\":30}}"
    );
    let answer = common::http_post(
        &addr,
        "/requests",
        &[("traceparent", &format!("00-{trace_id}-{parent}-01"))],
        &body,
    );
    assert!(
        answer.starts_with("HTTP/1.1 202") || answer.starts_with("HTTP/1.0 202"),
        "{answer}"
    );
    let name = format!("request {id}");
    let spans = received(&got, |s| {
        s.iter().any(|(_, s)| s.name == name) && s.len() >= 8
    });
    let root = spans
        .iter()
        .map(|(_, s)| s)
        .find(|s| s.name == name)
        .expect("request span");
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(hex(&root.trace_id), trace_id, "the caller's trace");
    assert_eq!(hex(&root.parent_span_id), parent, "under the caller's span");
    let steps = spans
        .iter()
        .filter(|(_, s)| s.parent_span_id == root.span_id && s.trace_id == root.trace_id)
        .count();
    assert_eq!(steps, aura_contract::Step::names().len(), "{spans:#?}");
    assert!(
        spans
            .iter()
            .all(|(service, _)| service.contains("aura-target"))
    );
}
