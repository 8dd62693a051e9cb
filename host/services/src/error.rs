use std::time::Duration;

use super::ServiceKind;

/// Every failure names the service, the address and what failed, so a user can act on the
/// message alone.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{service} at {address}: {failure}")]
pub struct ServiceError {
    pub service: ServiceKind,
    pub address: String,
    pub failure: Failure,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum Failure {
    #[error("bad address: {0}")]
    Address(String),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{operation} failed: {detail}")]
    Operation { operation: String, detail: String },
    #[error("unexpected reply to {operation}: {detail}")]
    Protocol { operation: String, detail: String },
    #[error("the answer to {operation} has more than the {max} {unit} allowed")]
    TooLarge {
        operation: String,
        max: usize,
        unit: &'static str,
    },
}

impl ServiceError {
    pub fn new(service: ServiceKind, address: impl Into<String>, failure: Failure) -> Self {
        Self {
            service,
            address: address.into(),
            failure,
        }
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self.failure, Failure::Timeout(_))
    }

    /// The answer was refused for its size: the caller asked for too much.
    pub fn is_too_large(&self) -> bool {
        matches!(self.failure, Failure::TooLarge { .. })
    }
}

/// The service and address an operation runs against; builds its errors and bounds its time.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub service: ServiceKind,
    pub address: String,
    pub timeout: Duration,
}

impl Endpoint {
    pub fn new(service: ServiceKind, address: impl Into<String>, timeout: Duration) -> Self {
        Self {
            service,
            address: address.into(),
            timeout,
        }
    }

    pub fn error(&self, failure: Failure) -> ServiceError {
        ServiceError::new(self.service, self.address.clone(), failure)
    }

    pub fn op_error(&self, operation: &str, detail: impl std::fmt::Display) -> ServiceError {
        self.error(Failure::Operation {
            operation: operation.into(),
            detail: detail.to_string(),
        })
    }

    pub fn protocol_error(&self, operation: &str, detail: impl std::fmt::Display) -> ServiceError {
        self.error(Failure::Protocol {
            operation: operation.into(),
            detail: detail.to_string(),
        })
    }

    /// Runs one operation under this endpoint's timeout, naming it in any error.
    pub async fn call<T, E: std::fmt::Display>(
        &self,
        operation: &str,
        fut: impl Future<Output = Result<T, E>>,
    ) -> Result<T, ServiceError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.op_error(operation, e)),
            Err(_) => Err(self.error(Failure::Timeout(self.timeout))),
        }
    }

    /// Connects with exponential backoff; every attempt and the retries together stay
    /// within the endpoint's timeout.
    pub async fn connect<T, E, F, Fut>(&self, mut attempt: F) -> Result<T, ServiceError>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        use backon::{ExponentialBuilder, Retryable};
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(1))
            .with_max_times(3);
        let retried = (|| attempt()).retry(backoff).notify(|e, after| {
            tracing::debug!(service = %self.service, address = %self.address, error = %e, ?after, "connect failed, retrying");
        });
        match tokio::time::timeout(self.timeout, retried).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.error(Failure::Connect(e.to_string()))),
            Err(_) => Err(self.error(Failure::Timeout(self.timeout))),
        }
    }
}

/// An error and its causes, `outer: inner: ...` (a cause already in the text is not
/// repeated): how an error with sources is shown to a person, once.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text
}
