//! The `tracing` layer that turns workflow step spans into TraceSteps. A step span is
//! named [`STEP_SPAN`] and carries `run_id`, `request_id`, `step`, `component`, `input`
//! (JSON), `terminal` and `last`; the step records `output` (JSON) or `error` on it before
//! it closes.

use std::sync::Arc;

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::store::{StepEnd, StepStart, TraceStore};

pub const STEP_SPAN: &str = "aura.step";

pub struct TraceLayer {
    store: Arc<TraceStore>,
}

impl TraceLayer {
    pub fn new(store: Arc<TraceStore>) -> Self {
        Self { store }
    }
}

#[derive(Default)]
struct Fields {
    run_id: String,
    request_id: String,
    step: String,
    component: String,
    input: Option<String>,
    output: Option<String>,
    error: Option<String>,
    terminal: bool,
    last: bool,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        let v = value.to_string();
        match field.name() {
            "run_id" => self.run_id = v,
            "request_id" => self.request_id = v,
            "step" => self.step = v,
            "component" => self.component = v,
            "input" => self.input = Some(v),
            "output" => self.output = Some(v),
            "error" => self.error = Some(v),
            _ => {}
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        match field.name() {
            "terminal" => self.terminal = value,
            "last" => self.last = value,
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

fn json(text: Option<String>) -> serde_json::Value {
    match text {
        None => serde_json::Value::Null,
        Some(t) => serde_json::from_str(&t).unwrap_or(serde_json::Value::String(t)),
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl<S> Layer<S> for TraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != STEP_SPAN {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        self.store.step_started(StepStart {
            run_id: fields.run_id.clone(),
            request_id: fields.request_id.clone(),
            step: fields.step.clone(),
            component: fields.component.clone(),
            input: json(fields.input.take()),
            at: now_ms(),
        });
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(fields) = span.extensions_mut().get_mut::<Fields>() {
            values.record(fields);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(f) = span.extensions_mut().remove::<Fields>() else {
            return;
        };
        self.store.step_finished(StepEnd {
            terminal: f.terminal && f.error.is_some(),
            last: f.last,
            run_id: f.run_id,
            request_id: f.request_id,
            step: f.step,
            at: now_ms(),
            output: json(f.output),
            error: f.error,
        });
    }
}
