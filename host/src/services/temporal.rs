//! Temporal through the Rust SDK's client: connect, namespace check and a readiness probe
//! (the gRPC health service plus `GetSystemInfo`).

use async_trait::async_trait;
use temporalio_client::tonic::IntoRequest;
use temporalio_client::{Connection, ConnectionOptions, Url};
use temporalio_common::protos::grpc::health::v1::HealthCheckRequest;
use temporalio_common::protos::grpc::health::v1::health_check_response::ServingStatus;
use temporalio_common::protos::temporal::api::enums::v1::NamespaceState;
use temporalio_common::protos::temporal::api::workflowservice::v1::{
    DescribeNamespaceRequest, GetSystemInfoRequest,
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

#[async_trait]
pub trait Workflows: Send + Sync {
    fn address(&self) -> &str;
    /// Fails unless the configured namespace exists and is registered.
    async fn check_namespace(&self) -> Result<NamespaceInfo, ServiceError>;
    /// Serving status, server version and namespace.
    async fn probe(&self) -> Result<ServiceFacts, ServiceError>;
}

#[derive(Clone)]
pub struct TemporalWorkflows {
    endpoint: Endpoint,
    namespace: String,
    connection: Connection,
}

impl TemporalWorkflows {
    pub async fn connect(config: &TemporalConfig) -> Result<Self, ServiceError> {
        let endpoint = Endpoint::new(ServiceKind::Temporal, config.url.clone(), config.timeout);
        let url =
            Url::parse(&config.url).map_err(|e| endpoint.error(Failure::Address(e.to_string())))?;
        let options = ConnectionOptions::new(url)
            .identity(format!("aura-host@{}", std::process::id()))
            .connect_timeout(config.timeout)
            .build();
        // `connect` itself makes a GetSystemInfo round trip.
        let connection = endpoint
            .connect(|| Connection::connect(options.clone()))
            .await?;
        Ok(Self {
            endpoint,
            namespace: config.namespace.clone(),
            connection,
        })
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
