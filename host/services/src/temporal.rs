//! Temporal through the Rust SDK's client: connect, namespace check and a readiness probe
//! (the gRPC health service plus `GetSystemInfo`).

use std::collections::HashMap;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use temporalio_client::tonic::IntoRequest;
use temporalio_client::{ClientOptions, Connection, ConnectionOptions, Url};
use temporalio_common::protos::constants::LOCAL_ACTIVITY_MARKER_NAME;
use temporalio_common::protos::coresdk::common::extract_local_activity_marker_data;
use temporalio_common::protos::grpc::health::v1::HealthCheckRequest;
use temporalio_common::protos::grpc::health::v1::health_check_response::ServingStatus;
use temporalio_common::protos::temporal::api::common::v1::{Payloads, WorkflowExecution};
use temporalio_common::protos::temporal::api::enums::v1::NamespaceState;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_common::protos::temporal::api::workflowservice::v1::{
    CountWorkflowExecutionsRequest, DescribeNamespaceRequest, GetSystemInfoRequest,
    GetWorkflowExecutionHistoryRequest, ListWorkflowExecutionsRequest,
    TerminateWorkflowExecutionRequest,
};

use super::{Endpoint, Failure, ServiceError, ServiceFacts, ServiceKind};
use crate::config::TemporalConfig;

/// The frontend's gRPC service name, as registered with the health service.
const FRONTEND: &str = "temporal.api.workflowservice.v1.WorkflowService";

#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceInfo {
    pub name: String,
    pub state: String,
}

/// A workflow execution as validators see it: status, result and what its activities did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExecutionSummary {
    pub workflow_id: String,
    /// Temporal's status name without its prefix: `RUNNING`, `COMPLETED`, `FAILED`, ...
    pub status: String,
    /// The result payload (JSON) of a completed execution.
    pub result: Option<String>,
    pub history_length: u32,
    /// In the order the activities were first scheduled.
    pub activities: Vec<ActivitySummary>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActivitySummary {
    pub activity_type: String,
    /// Attempts started; Temporal records retried attempts only as the final one's number.
    pub attempts: u32,
    pub failures: u32,
    pub last_failure: Option<String>,
}

impl ExecutionSummary {
    /// The index of `activity_type`'s entry, added if it is new.
    fn entry(&mut self, activity_type: String) -> usize {
        match self
            .activities
            .iter()
            .position(|s| s.activity_type == activity_type)
        {
            Some(i) => i,
            None => {
                self.activities.push(ActivitySummary {
                    activity_type,
                    ..ActivitySummary::default()
                });
                self.activities.len() - 1
            }
        }
    }
}

impl ActivitySummary {
    /// Counts an execution whose final attempt was `attempt`: the ones before it failed.
    fn attempted(&mut self, attempt: u32, last_failure: Option<String>) {
        let attempts = attempt.max(1);
        self.attempts += attempts;
        self.failures += attempts - 1;
        if last_failure.is_some() {
            self.last_failure = last_failure;
        }
    }
}

#[async_trait]
pub trait Workflows: Send + Sync {
    fn address(&self) -> &str;
    /// Fails unless the configured namespace exists and is registered.
    async fn check_namespace(&self) -> Result<NamespaceInfo, ServiceError>;
    /// Status and history summary of the latest run of `workflow_id`.
    async fn describe_execution(&self, workflow_id: &str)
    -> Result<ExecutionSummary, ServiceError>;
    /// Serving status, server version and namespace.
    async fn probe(&self) -> Result<ServiceFacts, ServiceError>;
    /// Terminates those of `workflow_ids` that are still running, by id (exact, where a
    /// visibility query can lag behind a workflow just started); returns them.
    async fn terminate(
        &self,
        workflow_ids: &[String],
        reason: &str,
    ) -> Result<Vec<String>, ServiceError>;
    /// How many workflows on `task_queue` are running (visibility may lag a moment).
    async fn count_open(&self, task_queue: &str) -> Result<u64, ServiceError>;
    /// Terminates every running workflow on `task_queue` (a run's own), saying `reason`;
    /// returns their workflow ids.
    async fn terminate_queue(
        &self,
        task_queue: &str,
        reason: &str,
    ) -> Result<Vec<String>, ServiceError>;
    /// Ends a run's open workflows: those it recorded, by id, then any other on its own
    /// task queue. Returns the ids terminated.
    async fn end_run(
        &self,
        workflow_ids: &[String],
        task_queue: &str,
        reason: &str,
    ) -> Result<Vec<String>, ServiceError> {
        let mut ended = self.terminate(workflow_ids, reason).await?;
        for id in self.terminate_queue(task_queue, reason).await? {
            if !ended.contains(&id) {
                ended.push(id);
            }
        }
        Ok(ended)
    }
}

