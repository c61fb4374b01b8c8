//! Scheduling's tables and the SQL that reads and writes them. One schema on both backends,
//! except for how "no double booking" is enforced: PostgreSQL by exclusion constraints over
//! `tstzrange` (btree_gist), SQLite by a check inside a `BEGIN IMMEDIATE` transaction, which
//! holds the database's only write lock.

pub mod appointments;
pub mod directory;
mod migrations;
pub mod waitlist;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, QueryResult, SqliteTransactionMode,
    TransactionOptions, TransactionTrait, Value,
};

pub use migrations::MIGRATIONS;

/// Now, at the precision both databases keep (microseconds).
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so a
/// transaction that checks and then writes cannot be overtaken between the two.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// A timestamp as the backend stores it: `timestamptz` on PostgreSQL; on SQLite fixed-width
/// RFC 3339 text in UTC, so that comparing the text compares the instants.
pub(crate) fn ts(backend: DbBackend, at: DateTime<Utc>) -> Value {
    match backend {
        DbBackend::Postgres => at.into(),
        _ => at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string().into(),
    }
}

pub(crate) fn opt_ts(backend: DbBackend, at: Option<DateTime<Utc>>) -> Value {
    match (backend, at) {
        (_, Some(at)) => ts(backend, at),
        (DbBackend::Postgres, None) => Value::ChronoDateTimeUtc(None),
        (_, None) => Value::String(None),
    }
}

pub(crate) fn get_ts(row: &QueryResult, column: &str) -> Result<DateTime<Utc>, DbErr> {
    get_opt_ts(row, column)?.ok_or_else(|| DbErr::Type(format!("{column} is NULL")))
}

pub(crate) fn get_opt_ts(row: &QueryResult, column: &str) -> Result<Option<DateTime<Utc>>, DbErr> {
    if let Ok(value) = row.try_get::<Option<DateTime<Utc>>>("", column) {
        return Ok(value);
    }
    let text: Option<String> = row.try_get("", column)?;
    text.map(|t| {
        DateTime::parse_from_rfc3339(&t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| DbErr::Type(format!("{column}: {e}")))
    })
    .transpose()
}

/// Civil dates are `YYYY-MM-DD` text on both backends.
pub(crate) fn date_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

pub(crate) fn parse_date(raw: &str) -> Result<NaiveDate, DbErr> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|e| DbErr::Type(format!("date {raw}: {e}")))
}

pub(crate) fn get_bool(row: &QueryResult, column: &str) -> Result<bool, DbErr> {
    if let Ok(value) = row.try_get::<bool>("", column) {
        return Ok(value);
    }
    Ok(row.try_get::<i64>("", column)? != 0)
}

/// What a failed statement means for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A constraint named this: the time is taken.
    Overlap(String),
    /// Contention (serialization failure, deadlock, a busy SQLite): try the whole
    /// transaction again.
    Contention,
    /// A unique key was violated.
    Duplicate(String),
    Other,
}

/// Reads the SQLSTATE (PostgreSQL) or result code (SQLite) of `error`.
pub fn classify(error: &DbErr) -> Failure {
    use sea_orm::{RuntimeErr, sqlx};
    let database = match error {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                sqlx::Error::Database(d) => d,
                _ => return Failure::Other,
            }
        }
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => return Failure::Other,
        _ => return Failure::Other,
    };
    let code = database.code().map(|c| c.to_string()).unwrap_or_default();
    let constraint = database.constraint().unwrap_or_default().to_string();
    match code.as_str() {
        "23P01" => Failure::Overlap(constraint),
        "40001" | "40P01" | "55P03" => Failure::Contention,
        "23505" => Failure::Duplicate(constraint),
        // SQLITE_BUSY, SQLITE_LOCKED and their extended codes.
        c if c == "5" || c == "6" || c == "261" || c == "517" || c == "262" => Failure::Contention,
        "2067" | "1555" => Failure::Duplicate(database.message().to_string()),
        _ => Failure::Other,
    }
}
