//! One way every service writes: a transaction that holds the change, its audit entry, its
//! outbox event and its idempotency key, committed together and run again as a whole when the
//! database reports contention (a serialization failure, a deadlock, a busy SQLite). The loser
//! of a race runs again and then sees the winner's rows, so contention never reaches a caller
//! as a false conflict.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use prost::Message;
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

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

/// What a failed statement means for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbFailure {
    /// An exclusion constraint (PostgreSQL `23P01`) named this.
    Exclusion(String),
    /// Contention: try the whole transaction again.
    Contention,
    /// A unique key was violated (the constraint's name, or SQLite's message).
    Duplicate(String),
    Other,
}

/// Reads the SQLSTATE (PostgreSQL) or result code (SQLite) of `error`.
pub fn classify(error: &DbErr) -> DbFailure {
    use sea_orm::{RuntimeErr, sqlx};
    let database = match error {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                sqlx::Error::Database(d) => d,
                _ => return DbFailure::Other,
            }
        }
        _ => return DbFailure::Other,
    };
    let code = database.code().map(|c| c.to_string()).unwrap_or_default();
    let constraint = database.constraint().unwrap_or_default().to_string();
    match code.as_str() {
        "23P01" => DbFailure::Exclusion(constraint),
        "40001" | "40P01" | "55P03" => DbFailure::Contention,
        "23505" => DbFailure::Duplicate(constraint),
        // SQLITE_BUSY, SQLITE_LOCKED and their extended codes.
        "5" | "6" | "261" | "517" | "262" => DbFailure::Contention,
        "2067" | "1555" => DbFailure::Duplicate(database.message().to_string()),
        _ => DbFailure::Other,
    }
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

/// The transaction a change runs in. Shared so that the change's future can own it (and so be
/// `Send` without higher-ranked lifetimes); the helper commits it once the change is done.
/// Statements take `&*txn`.
pub type Txn = Arc<DatabaseTransaction>;

/// One run of a change: a boxed `Send` future, so services' handlers stay `Send`.
pub type Change<'a, T, E> = BoxFuture<'a, Result<T, E>>;

/// Runs `change` in a write transaction, records its answer under `key` and commits; on
/// contention, runs it again from the start (with backoff and jitter).
///
/// A retried request finds its first answer: when the change fails (the first attempt already
/// took the slot, say) or a concurrent call with the same key committed first, the answer
/// recorded under `key` is returned instead; a key reused for a different request is refused.
/// The happy path costs no lookup of the key.
///
/// ```ignore
/// write(&db, &key, |txn| Box::pin(async move {
///     store::insert(&*txn, record).await?;
///     Ok(convert::clinic(record))
/// }))
/// ```
pub async fn write<'a, M, E>(
    db: &DatabaseConnection,
    key: &IdempotencyKey,
    change: impl FnMut(Txn) -> Change<'a, M, E>,
) -> Result<M, E>
where
    M: Message + Default + Send + 'a,
    E: WriteFailure + Send + 'a,
{
    let outcome = recorded(db, key, change).await;
    or_replay(db, key, outcome).await
}

/// [`write`] without the replay: for a use case that checks things before its transaction (and
/// wants a refusal there answered by the first answer too), wrapping the whole of it in
/// [`or_replay`].
pub async fn recorded<'a, M, E>(
    db: &DatabaseConnection,
    key: &IdempotencyKey,
    mut change: impl FnMut(Txn) -> Change<'a, M, E>,
) -> Result<M, E>
where
    M: Message + Default + Send + 'a,
    E: WriteFailure + Send + 'a,
{
    retrying(db, |txn| {
        let run = change(txn.clone());
        Box::pin(async move {
            let response = run.await?;
            key.record(&*txn, &response).await?;
            Ok(response)
        })
    })
    .await
}

/// [`write`] for a change that also returns something besides its answer (what to refresh
/// after the commit, say): `Some` of it when the change ran, `None` when the answer is a replay
/// of the first one.
pub async fn write_with<'a, M, X, E>(
    db: &DatabaseConnection,
    key: &IdempotencyKey,
    mut change: impl FnMut(Txn) -> Change<'a, (M, X), E>,
) -> Result<(M, Option<X>), E>
where
    M: Message + Default + Send + 'a,
    X: Send + 'a,
    E: WriteFailure + Send + 'a,
{
    let outcome = retrying(db, |txn| {
        let run = change(txn.clone());
        Box::pin(async move {
            let (response, extra) = run.await?;
            key.record(&*txn, &response).await?;
            Ok((response, extra))
        })
    })
    .await;
    match outcome {
        Ok((response, extra)) => Ok((response, Some(extra))),
        Err(error) => match replay::<M, E>(db, key).await? {
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
        Err(error) => match replay::<M, E>(db, key).await? {
            Some(first) => Ok(first),
            None => Err(error),
        },
    }
}

/// Runs `change` in a write transaction and commits, running it again on contention; for
/// changes no caller retries (workers, first sign-in).
pub async fn retrying<'a, T, E>(
    db: &DatabaseConnection,
    mut change: impl FnMut(Txn) -> Change<'a, T, E>,
) -> Result<T, E>
where
    E: WriteFailure,
{
    let mut delay = Duration::from_millis(2);
    let mut attempt = 1;
    loop {
        let outcome = match begin_write(db).await {
            Ok(txn) => {
                let txn = Arc::new(txn);
                match change(txn.clone()).await {
                    Ok(value) => match Arc::try_unwrap(txn) {
                        Ok(txn) => txn.commit().await.map(|()| value).map_err(E::from),
                        Err(_) => Err(E::from(ApiError::internal(
                            "a change kept its transaction past its end",
                        ))),
                    },
                    Err(error) => Err(error),
                }
            }
            Err(error) => Err(E::from(error)),
        };
        match outcome {
            Err(error) if error.is_contention() && attempt < MAX_ATTEMPTS => {
                metrics::counter!("medmesh_write_retries_total").increment(1);
                let jitter = Duration::from_micros(rand::random::<u64>() % 2000);
                tokio::time::sleep(delay + jitter).await;
                delay = (delay * 2).min(Duration::from_millis(100));
                attempt += 1;
            }
            Err(error) if error.is_contention() => {
                tracing::warn!(
                    attempts = attempt,
                    "write transaction kept meeting contention"
                );
                return Err(error);
            }
            other => return other,
        }
    }
}

/// The answer first recorded under `key`, if the request ran before.
pub async fn replay<M, E>(db: &DatabaseConnection, key: &IdempotencyKey) -> Result<Option<M>, E>
where
    M: Message + Default,
    E: WriteFailure,
{
    match key.replay(db).await? {
        Some(bytes) => M::decode(bytes.as_slice())
            .map(Some)
            .map_err(|_| E::from(ApiError::internal("a recorded answer does not decode"))),
        None => Ok(None),
    }
}
