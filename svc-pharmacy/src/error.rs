//! The service's one error: what the pharmacy refuses for its own reasons, plus the kit's
//! generic answers ([`ApiError`]). Use cases return it, the write helper retries on its
//! contention, and the API turns it into a `tonic::Status` in one exhaustive match.

use svc_kit::{ApiError, write::WriteFailure};
use tonic::Status;

use crate::domain::prescription::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum PharmacyError {
    /// No such thing (`what` names it), or one out of the caller's reach: the same answer.
    #[error("no such {0}")]
    NoSuch(&'static str),
    /// A change the prescription's state forbids.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Not enough stock for a dispense or a removal: nothing was changed.
    #[error(
        "not enough stock of medication {medication_id}: {available} available, {needed} needed"
    )]
    Insufficient {
        medication_id: String,
        available: i64,
        needed: i64,
    },
    #[error("the prescription expired; it can no longer be {0}")]
    Expired(&'static str),
    /// A unique name already taken (`what` says which).
    #[error("{0}")]
    Duplicate(&'static str),
    #[error(transparent)]
    Kit(ApiError),
}

impl PharmacyError {
    /// A row moved on between reading and writing it: the write helper runs the transaction
    /// again, so the rules are checked against what is there now.
    pub(crate) fn moved_on() -> PharmacyError {
        PharmacyError::Kit(ApiError::Contention)
    }

    pub(crate) fn field(field: &str, description: impl Into<String>) -> PharmacyError {
        PharmacyError::Kit(ApiError::field(field, description))
    }

    pub(crate) fn denied() -> PharmacyError {
        PharmacyError::Kit(ApiError::PermissionDenied(
            "not allowed for this caller".to_string(),
        ))
    }

    pub(crate) fn precondition(reason: impl Into<String>) -> PharmacyError {
        PharmacyError::Kit(ApiError::FailedPrecondition(reason.into()))
    }
}

svc_kit::kit_errors!(PharmacyError);

impl WriteFailure for PharmacyError {
    fn is_contention(&self) -> bool {
        matches!(self, PharmacyError::Kit(ApiError::Contention))
    }
}

impl From<PharmacyError> for Status {
    fn from(error: PharmacyError) -> Self {
        let message = error.to_string();
        match error {
            PharmacyError::NoSuch(_) => Status::not_found(message),
            PharmacyError::Duplicate(_) => Status::already_exists(message),
            PharmacyError::Refused(_)
            | PharmacyError::Insufficient { .. }
            | PharmacyError::Expired(_) => Status::failed_precondition(message),
            PharmacyError::Kit(error) => error.into(),
        }
    }
}