/// Visibility's query for the running workflows of a task queue: the queue name is
/// quoted, and has no quote itself.
fn running_on(task_queue: &str) -> String {
    format!(
        "TaskQueue = '{}' AND ExecutionStatus = 'Running'",
        task_queue.replace('\'', "")
    )
}

#[derive(Clone)]
pub struct TemporalWorkflows {
    endpoint: Endpoint,
    namespace: String,
    connection: Connection,
    summaries: Arc<Summaries>,
}

/// A summary being read, shared by everyone who asks for it meanwhile.
type Reading = Shared<BoxFuture<'static, Result<ExecutionSummary, ServiceError>>>;

/// Summaries of closed executions, read once for every validator that asks: a closed
/// execution's history no longer changes. Bounded in entries and in age (a workflow id
/// started again after a reset names a new execution). Validators that ask for the
/// same execution at the same time share one read.
#[derive(Default)]
struct Summaries {
    closed: std::sync::Mutex<HashMap<String, (Instant, ExecutionSummary)>>,
    reading: std::sync::Mutex<HashMap<String, Reading>>,
}

fn locked<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Summaries {
    const ENTRIES: usize = 4096;
    const AGE: Duration = Duration::from_secs(60);

    fn get(&self, workflow_id: &str) -> Option<ExecutionSummary> {
        let closed = locked(&self.closed);
        let (at, summary) = closed.get(workflow_id)?;
        (at.elapsed() < Self::AGE).then(|| summary.clone())
    }

    fn keep(&self, summary: &ExecutionSummary) {
        if summary.status == "RUNNING" {
            return;
        }
        let mut closed = locked(&self.closed);
        if closed.len() >= Self::ENTRIES {
            closed.retain(|_, (at, _)| at.elapsed() < Self::AGE);
            if closed.len() >= Self::ENTRIES {
                closed.clear();
            }
        }
        closed.insert(
            summary.workflow_id.clone(),
            (Instant::now(), summary.clone()),
        );
    }

    /// The read of `workflow_id` in flight, or `start` as the new one.
    fn reading(&self, workflow_id: &str, start: impl FnOnce() -> Reading) -> Reading {
        locked(&self.reading)
            .entry(workflow_id.to_string())
            .or_insert_with(start)
            .clone()
    }

    fn done(&self, workflow_id: &str) {
        locked(&self.reading).remove(workflow_id);
    }
}

impl TemporalWorkflows {
    /// One history read: the status from its close event (if any), the result, and
    /// what each activity did.
    async fn read_summary(&self, workflow_id: &str) -> Result<ExecutionSummary, ServiceError> {
        let mut service = self.connection.workflow_service();
        let execution = WorkflowExecution {
            workflow_id: workflow_id.to_string(),
            run_id: String::new(),
        };
        let operation = format!("describe workflow '{workflow_id}'");
        // One history read answers everything (status from its close event, if any):
        // half the round trips of DescribeWorkflowExecution and then the history.
        let mut summary = ExecutionSummary {
            workflow_id: workflow_id.to_string(),
            status: "RUNNING".to_string(),
            ..ExecutionSummary::default()
        };
        let mut scheduled: Vec<(i64, usize)> = Vec::new();
        let mut page = Vec::new();
        loop {
            let request = GetWorkflowExecutionHistoryRequest {
                namespace: self.namespace.clone(),
                execution: Some(execution.clone()),
                next_page_token: page,
                ..Default::default()
            };
            let reply = self
                .endpoint
                .call(
                    &operation,
                    service.get_workflow_execution_history(request.into_request()),
                )
                .await?
                .into_inner();
            for event in reply.history.map(|h| h.events).unwrap_or_default() {
                summary.history_length = summary.history_length.saturating_add(1);
                summarise_event(
                    &mut summary,
                    &mut scheduled,
                    event.event_id,
                    event.attributes,
                );
            }
            if reply.next_page_token.is_empty() {
                break;
            }
            page = reply.next_page_token;
        }
        Ok(summary)
    }

    pub async fn connect(config: &TemporalConfig) -> Result<Self, ServiceError> {
        let (endpoint, connection) = connect(config, "aura-host").await?;
        Ok(Self {
            endpoint,
            namespace: config.namespace.clone(),
            connection,
            summaries: Arc::default(),
        })
    }

