//! Scheduling's tables and the SQL that reads and writes them. One schema on both backends,
//! except for how "no double booking" is enforced: PostgreSQL by exclusion constraints over
//! `tstzrange` (btree_gist), SQLite by a check inside a `BEGIN IMMEDIATE` transaction, which
//! holds the database's only write lock.

pub mod appointments;
pub mod directory;
mod migrations;
pub mod waitlist;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{DbBackend, DbErr, QueryResult, Value};

pub use migrations::MIGRATIONS;
pub use svc_kit::write::{DbFailure as Failure, begin_write, classify, now};

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
