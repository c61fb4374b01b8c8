//! The service's one error: what records refuses for its own reasons, plus the kit's generic
//! answers ([`ApiError`]). Use cases return it, the write helper retries on its contention,
//! and the API turns it into a `tonic::Status` in one exhaustive match.

use svc_kit::{ApiError, seal::SealError, write::WriteFailure};
use tonic::Status;

use crate::domain::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// No such thing, or one out of the caller's reach: the same answer.
    #[error("no such {0}")]
    NoSuch(&'static str),
    /// A change an entry's state forbids.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// A sealed value does not open: its key is missing or it was altered. Never shown
    /// in part; the operator's log names the value.
    #[error("stored content cannot be read")]
    Unreadable(#[from] SealError),
    /// The access log could not be written: the access is refused (fail closed).
    #[error("the access log is unavailable; try again")]
    LogUnavailable,
    #[error(transparent)]
    Kit(ApiError),
}

impl RecordsError {
    pub(crate) fn field(field: &str, description: impl Into<String>) -> RecordsError {
        RecordsError::Kit(ApiError::field(field, description))
    }

    pub(crate) fn denied() -> RecordsError {
        RecordsError::Kit(ApiError::PermissionDenied(
            "not allowed for this caller".to_string(),
        ))
    }

    pub(crate) fn moved_on() -> RecordsError {
        RecordsError::Kit(ApiError::Contention)
    }
}

svc_kit::kit_errors!(RecordsError);

impl WriteFailure for RecordsError {
    fn is_contention(&self) -> bool {
        matches!(self, RecordsError::Kit(ApiError::Contention))
    }
}

impl From<RecordsError> for Status {
    fn from(error: RecordsError) -> Self {
        let message = error.to_string();
        match error {
            RecordsError::NoSuch(_) => Status::not_found(message),
            RecordsError::Refused(_) => Status::failed_precondition(message),
            RecordsError::Unreadable(cause) => {
                tracing::error!(%cause, "a sealed value did not open");
                Status::internal(message)
            }
            RecordsError::LogUnavailable => Status::unavailable(message),
            RecordsError::Kit(error) => error.into(),
        }
    }
}
