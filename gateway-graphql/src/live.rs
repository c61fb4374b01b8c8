//! Live availability: the gateway listens to scheduling's events and tells each open
//! `doctorAvailability` subscription when its doctor's time changed, so booking pages update
//! without polling. The feed only says *which doctor*; the subscription then asks
//! svc-scheduling for the fresh free slots (through the cache, so a burst is cheap).

use std::time::Duration;

use medmesh_proto::{events::v1::EventEnvelope, scheduling::v1::AppointmentEvent};
use prost::Message;
use rdkafka::{
    Message as _,
    consumer::{Consumer, StreamConsumer},
};
use svc_kit::events::{EventSource, kafka_client_config};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Doctor ids whose availability changed, as they happen.
#[derive(Debug, Clone)]
pub struct AvailabilityFeed {
    changes: broadcast::Sender<String>,
}

impl AvailabilityFeed {
    /// Starts listening to `topic` (scheduling's events) on `source` until `shutdown`.
    pub fn start(
        source: EventSource,
        topic: String,
        shutdown: CancellationToken,
    ) -> AvailabilityFeed {
        let (changes, _) = broadcast::channel(1024);
        let feed = AvailabilityFeed { changes };
        let sender = feed.changes.clone();
        tokio::spawn(async move {
            match source {
                EventSource::Memory(bus) => {
                    // Each gateway process is its own group: every process sees every event.
                    let group = format!("gateway-live-{}", uuid::Uuid::new_v4());
                    let mut subscription = bus.subscribe(&group, std::slice::from_ref(&topic));
                    loop {
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            (topic, offset, payload) = subscription.next() => {
                                subscription.commit(&topic, offset);
                                announce(&sender, &payload);
                            }
                        }
                    }
                }
                EventSource::Kafka { brokers, .. } => {
                    let consumer: StreamConsumer = match kafka_client_config(&brokers)
                        .set(
                            "group.id",
                            format!("medmesh-gateway-live-{}", uuid::Uuid::new_v4()),
                        )
                        .set("auto.offset.reset", "latest")
                        .set("enable.auto.commit", "false")
                        .create()
                    {
                        Ok(consumer) => consumer,
                        Err(error) => {
                            tracing::error!(%error, "live availability feed could not start");
                            return;
                        }
                    };
                    let mut subscribed = false;
                    loop {
                        if !subscribed {
                            subscribed = consumer.subscribe(&[topic.as_str()]).is_ok();
                        }
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            message = consumer.recv() => match message {
                                Ok(message) => {
                                    if let Some(payload) = message.payload() {
                                        announce(&sender, payload);
                                    }
                                }
                                Err(error) => {
                                    tracing::warn!(%error, "live availability feed: broker error");
                                    tokio::time::sleep(Duration::from_millis(500)).await;
                                }
                            }
                        }
                    }
                }
            }
        });
        feed
    }

    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.changes.subscribe()
    }
}

/// Sends the doctors an event touches (before and after a reschedule).
fn announce(sender: &broadcast::Sender<String>, payload: &[u8]) {
    let Ok(envelope) = EventEnvelope::decode(payload) else {
        return;
    };
    let Some(any) = envelope.payload else {
        return;
    };
    let Ok(event) = AppointmentEvent::decode(any.value.as_slice()) else {
        return;
    };
    let doctors = [
        event.appointment.and_then(|a| a.slot).map(|s| s.doctor_id),
        event.previous_slot.map(|s| s.doctor_id),
    ];
    for doctor in doctors.into_iter().flatten().filter(|d| !d.is_empty()) {
        // No subscriber is fine.
        let _ = sender.send(doctor);
    }
}
