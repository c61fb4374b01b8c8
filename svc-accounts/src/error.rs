//! svc-accounts' one error type, and the one place it becomes a `tonic::Status`.

use svc_kit::{ApiError, write::WriteFailure};
use tonic::Status;

use crate::{domain::Role, identity::IdentityError};

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("no such user")]
    NoSuchUser,
    #[error("the user has no such affiliation")]
    NoSuchAffiliation,
    #[error("this account was erased")]
    Erased,
    #[error("this account is deactivated")]
    Deactivated,
    /// The caller changed a profile they read at another version.
    #[error("the profile is at version {current}, not {given}")]
    StaleVersion { current: i64, given: i64 },
    /// The row moved on between reading and writing it inside one transaction: the write
    /// helper runs the change again against what is there now.
    #[error("the account changed meanwhile")]
    ChangedMeanwhile,
    #[error("an admin cannot take the admin role from themselves")]
    OwnAdminRole,
    #[error("an admin cannot deactivate themselves")]
    OwnDeactivation,
    #[error("the user must hold the {0} role for this affiliation")]
    MissingRole(Role),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Kit(ApiError),
}

svc_kit::kit_errors!(AccountsError);

impl WriteFailure for AccountsError {
    fn is_contention(&self) -> bool {
        matches!(
            self,
            AccountsError::ChangedMeanwhile | AccountsError::Kit(ApiError::Contention)
        )
    }
}

impl From<AccountsError> for Status {
    fn from(error: AccountsError) -> Self {
        match error {
            AccountsError::NoSuchUser => Status::not_found("no such user"),
            AccountsError::NoSuchAffiliation => {
                Status::not_found("the user has no such affiliation")
            }
            AccountsError::Erased => Status::permission_denied("this account was erased"),
            AccountsError::Deactivated => Status::permission_denied("this account is deactivated"),
            AccountsError::StaleVersion { current, given } => Status::aborted(format!(
                "the profile is at version {current}, not {given}; read it again and retry"
            )),
            AccountsError::ChangedMeanwhile => {
                Status::aborted("the account changed meanwhile; read it again and retry")
            }
            AccountsError::OwnAdminRole => {
                Status::failed_precondition("an admin cannot take the admin role from themselves")
            }
            AccountsError::OwnDeactivation => {
                Status::failed_precondition("an admin cannot deactivate themselves")
            }
            AccountsError::MissingRole(role) => Status::failed_precondition(format!(
                "the user must hold the {role} role for this affiliation"
            )),
            AccountsError::Identity(IdentityError::UsernameTaken) => {
                Status::already_exists("username is already taken")
            }
            AccountsError::Identity(IdentityError::EmailTaken) => {
                Status::already_exists("email is already registered")
            }
            AccountsError::Identity(IdentityError::Unavailable(reason)) => {
                tracing::warn!(%reason, "identity provider unavailable");
                Status::unavailable(
                    "the identity provider is unavailable; retry with the same request_id",
                )
            }
            AccountsError::Identity(IdentityError::Refused(reason)) => {
                tracing::error!(%reason, "identity provider refused a request");
                Status::internal("internal error")
            }
            AccountsError::Kit(error) => error.into(),
        }
    }
}
