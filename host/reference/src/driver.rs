//! How the host drives a target: one trait, two ways. In-process calls the [`Target`]
//! directly (no HTTP hop); HTTP talks to `aura-host target serve` in another process or
//! on another machine. Both start real Temporal workflows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;

use super::http::format_timeouts;
use super::{DecisionState, GpuAllocationRequest, Readiness, Submitted, Target, TargetError};
use aura_services::namespace::RunId;
use aura_services::trace::WorkflowTrace;

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(transparent)]
    Target(#[from] TargetError),
    /// A store the driver itself uses (a distributed run's claims).
    #[error(transparent)]
    Service(#[from] aura_services::ServiceError),
    #[error("target {url}: {reason}")]
    Http { url: String, reason: String },
    #[error("target {url}: {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
}

#[async_trait]
pub trait TargetDriver: Send + Sync {
    /// Starts the request's workflow.
    async fn submit(&self, request: &GpuAllocationRequest) -> Result<Submitted, DriverError> {
        self.submit_with(request, &BTreeMap::new()).await
    }
    /// Starts the request's workflow, some steps with their own timeout.
    async fn submit_with(
        &self,
        request: &GpuAllocationRequest,
        step_timeouts: &BTreeMap<String, Duration>,
    ) -> Result<Submitted, DriverError>;
    /// Its decision, waiting up to `wait` while the workflow runs.
    async fn decision(
        &self,
        request_id: &str,
        wait: Duration,
    ) -> Result<DecisionState, DriverError>;
    async fn trace(&self, request_id: &str) -> Result<Option<WorkflowTrace>, DriverError>;
    async fn readiness(&self) -> Result<Readiness, DriverError>;
}

/// The target in this process: in its own run, or in another run's namespace (a
/// scenario of a larger run); one worker serves them all.
pub struct InProcess {
    target: Arc<Target>,
    run: RunId,
}

impl InProcess {
    /// In the target's own run.
    pub fn new(target: Arc<Target>) -> Self {
        let run = target.run_id().clone();
        Self { target, run }
    }

    /// In the namespace of `run`.
    /// The same target, in another run's namespace.
    pub fn elsewhere(&self, run: RunId) -> Self {
        Self {
            target: self.target.clone(),
            run,
        }
    }

    pub fn in_run(target: Arc<Target>, run: RunId) -> Self {
        Self { target, run }
    }
}

#[async_trait]
impl TargetDriver for InProcess {
    async fn submit_with(
        &self,
        request: &GpuAllocationRequest,
        step_timeouts: &BTreeMap<String, Duration>,
    ) -> Result<Submitted, DriverError> {
        Ok(self
            .target
            .submit_in(&self.run, request.clone(), step_timeouts)
            .await?)
    }

    async fn decision(
        &self,
        request_id: &str,
        wait: Duration,
    ) -> Result<DecisionState, DriverError> {
        Ok(self.target.decision_in(&self.run, request_id, wait).await?)
    }

    async fn trace(&self, request_id: &str) -> Result<Option<WorkflowTrace>, DriverError> {
        Ok(self.target.trace_in(&self.run, request_id).await?)
    }

    async fn readiness(&self) -> Result<Readiness, DriverError> {
        Ok(self.target.readiness().await)
    }
}

/// The largest answer read from a served target (a decision or a trace is kilobytes).
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// A target behind `aura-host target serve`, e.g. `http://127.0.0.1:8080`.
pub struct Http {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
    /// The namespace its requests go in (`run=`); `None`: the target's own.
    run: Option<RunId>,
}

/// What a served target says of itself at `/health`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Health {
    pub run_id: String,
    pub task_queue: String,
    pub version: String,
}