    /// Terminates each execution still running, 32 at a time; one already closed, or
    /// never started, is skipped.
    async fn terminate_each(
        &self,
        executions: Vec<WorkflowExecution>,
        reason: &str,
    ) -> Result<Vec<String>, ServiceError> {
        use futures::StreamExt;
        let calls = executions.into_iter().map(|execution| {
            let mut service = self.connection.workflow_service();
            let id = execution.workflow_id.clone();
            let terminate = TerminateWorkflowExecutionRequest {
                namespace: self.namespace.clone(),
                workflow_execution: Some(execution),
                reason: reason.to_string(),
                identity: format!("aura-host@{}", std::process::id()),
                ..Default::default()
            };
            async move {
                let ended = self
                    .endpoint
                    .call(
                        &format!("terminate workflow '{id}'"),
                        service.terminate_workflow_execution(terminate.into_request()),
                    )
                    .await;
                match ended {
                    Ok(_) => Ok(Some(id)),
                    Err(e) if is_closed_or_missing(&e) => Ok(None),
                    Err(e) => Err(e),
                }
            }
        });
        let results: Vec<Result<Option<String>, ServiceError>> = futures::stream::iter(calls)
            .buffer_unordered(32)
            .collect()
            .await;
        let mut ended = Vec::new();
        for r in results {
            ended.extend(r?);
        }
        Ok(ended)
    }

    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    async fn serving_status(&self) -> Result<ServingStatus, ServiceError> {
        let mut health = self.connection.health_service();
        let request = HealthCheckRequest {
            service: FRONTEND.to_string(),
        };
        let reply = self
            .endpoint
            .call("health check", health.check(request.into_request()))
            .await?;
        Ok(reply.into_inner().status())
    }
}

#[async_trait]
impl Workflows for TemporalWorkflows {
    fn address(&self) -> &str {
        &self.endpoint.address
    }

    async fn check_namespace(&self) -> Result<NamespaceInfo, ServiceError> {
        let mut service = self.connection.workflow_service();
        let request = DescribeNamespaceRequest {
            namespace: self.namespace.clone(),
            ..Default::default()
        };
        let operation = format!("describe namespace '{}'", self.namespace);
        let reply = self
            .endpoint
            .call(
                &operation,
                service.describe_namespace(request.into_request()),
            )
            .await?
            .into_inner();
        let state = reply
            .namespace_info
            .map(|i| i.state())
            .unwrap_or(NamespaceState::Unspecified);
        if state != NamespaceState::Registered {
            return Err(self
                .endpoint
                .op_error(&operation, format!("namespace is {}", state.as_str_name())));
        }
        Ok(NamespaceInfo {
            name: self.namespace.clone(),
            state: state.as_str_name().to_string(),
        })
    }

    async fn terminate(
        &self,
        workflow_ids: &[String],
        reason: &str,
    ) -> Result<Vec<String>, ServiceError> {
        let executions = workflow_ids
            .iter()
            .map(|id| WorkflowExecution {
                workflow_id: id.clone(),
                run_id: String::new(),
            })
            .collect();
        self.terminate_each(executions, reason).await
    }

    async fn count_open(&self, task_queue: &str) -> Result<u64, ServiceError> {
        let mut service = self.connection.workflow_service();
        let count = CountWorkflowExecutionsRequest {
            namespace: self.namespace.clone(),
            query: running_on(task_queue),
        };
        let reply = self
            .endpoint
            .call(
                &format!("count the running workflows of task queue '{task_queue}'"),
                service.count_workflow_executions(count.into_request()),
            )
            .await?
            .into_inner();
        Ok(u64::try_from(reply.count).unwrap_or(0))
    }

    async fn terminate_queue(
        &self,
        task_queue: &str,
        reason: &str,
    ) -> Result<Vec<String>, ServiceError> {
        let mut service = self.connection.workflow_service();
        let operation = format!("terminate the workflows of task queue '{task_queue}'");
        let query = running_on(task_queue);
        let mut running = Vec::new();
        let mut page = Vec::new();
        loop {
            let list = ListWorkflowExecutionsRequest {
                namespace: self.namespace.clone(),
                page_size: 1000,
                next_page_token: page,
                query: query.clone(),
            };
            let reply = self
                .endpoint
                .call(
                    &operation,
                    service.list_workflow_executions(list.into_request()),
                )
                .await?
                .into_inner();
            running.extend(reply.executions.into_iter().filter_map(|e| e.execution));
            if reply.next_page_token.is_empty() {
                break;
            }
            page = reply.next_page_token;
        }
        self.terminate_each(running, reason).await
    }

