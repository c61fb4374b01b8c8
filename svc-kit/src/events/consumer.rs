use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;
use prost::Message as _;
use rdkafka::{
    ClientConfig, Message,
    consumer::{CommitMode, Consumer as _, StreamConsumer},
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tokio_util::sync::CancellationToken;

use super::{MemoryBus, ensure_topics, kafka_client_config};
use crate::{config::KafkaSettings, db::stmt};
use medmesh_proto::events::v1::EventEnvelope;

pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Reacts to one event. Writes go through `txn`, which also records the event as handled:
/// both commit together or neither does.
pub trait EventHandler: Send + Sync + 'static {
    fn handle<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        event: &'a EventEnvelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>>;
}

/// Where a consumer reads from.
#[derive(Debug, Clone)]
pub enum EventSource {
    Kafka {
        brokers: String,
        settings: KafkaSettings,
    },
    Memory(MemoryBus),
}

/// A consumer in `group` subscribed to `topics`, committing nothing by itself; `offset_reset`
/// is where a group without committed offsets starts, `extra` any further settings.
pub(super) fn subscribe(
    base: ClientConfig,
    group: &str,
    offset_reset: &str,
    extra: &[(&str, &str)],
    topics: &[String],
) -> Result<StreamConsumer, String> {
    let mut config = base;
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", offset_reset)
        .set("enable.partition.eof", "false")
        .set("session.timeout.ms", "10000");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    let consumer: StreamConsumer = config.create().map_err(|e| e.to_string())?;
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics).map_err(|e| e.to_string())?;
    Ok(consumer)
}

/// The pause after a failed receive. librdkafka reconnects by itself: the first failure is
/// logged, then sparsely, and the pause doubles up to 2 s.
#[derive(Debug, Default)]
pub(super) struct ReceiveBackoff {
    failures: u32,
}

impl ReceiveBackoff {
    pub(super) fn reset(&mut self) {
        self.failures = 0;
    }

    pub(super) async fn failed(&mut self, who: &str, error: &rdkafka::error::KafkaError) {
        self.failures = self.failures.saturating_add(1);
        if self.failures.is_power_of_two() {
            tracing::warn!(who, %error, failures = self.failures, "kafka receive failed");
        }
        let pause = Duration::from_millis(100) * 2u32.saturating_pow(self.failures.min(5));
        tokio::time::sleep(pause.min(Duration::from_secs(2))).await;
    }
}

