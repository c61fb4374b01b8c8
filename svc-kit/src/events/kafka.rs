use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::future::BoxFuture;
use rdkafka::{
    ClientConfig,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    error::{KafkaError, RDKafkaErrorCode},
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord, Producer},
};

use secrecy::ExposeSecret as _;

use super::{OutgoingEvent, PublishError, PublishOutcome, Publisher};
use crate::config::KafkaSettings;

/// The librdkafka settings every MedMesh client starts from: `brokers`, and the TLS and SASL
/// `settings` name. librdkafka's TLS (and SCRAM) is the system's OpenSSL, the one part of the
/// platform not on rustls (docs/adr/0011-kafka-tls-with-librdkafka.md).
pub fn kafka_client_config(brokers: &str, settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "medmesh")
        // Kafka's own reconnect backoff; the relay adds its own on top.
        .set("reconnect.backoff.max.ms", "2000")
        .set("socket.connection.setup.timeout.ms", "5000")
        .set("log_level", "3")
        .set("security.protocol", settings.security_protocol());
    if settings.tls {
        // The broker's name is checked against its certificate, not only the chain.
        config.set("ssl.endpoint.identification.algorithm", "https");
        if let Some(ca) = &settings.ca_file {
            config.set("ssl.ca.location", ca.to_string_lossy());
        }
        if let (Some(cert), Some(key)) = (&settings.cert_file, &settings.key_file) {
            config
                .set("ssl.certificate.location", cert.to_string_lossy())
                .set("ssl.key.location", key.to_string_lossy());
        }
    }
    if let Some(mechanism) = settings.sasl_mechanism {
        config
            .set("sasl.mechanism", mechanism.as_str())
            .set(
                "sasl.username",
                settings.sasl_username.clone().unwrap_or_default(),
            )
            .set(
                "sasl.password",
                settings
                    .sasl_password
                    .as_ref()
                    .map(|p| p.expose_secret().to_string())
                    .unwrap_or_default(),
            );
    }
    config
}

/// Creates the topics if they are missing, with the partitions and replication `settings` name.
/// "Already exists" is success. A broker that does not answer (down, or refusing the
/// handshake) fails it after the broker's own operation timeout plus `message_timeout_ms`, as a
/// publish would fail, not after librdkafka's default minute.
pub async fn ensure_topics(
    config: &ClientConfig,
    topics: &[String],
    settings: &KafkaSettings,
) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = config.create().map_err(|e| e.to_string())?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| {
            NewTopic::new(
                t,
                settings.partitions,
                TopicReplication::Fixed(settings.replication_factor),
            )
        })
        .collect();
    const OPERATION: Duration = Duration::from_secs(5);
    let options = AdminOptions::new()
        .operation_timeout(Some(OPERATION))
        .request_timeout(Some(
            OPERATION + Duration::from_millis(settings.message_timeout_ms),
        ));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(|e| e.to_string())?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(format!("creating topic {topic}: {code}")),
        }
    }
    Ok(())
}

/// Whether `code` refuses one message for its own content, so that trying it again cannot
/// succeed while the messages after it can: too large for the client's or the broker's
/// `message.max.bytes`, or not a valid record. A refusal that concerns the topic or the
/// cluster (authorization, an unknown topic, a policy) would refuse every message alike: that
/// one is retried, and waits for an operator, rather than moving the whole outbox aside. So is
/// a corrupt message (`InvalidMessage`), which Kafka itself marks retriable.
fn refuses_the_message(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::MessageBatchTooLarge
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::InvalidRecord
    )
}

fn publish_error(error: &KafkaError) -> PublishError {
    match error.rdkafka_error_code() {
        Some(code) if refuses_the_message(code) => PublishError::Permanent(error.to_string()),
        _ => PublishError::Transient(error.to_string()),
    }
}

/// Publishes to Kafka with an idempotent producer (`acks=all`), keyed by aggregate id.
pub struct KafkaPublisher {
    config: ClientConfig,
    producer: Mutex<Arc<FutureProducer>>,
    ensured_topics: Mutex<HashSet<String>>,
    settings: KafkaSettings,
}

impl std::fmt::Debug for KafkaPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaPublisher").finish_non_exhaustive()
    }
}

impl KafkaPublisher {
    pub fn new(brokers: &str, settings: &KafkaSettings) -> Result<KafkaPublisher, String> {
        let mut config = kafka_client_config(brokers, settings);
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set(
                "message.timeout.ms",
                settings.message_timeout_ms.to_string(),
            );
        let producer: FutureProducer = config.create().map_err(|e| e.to_string())?;
        Ok(KafkaPublisher {
            config,
            producer: Mutex::new(Arc::new(producer)),
            ensured_topics: Mutex::new(HashSet::new()),
            settings: settings.clone(),
        })
    }

