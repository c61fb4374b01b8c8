//! Scheduling's tables and the SQL that reads and writes them. One schema on both backends,
//! except for how "no double booking" is enforced: PostgreSQL by exclusion constraints over
//! `tstzrange` (btree_gist), SQLite by a check inside a `BEGIN IMMEDIATE` transaction, which
//! holds the database's only write lock.

pub mod appointments;
pub mod directory;
mod migrations;
pub mod waitlist;

use chrono::NaiveDate;
use sea_orm::{DbErr, QueryResult};

pub use migrations::MIGRATIONS;
pub use svc_kit::write::{DbFailure as Failure, begin_write, classify, now};
// One timestamp encoding for every service (ADR 0008).
pub(crate) use svc_kit::db::{get_ts, opt_ts, ts};

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
