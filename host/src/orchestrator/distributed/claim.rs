//! The target driver of a slice: a request is submitted once across every attempt of
//! every slice. Before submitting, a worker claims the request in Redis; a request an
//! earlier attempt claimed is awaited instead, unless its workflow never started (that
//! attempt died in between), in which case it is submitted now.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use aura_contract::names;
use aura_reference::driver::{DriverError, InProcess, TargetDriver};
use aura_reference::{DecisionState, GpuAllocationRequest, Readiness, Submitted, TargetError};
use aura_services::ServiceHub;
use aura_services::trace::WorkflowTrace;

/// How long a claim lasts: longer than any run.
const CLAIM_TTL: Duration = Duration::from_secs(24 * 3600);
/// Long enough for the server to say a workflow does not exist; a workflow that does
/// exist and still runs keeps the question waiting this long.
const EXISTS_WAIT: Duration = Duration::from_secs(5);

pub struct Claiming {
    pub inner: InProcess,
    pub hub: Arc<ServiceHub>,
    /// The namespace the requests run in.
    pub namespace: String,
    /// This attempt of this slice: a claim it made is its own.
    pub owner: String,
}

fn submitted(namespace: &str, request_id: &str) -> Submitted {
    Submitted {
        run_id: namespace.to_string(),
        request_id: request_id.to_string(),
        workflow_id: names::workflow_id(namespace, request_id),
    }
}

#[async_trait]
impl TargetDriver for Claiming {
    async fn submit_with(
        &self,
        request: &GpuAllocationRequest,
        step_timeouts: &BTreeMap<String, Duration>,
    ) -> Result<Submitted, DriverError> {
        let id = &request.request_id;
        let cache = self.hub.cache().await?;
        let key = names::submitted_key(&self.namespace, id);
        let mine = !cache
            .lease(&[key], 1, &self.owner, CLAIM_TTL)
            .await?
            .is_empty();
        if !mine {
            // Claimed by an earlier attempt: its workflow stands for the request, if
            // that attempt lived to start it.
            match self.inner.decision(id, EXISTS_WAIT).await? {
                DecisionState::Unknown => {}
                _ => return Ok(submitted(&self.namespace, id)),
            }
        }
        match self.inner.submit_with(request, step_timeouts).await {
            Err(DriverError::Target(TargetError::Duplicate(_))) => {
                Ok(submitted(&self.namespace, id))
            }
            other => other,
        }
    }

    async fn decision(
        &self,
        request_id: &str,
        wait: Duration,
    ) -> Result<DecisionState, DriverError> {
        self.inner.decision(request_id, wait).await
    }

    async fn trace(&self, request_id: &str) -> Result<Option<WorkflowTrace>, DriverError> {
        self.inner.trace(request_id).await
    }

    async fn readiness(&self) -> Result<Readiness, DriverError> {
        self.inner.readiness().await
    }
}
