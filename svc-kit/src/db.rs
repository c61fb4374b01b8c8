//! Database connections (PostgreSQL in production, SQLite in dev) and schema migrations.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, QueryResult,
    Statement, TransactionTrait, Value,
};
use secrecy::{ExposeSecret, SecretString};

use crate::config::DatabaseSettings;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("could not connect to the {backend} database: {source}")]
    Connect {
        backend: &'static str,
        source: DbErr,
    },
    #[error("unsupported database URL scheme (expected postgres:// or sqlite://)")]
    UnsupportedScheme,
    #[error("could not create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("migration {component}/{version} ({name}) failed: {source}")]
    Migration {
        component: String,
        version: i64,
        name: &'static str,
        source: DbErr,
    },
    #[error("migrations {component}/{version} ({first}) and ({second}) share a version")]
    DuplicateVersion {
        component: String,
        version: i64,
        first: &'static str,
        second: &'static str,
    },
    #[error(transparent)]
    Query(#[from] DbErr),
}

/// Opens a pool. SQLite gets WAL, a busy timeout and foreign keys; its parent directory is
/// created if missing.
pub async fn connect(
    url: &SecretString,
    settings: &DatabaseSettings,
) -> Result<DatabaseConnection, DbError> {
    let raw = url.expose_secret();
    let backend = if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        "postgres"
    } else if raw.starts_with("sqlite:") {
        "sqlite"
    } else {
        return Err(DbError::UnsupportedScheme);
    };
    if backend == "sqlite"
        && let Some(dir) = sqlite_parent_dir(raw)
    {
        std::fs::create_dir_all(&dir).map_err(|source| DbError::DataDir {
            path: dir.clone(),
            source,
        })?;
    }
    let mut options = ConnectOptions::new(raw.to_string());
    options
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    Database::connect(options)
        .await
        .map_err(|source| DbError::Connect { backend, source })
}

fn sqlite_parent_dir(url: &str) -> Option<String> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    let parent = std::path::Path::new(path).parent()?;
    (!parent.as_os_str().is_empty()).then(|| parent.display().to_string())
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

/// Builds a statement for the connection's backend. SQL uses `$1, $2, ...` placeholders, which
/// both PostgreSQL and SQLite accept.
pub fn stmt(backend: DbBackend, sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(backend, sql, values)
}

/// A timestamp as every service stores it: `timestamptz` on PostgreSQL; on SQLite fixed-width
/// RFC 3339 text in UTC with microseconds (`2026-03-29T01:30:00.000000Z`), so that comparing
/// the text compares the instants (ADR 0008).
pub fn ts(backend: DbBackend, at: DateTime<Utc>) -> Value {
    match backend {
        DbBackend::Postgres => at.into(),
        _ => at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string().into(),
    }
}

/// [`ts`] for a column that may be NULL.
pub fn opt_ts(backend: DbBackend, at: Option<DateTime<Utc>>) -> Value {
    match (backend, at) {
        (_, Some(at)) => ts(backend, at),
        (DbBackend::Postgres, None) => Value::ChronoDateTimeUtc(None),
        (_, None) => Value::String(None),
    }
}

/// Reads a timestamp written by [`ts`].
pub fn get_ts(row: &QueryResult, column: &str) -> Result<DateTime<Utc>, DbErr> {
    get_opt_ts(row, column)?.ok_or_else(|| DbErr::Type(format!("{column} is NULL")))
}

/// Reads a timestamp written by [`opt_ts`].
pub fn get_opt_ts(row: &QueryResult, column: &str) -> Result<Option<DateTime<Utc>>, DbErr> {
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

/// One schema change, written once per backend as a list of statements.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Unique within its component. A service numbers its own from 1; versions from
    /// 1 000 000 up are kept for the kit's pieces a service lists among its own (such as
    /// [`crate::care::MIGRATION`]), so the two can never clash.
    pub version: i64,
    pub name: &'static str,
    pub postgres: &'static [&'static str],
    pub sqlite: &'static [&'static str],
}

/// An arbitrary constant: the advisory lock that serializes migrations across replicas.
const MIGRATION_LOCK_KEY: i64 = 0x006d_6564_6d65_7368;

