//! Notify's tables and the SQL that reads and writes them, one schema on both backends.
//! Contact data and message content are sealed in the rows; opening them is the use cases'
//! work, with the keyring.

mod migrations;
pub mod notifications;
pub mod schedule;
pub mod settings;

pub use migrations::MIGRATIONS;
pub(crate) use svc_kit::db::{opt_ts, ts};
