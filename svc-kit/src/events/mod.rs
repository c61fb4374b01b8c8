//! Events: the transactional outbox, the relay that publishes it (Kafka or the in-process
//! bus), and the consumer helper that commits after handling and drops duplicates.
//!
//! A state change and its event are written in one transaction ([`Outbox::enqueue`]); the
//! [`Relay`] publishes committed events in order and marks them published only after the
//! broker acknowledged them; a [`Consumer`] records each event id it handled in the same
//! transaction as the handler's own writes, so a redelivered event acts once. A [`Follower`]
//! is for what every process needs to hear for itself (live updates, cache invalidation).

mod consumer;
mod follower;
mod kafka;
mod memory;
mod outbox;

pub use consumer::{Consumer, EventHandler, EventSource, HandlerError};
pub use follower::Follower;
pub use kafka::{KafkaPublisher, ensure_topics, kafka_client_config};
pub use memory::{MemoryBus, MemorySubscription};
pub use outbox::{MIGRATION, NewEvent, Outbox, Relay, pending_count, pending_stats};

use bytes::Bytes;
use futures::future::BoxFuture;

use crate::config::ServiceName;

/// The topic a service's events go to, e.g. `medmesh.scheduling.v1`.
pub fn topic_for(prefix: &str, service: ServiceName) -> String {
    format!("{prefix}.{service}.v1")
}

/// One encoded event on its way to the bus.
#[derive(Debug, Clone)]
pub struct OutgoingEvent {
    pub seq: i64,
    pub event_id: String,
    pub event_type: String,
    pub topic: String,
    /// The aggregate id: the Kafka key, so one aggregate's events keep their order.
    pub key: String,
    /// An encoded `medmesh.events.v1.EventEnvelope`.
    pub payload: Bytes,
}

/// How far a batch got: `delivered` events from the front of the batch were acknowledged.
#[derive(Debug, Default)]
pub struct PublishOutcome {
    pub delivered: usize,
    pub error: Option<String>,
}

/// Where the relay sends events.
pub trait Publisher: Send + Sync + 'static {
    fn publish<'a>(&'a self, batch: &'a [OutgoingEvent]) -> BoxFuture<'a, PublishOutcome>;

    /// Makes sure `topics` exist before anything is published (Kafka creates them at start-up;
    /// the in-process bus needs nothing).
    fn prepare<'a>(&'a self, _topics: &'a [String]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}