    async fn describe_execution(
        &self,
        workflow_id: &str,
    ) -> Result<ExecutionSummary, ServiceError> {
        if let Some(summary) = self.summaries.get(workflow_id) {
            return Ok(summary);
        }
        let reading = self.summaries.reading(workflow_id, || {
            let (this, id) = (self.clone(), workflow_id.to_string());
            async move { this.read_summary(&id).await }.boxed().shared()
        });
        let summary = reading.await;
        self.summaries.done(workflow_id);
        if let Ok(s) = &summary {
            self.summaries.keep(s);
        }
        summary
    }

    async fn probe(&self) -> Result<ServiceFacts, ServiceError> {
        let status = self.serving_status().await?;
        if status != ServingStatus::Serving {
            return Err(self.endpoint.protocol_error(
                "health check",
                format!("frontend is {}", status.as_str_name()),
            ));
        }
        let mut service = self.connection.workflow_service();
        let info = self
            .endpoint
            .call(
                "GetSystemInfo",
                service.get_system_info(GetSystemInfoRequest::default().into_request()),
            )
            .await?
            .into_inner();
        let namespace = self.check_namespace().await?;
        Ok(ServiceFacts {
            version: Some(format!("Temporal Server {}", info.server_version)),
            ..ServiceFacts::default()
        }
        .with("serving_status", status.as_str_name())
        .with("namespace", namespace.name)
        .with("namespace_state", namespace.state))
    }
}

/// Folds one history event into the summary; `scheduled` maps scheduled-event ids to
/// activity entries.
fn summarise_event(
    summary: &mut ExecutionSummary,
    scheduled: &mut Vec<(i64, usize)>,
    event_id: i64,
    attributes: Option<Attributes>,
) {
    let activity = |scheduled: &Vec<(i64, usize)>, id: i64| {
        scheduled.iter().find(|(e, _)| *e == id).map(|(_, i)| *i)
    };
    match attributes {
        Some(Attributes::ActivityTaskScheduledEventAttributes(a)) => {
            let name = a.activity_type.map(|t| t.name).unwrap_or_default();
            let index = summary.entry(name);
            scheduled.push((event_id, index));
        }
        Some(Attributes::ActivityTaskStartedEventAttributes(a)) => {
            if let Some(i) = activity(scheduled, a.scheduled_event_id) {
                let attempt = u32::try_from(a.attempt).unwrap_or(1);
                summary.activities[i].attempted(attempt, a.last_failure.map(|f| f.message));
            }
        }
        // A local activity leaves one marker: its final attempt's number and, if it
        // failed, the failure. One that backs off on a timer leaves a marker with
        // `backoff` set, continued by a later marker that counts its attempts again.
        Some(Attributes::MarkerRecordedEventAttributes(m))
            if m.marker_name == LOCAL_ACTIVITY_MARKER_NAME =>
        {
            let Some(data) = extract_local_activity_marker_data(&m.details) else {
                return;
            };
            let index = summary.entry(data.activity_type);
            let s = &mut summary.activities[index];
            let failure = m.failure.map(|f| f.message);
            if data.backoff.is_some() {
                s.last_failure = failure.or(s.last_failure.take());
                return;
            }
            let failed = failure.is_some();
            s.attempted(data.attempt, failure);
            s.failures += u32::from(failed);
        }
        Some(Attributes::ActivityTaskFailedEventAttributes(a)) => {
            if let Some(i) = activity(scheduled, a.scheduled_event_id) {
                summary.activities[i].failures += 1;
                summary.activities[i].last_failure = a.failure.map(|f| f.message);
            }
        }
        Some(Attributes::ActivityTaskTimedOutEventAttributes(a)) => {
            if let Some(i) = activity(scheduled, a.scheduled_event_id) {
                summary.activities[i].failures += 1;
                summary.activities[i].last_failure = a.failure.map(|f| f.message);
            }
        }
        Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => {
            summary.status = "COMPLETED".into();
            summary.result = a.result.as_ref().and_then(payload_text);
        }
        Some(Attributes::WorkflowExecutionFailedEventAttributes(_)) => {
            summary.status = "FAILED".into()
        }
        Some(Attributes::WorkflowExecutionTimedOutEventAttributes(_)) => {
            summary.status = "TIMED_OUT".into()
        }
        Some(Attributes::WorkflowExecutionCanceledEventAttributes(_)) => {
            summary.status = "CANCELED".into()
        }
        Some(Attributes::WorkflowExecutionTerminatedEventAttributes(_)) => {
            summary.status = "TERMINATED".into()
        }
        Some(Attributes::WorkflowExecutionContinuedAsNewEventAttributes(_)) => {
            summary.status = "CONTINUED_AS_NEW".into()
        }
        _ => {}
    }
}

