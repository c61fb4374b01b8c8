use chrono::Utc;
use prost::Message;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr};

use crate::db::{Migration, stmt};
use medmesh_proto::events::v1::EventEnvelope;

/// The tables every service database carries for events (component `svc-kit`, version 1).
pub const MIGRATION: Migration = Migration {
    version: 1,
    name: "outbox, processed events, dead letters",
    postgres: &[
        "CREATE TABLE outbox (
            seq BIGSERIAL PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            topic TEXT NOT NULL,
            event_type TEXT NOT NULL,
            aggregate_id TEXT NOT NULL,
            envelope BYTEA NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            published_at TIMESTAMPTZ,
            attempts INTEGER NOT NULL DEFAULT 0)",
        "CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL",
        "CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL",
        "CREATE TABLE processed_events (
            consumer TEXT NOT NULL,
            event_id TEXT NOT NULL,
            processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, event_id))",
        "CREATE TABLE dead_letters (
            id BIGSERIAL PRIMARY KEY,
            consumer TEXT NOT NULL,
            topic TEXT NOT NULL,
            event_id TEXT,
            envelope BYTEA NOT NULL,
            error TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    ],
    sqlite: &[
        "CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            topic TEXT NOT NULL,
            event_type TEXT NOT NULL,
            aggregate_id TEXT NOT NULL,
            envelope BLOB NOT NULL,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            published_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0)",
        "CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL",
        "CREATE TABLE processed_events (
            consumer TEXT NOT NULL,
            event_id TEXT NOT NULL,
            processed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            PRIMARY KEY (consumer, event_id))",
        "CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            consumer TEXT NOT NULL,
            topic TEXT NOT NULL,
            event_id TEXT,
            envelope BLOB NOT NULL,
            error TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))",
    ],
};

/// Where the relay sets aside an event the broker refused for good, and the indexes that
/// let the event tables be pruned by age (component `svc-kit`, version 3; version 2 is
/// [`crate::idempotency::MIGRATION`]).
pub const DEAD_LETTERS_MIGRATION: Migration = Migration {
    version: 3,
    name: "outbox dead letters, retention indexes",
    postgres: &[
        // `seq` and `created_at` are the outbox row's own; `attempts` counts the publishes
        // tried, the refused one included.
        "CREATE TABLE outbox_dead_letters (
            seq BIGINT PRIMARY KEY,
            event_id TEXT NOT NULL,
            topic TEXT NOT NULL,
            event_type TEXT NOT NULL,
            aggregate_id TEXT NOT NULL,
            envelope BYTEA NOT NULL,
            error TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            dead_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        "CREATE INDEX outbox_dead_letters_event_id ON outbox_dead_letters (event_id)",
        "CREATE INDEX outbox_dead_letters_dead_at ON outbox_dead_letters (dead_at)",
        "CREATE INDEX processed_events_processed_at ON processed_events (processed_at)",
        "CREATE INDEX dead_letters_created_at ON dead_letters (created_at)",
    ],
    sqlite: &[
        "CREATE TABLE outbox_dead_letters (
            seq INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL,
            topic TEXT NOT NULL,
            event_type TEXT NOT NULL,
            aggregate_id TEXT NOT NULL,
            envelope BLOB NOT NULL,
            error TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            dead_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))",
        "CREATE INDEX outbox_dead_letters_event_id ON outbox_dead_letters (event_id)",
        "CREATE INDEX outbox_dead_letters_dead_at ON outbox_dead_letters (dead_at)",
        "CREATE INDEX processed_events_processed_at ON processed_events (processed_at)",
        "CREATE INDEX dead_letters_created_at ON dead_letters (created_at)",
    ],
};

/// `now()` in the backend's own timestamp representation.
pub(crate) fn now_sql(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "now()",
        _ => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    }
}

/// An event about to be written to the outbox.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// e.g. "medmesh.scheduling.v1.appointment.booked".
    pub event_type: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The user the event concerns (never PHI).
    pub subject: Option<String>,
    pub payload: prost_types::Any,
    pub traceparent: Option<String>,
}

