use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use chrono::Utc;
use prost::Message;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait};
use tokio_util::sync::CancellationToken;

use super::{OutgoingEvent, Publisher};
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

/// An arbitrary constant: only the replica holding this lock relays, which keeps the
/// publication order equal to the commit order.
const RELAY_LOCK_KEY: i64 = 0x6f75_7462_6f78;

/// Publishes committed outbox rows, oldest first, and marks them published once acknowledged.
pub struct Relay {
    db: DatabaseConnection,
    publisher: Arc<dyn Publisher>,
    service: &'static str,
    batch_size: u32,
    interval: Duration,
    retention: Duration,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Relay {
    pub fn new(
        db: DatabaseConnection,
        publisher: Arc<dyn Publisher>,
        service: &'static str,
        batch_size: u32,
        interval: Duration,
        retention: Duration,
    ) -> Relay {
        Relay {
            db,
            publisher,
            service,
            batch_size,
            interval,
            retention,
        }
    }

    /// Publishes one batch. Returns how many events were published; an error means the batch
    /// (or its tail) stays in the outbox for the next round.
    pub async fn relay_once(&self) -> Result<usize, String> {
        let backend = self.db.get_database_backend();
        let txn = self.db.begin().await.map_err(|e| e.to_string())?;
        if backend == DbBackend::Postgres {
            let locked = txn
                .query_one_raw(stmt(
                    backend,
                    "SELECT pg_try_advisory_xact_lock($1) AS locked",
                    [RELAY_LOCK_KEY.into()],
                ))
                .await
                .map_err(|e| e.to_string())?
                .map(|row| row.try_get::<bool>("", "locked"))
                .transpose()
                .map_err(|e| e.to_string())?
                .unwrap_or(false);
            if !locked {
                return Ok(0);
            }
        }
        let rows = txn
            .query_all_raw(stmt(
                backend,
                "SELECT seq, event_id, topic, event_type, aggregate_id, envelope FROM outbox
                 WHERE published_at IS NULL ORDER BY seq LIMIT $1",
                [i64::from(self.batch_size).into()],
            ))
            .await
            .map_err(|e| e.to_string())?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut batch = Vec::with_capacity(rows.len());
        for row in rows {
            let get = |e: DbErr| e.to_string();
            batch.push(OutgoingEvent {
                seq: row.try_get("", "seq").map_err(get)?,
                event_id: row.try_get("", "event_id").map_err(get)?,
                topic: row.try_get("", "topic").map_err(get)?,
                event_type: row.try_get("", "event_type").map_err(get)?,
                key: row.try_get("", "aggregate_id").map_err(get)?,
                payload: Bytes::from(row.try_get::<Vec<u8>>("", "envelope").map_err(get)?),
            });
        }
        let outcome = self.publisher.publish(&batch).await;
        let (delivered, failed) = batch.split_at(outcome.delivered.min(batch.len()));
        if !delivered.is_empty() {
            // An explicit list, never a range: a row with a lower seq may commit after this
            // batch was read, and it has not been published.
            let seqs: Vec<String> = delivered.iter().map(|e| e.seq.to_string()).collect();
            let sql = format!(
                "UPDATE outbox SET published_at = {}, attempts = attempts + 1 WHERE seq IN ({})",
                now_sql(backend),
                seqs.join(",")
            );
            txn.execute_unprepared(&sql)
                .await
                .map_err(|e| e.to_string())?;
        }
        if let Some(first_failed) = failed.first() {
            txn.execute_raw(stmt(
                backend,
                "UPDATE outbox SET attempts = attempts + 1 WHERE seq = $1",
                [first_failed.seq.into()],
            ))
            .await
            .map_err(|e| e.to_string())?;
        }
        txn.commit().await.map_err(|e| e.to_string())?;
        let mut by_type: std::collections::BTreeMap<&str, u64> = Default::default();
        for event in delivered {
            *by_type.entry(event.event_type.as_str()).or_default() += 1;
        }
        for (event_type, n) in by_type {
            // Event types are the platform's own, a fixed set: the label stays bounded.
            metrics::counter!("outbox_published_total", "service" => self.service, "type" => event_type.to_string())
                .increment(n);
        }
        match outcome.error {
            Some(error) if !failed.is_empty() => Err(error),
            _ => Ok(delivered.len()),
        }
    }

    async fn prune(&self) -> Result<u64, DbErr> {
        let backend = self.db.get_database_backend();
        let cutoff = Utc::now() - chrono::Duration::from_std(self.retention).unwrap_or_default();
        let cutoff = match backend {
            DbBackend::Postgres => cutoff.into(),
            _ => cutoff.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string().into(),
        };
        let result = self
            .db
            .execute_raw(stmt(
                backend,
                "DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < $1",
                [cutoff],
            ))
            .await?;
        Ok(result.rows_affected())
    }

    /// Relays until cancelled. Failures back off exponentially up to 5 s; nothing is dropped.
    pub async fn run(self, shutdown: CancellationToken) {
        metrics::counter!("outbox_publish_failures_total", "service" => self.service).increment(0);
        let mut failures: u32 = 0;
        let mut last_prune = std::time::Instant::now();
        let mut last_gauge = std::time::Instant::now() - Duration::from_secs(60);
        loop {
            let wait = match self.relay_once().await {
                Ok(n) => {
                    failures = 0;
                    if n as u32 == self.batch_size {
                        Duration::ZERO
                    } else {
                        self.interval
                    }
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    metrics::counter!("outbox_publish_failures_total", "service" => self.service)
                        .increment(1);
                    tracing::warn!(service = self.service, %error, failures, "outbox relay failed; will retry");
                    (self.interval * 2u32.saturating_pow(failures.min(6)))
                        .min(Duration::from_secs(5))
                }
            };
            if last_gauge.elapsed() > Duration::from_secs(2) {
                last_gauge = std::time::Instant::now();
                if let Ok((n, age)) = pending_stats(&self.db).await {
                    metrics::gauge!("outbox_pending", "service" => self.service).set(n as f64);
                    metrics::gauge!("outbox_oldest_pending_age_seconds", "service" => self.service)
                        .set(age);
                }
            }
            if last_prune.elapsed() > Duration::from_secs(60) {
                last_prune = std::time::Instant::now();
                if let Err(error) = self.prune().await {
                    tracing::warn!(service = self.service, %error, "outbox prune failed");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        tracing::debug!(service = self.service, "outbox relay stopped");
    }
}