/// The first payload's data as text (the JSON converter's encoding).
fn payload_text(payloads: &Payloads) -> Option<String> {
    payloads
        .payloads
        .first()
        .map(|p| String::from_utf8_lossy(&p.data).into_owned())
}

/// Temporal's answer to terminating a workflow that already ended or never existed.
fn is_closed_or_missing(e: &ServiceError) -> bool {
    let text = e.to_string();
    text.contains("already completed") || text.contains("not found")
}

/// A connection to `config`'s server as `identity` (what the server shows as the caller),
/// with the endpoint its errors are named by. `connect` itself makes a GetSystemInfo
/// round trip, so a server that is not there fails here.
async fn connect(
    config: &TemporalConfig,
    identity: &str,
) -> Result<(Endpoint, Connection), ServiceError> {
    let endpoint = Endpoint::new(ServiceKind::Temporal, config.url.clone(), config.timeout);
    let url =
        Url::parse(&config.url).map_err(|e| endpoint.error(Failure::Address(e.to_string())))?;
    let options = ConnectionOptions::new(url)
        .identity(format!("{identity}@{}", std::process::id()))
        .connect_timeout(config.timeout)
        .build();
    let connection = endpoint
        .connect(|| Connection::connect(options.clone()))
        .await?;
    Ok((endpoint, connection))
}

/// A Temporal SDK client on `config`'s namespace, as `identity`: for workers and
/// schedules, which the SDK's own types drive.
pub async fn client(
    config: &TemporalConfig,
    identity: &str,
) -> Result<temporalio_client::Client, ServiceError> {
    let (endpoint, connection) = connect(config, identity).await?;
    temporalio_client::Client::new(
        connection,
        ClientOptions::new(config.namespace.clone()).build(),
    )
    .map_err(|e| endpoint.error(Failure::Connect(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use temporalio_common::protos::coresdk::common::build_local_activity_marker_details;
    use temporalio_common::protos::coresdk::external_data::LocalActivityMarkerData;
    use temporalio_common::protos::temporal::api::failure::v1::Failure as TemporalFailure;
    use temporalio_common::protos::temporal::api::history::v1::MarkerRecordedEventAttributes;

    fn marker(
        activity_type: &str,
        attempt: u32,
        backoff: bool,
        failure: Option<&str>,
    ) -> Attributes {
        let data = LocalActivityMarkerData {
            seq: 1,
            attempt,
            activity_id: "1".into(),
            activity_type: activity_type.into(),
            backoff: backoff.then(Default::default),
            ..Default::default()
        };
        Attributes::MarkerRecordedEventAttributes(MarkerRecordedEventAttributes {
            marker_name: LOCAL_ACTIVITY_MARKER_NAME.into(),
            details: build_local_activity_marker_details(data, None),
            failure: failure.map(|m| TemporalFailure {
                message: m.into(),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn summarise(events: Vec<Attributes>) -> ExecutionSummary {
        let mut summary = ExecutionSummary::default();
        let mut scheduled = Vec::new();
        for (id, e) in events.into_iter().enumerate() {
            summarise_event(&mut summary, &mut scheduled, id as i64 + 1, Some(e));
        }
        summary
    }

    #[test]
    fn local_activity_markers_count_attempts_and_failures() {
        let s = summarise(vec![
            marker("validate_request", 1, false, None),
            marker("allocate_devices", 3, false, None),
            marker("persist_decision", 2, false, Some("graph down")),
        ]);
        let got: Vec<_> = s
            .activities
            .iter()
            .map(|a| (a.activity_type.as_str(), a.attempts, a.failures))
            .collect();
        assert_eq!(
            got,
            [
                ("validate_request", 1, 0),
                ("allocate_devices", 3, 2),
                ("persist_decision", 2, 2)
            ]
        );
        assert_eq!(s.activities[2].last_failure.as_deref(), Some("graph down"));
    }

    #[test]
    fn a_local_activity_backing_off_on_a_timer_is_counted_once() {
        let s = summarise(vec![
            marker("cache_context", 4, true, Some("redis down")),
            marker("cache_context", 6, false, None),
        ]);
        assert_eq!(s.activities.len(), 1);
        let a = &s.activities[0];
        assert_eq!((a.attempts, a.failures), (6, 5));
        assert_eq!(a.last_failure.as_deref(), Some("redis down"));
    }

    #[test]
    fn other_markers_are_not_activities() {
        let mut patch = marker("x", 1, false, None);
        if let Attributes::MarkerRecordedEventAttributes(m) = &mut patch {
            m.marker_name = "core_patch".into();
        }
        assert!(summarise(vec![patch]).activities.is_empty());
    }
}