/// Creates `topics` if missing, retrying until it works (subscribing to a missing topic is an
/// error on some brokers). False when shut down first.
pub(super) async fn ensure_topics_until_ready(
    base: &ClientConfig,
    topics: &[String],
    settings: &KafkaSettings,
    who: &str,
    shutdown: &CancellationToken,
) -> bool {
    loop {
        match ensure_topics(base, topics, settings).await {
            Ok(()) => return true,
            Err(error) => {
                tracing::warn!(consumer = %who, %error, "could not ensure topics; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return false,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

enum Outcome {
    Handled,
    Duplicate,
}

/// Consumes `topics` as consumer group `group`: the offset is committed only after the handler
/// committed, duplicates (by event id) are skipped, and an event that keeps failing goes to
/// `dead_letters` after `max_attempts` so it cannot block the partition.
pub struct Consumer<H> {
    db: DatabaseConnection,
    group: String,
    topics: Vec<String>,
    handler: Arc<H>,
    max_attempts: u32,
    retry_base: Duration,
}

impl<H> std::fmt::Debug for Consumer<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("group", &self.group)
            .field("topics", &self.topics)
            .finish()
    }
}

impl<H: EventHandler> Consumer<H> {
    pub fn new(
        db: DatabaseConnection,
        group: impl Into<String>,
        topics: Vec<String>,
        handler: H,
        max_attempts: u32,
    ) -> Self {
        Consumer {
            db,
            group: group.into(),
            topics,
            handler: Arc::new(handler),
            max_attempts: max_attempts.max(1),
            retry_base: Duration::from_millis(100),
        }
    }

    /// Runs until cancelled.
    pub async fn run(self, source: EventSource, shutdown: CancellationToken) -> Result<(), String> {
        for result in ["handled", "duplicate", "dead_letter"] {
            metrics::counter!("events_consumed_total", "group" => self.group.clone(), "result" => result)
                .increment(0);
        }
        match source {
            EventSource::Memory(bus) => {
                let mut subscription = bus.subscribe(&self.group, &self.topics);
                loop {
                    let (topic, offset, payload) = tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        next = subscription.next() => next,
                    };
                    if self.process(&topic, &payload, &shutdown).await {
                        subscription.commit(&topic, offset);
                    } else {
                        return Ok(());
                    }
                }
            }
            EventSource::Kafka { brokers, settings } => {
                self.run_kafka(&brokers, &settings, shutdown).await
            }
        }
    }

    async fn run_kafka(
        &self,
        brokers: &str,
        settings: &KafkaSettings,
        shutdown: CancellationToken,
    ) -> Result<(), String> {
        let base: ClientConfig = kafka_client_config(brokers, settings);
        if !ensure_topics_until_ready(&base, &self.topics, settings, &self.group, &shutdown).await {
            return Ok(());
        }
        // From the group's committed offsets (the earliest event for a new group).
        let consumer = subscribe(base, &self.group, "earliest", &[], &self.topics)?;
        let mut backoff = ReceiveBackoff::default();
        loop {
            let message = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                message = consumer.recv() => message,
            };
            match message {
                Ok(message) => {
                    backoff.reset();
                    let payload = message.payload().unwrap_or_default();
                    if !self.process(message.topic(), payload, &shutdown).await {
                        return Ok(());
                    }
                    if let Err(error) = consumer.commit_message(&message, CommitMode::Async) {
                        // Not fatal: the next commit covers it, and a redelivery is deduplicated.
                        tracing::warn!(group = %self.group, %error, "offset commit failed");
                    }
                }
                Err(error) => backoff.failed(&self.group, &error).await,
            }
        }
    }

    /// Handles one message until it is handled, skipped as a duplicate, or dead-lettered.
    /// Returns false only when shut down before that (the offset must then not be committed).
    async fn process(&self, topic: &str, payload: &[u8], shutdown: &CancellationToken) -> bool {
        let envelope = match EventEnvelope::decode(payload) {
            Ok(envelope) if !envelope.id.is_empty() => envelope,
            _ => {
                return self
                    .dead_letter(
                        topic,
                        None,
                        payload,
                        "undecodable event envelope",
                        0,
                        shutdown,
                    )
                    .await;
            }
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_handle(&envelope).await {
                Ok(Outcome::Handled) => {
                    metrics::counter!("events_consumed_total", "group" => self.group.clone(), "result" => "handled").increment(1);
                    if let Some(time) = &envelope.time {
                        // From the commit that made the event to its handling here: the
                        // consumer's lag, relay and broker included.
                        let made = time.seconds as f64 + f64::from(time.nanos) / 1e9;
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap_or_default()
                            .as_secs_f64();
                        metrics::histogram!("events_consumer_lag_seconds", "group" => self.group.clone())
                            .record((now - made).max(0.0));
                    }
                    return true;
                }
                Ok(Outcome::Duplicate) => {
                    metrics::counter!("events_consumed_total", "group" => self.group.clone(), "result" => "duplicate").increment(1);
                    return true;
                }
                Err(error) if attempt >= self.max_attempts => {
                    metrics::counter!("events_consumed_total", "group" => self.group.clone(), "result" => "dead_letter").increment(1);
                    tracing::error!(group = %self.group, event_id = %envelope.id, event_type = %envelope.r#type, %error, attempt, "event handler kept failing; dead-lettered");
                    return self
                        .dead_letter(
                            topic,
                            Some(&envelope.id),
                            payload,
                            &error,
                            attempt,
                            shutdown,
                        )
                        .await;
                }
                Err(error) => {
                    tracing::warn!(group = %self.group, event_id = %envelope.id, event_type = %envelope.r#type, %error, attempt, "event handler failed; retrying");
                    let backoff = self.retry_base * 2u32.saturating_pow(attempt.min(6));
                    tokio::select! {
                        () = shutdown.cancelled() => return false,
                        () = tokio::time::sleep(backoff) => {}
                    }
                }
            }
        }
    }

    async fn try_handle(&self, envelope: &EventEnvelope) -> Result<Outcome, String> {
        let txn = self.db.begin().await.map_err(|e| e.to_string())?;
        let inserted = txn
            .execute_raw(stmt(
                txn.get_database_backend(),
                "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                [self.group.clone().into(), envelope.id.clone().into()],
            ))
            .await
            .map_err(|e| e.to_string())?
            .rows_affected();
        if inserted == 0 {
            txn.rollback().await.map_err(|e| e.to_string())?;
            return Ok(Outcome::Duplicate);
        }
        self.handler
            .handle(&txn, envelope)
            .await
            .map_err(|e| e.to_string())?;
        txn.commit().await.map_err(|e| e.to_string())?;
        Ok(Outcome::Handled)
    }

    async fn dead_letter(
        &self,
        topic: &str,
        event_id: Option<&str>,
        payload: &[u8],
        error: &str,
        attempts: u32,
        shutdown: &CancellationToken,
    ) -> bool {
        loop {
            let result = self
                .db
                .execute_raw(stmt(
                    self.db.get_database_backend(),
                    "INSERT INTO dead_letters (consumer, topic, event_id, envelope, error, attempts) VALUES ($1, $2, $3, $4, $5, $6)",
                    [
                        self.group.clone().into(),
                        topic.into(),
                        event_id.map(str::to_string).into(),
                        payload.to_vec().into(),
                        error.into(),
                        i64::from(attempts).into(),
                    ],
                ))
                .await;
            match result {
                Ok(_) => return true,
                Err(db_error) => {
                    tracing::error!(group = %self.group, error = %db_error, "could not write dead letter; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return false,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }
}
