//! Events: the transactional outbox, the relay that publishes it (Kafka or the in-process
//! bus), and the consumer helper that commits after handling and drops duplicates.
//!
//! A state change and its event are written in one transaction ([`Outbox::enqueue`]); the
//! [`Relay`] publishes committed events in order and marks them published only after the
//! broker acknowledged them; a [`Consumer`] records each event id it handled in the same
//! transaction as the handler's own writes, so a redelivered event acts once. A [`Follower`]
//! is for what every process needs to hear for itself (live updates, cache invalidation).
//!
//! An event the broker refuses for good (too large, invalid) is moved to `outbox_dead_letters`
//! so that the events after it still go out; every other failure is retried, in order.

mod consumer;
mod follower;
mod kafka;
mod memory;
mod outbox;
mod relay;

pub use consumer::{Consumer, EventHandler, EventSource, HandlerError};
pub use follower::Follower;
pub use kafka::{KafkaPublisher, ensure_topics, kafka_client_config};
pub use memory::{DEFAULT_MAX_MESSAGE_BYTES, MemoryBus, MemorySubscription};
pub use outbox::{
    DEAD_LETTERS_MIGRATION, MIGRATION, NewEvent, Outbox, dead_letter_count, pending_count,
    pending_stats,
};
pub use relay::{Relay, RelayOptions, RelayRound, Retention};

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

/// Why an event was not published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The broker is down, slow or busy, or refuses every event alike (a topic it lacks, an
    /// authorization it withholds): the event stays first in line and is tried again.
    #[error("{0}")]
    Transient(String),
    /// The broker refused this one event for good (too large, invalid): trying it again cannot
    /// succeed, and would hold back every event after it.
    #[error("refused for good: {0}")]
    Permanent(String),
}

impl PublishError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, PublishError::Permanent(_))
    }
}

/// How far a batch got: `delivered` events from the front of the batch were acknowledged;
/// `error`, if any, is why the event after them (`batch[delivered]`) was not.
#[derive(Debug, Default)]
pub struct PublishOutcome {
    pub delivered: usize,
    pub error: Option<PublishError>,
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
