//! Records' tables and the SQL that reads and writes them, one schema on both backends. Rows
//! hold clinical content sealed; opening it is the use cases' work, with the keyring.

pub mod entries;
pub mod log;
mod migrations;
pub mod standing;

use sea_orm::DbBackend;

pub use migrations::MIGRATIONS;
pub(crate) use svc_kit::db::{opt_ts, ts};

/// `FOR UPDATE` where the backend has row locks (SQLite's write lock covers the transaction).
pub(crate) fn for_update(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => " FOR UPDATE",
        _ => "",
    }
}
