//! The relay: publishes committed outbox rows in order, sets aside an event the broker refuses
//! for good so that the events after it still go out, and prunes the event tables by age.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use chrono::Utc;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, TransactionTrait,
    Value,
};
use tokio_util::sync::CancellationToken;

use super::{
    DEFAULT_MAX_MESSAGE_BYTES, OutgoingEvent, PublishError, PublishOutcome, Publisher,
    outbox::{dead_letter_count, now_sql, pending_stats},
};
use crate::{config::EventSettings, db::stmt};

/// An arbitrary constant: only the replica holding this lock relays, which keeps the
/// publication order equal to the commit order.
const RELAY_LOCK_KEY: i64 = 0x6f75_7462_6f78;

/// How often the event tables are pruned.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// The most rows one prune statement deletes: each batch is a short transaction of its own,
/// so a large backlog never holds its locks for long.
const PRUNE_BATCH: i64 = 1000;

/// How long the event tables keep what is done with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Published outbox rows.
    pub published: Duration,
    /// `processed_events` rows: a consumer drops a redelivered event only while it remembers
    /// the event's id.
    pub processed: Duration,
    /// Consumers' `dead_letters` and the relay's `outbox_dead_letters`.
    pub dead_letters: Duration,
}

const DAY: Duration = Duration::from_secs(86_400);

impl Default for Retention {
    fn default() -> Self {
        Retention {
            published: DAY * 7,
            processed: DAY * 30,
            dead_letters: DAY * 90,
        }
    }
}

/// How a [`Relay`] works: `RelayOptions::from(&settings.events)` in a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayOptions {
    /// Outbox rows read and published at once.
    pub batch_size: u32,
    /// The pause once the outbox is drained.
    pub interval: Duration,
    /// An event whose envelope is larger is refused for good without being sent.
    pub max_event_bytes: usize,
    pub retention: Retention,
}

impl Default for RelayOptions {
    fn default() -> Self {
        RelayOptions {
            batch_size: 256,
            interval: Duration::from_millis(100),
            max_event_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            retention: Retention::default(),
        }
    }
}

impl From<&EventSettings> for RelayOptions {
    fn from(settings: &EventSettings) -> Self {
        RelayOptions {
            batch_size: settings.relay_batch_size,
            interval: Duration::from_millis(settings.relay_interval_ms),
            max_event_bytes: settings.max_event_bytes,
            retention: Retention {
                published: Duration::from_secs(u64::from(settings.outbox_retention_hours) * 3600),
                processed: DAY * settings.processed_retention_days,
                dead_letters: DAY * settings.dead_letter_retention_days,
            },
        }
    }
}

/// What one round of the relay did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RelayRound {
    /// Events the broker acknowledged, now marked published.
    pub published: usize,
    /// Events refused for good, moved to `outbox_dead_letters`.
    pub dead_lettered: usize,
    /// Events read but left for the next round, which starts at once (those after a dead
    /// letter).
    pub deferred: usize,
}

/// Why the event that ended a round's publishing was not published.
#[derive(Debug)]
enum Stop {
    /// Refused for good: set it aside. `tried` is false when it was too large to be sent.
    Refused { error: String, tried: bool },
    /// Try it again, first in line, after a pause.
    Retry(String),
}

/// A table whose rows go once they are older than their retention.
struct AgedTable {
    name: &'static str,
    /// What names a row on PostgreSQL (SQLite's `rowid` does it there).
    key: &'static str,
    /// The rows past their retention: older than `$1`.
    expired: &'static str,
}

const PUBLISHED_OUTBOX: AgedTable = AgedTable {
    name: "outbox",
    key: "seq",
    expired: "published_at IS NOT NULL AND published_at < $1",
};
const PROCESSED_EVENTS: AgedTable = AgedTable {
    name: "processed_events",
    key: "consumer, event_id",
    expired: "processed_at < $1",
};
const CONSUMER_DEAD_LETTERS: AgedTable = AgedTable {
    name: "dead_letters",
    key: "id",
    expired: "created_at < $1",
};
const OUTBOX_DEAD_LETTERS: AgedTable = AgedTable {
    name: "outbox_dead_letters",
    key: "seq",
    expired: "dead_at < $1",
};

