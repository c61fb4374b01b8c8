//! Following topics for in-memory reactions (a cache's invalidation, live updates) that every
//! process needs for itself, as opposed to a [`super::Consumer`]'s work that one process of a
//! group does once.

use prost::Message as _;
use rdkafka::{ClientConfig, Message};
use tokio_util::sync::CancellationToken;

use super::{
    EventSource,
    consumer::{ReceiveBackoff, ensure_topics_until_ready, subscribe},
    kafka_client_config,
};
use medmesh_proto::events::v1::EventEnvelope;

/// Follows topics from the moment it starts, on its own: every process that follows sees every
/// event published after that, however many replicas follow the same topics. Each run is a
/// Kafka consumer group of its own (`<name>-<uuid>`) that never commits an offset, so there is
/// no shared progress in which one replica's reads would hide an event from another, and
/// nothing is left behind to resume from: a follower that stops misses what is published
/// meanwhile, and reads the current state again instead. What must act exactly once (writes,
/// notifications) is a [`super::Consumer`]'s job.
#[derive(Debug, Clone)]
pub struct Follower {
    name: String,
    topics: Vec<String>,
}

impl Follower {
    /// `name` says who follows (in the group id and the logs), e.g. `gateway-live`.
    pub fn new(name: impl Into<String>, topics: Vec<String>) -> Follower {
        Follower {
            name: name.into(),
            topics,
        }
    }

    /// Hands every event to `on_event` until `shutdown`. An undecodable message is skipped.
    pub async fn run(
        self,
        source: EventSource,
        shutdown: CancellationToken,
        mut on_event: impl FnMut(EventEnvelope) + Send,
    ) -> Result<(), String> {
        match source {
            EventSource::Memory(bus) => {
                let mut tail = bus.tail(&self.topics);
                loop {
                    let (_, _, payload) = tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        next = tail.next() => next,
                    };
                    if let Some(envelope) = self.decode(&payload) {
                        on_event(envelope);
                    }
                }
            }
            EventSource::Kafka { brokers, settings } => {
                let base: ClientConfig = kafka_client_config(&brokers, &settings);
                if !ensure_topics_until_ready(&base, &self.topics, &settings, &self.name, &shutdown)
                    .await
                {
                    return Ok(());
                }
                // A group of its own per run, from the latest event, storing no offsets.
                let group = format!("medmesh-{}-{}", self.name, uuid::Uuid::new_v4());
                let consumer = subscribe(
                    base,
                    &group,
                    "latest",
                    &[("enable.auto.offset.store", "false")],
                    &self.topics,
                )?;
                let mut backoff = ReceiveBackoff::default();
                loop {
                    let message = tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        message = consumer.recv() => message,
                    };
                    match message {
                        Ok(message) => {
                            backoff.reset();
                            if let Some(envelope) =
                                message.payload().and_then(|payload| self.decode(payload))
                            {
                                on_event(envelope);
                            }
                        }
                        Err(error) => backoff.failed(&self.name, &error).await,
                    }
                }
            }
        }
    }

    fn decode(&self, payload: &[u8]) -> Option<EventEnvelope> {
        match EventEnvelope::decode(payload) {
            Ok(envelope) => Some(envelope),
            Err(error) => {
                tracing::debug!(follower = %self.name, %error, "undecodable event skipped");
                None
            }
        }
    }
}
