//! One slice on a worker: a reference target on the run's task queue, the slice's
//! requests (or arrivals) through the claiming driver, each result sent on the
//! scenario's stream as it finishes, a heartbeat all along.

use std::sync::Arc;
use std::time::{Duration, Instant};

use temporalio_macros::activities;
use temporalio_sdk::ApplicationFailure;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use super::claim::Claiming;
use super::workflow::{HEARTBEAT, SliceInput, SliceOutput};
use crate::orchestrator::load::{Part, Source};
use crate::orchestrator::runner::Runner;
use crate::report::RunEvent;
use aura_contract::names;
use aura_reference::driver::InProcess;
use aura_reference::gpu::GpuConfig;
use aura_reference::{Target, TargetConfig};
use aura_services::ServiceHub;
use aura_services::namespace::RunId;

/// How long a slice's results stay on the stream: longer than any run.
const STREAM_TTL: Duration = Duration::from_secs(24 * 3600);
/// The waits after each failed append of one result (about 6 s in all).
const SEND_BACKOFF: [Duration; 6] = [
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_millis(1600),
    Duration::from_millis(3200),
];

/// What a worker runs slices with: its services and its target's settings.
pub struct SliceActivities {
    pub hub: Arc<ServiceHub>,
    pub target: TargetConfig,
    pub gpu: GpuConfig,
}

fn failed(what: String) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(what)
            .type_name("SliceFailed".to_string())
            .build(),
    )
}

/// An instant of this machine for a time of the epoch (ms).
fn instant_at(epoch_ms: i64) -> Instant {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let ahead = Duration::from_millis(epoch_ms.saturating_sub(now_ms).unsigned_abs());
    match epoch_ms >= now_ms {
        true => Instant::now().checked_add(ahead),
        false => Instant::now().checked_sub(ahead),
    }
    .unwrap_or_else(Instant::now)
}

#[activities]
impl SliceActivities {
    #[activity(name = "aura_run_slice")]
    pub async fn run_slice(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: SliceInput,
    ) -> Result<SliceOutput, ActivityError> {
        // Alive from the first moment: starting the target can take seconds.
        let attempt = ctx.info().attempt;
        let index = input.index;
        let work = self.slice(input, attempt);
        tokio::pin!(work);
        let mut beat = tokio::time::interval(HEARTBEAT / 4);
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = beat.tick() => {
                    let _ = ctx.record_heartbeat(index).await;
                    if ctx.is_cancelled() {
                        return Err(failed(format!("slice {index} cancelled")));
                    }
                }
            }
        }
    }
}

impl SliceActivities {
    async fn slice(&self, input: SliceInput, attempt: u32) -> Result<SliceOutput, ActivityError> {
        let parse = |id: &str| RunId::parse(id).map_err(|e| failed(format!("{id}: {e}")));
        let (run, ns) = (parse(&input.run_id)?, parse(&input.namespace)?);
        let target = Target::start(self.hub.clone(), &self.target, &self.gpu, run)
            .await
            .map_err(|e| failed(format!("the target could not start: {e}")))?;
        let target = Arc::new(target);
        let driver = Claiming {
            inner: InProcess::in_run(target.clone(), ns.clone()),
            hub: self.hub.clone(),
            namespace: ns.to_string(),
            owner: format!("{}-{}-{}", ns, input.index, attempt),
        };
        // Results go out in order through one sender, so none overtakes another; a
        // failed append is tried again before the slice gives up on it.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let stream = names::events_stream(ns.as_str());
        let hub = self.hub.clone();
        let sender = tokio::spawn(async move {
            let mut lost = 0u32;
            while let Some(event) = rx.recv().await {
                let mut sent = false;
                for wait in SEND_BACKOFF {
                    if let Ok(c) = hub.cache().await
                        && c.stream_append(&stream, &event, STREAM_TTL).await.is_ok()
                    {
                        sent = true;
                        break;
                    }
                    // Backoff between attempts at a store that just failed.
                    tokio::time::sleep(wait).await;
                }
                lost += u32::from(!sent);
            }
            lost
        });
        let record = move |e: RunEvent| {
            if matches!(e, RunEvent::RequestFinished { .. })
                && let Ok(text) = serde_json::to_string(&e)
            {
                let _ = tx.send(text);
            }
        };
        let runner = Runner {
            driver: &driver,
            run_id: ns.as_str(),
            target: &self.target,
            plugins: None,
            record: &record,
        };
        let deadline = instant_at(input.deadline_ms);
        let part = Part {
            index: input.index,
            of: input.of,
            origin: instant_at(input.origin_ms),
            // A retry catches up: what fell due meanwhile is sent (or awaited), never
            // dropped for being late.
            resume: (attempt > 1).then(Instant::now),
        };
        let scenario = &input.scenario;
        let (result, load) = match &scenario.load {
            Some(spec) => {
                let source = Source::new(spec, &scenario.gpu_requests, input.seed);
                let (result, load) = runner
                    .run_load(scenario, spec, source, deadline, None, part)
                    .await;
                (result, Some(load))
            }
            // The coordinator gave this slice only its own requests.
            None => (runner.run_until(scenario, deadline).await, None),
        };
        drop(record);
        let lost = sender.await.unwrap_or(1);
        drop(driver);
        if let Ok(t) = Arc::try_unwrap(target) {
            t.stop().await;
        }
        if lost > 0 {
            // The coordinator would miss them: the slice runs again, its requests awaited.
            return Err(failed(format!(
                "{lost} result(s) could not be sent on the stream"
            )));
        }
        Ok(SliceOutput {
            index: input.index,
            requests: result.requests.len() as u32,
            load,
            abort: result.abort,
        })
    }
}
