use crate::config::ConfigError;
use crate::environment::EnvironmentError;
use aura_runtime::LoadError;
use aura_services::ServiceError;
use aura_services::namespace::InvalidId;

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything passed / is ready.
    Ok = 0,
    /// A check failed, or an unexpected internal error.
    Failed = 1,
    /// Bad input or configuration (the message names the file, line and what is wrong).
    BadInput = 2,
    /// An environment or service is not ready.
    NotReady = 3,
    /// `compare-targets`: not enough to judge the canary by (hold it).
    Hold = 4,
}

/// An error on its way to the user: the message and the exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub code: ExitCode,
    pub message: String,
}

impl CliError {
    pub fn new(code: ExitCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// `error` and its causes, each said once.
    pub fn caused(code: ExitCode, error: &dyn std::error::Error) -> Self {
        Self::new(code, aura_services::error_chain(error))
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        Self::caused(ExitCode::BadInput, &e)
    }
}

impl From<InvalidId> for CliError {
    fn from(e: InvalidId) -> Self {
        Self::caused(ExitCode::BadInput, &e)
    }
}

impl From<ServiceError> for CliError {
    fn from(e: ServiceError) -> Self {
        Self::caused(ExitCode::NotReady, &e)
    }
}

impl From<EnvironmentError> for CliError {
    fn from(e: EnvironmentError) -> Self {
        let code = match &e {
            EnvironmentError::State { .. }
            | EnvironmentError::Unsupported(_)
            | EnvironmentError::Snapshot(_) => ExitCode::BadInput,
            EnvironmentError::Restore(_) => ExitCode::Failed,
            _ => ExitCode::NotReady,
        };
        Self::caused(code, &e)
    }
}

impl From<LoadError> for CliError {
    fn from(e: LoadError) -> Self {
        let code = match &e {
            LoadError::Engine(_) => ExitCode::Failed,
            _ => ExitCode::BadInput,
        };
        Self::caused(code, &e)
    }
}
