//! OTLP export of workflow traces (`--otlp-endpoint`): a trace per request, a root span
//! for the request and a child span per step attempt, made from its WorkflowTrace (the
//! one record of what happened), so Jaeger or Tempo draw the waterfall `aura-host trace`
//! prints. Sent over OTLP/HTTP (protobuf) on the caller's runtime. A W3C `traceparent`
//! from the caller (the HTTP API's header) makes the request's spans part of the
//! caller's trace.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

pub use opentelemetry::trace::SpanKind;
use opentelemetry::trace::{SpanContext, SpanId, Status, TraceFlags, TraceId, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};

use super::{StepStatus, WorkflowTrace};

/// The most an export may take: a collector that does not answer costs no more.
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("--otlp-endpoint {endpoint}: {reason}")]
    Endpoint { endpoint: String, reason: String },
    #[error("OTLP export to {endpoint}: {reason}")]
    Export { endpoint: String, reason: String },
}

/// A W3C trace context (`traceparent: 00-<trace id>-<span id>-<flags>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: TraceId,
    pub span_id: SpanId,
}

impl TraceParent {
    /// A new trace's context, for a caller that starts one.
    pub fn random() -> Self {
        Self {
            trace_id: TraceId::from_bytes(rand::random()),
            span_id: SpanId::from_bytes(rand::random()),
        }
    }

    /// The header's value; `None` for anything but version 00 with non-zero ids.
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00"
            || parts.next().is_some()
            || trace.len() != 32
            || span.len() != 16
            || flags.len() != 2
        {
            return None;
        }
        let trace_id = TraceId::from_hex(trace).ok()?;
        let span_id = SpanId::from_hex(span).ok()?;
        (trace_id != TraceId::INVALID && span_id != SpanId::INVALID)
            .then_some(Self { trace_id, span_id })
    }

    /// The `traceparent` header value (sampled).
    pub fn header(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }
}

pub struct OtlpExport {
    exporter: tokio::sync::Mutex<SpanExporter>,
    endpoint: String,
    scope: InstrumentationScope,
}

impl OtlpExport {
    /// Exports to the collector at `endpoint` (its base URL, `http://host:4318`, or the
    /// traces URL ending in `/v1/traces`) as `service`. Needs a Tokio runtime.
    pub fn new(endpoint: &str, service: &'static str) -> Result<Self, OtlpError> {
        let bad = |reason: String| OtlpError::Endpoint {
            endpoint: endpoint.to_string(),
            reason,
        };
        let url = url::Url::parse(endpoint).map_err(|e| bad(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(
                "an http:// or https:// URL of an OTLP/HTTP collector".into()
            ));
        }
        let traces = if url.path().ends_with("/v1/traces") {
            endpoint.to_string()
        } else {
            format!("{}/v1/traces", endpoint.trim_end_matches('/'))
        };
        let mut exporter = SpanExporter::builder()
            .with_http()
            .with_endpoint(traces.clone())
            .with_timeout(TIMEOUT)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        exporter.set_resource(&Resource::builder().with_service_name(service).build());
        Ok(Self {
            exporter: tokio::sync::Mutex::new(exporter),
            endpoint: traces,
            scope: InstrumentationScope::builder("aura-host")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        })
    }

    /// Exports `trace` of run `run_id`: the request's span (from `submitted_at`, ms since
    /// the epoch, when the caller knows it, else its first step) and its steps; under
    /// `parent` when the caller's trace is known. Returns the request span's context.
    pub async fn export(
        &self,
        run_id: &str,
        trace: &WorkflowTrace,
        submitted_at: Option<i64>,
        parent: Option<TraceParent>,
        kind: SpanKind,
    ) -> Result<TraceParent, OtlpError> {
        let spans = spans(run_id, trace, submitted_at, parent, kind, &self.scope);
        let root = TraceParent {
            trace_id: spans[0].span_context.trace_id(),
            span_id: spans[0].span_context.span_id(),
        };
        let exporter = self.exporter.lock().await;
        exporter
            .export(spans)
            .await
            .map_err(|e| OtlpError::Export {
                endpoint: self.endpoint.clone(),
                reason: e.to_string(),
            })?;
        Ok(root)
    }
}