/// Publishes committed outbox rows, oldest first, and marks them published once acknowledged.
pub struct Relay {
    db: DatabaseConnection,
    publisher: Arc<dyn Publisher>,
    service: &'static str,
    options: RelayOptions,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("service", &self.service)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Relay {
    pub fn new(
        db: DatabaseConnection,
        publisher: Arc<dyn Publisher>,
        service: &'static str,
        options: RelayOptions,
    ) -> Relay {
        Relay {
            db,
            publisher,
            service,
            options,
        }
    }

    /// Publishes one batch in order, up to the first event that is not published. An event
    /// refused for good is moved to `outbox_dead_letters` in the same transaction, and the
    /// events after it are left for the next round. An error means the event stays first in
    /// line, with those after it, for a later round.
    pub async fn relay_once(&self) -> Result<RelayRound, String> {
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
                return Ok(RelayRound::default());
            }
        }
        let rows = txn
            .query_all_raw(stmt(
                backend,
                "SELECT seq, event_id, topic, event_type, aggregate_id, envelope FROM outbox
                 WHERE published_at IS NULL ORDER BY seq LIMIT $1",
                [i64::from(self.options.batch_size).into()],
            ))
            .await
            .map_err(|e| e.to_string())?;
        if rows.is_empty() {
            return Ok(RelayRound::default());
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
        let (delivered, stop) = self.publish(&batch).await;
        let (delivered, rest) = batch.split_at(delivered);
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
        let mut refused = None;
        let mut retry = None;
        match (rest.first(), stop) {
            (Some(event), Some(Stop::Refused { error, tried })) => {
                move_to_dead_letters(&txn, event, &error, tried)
                    .await
                    .map_err(|e| e.to_string())?;
                refused = Some((event, error));
            }
            (Some(event), Some(Stop::Retry(error))) => {
                txn.execute_raw(stmt(
                    backend,
                    "UPDATE outbox SET attempts = attempts + 1 WHERE seq = $1",
                    [event.seq.into()],
                ))
                .await
                .map_err(|e| e.to_string())?;
                retry = Some(error);
            }
            _ => {}
        }
        txn.commit().await.map_err(|e| e.to_string())?;
        let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
        for event in delivered {
            *by_type.entry(event.event_type.as_str()).or_default() += 1;
        }
        for (event_type, n) in by_type {
            // Event types are the platform's own, a fixed set: the label stays bounded.
            metrics::counter!("outbox_published_total", "service" => self.service, "type" => event_type.to_string())
                .increment(n);
            // At zero for every type that flows, so that a dead letter of it is an increase.
            metrics::counter!("outbox_dead_lettered_total", "service" => self.service, "type" => event_type.to_string())
                .increment(0);
        }
        if let Some((event, error)) = &refused {
            metrics::counter!("outbox_dead_lettered_total", "service" => self.service, "type" => event.event_type.clone())
                .increment(1);
            // Never the payload: it may carry what the event is about.
            tracing::error!(
                service = self.service,
                event_id = %event.event_id,
                event_type = %event.event_type,
                topic = %event.topic,
                %error,
                "event refused for good; moved to outbox_dead_letters"
            );
        }
        if let Some(error) = retry {
            return Err(error);
        }
        let dead_lettered = usize::from(refused.is_some());
        Ok(RelayRound {
            published: delivered.len(),
            dead_lettered,
            deferred: rest.len() - dead_lettered,
        })
    }

    /// Publishes `batch` up to the first event that is not published: how many were, and
    /// why the next one was not.
    async fn publish(&self, batch: &[OutgoingEvent]) -> (usize, Option<Stop>) {
        let limit = self.options.max_event_bytes;
        // An event over the limit is not even sent; those before it are.
        let sendable = batch
            .iter()
            .position(|e| e.payload.len() > limit)
            .unwrap_or(batch.len());
        let outcome = if sendable == 0 {
            PublishOutcome::default()
        } else {
            self.publisher.publish(&batch[..sendable]).await
        };
        let delivered = outcome.delivered.min(sendable);
        let Some(next) = batch.get(delivered) else {
            return (delivered, None);
        };
        let stop = match outcome.error {
            None if delivered == sendable => Stop::Refused {
                error: format!(
                    "the envelope is {} bytes, more than events.max_event_bytes ({limit})",
                    next.payload.len()
                ),
                tried: false,
            },
            None => Stop::Retry("the publisher stopped short without an error".to_string()),
            Some(PublishError::Transient(error)) => Stop::Retry(error),
            Some(PublishError::Permanent(error)) if sendable - delivered == 1 => {
                Stop::Refused { error, tried: true }
            }
            Some(PublishError::Permanent(_)) => {
                // Sent along with others, the event may share a refusal that is not its own (a
                // broker refuses a whole message set that is too large): only a refusal of it
                // alone sets it aside.
                let alone = self.publisher.publish(std::slice::from_ref(next)).await;
                match alone.error {
                    _ if alone.delivered == 1 => return (delivered + 1, None),
                    Some(PublishError::Permanent(error)) => Stop::Refused { error, tried: true },
                    Some(PublishError::Transient(error)) => Stop::Retry(error),
                    None => Stop::Retry("the publisher stopped short without an error".to_string()),
                }
            }
        };
        (delivered, Some(stop))
    }

    /// Deletes what the event tables keep no longer — published outbox rows, remembered event
    /// ids and dead letters past their retention — at most [`PRUNE_BATCH`] rows per statement.
    /// Returns how many rows went.
    pub async fn prune(&self) -> Result<u64, DbErr> {
        let retention = self.options.retention;
        let mut pruned = 0;
        for (table, kept) in [
            (PUBLISHED_OUTBOX, retention.published),
            (PROCESSED_EVENTS, retention.processed),
            (CONSUMER_DEAD_LETTERS, retention.dead_letters),
            (OUTBOX_DEAD_LETTERS, retention.dead_letters),
        ] {
            let deleted = self.prune_table(&table, kept).await?;
            if deleted > 0 {
                tracing::debug!(
                    service = self.service,
                    table = table.name,
                    deleted,
                    "pruned by age"
                );
            }
            pruned += deleted;
        }
        Ok(pruned)
    }

