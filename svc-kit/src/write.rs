//! One way every service writes: a transaction that holds the change, its audit entry, its
//! outbox event and its idempotency key, committed together and run again as a whole when the
//! database reports contention (a serialization failure, a deadlock, a busy SQLite). The loser
//! of a race runs again and then sees the winner's rows, so contention never reaches a caller
//! as a false conflict.

use std::{future::Future, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use prost::Message;
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

pub use crate::db::{DbFailure, classify};
use crate::{
    api_error::ApiError,
    idempotency::{IdempotencyError, IdempotencyKey},
};

/// Attempts of one write transaction under contention before the caller is told to retry.
pub const MAX_ATTEMPTS: u32 = 12;

/// Now, at the precision both databases keep (microseconds).
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so a
/// transaction that checks and then writes cannot be overtaken between the two, and a busy
/// database is met at `BEGIN`, where running again is always safe.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// A service's error, as the write helper needs to see it: built from the kit's errors, and
/// telling contention (run the transaction again) from a real answer.
pub trait WriteFailure: From<ApiError> + From<DbErr> + From<IdempotencyError> {
    fn is_contention(&self) -> bool;
}

impl WriteFailure for ApiError {
    fn is_contention(&self) -> bool {
        matches!(self, ApiError::Contention)
    }
}

/// Runs `change` in a write transaction, records its answer under `key` and commits; on
/// contention, runs it again from the start (with backoff and jitter).
///
/// A retried request finds its first answer: when the change fails (the first attempt already
/// took the slot, say) or a concurrent call with the same key committed first, the answer
/// recorded under `key` is returned instead; a key reused for a different request is refused.
///
/// `change` gets the attempt's transaction as a [`Txn`] (`|txn| async move { ... &*txn ... }`):
/// its future owns a handle rather than a borrow, so it may borrow the caller's values and
/// stays `Send` as tonic needs, which a closure over `&DatabaseTransaction` cannot promise.
pub async fn write<M, E, F, Fut>(
    db: &DatabaseConnection,
    key: &IdempotencyKey,
    change: F,
) -> Result<M, E>
where
    M: Message + Default,
    E: WriteFailure,
    F: FnMut(Txn) -> Fut,
    Fut: Future<Output = Result<M, E>>,
{
    let outcome = recorded(db, key, change).await;
    or_replay(db, key, outcome).await
}

/// [`write`] without the replay: for a use case that checks things before its transaction
/// (and wants a refusal there answered by the first answer too), wrapping the whole of it in
/// [`or_replay`].
pub async fn recorded<M, E, F, Fut>(
    db: &DatabaseConnection,
    key: &IdempotencyKey,
    mut change: F,
) -> Result<M, E>
where
    M: Message + Default,
    E: WriteFailure,
    F: FnMut(Txn) -> Fut,
    Fut: Future<Output = Result<M, E>>,
{
    retrying(db, |txn: Txn| {
        let run = change(Arc::clone(&txn));
        async move {
            let response = run.await?;
            key.record(&*txn, &response).await?;
            Ok(response)
        }
    })
    .await
}

/// [`write`] for a change that also returns something besides its answer (what to refresh
/// after the commit, say): `Some` of it when the change ran, `None` when the answer is a
/// replay of the first one.
pub async fn write_with<M, X, E, F, Fut>(
    db: &DatabaseConnection,
    key: &IdempotencyKey,
    mut change: F,
) -> Result<(M, Option<X>), E>
where
    M: Message + Default,
    E: WriteFailure,
    F: FnMut(Txn) -> Fut,
    Fut: Future<Output = Result<(M, X), E>>,
{
    let outcome = retrying(db, |txn: Txn| {
        let run = change(Arc::clone(&txn));
        async move {
            let (response, extra) = run.await?;
            key.record(&*txn, &response).await?;
            Ok((response, extra))
        }
    })
    .await;
    match outcome {
        Ok((response, extra)) => Ok((response, Some(extra))),
        Err(error) => match replay::<M>(db, key).await? {
            Some(first) => Ok((first, None)),
            None => Err(error),
        },
    }
}

/// `outcome`, or, if it failed, the answer first recorded under `key` when there is one.
pub async fn or_replay<M, E>(
    db: &DatabaseConnection,
    key: &IdempotencyKey,
    outcome: Result<M, E>,
) -> Result<M, E>
where
    M: Message + Default,
    E: WriteFailure,
{
    match outcome {
        Ok(response) => Ok(response),
        // The first answer if there is one; a key reused for another request is refused; the
        // failure itself if there is no answer, or if it cannot be read (a retry finds it).
        Err(error) => match replay::<M>(db, key).await {
            Ok(Some(first)) => Ok(first),
            Err(reused @ ApiError::InvalidArgument(_)) => Err(E::from(reused)),
            Ok(None) | Err(_) => Err(error),
        },
    }
}

/// Runs `change` in a write transaction and commits, running it again on contention; for
/// changes no caller retries (workers, first sign-in). `change` is written as for [`write`].
pub async fn retrying<T, E, F, Fut>(db: &DatabaseConnection, mut change: F) -> Result<T, E>
where
    E: WriteFailure,
    F: FnMut(Txn) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::new();
    loop {
        let outcome = match begin_write(db).await {
            Ok(txn) => {
                let txn = Arc::new(txn);
                match change(Arc::clone(&txn)).await {
                    // The change's future has ended: its handle is gone, this is the last one.
                    Ok(value) => match Arc::into_inner(txn) {
                        Some(txn) => txn.commit().await.map(|()| value).map_err(E::from),
                        None => Err(E::from(ApiError::internal(
                            "a change kept its transaction past its end",
                        ))),
                    },
                    Err(error) => Err(error),
                }
            }
            Err(error) => Err(E::from(error)),
        };
        match outcome {
            Err(error) if backoff.again(&error).await => {}
            other => return other,
        }
    }
}

/// The transaction a change runs in. Shared, so that the change's future owns a handle
/// rather than a borrow (and so stays `Send` without higher-ranked lifetimes); the helper
/// commits it once the change is done. Statements take `&*txn`.
pub type Txn = Arc<DatabaseTransaction>;

/// When to run a transaction again: on contention, up to [`MAX_ATTEMPTS`], after a pause that
/// doubles (to 100 ms) with jitter, so racing replicas do not meet again in lockstep.
struct Backoff {
    attempt: u32,
    delay: Duration,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff {
            attempt: 1,
            delay: Duration::from_millis(2),
        }
    }

    async fn again<E: WriteFailure>(&mut self, error: &E) -> bool {
        if !error.is_contention() {
            return false;
        }
        if self.attempt >= MAX_ATTEMPTS {
            tracing::warn!(
                attempts = self.attempt,
                "write transaction kept meeting contention"
            );
            return false;
        }
        metrics::counter!("medmesh_write_retries_total").increment(1);
        let jitter = Duration::from_micros(rand::random::<u64>() % 2000);
        tokio::time::sleep(self.delay + jitter).await;
        self.delay = (self.delay * 2).min(Duration::from_millis(100));
        self.attempt += 1;
        true
    }
}

/// The answer first recorded under `key`, if the request ran before.
pub async fn replay<M>(db: &DatabaseConnection, key: &IdempotencyKey) -> Result<Option<M>, ApiError>
where
    M: Message + Default,
{
    match key.replay(db).await? {
        Some(bytes) => M::decode(bytes.as_slice())
            .map(Some)
            .map_err(|_| ApiError::internal("a recorded answer does not decode")),
        None => Ok(None),
    }
}
