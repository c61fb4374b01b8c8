//! The service's one error: what notify refuses for its own reasons, plus the kit's generic
//! answers ([`ApiError`]). Use cases return it; the API turns it into a `tonic::Status` in one
//! exhaustive match.

use svc_kit::{ApiError, seal::SealError, write::WriteFailure};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// No such thing, or one out of the caller's reach: the same answer.
    #[error("no such {0}")]
    NoSuch(&'static str),
    /// A state the change does not apply to (retrying a sent notification, say).
    #[error("{0}")]
    Refused(String),
    /// A sealed value does not open: its key is missing or it was altered.
    #[error("stored content cannot be read")]
    Unreadable,
    #[error(transparent)]
    Kit(ApiError),
}

impl From<SealError> for NotifyError {
    fn from(cause: SealError) -> Self {
        tracing::error!(%cause, "a sealed value did not open");
        NotifyError::Unreadable
    }
}

impl NotifyError {
    pub(crate) fn field(field: &str, description: impl Into<String>) -> NotifyError {
        NotifyError::Kit(ApiError::field(field, description))
    }

    pub(crate) fn denied() -> NotifyError {
        NotifyError::Kit(ApiError::PermissionDenied(
            "not allowed for this caller".to_string(),
        ))
    }
}

svc_kit::kit_errors!(NotifyError);

impl WriteFailure for NotifyError {
    fn is_contention(&self) -> bool {
        matches!(self, NotifyError::Kit(ApiError::Contention))
    }
}

impl From<NotifyError> for Status {
    fn from(error: NotifyError) -> Self {
        let message = error.to_string();
        match error {
            NotifyError::NoSuch(_) => Status::not_found(message),
            NotifyError::Refused(_) => Status::failed_precondition(message),
            NotifyError::Unreadable => Status::internal(message),
            NotifyError::Kit(error) => error.into(),
        }
    }
}
