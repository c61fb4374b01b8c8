//! The service's one error: what scheduling refuses for its own reasons, plus the kit's generic
//! answers ([`ApiError`]). Use cases return it, the write helper retries on its contention, and
//! the API turns it into a `tonic::Status` in one exhaustive match.

use svc_kit::{ApiError, write::WriteFailure};
use tonic::Status;

use crate::{
    documents::StoreError,
    domain::{Refusal, Status as AppointmentStatus},
    store::appointments::{Conflict, WriteError},
};

#[derive(Debug, thiserror::Error)]
pub enum SchedulingError {
    /// Someone's time is already taken.
    #[error("{}", .0.describe())]
    TimeTaken(Conflict),
    /// No such appointment, or one out of the caller's reach (the same answer for both).
    #[error("no such appointment")]
    NoSuchAppointment,
    /// No such directory or schedule entry (`what` names it), or one out of reach.
    #[error("no such {0}")]
    NoSuch(&'static str),
    /// A change the appointment's state forbids (an illegal transition, an expired hold).
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("too late to {action}: the clinic allows it until {minutes} minutes before the start")]
    PastCutoff { action: &'static str, minutes: i64 },
    #[error(
        "a {} appointment has no confirmation yet; it is issued once the clinic confirms",
        .0.as_str()
    )]
    NoConfirmationYet(AppointmentStatus),
    /// A schedule template that could put the doctor in two places at once.
    #[error("overlaps template {0}")]
    TemplateOverlap(String),
    /// A unique name or room already taken (`what` says which).
    #[error("{0}")]
    Duplicate(&'static str),
    #[error("the document store is unavailable")]
    Documents(#[from] StoreError),
    #[error(transparent)]
    Kit(ApiError),
}

impl SchedulingError {
    /// A row moved on between reading and writing it (another change won): the write helper
    /// runs the transaction again, so the rules are checked against what is there now.
    pub(crate) fn moved_on() -> SchedulingError {
        SchedulingError::Kit(ApiError::Contention)
    }

    pub(crate) fn field(field: &str, description: impl Into<String>) -> SchedulingError {
        SchedulingError::Kit(ApiError::field(field, description))
    }

    pub(crate) fn denied(reason: &str) -> SchedulingError {
        SchedulingError::Kit(ApiError::PermissionDenied(reason.to_string()))
    }
}

svc_kit::kit_errors!(SchedulingError);

impl WriteFailure for SchedulingError {
    fn is_contention(&self) -> bool {
        matches!(self, SchedulingError::Kit(ApiError::Contention))
    }
}

impl From<WriteError> for SchedulingError {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::Conflict(conflict) => SchedulingError::TimeTaken(conflict),
            WriteError::Db(error) => error.into(),
        }
    }
}

impl From<SchedulingError> for Status {
    fn from(error: SchedulingError) -> Self {
        let message = error.to_string();
        if let SchedulingError::TimeTaken(_) = error {
            // Counted once per answer: a spike means a client retry loop or hoarding.
            metrics::counter!("medmesh_scheduling_conflicts_total").increment(1);
        }
        match error {
            SchedulingError::TimeTaken(_)
            | SchedulingError::TemplateOverlap(_)
            | SchedulingError::Duplicate(_) => Status::already_exists(message),
            SchedulingError::NoSuchAppointment | SchedulingError::NoSuch(_) => {
                Status::not_found(message)
            }
            SchedulingError::Refused(_)
            | SchedulingError::PastCutoff { .. }
            | SchedulingError::NoConfirmationYet(_) => Status::failed_precondition(message),
            SchedulingError::Documents(error) => {
                tracing::error!(%error, "document store unavailable");
                Status::unavailable("the document store is unavailable; retry")
            }
            SchedulingError::Kit(error) => error.into(),
        }
    }
}
