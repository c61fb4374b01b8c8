//! Pharmacy's tables and the SQL that reads and writes them, one schema on both backends. The
//! stock rules that must hold whatever happens (nothing negative, reserved within on hand) are
//! `CHECK` constraints; every change of a stock line is a conditional update of the values it
//! read, under a row lock on PostgreSQL and the database's one write lock on SQLite.

pub mod catalog;
mod migrations;
pub mod prescriptions;
pub mod stock;

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

/// A `LIKE` pattern matching `needle` anywhere, its wildcards escaped (with `\`).
pub(crate) fn contains_pattern(needle: &str) -> String {
    let escaped = needle
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}