/// Applies the migrations of `component` that are not applied yet, each in its own
/// transaction, in version order. Safe to run from several replicas at once (PostgreSQL takes
/// an advisory lock). Returns how many were applied.
pub async fn migrate(
    db: &DatabaseConnection,
    component: &str,
    migrations: &[Migration],
) -> Result<usize, DbError> {
    let mut sorted: Vec<&Migration> = migrations.iter().collect();
    sorted.sort_by_key(|m| m.version);
    // A second migration with an applied one's version would be skipped without a word.
    if let Some(pair) = sorted.windows(2).find(|w| w[0].version == w[1].version) {
        return Err(DbError::DuplicateVersion {
            component: component.to_string(),
            version: pair[0].version,
            first: pair[0].name,
            second: pair[1].name,
        });
    }
    let backend = db.get_database_backend();
    let create = match backend {
        DbBackend::Postgres => {
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                component TEXT NOT NULL,
                version BIGINT NOT NULL,
                name TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (component, version))"
        }
        _ => {
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                component TEXT NOT NULL,
                version INTEGER NOT NULL,
                name TEXT NOT NULL,
                applied_at TEXT NOT NULL,
                PRIMARY KEY (component, version))"
        }
    };
    if backend == DbBackend::Postgres {
        // CREATE TABLE IF NOT EXISTS can still race on PostgreSQL; take the lock first.
        let txn = db.begin().await?;
        txn.execute_raw(stmt(
            backend,
            "SELECT pg_advisory_xact_lock($1)",
            [MIGRATION_LOCK_KEY.into()],
        ))
        .await?;
        txn.execute_unprepared(create).await?;
        txn.commit().await?;
    } else {
        db.execute_unprepared(create).await?;
    }

    let mut applied = 0;
    for migration in sorted {
        let txn = db.begin().await?;
        if backend == DbBackend::Postgres {
            txn.execute_raw(stmt(
                backend,
                "SELECT pg_advisory_xact_lock($1)",
                [MIGRATION_LOCK_KEY.into()],
            ))
            .await?;
        }
        let done = txn
            .query_one_raw(stmt(
                backend,
                "SELECT 1 FROM schema_migrations WHERE component = $1 AND version = $2",
                [component.into(), migration.version.into()],
            ))
            .await?
            .is_some();
        if done {
            txn.rollback().await?;
            continue;
        }
        let statements = match backend {
            DbBackend::Postgres => migration.postgres,
            _ => migration.sqlite,
        };
        for sql in statements {
            txn.execute_unprepared(sql)
                .await
                .map_err(|source| DbError::Migration {
                    component: component.to_string(),
                    version: migration.version,
                    name: migration.name,
                    source,
                })?;
        }
        let applied_at = ts(backend, Utc::now());
        txn.execute_raw(stmt(
            backend,
            "INSERT INTO schema_migrations (component, version, name, applied_at) VALUES ($1, $2, $3, $4)",
            [component.into(), migration.version.into(), migration.name.into(), applied_at],
        ))
        .await?;
        txn.commit().await?;
        tracing::info!(
            component,
            version = migration.version,
            name = migration.name,
            "migration applied"
        );
        applied += 1;
    }
    Ok(applied)
}

/// `SELECT 1`, for readiness checks.
pub async fn ping(db: &DatabaseConnection) -> Result<(), String> {
    db.ping().await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_timestamps_sort_as_text_in_time_order() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let text = |t: DateTime<Utc>| match ts(DbBackend::Sqlite, t) {
            Value::String(Some(s)) => s,
            other => panic!("{other:?}"),
        };
        let times = [
            "2026-03-29T00:59:59.999999Z",
            "2026-03-29T01:00:00Z",
            "2026-03-29T01:00:00.5Z",
            "2026-03-29T03:30:00+02:00",
        ];
        let texts: Vec<String> = times.iter().map(|t| text(at(t))).collect();
        assert_eq!(texts[1], "2026-03-29T01:00:00.000000Z");
        assert!(texts.windows(2).all(|w| w[0] < w[1]), "{texts:?}");
    }

    #[test]
    fn sqlite_parent_dir_is_found() {
        assert_eq!(
            sqlite_parent_dir("sqlite://data/x.sqlite3?mode=rwc").as_deref(),
            Some("data")
        );
        assert_eq!(sqlite_parent_dir("sqlite::memory:"), None);
        assert_eq!(sqlite_parent_dir("sqlite://x.sqlite3"), None);
    }
}
