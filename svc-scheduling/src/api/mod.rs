//! The `medmesh.scheduling.v1.SchedulingService` adapters. Each one: who calls (the token,
//! then svc-accounts for their user id), what the request says (parsed into the use case's
//! input by `input`), the use case in `app`, and its answer back as proto. Errors are the
//! service's one [`SchedulingError`], which becomes a `tonic::Status` in one place.

mod appointments;
mod directory;
mod schedule;
mod service;
mod waitlist;

use prost::Message;
use svc_kit::{ApiError, auth::Principal, idempotency::IdempotencyKey};
use tonic::Request;

use crate::{
    app::{App, allowed},
    domain::{Caller, Operation},
    error::SchedulingError,
};

/// The tonic service: the use cases behind the generated trait.
#[derive(Debug, Clone)]
pub(crate) struct SchedulingApi {
    pub(crate) app: App,
}

type Answer<T> = Result<T, SchedulingError>;

impl SchedulingApi {
    /// The caller of `request`, resolved to a MedMesh user where they are a person.
    async fn caller<T>(&self, request: &Request<T>) -> Answer<Caller> {
        // RequireAuth puts the principal there; without it the call never reached us.
        let principal = request
            .extensions()
            .get::<Principal>()
            .ok_or(ApiError::Unauthenticated)?;
        let person = self
            .app
            .people
            .person(principal, svc_kit::auth::request_token(request)?)
            .await?;
        Ok(Caller::new(principal, person.as_deref()))
    }

    /// The caller of `request`, refused at once if their roles don't name `operation` (before
    /// anything in the request is read). The use case works out their reach itself.
    async fn caller_for<T>(&self, request: &Request<T>, operation: Operation) -> Answer<Caller> {
        let caller = self.caller(request).await?;
        allowed(operation, &caller)?;
        Ok(caller)
    }
}

/// The idempotency key of a mutation, per caller.
fn key(
    caller: &Caller,
    operation: &'static str,
    request_id: &str,
    request: &impl Message,
) -> Answer<IdempotencyKey> {
    Ok(IdempotencyKey::new(
        &caller.subject,
        operation,
        request_id,
        request,
    )?)
}
