//! The `medmesh.scheduling.v1.SchedulingService` handlers. Each one: who calls (the token, then
//! svc-accounts for their user id), whether their role allows it (domain::access), what the
//! request says (input), then one write transaction holding the change, its audit entry, its
//! event and its idempotency key, retried as a whole when the database reports contention.

mod booking;
mod confirmation;
mod directory;
mod service;
mod waitlist;

use std::{future::Future, time::Duration};

use prost::Message;
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};
pub(crate) use svc_kit::paging::{decode_token, next_page, page_size};
use svc_kit::{
    auth::{Principal, parse_bearer},
    cache::Cache,
    error::{FieldViolation, invalid_argument},
    events::{NewEvent, Outbox},
    idempotency::{IdempotencyError, IdempotencyKey},
};
use tonic::{Request, Status};

use crate::{
    domain::{Caller, Operation, Reach, access},
    people::People,
    store::{self, Failure, appointments::WriteError, classify},
};

/// Attempts of one write transaction under contention before the caller is told to retry.
const MAX_ATTEMPTS: u32 = 12;

/// How long holds and waitlist offers last.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub hold: chrono::Duration,
    pub offer: chrono::Duration,
    /// The longest range of free slots one call may ask for.
    pub max_range: chrono::Duration,
    /// How long a computed list of free slots may be served from the cache.
    pub slots_ttl: Duration,
}

/// The tonic handlers.
#[derive(Debug, Clone)]
pub(crate) struct SchedulingApi {
    pub(crate) db: DatabaseConnection,
    pub(crate) outbox: Outbox,
    pub(crate) people: People,
    pub(crate) cache: Cache,
    pub(crate) rules: Rules,
    pub(crate) documents: crate::documents::DocumentStore,
}

pub(crate) fn internal(error: DbErr) -> Status {
    tracing::error!(%error, "scheduling database error");
    Status::internal("internal error")
}

/// A failed attempt at a write transaction.
#[derive(Debug)]
pub(crate) enum TxError {
    Status(Status),
    Db(DbErr),
    /// The row moved on between reading it and writing it (another change won): run again,
    /// so the rules are checked against what is there now.
    Retry,
}

impl From<DbErr> for TxError {
    fn from(error: DbErr) -> Self {
        TxError::Db(error)
    }
}

impl From<Status> for TxError {
    fn from(status: Status) -> Self {
        TxError::Status(status)
    }
}

impl From<WriteError> for TxError {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::Conflict(conflict) => {
                TxError::Status(Status::already_exists(conflict.describe()))
            }
            WriteError::Db(error) => TxError::Db(error),
        }
    }
}

/// Runs `attempt` until it commits, fails for a reason other than contention, or runs out of
/// attempts. Contention never reaches the caller as a conflict: the loser of a race runs again
/// and then sees the winner's row (and answers ALREADY_EXISTS for the right reason).
pub(crate) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, TxError>>,
{
    let mut delay = Duration::from_millis(2);
    for n in 1..=MAX_ATTEMPTS {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(TxError::Status(status)) => return Err(status),
            Err(TxError::Retry) if n < MAX_ATTEMPTS => {
                metrics::counter!("medmesh_scheduling_tx_retries_total").increment(1);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(TxError::Retry) => {
                return Err(Status::unavailable(
                    "the appointment keeps changing; retry with the same request_id",
                ));
            }
            Err(TxError::Db(error)) => {
                if classify(&error) != Failure::Contention || n == MAX_ATTEMPTS {
                    if classify(&error) == Failure::Contention {
                        tracing::warn!(attempts = n, "write transaction kept meeting contention");
                        return Err(Status::unavailable(
                            "the schedule is busy; retry with the same request_id",
                        ));
                    }
                    return Err(internal(error));
                }
                metrics::counter!("medmesh_scheduling_tx_retries_total").increment(1);
                let jitter = Duration::from_micros(rand::random::<u64>() % 2000);
                tokio::time::sleep(delay + jitter).await;
                delay = (delay * 2).min(Duration::from_millis(100));
            }
        }
    }
    unreachable!("the loop returns on its last attempt")
}

pub(crate) fn check(violations: Vec<FieldViolation>) -> Result<(), Status> {
    if violations.is_empty() {
        Ok(())
    } else {
        Err(invalid_argument(&violations))
    }
}

pub(crate) fn field(field: &str, description: impl Into<String>) -> Status {
    invalid_argument(&[FieldViolation::new(field, description)])
}

fn idempotency_status(error: IdempotencyError) -> Status {
    match error {
        IdempotencyError::Reused => field("request_id", "was already used for a different request"),
        IdempotencyError::Db(error) => internal(error),
    }
}

impl SchedulingApi {
    /// The caller of `request`, resolved to a MedMesh user where they are a person.
    pub(crate) async fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        // RequireAuth puts the principal there; without it the call never reached us.
        let principal = request
            .extensions()
            .get::<Principal>()
            .ok_or_else(|| Status::unauthenticated("a bearer token is required"))?;
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_bearer)
            .ok_or_else(|| Status::unauthenticated("a bearer token is required"))?;
        self.people.caller(principal, token).await
    }

    pub(crate) fn token<T>(request: &Request<T>) -> String {
        request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_bearer)
            .unwrap_or_default()
            .to_string()
    }

    /// The idempotency key of a mutation, per caller.
    pub(crate) fn key(
        caller: &Caller,
        operation: &'static str,
        request_id: &str,
        request: &impl Message,
    ) -> Result<IdempotencyKey, Status> {
        IdempotencyKey::new(&caller.subject, operation, request_id, request)
            .map_err(|v| invalid_argument(&[v]))
    }

    /// The first answer to `key`, if the request ran before.
    pub(crate) async fn replay<M: Message + Default>(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<M>, Status> {
        match key.replay(&self.db).await.map_err(idempotency_status)? {
            Some(bytes) => M::decode(bytes.as_slice())
                .map(Some)
                .map_err(|_| Status::internal("internal error")),
            None => Ok(None),
        }
    }

    /// Records `response` under `key` and commits. If a concurrent call with the same key
    /// committed first, its answer is returned instead.
    pub(crate) async fn finish<M: Message + Default>(
        &self,
        txn: DatabaseTransaction,
        key: &IdempotencyKey,
        response: M,
    ) -> Result<M, TxError> {
        let recorded = key.record(&txn, &response).await;
        match recorded {
            Ok(()) => {
                txn.commit().await?;
                Ok(response)
            }
            Err(error) if matches!(classify(&error), Failure::Duplicate(_)) => {
                drop(txn);
                match self.replay(key).await? {
                    Some(first) => Ok(first),
                    None => Err(TxError::Db(error)),
                }
            }
            Err(error) => Err(TxError::Db(error)),
        }
    }

    pub(crate) async fn begin(&self) -> Result<DatabaseTransaction, TxError> {
        Ok(store::begin_write(&self.db).await?)
    }

    pub(crate) async fn enqueue(
        &self,
        txn: &DatabaseTransaction,
        event: NewEvent,
    ) -> Result<(), TxError> {
        self.outbox.enqueue(txn, event).await?;
        Ok(())
    }
}

pub(crate) fn allowed(operation: Operation, caller: &Caller) -> Result<Reach, Status> {
    access::reach(operation, caller)
        .ok_or_else(|| Status::permission_denied("not allowed for this caller"))
}