    async fn prune_table(&self, table: &AgedTable, kept: Duration) -> Result<u64, DbErr> {
        let backend = self.db.get_database_backend();
        // A retention longer than the calendar reaches back prunes nothing.
        let Some(cutoff) = chrono::Duration::from_std(kept)
            .ok()
            .and_then(|kept| Utc::now().checked_sub_signed(kept))
        else {
            return Ok(0);
        };
        // As the tables' defaults write it (`strftime('%Y-%m-%dT%H:%M:%fZ')`) on SQLite.
        let cutoff: Value = match backend {
            DbBackend::Postgres => cutoff.into(),
            _ => cutoff.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string().into(),
        };
        let key = match backend {
            DbBackend::Postgres => table.key,
            _ => "rowid",
        };
        let sql = format!(
            "DELETE FROM {name} WHERE ({key}) IN
                (SELECT {key} FROM {name} WHERE {expired} LIMIT $2)",
            name = table.name,
            expired = table.expired,
        );
        let mut deleted = 0;
        loop {
            let batch = self
                .db
                .execute_raw(stmt(backend, &sql, [cutoff.clone(), PRUNE_BATCH.into()]))
                .await?
                .rows_affected();
            deleted += batch;
            if batch < PRUNE_BATCH as u64 {
                return Ok(deleted);
            }
        }
    }

    /// Relays until cancelled, and prunes the event tables meanwhile. Failures back off
    /// exponentially up to 5 s; nothing is dropped but what the broker refuses for good, and
    /// that is kept in `outbox_dead_letters`.
    pub async fn run(self, shutdown: CancellationToken) {
        metrics::counter!("outbox_publish_failures_total", "service" => self.service).increment(0);
        // Side by side, so that pruning a backlog never holds back publishing.
        tokio::join!(self.relay_until(&shutdown), self.prune_until(&shutdown));
        tracing::debug!(service = self.service, "outbox relay stopped");
    }

    async fn relay_until(&self, shutdown: &CancellationToken) {
        let mut failures: u32 = 0;
        let mut last_gauges: Option<Instant> = None;
        loop {
            let wait = match self.relay_once().await {
                Ok(round) => {
                    failures = 0;
                    let full_batch =
                        round.published + round.dead_lettered == self.options.batch_size as usize;
                    if round.deferred > 0 || full_batch {
                        Duration::ZERO
                    } else {
                        self.options.interval
                    }
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    metrics::counter!("outbox_publish_failures_total", "service" => self.service)
                        .increment(1);
                    tracing::warn!(service = self.service, %error, failures, "outbox relay failed; will retry");
                    (self.options.interval * 2u32.saturating_pow(failures.min(6)))
                        .min(Duration::from_secs(5))
                }
            };
            if last_gauges.is_none_or(|at| at.elapsed() > Duration::from_secs(2)) {
                last_gauges = Some(Instant::now());
                self.set_gauges().await;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn set_gauges(&self) {
        if let Ok((n, age)) = pending_stats(&self.db).await {
            metrics::gauge!("outbox_pending", "service" => self.service).set(n as f64);
            metrics::gauge!("outbox_oldest_pending_age_seconds", "service" => self.service)
                .set(age);
        }
        if let Ok(n) = dead_letter_count(&self.db).await {
            metrics::gauge!("outbox_dead_letters", "service" => self.service).set(n as f64);
        }
    }

    async fn prune_until(&self, shutdown: &CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(PRUNE_INTERVAL) => {}
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                result = self.prune() => {
                    if let Err(error) = result {
                        tracing::warn!(service = self.service, %error, "event tables prune failed");
                    }
                }
            }
        }
    }
}

/// Moves `event` from the outbox to `outbox_dead_letters`, in the relay's transaction.
async fn move_to_dead_letters(
    txn: &DatabaseTransaction,
    event: &OutgoingEvent,
    error: &str,
    tried: bool,
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let sql = format!(
        "INSERT INTO outbox_dead_letters
            (seq, event_id, topic, event_type, aggregate_id, envelope, error, attempts, created_at, dead_at)
         SELECT seq, event_id, topic, event_type, aggregate_id, envelope, $2, attempts + $3, created_at, {}
         FROM outbox WHERE seq = $1",
        now_sql(backend)
    );
    txn.execute_raw(stmt(
        backend,
        &sql,
        [event.seq.into(), error.into(), i32::from(tried).into()],
    ))
    .await?;
    txn.execute_raw(stmt(
        backend,
        "DELETE FROM outbox WHERE seq = $1",
        [event.seq.into()],
    ))
    .await?;
    Ok(())
}
