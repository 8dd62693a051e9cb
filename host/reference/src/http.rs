//! The target's HTTP API (axum):
//!
//! | method | path | answer |
//! | --- | --- | --- |
//! | POST | `/requests[?step_timeouts_ms=step:ms,...][&run=ID]` | 202 + `Submitted`; 400 bad request id, JSON, step timeout or run id; 409 duplicate |
//! | GET | `/requests/{id}/decision?wait_ms=N[&run=ID]` | 200 `DecisionState` (pending / decided / failed); 404 unknown |
//! | GET | `/requests/{id}/trace[?run=ID]` | 200 WorkflowTrace; 404 none yet |
//! | GET | `/health` | 200 liveness, the target's run id and task queue |
//!
//! `run=ID` puts a request in a namespace of the caller's instead of the target's own
//! run: a probe of a deployed target (`aura-host run --target URL`) keeps its data apart
//! and removes it afterwards, as a run of the in-process target does.
//! | GET | `/ready` | 200 ready / 503 not ready, per-component status |
//! | GET | `/metrics` | Prometheus text |

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aura_services::trace::otlp::{SpanKind, TraceParent};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{DecisionState, GpuAllocationRequest, Target, TargetError};
use aura_services::namespace::RunId;

/// The longest a decision request may wait on the server.
const MAX_WAIT: Duration = Duration::from_secs(60);

pub fn router(target: Arc<Target>) -> Router {
    Router::new()
        .route("/requests", post(submit))
        .route("/requests/{id}/decision", get(decision))
        .route("/requests/{id}/trace", get(trace))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(target)
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

fn target_error(e: TargetError) -> Response {
    let status = match &e {
        TargetError::BadRequest(_) => StatusCode::BAD_REQUEST,
        TargetError::Duplicate(_) => StatusCode::CONFLICT,
        TargetError::Temporal { .. } | TargetError::Worker { .. } => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, aura_services::error_chain(&e))
}

#[derive(Deserialize)]
struct SubmitQuery {
    /// `step:ms,step:ms`: steps with their own timeout.
    step_timeouts_ms: Option<String>,
    run: Option<String>,
}

/// The namespace a call names (`run=ID`), else the target's own.
fn namespace(t: &Target, run: Option<&str>) -> Result<RunId, String> {
    match run {
        None => Ok(t.run_id().clone()),
        Some(r) => RunId::parse(r).map_err(|e| format!("run: {e}")),
    }
}

/// `council_vote:2000,persist_decision:500`, the query form of per-step timeouts.
pub(super) fn format_timeouts(t: &BTreeMap<String, Duration>) -> String {
    t.iter()
        .map(|(step, d)| format!("{step}:{}", d.as_millis()))
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_timeouts(text: &str) -> Result<BTreeMap<String, Duration>, String> {
    text.split(',')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (step, ms) = pair
                .split_once(':')
                .ok_or_else(|| format!("step_timeouts_ms: '{pair}' is not step:ms"))?;
            if aura_contract::Step::parse(step).is_none() {
                return Err(format!("step_timeouts_ms: no step named '{step}'"));
            }
            let ms: u64 = ms
                .parse()
                .map_err(|_| format!("step_timeouts_ms: '{ms}' is not a number of ms"))?;
            Ok((step.to_string(), Duration::from_millis(ms)))
        })
        .collect()
}

async fn submit(
    State(t): State<Arc<Target>>,
    Query(q): Query<SubmitQuery>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let request: GpuAllocationRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("request body: {e}")),
    };
    let timeouts = match parse_timeouts(q.step_timeouts_ms.as_deref().unwrap_or("")) {
        Ok(t) => t,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let run = match namespace(&t, q.run.as_deref()) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let submitted_at = chrono::Utc::now().timestamp_millis();
    let id = request.request_id.clone();
    match t.submit_in(&run, request, &timeouts).await {
        Ok(s) => {
            // The caller's W3C trace context: the request's spans join its trace.
            let parent = headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .and_then(TraceParent::parse);
            export_when_decided(&t, run, id, submitted_at, parent);
            (StatusCode::ACCEPTED, Json(s)).into_response()
        }
        Err(e) => target_error(e),
    }
}

/// How long a request's trace export waits for its decision.
const EXPORT_WAIT: Duration = Duration::from_secs(300);

/// With `--otlp-endpoint`: once the request is decided (or failed), its trace exported.
fn export_when_decided(
    t: &Arc<Target>,
    run: RunId,
    id: String,
    submitted_at: i64,
    parent: Option<TraceParent>,
) {
    let Some(otlp) = t.otlp().cloned() else {
        return;
    };
    let t = t.clone();
    tokio::spawn(async move {
        if matches!(
            t.decision_in(&run, &id, EXPORT_WAIT).await,
            Ok(DecisionState::Pending | DecisionState::Unknown) | Err(_)
        ) {
            return;
        }
        let Ok(Some(trace)) = t.trace_in(&run, &id).await else {
            return;
        };
        if let Err(e) = otlp
            .export(
                run.as_str(),
                &trace,
                Some(submitted_at),
                parent,
                SpanKind::Server,
            )
            .await
        {
            tracing::warn!("{e}");
        }
    });
}

#[derive(Deserialize)]
struct Wait {
    wait_ms: Option<u64>,
    run: Option<String>,
}

async fn decision(
    State(t): State<Arc<Target>>,
    Path(id): Path<String>,
    Query(w): Query<Wait>,
) -> Response {
    let run = match namespace(&t, w.run.as_deref()) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let wait = Duration::from_millis(w.wait_ms.unwrap_or(0)).min(MAX_WAIT);
    match t
        .decision_in(&run, &id, wait.max(Duration::from_millis(1)))
        .await
    {
        Ok(DecisionState::Unknown) => error(
            StatusCode::NOT_FOUND,
            format!("no request {id} in run {run}"),
        ),
        Ok(state) => Json(state).into_response(),
        Err(e) => target_error(e),
    }
}

#[derive(Deserialize)]
struct InRun {
    run: Option<String>,
}

async fn trace(
    State(t): State<Arc<Target>>,
    Path(id): Path<String>,
    Query(q): Query<InRun>,
) -> Response {
    let run = match namespace(&t, q.run.as_deref()) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match t.trace_in(&run, &id).await {
        Ok(Some(trace)) => Json(trace).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("no trace for {id} in run {run}"),
        ),
        Err(e) => target_error(e),
    }
}

async fn health(State(t): State<Arc<Target>>) -> Response {
    Json(serde_json::json!({
        "status": "ok",
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "run_id": t.run_id().to_string(),
        "task_queue": t.core().config.task_queue,
        "version": env!("CARGO_PKG_VERSION"),
    }))
    .into_response()
}

async fn ready(State(t): State<Arc<Target>>) -> Response {
    let r = t.readiness().await;
    let status = if r.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(r)).into_response()
}

async fn metrics(State(t): State<Arc<Target>>, headers: axum::http::HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (kind, body) = crate::metrics::exposition(t.metrics_text(), accept);
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}