fn at(ms: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn context(trace_id: TraceId) -> SpanContext {
    SpanContext::new(
        trace_id,
        SpanId::from_bytes(rand::random()),
        TraceFlags::SAMPLED,
        false,
        TraceState::NONE,
    )
}

/// The request's span first, then one per step, each a child of the request's.
fn spans(
    run_id: &str,
    trace: &WorkflowTrace,
    submitted_at: Option<i64>,
    parent: Option<TraceParent>,
    kind: SpanKind,
    scope: &InstrumentationScope,
) -> Vec<SpanData> {
    let trace_id = parent.map_or_else(|| TraceId::from_bytes(rand::random()), |p| p.trace_id);
    let end = trace
        .steps
        .iter()
        .filter_map(|s| s.end_time)
        .max()
        .unwrap_or(trace.start_time);
    let start = submitted_at
        .unwrap_or(trace.start_time)
        .min(trace.start_time);
    let span = |context: SpanContext,
                parent_span_id: SpanId,
                remote: bool,
                kind: SpanKind,
                name: String,
                (from, to): (i64, i64),
                attributes: Vec<KeyValue>,
                status: Status| SpanData {
        span_context: context,
        parent_span_id,
        parent_span_is_remote: remote,
        span_kind: kind,
        name: Cow::Owned(name),
        start_time: at(from),
        end_time: at(to.max(from)),
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: scope.clone(),
    };
    let failed = trace.completion_status == StepStatus::Failed;
    let root = span(
        context(trace_id),
        parent.map_or(SpanId::INVALID, |p| p.span_id),
        parent.is_some(),
        kind,
        format!("request {}", trace.request_id),
        (start, end),
        vec![
            KeyValue::new("aura.run_id", run_id.to_string()),
            KeyValue::new("aura.request_id", trace.request_id.clone()),
            KeyValue::new(
                "aura.completion_status",
                format!("{:?}", trace.completion_status).to_lowercase(),
            ),
        ],
        if failed {
            Status::error("the workflow failed")
        } else {
            Status::Ok
        },
    );
    let root_id = root.span_context.span_id();
    let mut out = vec![root];
    for step in &trace.steps {
        let status = match (&step.status, &step.error_details) {
            (StepStatus::Failed, why) => Status::error(why.clone().unwrap_or_default()),
            _ => Status::Unset,
        };
        out.push(span(
            context(trace_id),
            root_id,
            false,
            SpanKind::Internal,
            step.step_name.clone(),
            (step.start_time, step.end_time.unwrap_or(end)),
            vec![
                KeyValue::new("aura.component", step.component.clone()),
                KeyValue::new(
                    "aura.step.status",
                    format!("{:?}", step.status).to_lowercase(),
                ),
            ],
            status,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::TraceStep;

    #[test]
    fn a_traceparent_reads_back_and_anything_else_is_refused() {
        let p = TraceParent::random();
        assert_eq!(TraceParent::parse(&p.header()), Some(p));
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-zz-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn steps_are_children_of_the_request_in_the_callers_trace() {
        let step = |name: &str, from, to| TraceStep {
            step_name: name.into(),
            component: "c".into(),
            start_time: from,
            end_time: Some(to),
            input_data: serde_json::Value::Null,
            output_data: serde_json::Value::Null,
            status: StepStatus::Completed,
            error_details: None,
        };
        let trace = WorkflowTrace {
            request_id: "q1".into(),
            start_time: 1_000,
            steps: vec![step("a", 1_000, 1_010), step("b", 1_010, 1_030)],
            current_step: None,
            completion_status: StepStatus::Completed,
        };
        let caller = TraceParent::random();
        let scope = InstrumentationScope::builder("t").build();
        let s = spans(
            "r1",
            &trace,
            Some(990),
            Some(caller),
            SpanKind::Server,
            &scope,
        );
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].parent_span_id, caller.span_id);
        assert_eq!(s[0].start_time, at(990));
        assert_eq!(s[0].end_time, at(1_030));
        for child in &s[1..] {
            assert_eq!(child.span_context.trace_id(), caller.trace_id);
            assert_eq!(child.parent_span_id, s[0].span_context.span_id());
        }
        assert_eq!(s[2].name, "b");
    }
}
