//! Live prescriptions: the gateway listens to pharmacy's events and tells each open
//! `prescriptionStatus` subscription when its prescription changed. The feed only says
//! *which prescription*; the subscription then reads it again as its caller.

use medmesh_proto::events::v1::EventEnvelope;
use svc_kit::events::{EventSource, Follower};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::convert::canonical_id;

/// The type prefix of every prescription event (`issued`, `dispensed`, ...).
const PRESCRIPTION_EVENTS: &str = "medmesh.pharmacy.v1.prescription.";

/// Ids of prescriptions that changed, as they happen.
#[derive(Clone)]
pub struct PrescriptionFeed {
    changes: broadcast::Sender<String>,
}

impl std::fmt::Debug for PrescriptionFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrescriptionFeed").finish_non_exhaustive()
    }
}

impl PrescriptionFeed {
    /// Starts listening to `topic` (pharmacy's events) on `source` until `shutdown`.
    pub fn start(
        source: EventSource,
        topic: String,
        shutdown: CancellationToken,
    ) -> PrescriptionFeed {
        let feed = PrescriptionFeed::new();
        let sender = feed.clone();
        // Every gateway replica needs every event for its own subscribers: the follower reads
        // as a listener of its own and shares no progress with other replicas.
        let follower = Follower::new("gateway-prescriptions", vec![topic]);
        tokio::spawn(async move {
            let result = follower
                .run(source, shutdown, move |event| sender.announce(&event))
                .await;
            if let Err(error) = result {
                tracing::error!(%error, "live prescription feed stopped");
            }
        });
        feed
    }

    fn new() -> PrescriptionFeed {
        PrescriptionFeed {
            changes: broadcast::channel(1024).0,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.changes.subscribe()
    }

    /// Passes on the prescription a prescription event is about (its aggregate id, the Kafka
    /// key); other pharmacy events (stock) concern no subscriber.
    fn announce(&self, envelope: &EventEnvelope) {
        if !envelope.r#type.starts_with(PRESCRIPTION_EVENTS) || envelope.aggregate_id.is_empty() {
            return;
        }
        let id = canonical_id(async_graphql::ID(envelope.aggregate_id.clone()));
        // No subscriber is fine.
        let _ = self.changes.send(id.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(kind: &str, aggregate_id: &str) -> EventEnvelope {
        EventEnvelope {
            r#type: format!("medmesh.pharmacy.v1.{kind}"),
            aggregate_id: aggregate_id.into(),
            ..Default::default()
        }
    }

    #[test]
    fn prescription_events_name_their_prescription_and_nothing_else_does() {
        let feed = PrescriptionFeed::new();
        let mut changes = feed.subscribe();
        let id = "0193A6F4-1F2B-7C3D-8E4F-5A6B7C8D9E0F";
        feed.announce(&envelope("stock.low", "line-1"));
        feed.announce(&envelope("stock.received", "shipment-1"));
        feed.announce(&envelope("prescription.dispensed", ""));
        feed.announce(&envelope("prescription.dispensed", id));
        assert_eq!(
            changes.try_recv().unwrap(),
            id.to_lowercase(),
            "the id as the service writes it"
        );
        assert!(changes.try_recv().is_err(), "nothing else");
    }
}
