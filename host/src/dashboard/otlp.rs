//! `run --otlp-endpoint`: each decided request's WorkflowTrace exported over OTLP as it
//! is journaled (a trace per request: the request's span from submission, a child per
//! step), in the background; the run waits for the exports at its end, a bounded time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio_util::task::TaskTracker;

use crate::report::RunEvent;
use aura_services::trace::otlp::{OtlpError, OtlpExport, SpanKind};

/// The longest a run waits for its exports at its end.
const FLUSH_WITHIN: Duration = Duration::from_secs(10);

pub struct OtlpSink {
    export: Arc<OtlpExport>,
    /// Each scenario's namespace, the run id its traces are under.
    namespaces: Mutex<HashMap<String, String>>,
    tasks: TaskTracker,
    exported: AtomicU64,
    failed: Mutex<(u64, Option<String>)>,
}

impl OtlpSink {
    pub fn new(endpoint: &str) -> Result<Arc<Self>, OtlpError> {
        Ok(Arc::new(Self {
            export: Arc::new(OtlpExport::new(endpoint, "aura-host")?),
            namespaces: Mutex::default(),
            tasks: TaskTracker::new(),
            exported: AtomicU64::new(0),
            failed: Mutex::default(),
        }))
    }

    /// Exports the trace of a finished request; the rest of the events only say where.
    pub fn observe(self: &Arc<Self>, event: &RunEvent) {
        match event {
            RunEvent::RunStarted { scenarios, .. } => {
                let mut spaces = self
                    .namespaces
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                spaces.extend(
                    scenarios
                        .iter()
                        .map(|s| (s.id.clone(), s.namespace.clone())),
                );
            }
            RunEvent::RequestFinished { scenario, result } => {
                let Some(trace) = result.trace.clone() else {
                    return;
                };
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                let namespace = self
                    .namespaces
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(scenario)
                    .cloned()
                    .unwrap_or_default();
                // Submitted this long before it was decided.
                let submitted = result
                    .finished_at()
                    .map(|end| end - i64::try_from(result.latency_ms).unwrap_or(0));
                let this = self.clone();
                self.tasks.spawn_on(
                    async move {
                        let kind = SpanKind::Client;
                        match this
                            .export
                            .export(&namespace, &trace, submitted, None, kind)
                            .await
                        {
                            Ok(_) => {
                                this.exported.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                let mut failed =
                                    this.failed.lock().unwrap_or_else(PoisonError::into_inner);
                                failed.0 += 1;
                                failed.1.get_or_insert_with(|| e.to_string());
                            }
                        }
                    },
                    &runtime,
                );
            }
            _ => {}
        }
    }

    /// Waits for the exports (at most [`FLUSH_WITHIN`]) and says how they went.
    pub async fn finish(&self) -> String {
        self.tasks.close();
        let waited = tokio::time::timeout(FLUSH_WITHIN, self.tasks.wait()).await;
        let exported = self.exported.load(Ordering::Relaxed);
        let failed = self
            .failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut line = format!("otlp: {exported} request trace(s) exported");
        if failed.0 > 0 {
            line.push_str(&format!(
                ", {} failed: {}",
                failed.0,
                failed.1.unwrap_or_default()
            ));
        }
        if waited.is_err() {
            line.push_str(&format!(
                "; {} still going after {}s, dropped",
                self.tasks.len(),
                FLUSH_WITHIN.as_secs()
            ));
        }
        line
    }
}
