//! The answers every service gives besides its own domain errors, and the one place they become
//! a `tonic::Status`. A service's error enum wraps [`ApiError`] (with `From` for the kit's
//! errors), so handlers and use cases write `?`; internal details are logged, never sent.

use sea_orm::DbErr;
use tonic::Status;

use crate::{
    db::{DbFailure, classify},
    error::{FieldViolation, invalid_argument},
    idempotency::IdempotencyError,
};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a bearer token is required")]
    Unauthenticated,
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("invalid argument")]
    InvalidArgument(Vec<FieldViolation>),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// The row moved on since the caller read it (a stale version).
    #[error("aborted: {0}")]
    Aborted(String),
    /// Contention: the write helper runs the transaction again; if it escapes, the caller is
    /// told to retry with the same request id.
    #[error("contention")]
    Contention,
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// What went wrong, for the log; the caller reads "internal error".
    #[error("internal: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn field(field: &str, description: impl Into<String>) -> ApiError {
        ApiError::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    pub fn internal(what: impl Into<String>) -> ApiError {
        ApiError::Internal(what.into())
    }

    pub fn denied() -> ApiError {
        ApiError::PermissionDenied("not allowed for this caller".into())
    }

    /// Every violation at once, or nothing.
    pub fn check(violations: Vec<FieldViolation>) -> Result<(), ApiError> {
        if violations.is_empty() {
            Ok(())
        } else {
            Err(ApiError::InvalidArgument(violations))
        }
    }
}

impl From<DbErr> for ApiError {
    fn from(error: DbErr) -> Self {
        match classify(&error) {
            DbFailure::Contention => ApiError::Contention,
            _ => ApiError::Internal(error.to_string()),
        }
    }
}

impl From<IdempotencyError> for ApiError {
    fn from(error: IdempotencyError) -> Self {
        match error {
            IdempotencyError::Reused => {
                ApiError::field("request_id", "was already used for a different request")
            }
            IdempotencyError::Db(error) => error.into(),
        }
    }
}

impl From<FieldViolation> for ApiError {
    fn from(violation: FieldViolation) -> Self {
        ApiError::InvalidArgument(vec![violation])
    }
}

impl From<Vec<FieldViolation>> for ApiError {
    fn from(violations: Vec<FieldViolation>) -> Self {
        ApiError::InvalidArgument(violations)
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Unauthenticated => Status::unauthenticated("a bearer token is required"),
            ApiError::PermissionDenied(message) => Status::permission_denied(message),
            ApiError::InvalidArgument(violations) => invalid_argument(&violations),
            ApiError::NotFound(message) => Status::not_found(message),
            ApiError::AlreadyExists(message) => Status::already_exists(message),
            ApiError::FailedPrecondition(message) => Status::failed_precondition(message),
            ApiError::Aborted(message) => Status::aborted(message),
            ApiError::Contention => {
                Status::unavailable("the service is busy; retry with the same request_id")
            }
            ApiError::Unavailable(message) => Status::unavailable(message),
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                Status::internal("internal error")
            }
        }
    }
}

/// The `From` conversions every service error needs from the kit's errors, through its
/// `Kit(ApiError)` variant: `kit_errors!(AccountsError);`.
#[macro_export]
macro_rules! kit_errors {
    ($error:ident) => {
        impl From<$crate::ApiError> for $error {
            fn from(error: $crate::ApiError) -> Self {
                $error::Kit(error)
            }
        }

        impl From<$crate::sea_orm::DbErr> for $error {
            fn from(error: $crate::sea_orm::DbErr) -> Self {
                $error::Kit(error.into())
            }
        }

        impl From<$crate::idempotency::IdempotencyError> for $error {
            fn from(error: $crate::idempotency::IdempotencyError) -> Self {
                $error::Kit(error.into())
            }
        }

        impl From<$crate::error::FieldViolation> for $error {
            fn from(violation: $crate::error::FieldViolation) -> Self {
                $error::Kit(violation.into())
            }
        }

        impl From<Vec<$crate::error::FieldViolation>> for $error {
            fn from(violations: Vec<$crate::error::FieldViolation>) -> Self {
                $error::Kit(violations.into())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn internal_details_stay_in_the_log() {
        let status = Status::from(ApiError::internal("connection to 10.0.0.5 refused"));
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
    }

    #[test]
    fn field_violations_travel_as_bad_request() {
        let status = Status::from(ApiError::field("page_size", "must be at most 100"));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            crate::error::field_violations(&status),
            vec![FieldViolation::new("page_size", "must be at most 100")]
        );
    }

    #[test]
    fn a_reused_key_names_request_id() {
        let status = Status::from(ApiError::from(IdempotencyError::Reused));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            crate::error::field_violations(&status)[0].field,
            "request_id"
        );
    }
}
