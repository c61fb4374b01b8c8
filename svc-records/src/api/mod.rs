//! The `medmesh.records.v1.RecordsService` adapters. Each one: who calls (the token, then
//! svc-accounts for their user id and clinics), what the request says (parsed, every bad field
//! named), the use case in `app`, and its answer. Errors are the service's one
//! [`RecordsError`], which becomes a `tonic::Status` in one place.

mod handlers;
mod service;

use prost::Message;
use svc_kit::{ApiError, auth::Principal, idempotency::IdempotencyKey, people::People};
use tonic::Request;

use crate::{
    app::{Action, App, allowed},
    domain::{Caller, Operation},
    error::RecordsError,
};

/// The tonic service: the use cases behind the generated trait.
#[derive(Debug, Clone)]
pub(crate) struct RecordsApi {
    pub(crate) app: App,
    pub(crate) people: People,
}

type Answer<T> = Result<T, RecordsError>;

/// The request's trace id: the W3C `traceparent`'s, else a new one (the access log names it
/// so an entry can be matched with the service's own logs).
fn trace_id<T>(request: &Request<T>) -> String {
    request
        .metadata()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split('-').nth(1))
        .filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_string)
}

impl RecordsApi {
    /// The caller of `request`, refused at once if their roles don't name `operation` (before
    /// anything in the request is read or anyone else is asked).
    async fn caller_for<T>(&self, request: &Request<T>, operation: Operation) -> Answer<Caller> {
        self.caller_on(request, operation, None).await
    }

    /// [`Self::caller_for`] for an operation on one patient's record (`patient`: the raw id the
    /// request names, with what it touches): a caller the table refuses is written to that
    /// patient's log before the refusal is answered.
    async fn caller_on<T>(
        &self,
        request: &Request<T>,
        operation: Operation,
        patient: Option<(&str, Action, &str)>,
    ) -> Answer<Caller> {
        // RequireAuth puts the principal there; without it the call never reached us.
        let principal = request
            .extensions()
            .get::<Principal>()
            .ok_or(ApiError::Unauthenticated)?;
        let mut caller = Caller {
            subject: principal.subject.clone(),
            user_id: None,
            roles: principal.platform_roles(),
            clients: principal.client_roles(),
            clinics: Default::default(),
            trace_id: trace_id(request),
        };
        if let Err(refused) = allowed(operation, &caller) {
            if let Some((raw, action, resource)) = patient
                && let Ok(patient_id) = svc_kit::input::id("patient_id", raw)
            {
                self.app
                    .log_refusal(
                        &caller,
                        &patient_id,
                        action,
                        resource,
                        "not allowed for this role",
                    )
                    .await;
            }
            return Err(refused);
        }
        if let Some(person) = self
            .people
            .person(principal, svc_kit::auth::request_token(request)?)
            .await?
        {
            caller.user_id = Some(person.user_id.clone());
            caller.clinics = person.clinics.clone();
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
