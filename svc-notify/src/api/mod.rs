//! The `medmesh.notify.v1.NotifyService` adapters. Each one: who calls (the token, then
//! svc-accounts for their user id), what the request says (parsed, every bad field named), the
//! use case in `app`, and its answer.

mod handlers;
mod service;

use prost::Message;
use svc_kit::{ApiError, auth::Principal, idempotency::IdempotencyKey, people::People};
use tonic::Request;

use crate::{
    app::App,
    domain::access::{Caller, Operation, allows},
    error::NotifyError,
};

/// The tonic service: the use cases behind the generated trait.
#[derive(Debug, Clone)]
pub(crate) struct NotifyApi {
    pub(crate) app: App,
    pub(crate) people: People,
}

type Answer<T> = Result<T, NotifyError>;

impl NotifyApi {
    /// The caller of `request`, refused at once if their roles don't name `operation`.
    async fn caller_for<T>(&self, request: &Request<T>, operation: Operation) -> Answer<Caller> {
        let principal = request
            .extensions()
            .get::<Principal>()
            .ok_or(ApiError::Unauthenticated)?;
        let mut caller = Caller {
            subject: principal.subject.clone(),
            user_id: None,
            roles: principal.platform_roles(),
        };
        if !allows(operation, &caller) {
            return Err(NotifyError::denied());
        }
        if let Some(person) = self
            .people
            .person(principal, svc_kit::auth::request_token(request)?)
            .await?
        {
            caller.user_id = Some(person.user_id.clone());
        }
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
