use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::watch;

use super::{OutgoingEvent, PublishError, PublishOutcome, Publisher};

/// The largest message the in-process bus takes unless told otherwise: 1 MiB, about what a
/// Kafka broker takes by default (`message.max.bytes`).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_048_576;

/// The in-process bus of `medmesh dev`: an append-only log per topic with a committed offset
/// per consumer group — Kafka's semantics without Kafka, a size limit included. It lives as
/// long as the process.
#[derive(Clone)]
pub struct MemoryBus {
    inner: Arc<BusInner>,
}

struct BusInner {
    topics: Mutex<HashMap<String, TopicLog>>,
    version: watch::Sender<u64>,
    max_message_bytes: usize,
}

#[derive(Default)]
struct TopicLog {
    messages: Vec<Bytes>,
    committed: HashMap<String, usize>,
}

impl std::fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBus").finish_non_exhaustive()
    }
}

impl Default for MemoryBus {
    fn default() -> Self {
        MemoryBus::with_max_message_bytes(DEFAULT_MAX_MESSAGE_BYTES)
    }
}

impl MemoryBus {
    pub fn new() -> MemoryBus {
        MemoryBus::default()
    }

    /// A bus that refuses, for good, any message larger than `max_message_bytes`, as a broker
    /// with that `message.max.bytes` would.
    pub fn with_max_message_bytes(max_message_bytes: usize) -> MemoryBus {
        MemoryBus {
            inner: Arc::new(BusInner {
                topics: Mutex::new(HashMap::new()),
                version: watch::channel(0).0,
                max_message_bytes,
            }),
        }
    }

    /// Subscribes `group` to `topics`, from the group's committed offsets.
    pub fn subscribe(&self, group: &str, topics: &[String]) -> MemorySubscription {
        let positions = {
            let mut logs = self
                .inner
                .topics
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            topics
                .iter()
                .map(|t| {
                    let log = logs.entry(t.clone()).or_default();
                    (t.clone(), *log.committed.get(group).unwrap_or(&0))
                })
                .collect()
        };
        MemorySubscription {
            bus: self.clone(),
            group: group.to_string(),
            topics: topics.to_vec(),
            positions,
            changes: self.inner.version.subscribe(),
        }
    }

    /// Follows `topics` from their current end, as a reader of its own that commits nothing
    /// (see [`super::Follower`]).
    pub fn tail(&self, topics: &[String]) -> MemorySubscription {
        let positions = {
            let mut logs = self.inner.topics.lock().unwrap_or_else(|e| e.into_inner());
            topics
                .iter()
                .map(|t| (t.clone(), logs.entry(t.clone()).or_default().messages.len()))
                .collect()
        };
        MemorySubscription {
            bus: self.clone(),
            group: String::new(),
            topics: topics.to_vec(),
            positions,
            changes: self.inner.version.subscribe(),
        }
    }
}

impl Publisher for MemoryBus {
    fn publish<'a>(&'a self, batch: &'a [OutgoingEvent]) -> BoxFuture<'a, PublishOutcome> {
        Box::pin(async move {
            let mut outcome = PublishOutcome::default();
            {
                let mut logs = self
                    .inner
                    .topics
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for event in batch {
                    if event.payload.len() > self.inner.max_message_bytes {
                        outcome.error = Some(PublishError::Permanent(format!(
                            "the message is {} bytes, more than the bus takes ({} bytes)",
                            event.payload.len(),
                            self.inner.max_message_bytes
                        )));
                        break;
                    }
                    logs.entry(event.topic.clone())
                        .or_default()
                        .messages
                        .push(event.payload.clone());
                    outcome.delivered += 1;
                }
            }
            self.inner.version.send_modify(|v| *v += 1);
            outcome
        })
    }
}

/// A consumer group's cursor over the bus.
#[derive(Debug)]
pub struct MemorySubscription {
    bus: MemoryBus,
    group: String,
    topics: Vec<String>,
    positions: HashMap<String, usize>,
    changes: watch::Receiver<u64>,
}

impl MemorySubscription {
    /// The next message (topic, offset, payload); waits until one is published.
    pub async fn next(&mut self) -> (String, usize, Bytes) {
        loop {
            self.changes.borrow_and_update();
            {
                let logs = self
                    .bus
                    .inner
                    .topics
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for topic in &self.topics {
                    let position = self.positions[topic];
                    if let Some(message) = logs.get(topic).and_then(|l| l.messages.get(position)) {
                        self.positions.insert(topic.clone(), position + 1);
                        return (topic.clone(), position, message.clone());
                    }
                }
            }
            if self.changes.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Commits `offset` of `topic` as handled.
    pub fn commit(&self, topic: &str, offset: usize) {
        let mut logs = self
            .bus
            .inner
            .topics
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let log = logs.entry(topic.to_string()).or_default();
        let committed = log.committed.entry(self.group.clone()).or_default();
        *committed = (*committed).max(offset + 1);
    }
}