    fn producer(&self) -> Arc<FutureProducer> {
        self.producer.lock().unwrap().clone()
    }

    /// An idempotent producer whose identity the broker no longer accepts (a broker that lost
    /// its state fences it) or that hit a fatal error refuses every further message: start a
    /// new one, which gets a new producer id.
    fn renew_producer_if_stale(&self, codes: &[RDKafkaErrorCode]) {
        let producer = self.producer();
        let fatal = producer.client().fatal_error();
        let stale = codes.iter().any(|code| {
            matches!(
                code,
                RDKafkaErrorCode::ProducerFenced
                    | RDKafkaErrorCode::InvalidProducerEpoch
                    | RDKafkaErrorCode::UnknownProducerId
                    | RDKafkaErrorCode::OutOfOrderSequenceNumber
                    | RDKafkaErrorCode::InvalidProducerIdMapping
            )
        });
        if fatal.is_none() && !stale {
            return;
        }
        tracing::warn!(
            fatal = fatal.is_some(),
            "kafka producer is no longer accepted; creating a new one"
        );
        match self.config.create::<FutureProducer>() {
            Ok(new) => *self.producer.lock().unwrap() = Arc::new(new),
            Err(error) => tracing::error!(%error, "could not create a new kafka producer"),
        }
    }

    async fn ensure(&self, batch: &[OutgoingEvent]) -> Result<(), String> {
        let missing: Vec<String> = {
            let ensured = self.ensured_topics.lock().unwrap();
            let mut missing: Vec<String> = batch
                .iter()
                .map(|e| e.topic.clone())
                .filter(|t| !ensured.contains(t))
                .collect();
            missing.sort();
            missing.dedup();
            missing
        };
        if missing.is_empty() {
            return Ok(());
        }
        ensure_topics(&self.config, &missing, &self.settings).await?;
        self.ensured_topics.lock().unwrap().extend(missing);
        Ok(())
    }

    async fn publish_batch(&self, batch: &[OutgoingEvent]) -> PublishOutcome {
        if let Err(error) = self.ensure(batch).await {
            return PublishOutcome {
                delivered: 0,
                error: Some(PublishError::Transient(error)),
            };
        }
        let producer = self.producer();
        let mut pending = Vec::with_capacity(batch.len());
        let mut enqueue_error = None;
        for event in batch {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "medmesh-event-id",
                    value: Some(event.event_id.as_str()),
                })
                .insert(Header {
                    key: "medmesh-event-type",
                    value: Some(event.event_type.as_str()),
                });
            let record = FutureRecord::to(&event.topic)
                .key(event.key.as_bytes())
                .payload(event.payload.as_ref())
                .headers(headers);
            match producer.send_result(record) {
                Ok(delivery) => pending.push(delivery),
                Err((error, _)) => {
                    // The client refuses a message over its own `message.max.bytes` here,
                    // before any broker sees it.
                    enqueue_error = Some(publish_error(&error));
                    break;
                }
            }
        }
        let mut delivered = 0;
        let mut error = None;
        let mut codes = Vec::new();
        for delivery in pending {
            match delivery.await {
                Ok(Ok(_)) if error.is_none() => delivered += 1,
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    if let Some(code) = e.rdkafka_error_code() {
                        codes.push(code);
                    }
                    error.get_or_insert_with(|| publish_error(&e));
                }
                Err(_) => {
                    error.get_or_insert_with(|| {
                        PublishError::Transient("delivery cancelled".to_string())
                    });
                }
            }
        }
        let error = error.or(enqueue_error);
        if error.is_some() {
            // The broker may have restarted without our topics; check them again next time.
            self.ensured_topics.lock().unwrap().clear();
            self.renew_producer_if_stale(&codes);
        }
        PublishOutcome { delivered, error }
    }

    pub async fn flush(&self, timeout: Duration) {
        let producer = self.producer();
        let _ = tokio::task::spawn_blocking(move || producer.flush(timeout)).await;
    }
}

impl Publisher for KafkaPublisher {
    fn publish<'a>(&'a self, batch: &'a [OutgoingEvent]) -> BoxFuture<'a, PublishOutcome> {
        Box::pin(self.publish_batch(batch))
    }

    fn prepare<'a>(&'a self, topics: &'a [String]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            ensure_topics(&self.config, topics, &self.settings).await?;
            self.ensured_topics
                .lock()
                .unwrap()
                .extend(topics.iter().cloned());
            Ok(())
        })
    }
}
