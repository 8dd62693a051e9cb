//! A scenario's validators on its requests: all at once for a scenario of a few, in
//! batches as they are decided for a load of thousands (a plugin call's limits hold
//! per call, and the checks keep up with the load instead of piling up at its end).
//! Every call is journaled as it finishes.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;

use super::plugins::{self, PluginSet};
use super::scenario::Scenario;
use crate::report::{Recorder, RequestResult, RequestStatus, RunEvent, ValidatorResult};
use aura_reference::TargetConfig;

/// How long a batch waits to fill before it is checked as it is.
const BATCH_WAIT: Duration = Duration::from_secs(1);

/// Whether a finished request is one the validators check: one that ran to the end,
/// or that `[expect]` let off with a decision; not one a recovery strategy skipped.
pub fn validated(r: &RequestResult) -> bool {
    matches!(r.status, RequestStatus::Passed | RequestStatus::Failed)
        || (r.status == RequestStatus::Degraded && r.decision.is_some())
}

/// What the validators of one scenario run with.
pub struct Validating<'a> {
    pub plugins: &'a PluginSet,
    pub target: &'a TargetConfig,
    pub recorder: &'a Arc<Recorder>,
    pub scenario: &'a Scenario,
    pub namespace: &'a str,
    /// The scenario's deadline.
    pub until: Option<Instant>,
    /// Every call's result so far, kept only for thresholds judged on them while the
    /// load runs (a soak's checks would otherwise be held twice).
    pub seen: Option<Mutex<Vec<ValidatorResult>>>,
}

impl Validating<'_> {
    /// What the validators have found so far, each folded into one result.
    pub fn so_far(&self) -> Vec<ValidatorResult> {
        self.seen.as_ref().map_or_else(Vec::new, |seen| {
            seen.lock().unwrap_or_else(PoisonError::into_inner).clone()
        })
    }

    /// Validates the request ids that arrive on `ids` until it closes: in calls of at
    /// most `batch` ids, or in one call for all of them (`None`, even for none). Each
    /// validator's calls are folded into one result.
    pub async fn run(
        &self,
        mut ids: UnboundedReceiver<String>,
        batch: Option<usize>,
    ) -> Vec<ValidatorResult> {
        let mut results = Vec::new();
        let Some(size) = batch else {
            let mut all = Vec::new();
            while let Some(id) = ids.recv().await {
                all.push(id);
            }
            for r in self.call(&all, 0).await {
                crate::report::add_validator(&mut results, r);
            }
            return results;
        };
        let mut n = 0;
        let mut open = true;
        while open {
            let Some(first) = ids.recv().await else { break };
            let mut chunk = vec![first];
            let full_by = tokio::time::Instant::now() + BATCH_WAIT;
            while chunk.len() < size.max(1) {
                match tokio::time::timeout_at(full_by, ids.recv()).await {
                    Ok(Some(id)) => chunk.push(id),
                    Ok(None) => {
                        open = false;
                        break;
                    }
                    Err(_) => break,
                }
            }
            n += 1;
            for r in self.call(&chunk, n).await {
                crate::report::add_validator(&mut results, r);
            }
        }
        // No request to check is still a verdict to give: validators called on none.
        if n == 0 {
            for r in self.call(&[], 0).await {
                crate::report::add_validator(&mut results, r);
            }
        }
        results
    }

    /// Every validator on `ids` at once; each result journaled as batch `n`.
    async fn call(&self, ids: &[String], n: u32) -> Vec<ValidatorResult> {
        let calls = self
            .plugins
            .validators(&self.scenario.id)
            .iter()
            .map(|v| async {
                let mut r = plugins::validate(
                    &self.plugins.runtime,
                    v,
                    self.namespace,
                    self.scenario,
                    self.target,
                    ids,
                    self.until,
                )
                .await;
                r.batch = n;
                if let Some(seen) = &self.seen {
                    crate::report::add_validator(
                        &mut seen.lock().unwrap_or_else(PoisonError::into_inner),
                        r.clone(),
                    );
                }
                self.recorder.record(RunEvent::ValidatorFinished {
                    scenario: self.scenario.id.clone(),
                    result: r.clone(),
                });
                r
            });
        futures::future::join_all(calls).await
    }
}
