//! The `medmesh.pharmacy.v1.PharmacyService` adapters. Each one: who calls (the token, then
//! svc-accounts for their user id and pharmacies), what the request says (parsed into the use
//! case's input, every bad field named), the use case in `app`, and its answer. Errors are the
//! service's one [`PharmacyError`], which becomes a `tonic::Status` in one place.

mod catalog;
mod prescriptions;
mod service;
mod stock;

use prost::Message;
use svc_kit::{ApiError, auth::Principal, idempotency::IdempotencyKey, people::People};
use tonic::Request;

use crate::{
    app::{App, allowed},
    domain::{Caller, Operation},
    error::PharmacyError,
};

/// The tonic service: the use cases behind the generated trait.
#[derive(Debug, Clone)]
pub(crate) struct PharmacyApi {
    pub(crate) app: App,
    pub(crate) people: People,
}

type Answer<T> = Result<T, PharmacyError>;

impl PharmacyApi {
    /// The caller of `request`, refused at once if their roles don't name `operation` (before
    /// anything in the request is read or anyone else is asked).
    async fn caller_for<T>(&self, request: &Request<T>, operation: Operation) -> Answer<Caller> {
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
            pharmacies: Default::default(),
        };
        allowed(operation, &caller)?;
        if let Some(person) = self
            .people
            .person(principal, svc_kit::auth::request_token(request)?)
            .await?
        {
            caller.user_id = Some(person.user_id.clone());
            caller.pharmacies = person.pharmacies.clone();
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

/// A list of ids, each a UUID, at most `max` of them.
fn ids(field: &str, raw: &[String], max: usize) -> Result<Vec<String>, ApiError> {
    if raw.len() > max {
        return Err(ApiError::field(field, format!("at most {max}")));
    }
    let mut v = svc_kit::input::Violations::default();
    let parsed: Vec<String> = raw
        .iter()
        .enumerate()
        .map(|(n, id)| v.take(svc_kit::input::id(&format!("{field}[{n}]"), id)))
        .collect();
    v.finish()?;
    Ok(parsed)
}