impl Http {
    pub fn new(base: &str, timeout: Duration) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            timeout,
            run: None,
        }
    }

    /// The same target, its requests in the namespace of `run` (one connection pool).
    pub fn in_run(&self, run: RunId) -> Self {
        Self {
            base: self.base.clone(),
            client: self.client.clone(),
            timeout: self.timeout,
            run: Some(run),
        }
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// Its run id, task queue and version.
    pub async fn health(&self) -> Result<Health, DriverError> {
        let (status, bytes) = self
            .send(hyper::Method::GET, "/health", None, Duration::ZERO)
            .await?;
        self.parse("/health", status, &bytes)
    }

    /// `path` with the namespace's `run=` added to its query.
    fn in_namespace(&self, path: String) -> String {
        match &self.run {
            None => path,
            Some(r) if path.contains('?') => format!("{path}&run={r}"),
            Some(r) => format!("{path}?run={r}"),
        }
    }

    /// Sends a request; returns the status and body. `extra` widens the timeout for
    /// calls that wait on the server side.
    async fn send(
        &self,
        method: hyper::Method,
        path: &str,
        body: Option<Vec<u8>>,
        extra: Duration,
    ) -> Result<(u16, Bytes), DriverError> {
        let url = format!("{}{path}", self.base);
        let err = |reason: String| DriverError::Http {
            url: url.clone(),
            reason,
        };
        let request = hyper::Request::builder()
            .method(method)
            .uri(&url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| err(aura_services::error_chain(&e)))?;
        let limit = self.timeout + extra;
        let response = tokio::time::timeout(limit, async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| err(aura_services::error_chain(&e)))?;
            let status = response.status().as_u16();
            // Whatever answers at the URL, an answer past the bound is an error, not
            // memory taken.
            let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| err(format!("answer: {e} (at most {MAX_ANSWER} bytes)")))?
                .to_bytes();
            Ok::<_, DriverError>((status, body))
        })
        .await
        .map_err(|_| err(format!("no answer within {limit:?}")))??;
        Ok(response)
    }

    fn parse<T: DeserializeOwned>(
        &self,
        path: &str,
        status: u16,
        body: &Bytes,
    ) -> Result<T, DriverError> {
        let url = format!("{}{path}", self.base);
        if !(200..300).contains(&status) {
            return Err(DriverError::Status {
                url,
                status,
                body: String::from_utf8_lossy(body).into_owned(),
            });
        }
        serde_json::from_slice(body).map_err(|e| DriverError::Http {
            url,
            reason: format!("unexpected answer: {e}"),
        })
    }
}

#[async_trait]
impl TargetDriver for Http {
    async fn submit_with(
        &self,
        request: &GpuAllocationRequest,
        step_timeouts: &BTreeMap<String, Duration>,
    ) -> Result<Submitted, DriverError> {
        let body = serde_json::to_vec(request).map_err(|e| DriverError::Http {
            url: self.base.clone(),
            reason: e.to_string(),
        })?;
        let path = self.in_namespace(match step_timeouts.is_empty() {
            true => "/requests".to_string(),
            false => format!(
                "/requests?step_timeouts_ms={}",
                format_timeouts(step_timeouts)
            ),
        });
        let (status, bytes) = self
            .send(hyper::Method::POST, &path, Some(body), Duration::ZERO)
            .await?;
        self.parse(&path, status, &bytes)
    }

    async fn decision(
        &self,
        request_id: &str,
        wait: Duration,
    ) -> Result<DecisionState, DriverError> {
        let path = self.in_namespace(format!(
            "/requests/{request_id}/decision?wait_ms={}",
            wait.as_millis()
        ));
        let (status, bytes) = self.send(hyper::Method::GET, &path, None, wait).await?;
        if status == 404 {
            return Ok(DecisionState::Unknown);
        }
        self.parse(&path, status, &bytes)
    }

    async fn trace(&self, request_id: &str) -> Result<Option<WorkflowTrace>, DriverError> {
        let path = self.in_namespace(format!("/requests/{request_id}/trace"));
        let (status, bytes) = self
            .send(hyper::Method::GET, &path, None, Duration::ZERO)
            .await?;
        if status == 404 {
            return Ok(None);
        }
        self.parse(&path, status, &bytes)
    }

    async fn readiness(&self) -> Result<Readiness, DriverError> {
        let (status, bytes) = self
            .send(hyper::Method::GET, "/ready", None, Duration::from_secs(30))
            .await?;
        // 503 is the not-ready answer, with the same body.
        let status = if status == 503 { 200 } else { status };
        self.parse("/ready", status, &bytes)
    }
}