impl NewEvent {
    /// `payload_name` is the protobuf full name of `payload`, e.g.
    /// "medmesh.scheduling.v1.AppointmentEvent".
    pub fn new(
        event_type: impl Into<String>,
        aggregate_type: impl Into<String>,
        aggregate_id: impl Into<String>,
        payload_name: &str,
        payload: &impl Message,
    ) -> NewEvent {
        NewEvent {
            event_type: event_type.into(),
            aggregate_type: aggregate_type.into(),
            aggregate_id: aggregate_id.into(),
            subject: None,
            payload: prost_types::Any {
                type_url: format!("type.googleapis.com/{payload_name}"),
                value: payload.encode_to_vec(),
            },
            traceparent: None,
        }
    }

    pub fn with_subject(mut self, subject: impl Into<String>) -> NewEvent {
        self.subject = Some(subject.into());
        self
    }
}

/// Writes a service's events into its outbox table.
#[derive(Debug, Clone)]
pub struct Outbox {
    source: String,
    topic: String,
}

impl Outbox {
    /// `source` names the producer (e.g. "medmesh/svc-scheduling"); `topic` is where its
    /// events are published.
    pub fn new(source: impl Into<String>, topic: impl Into<String>) -> Outbox {
        Outbox {
            source: source.into(),
            topic: topic.into(),
        }
    }

    /// Writes `event` through `conn`, which should be the transaction of the state change it
    /// describes. Returns the event id (UUIDv7).
    pub async fn enqueue<C: ConnectionTrait>(
        &self,
        conn: &C,
        event: NewEvent,
    ) -> Result<String, DbErr> {
        let id = uuid::Uuid::now_v7().to_string();
        let now = Utc::now();
        let envelope = EventEnvelope {
            id: id.clone(),
            r#type: event.event_type.clone(),
            source: self.source.clone(),
            aggregate_id: event.aggregate_id.clone(),
            aggregate_type: event.aggregate_type,
            subject: event.subject.unwrap_or_default(),
            time: Some(prost_types::Timestamp {
                seconds: now.timestamp(),
                nanos: now.timestamp_subsec_nanos() as i32,
            }),
            traceparent: event.traceparent.unwrap_or_default(),
            tracestate: String::new(),
            payload: Some(event.payload),
        };
        conn.execute_raw(stmt(
            conn.get_database_backend(),
            "INSERT INTO outbox (event_id, topic, event_type, aggregate_id, envelope) VALUES ($1, $2, $3, $4, $5)",
            [
                id.clone().into(),
                self.topic.clone().into(),
                event.event_type.into(),
                event.aggregate_id.into(),
                envelope.encode_to_vec().into(),
            ],
        ))
        .await?;
        Ok(id)
    }
}

/// How many events wait to be published.
pub async fn pending_count(db: &DatabaseConnection) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(stmt(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM outbox WHERE published_at IS NULL",
            [],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("count".into()))?;
    row.try_get::<i64>("", "n")
}

/// How many events wait to be published and how long the oldest has waited, in seconds (0
/// when none wait): the outbox's depth and lag.
pub async fn pending_stats(db: &DatabaseConnection) -> Result<(i64, f64), DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT COUNT(*) AS n,
                    COALESCE(EXTRACT(EPOCH FROM now() - MIN(created_at)), 0)::float8 AS age
             FROM outbox WHERE published_at IS NULL"
        }
        _ => {
            "SELECT COUNT(*) AS n,
                    COALESCE((julianday('now') - julianday(MIN(created_at))) * 86400.0, 0.0) AS age
             FROM outbox WHERE published_at IS NULL"
        }
    };
    let row = db
        .query_one_raw(stmt(backend, sql, []))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("count".into()))?;
    Ok((
        row.try_get::<i64>("", "n")?,
        row.try_get::<f64>("", "age")?.max(0.0),
    ))
}

/// How many events the relay has set aside in `outbox_dead_letters` (they wait there for an
/// operator until they are pruned).
pub async fn dead_letter_count(db: &DatabaseConnection) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(stmt(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM outbox_dead_letters",
            [],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("count".into()))?;
    row.try_get::<i64>("", "n")
}
