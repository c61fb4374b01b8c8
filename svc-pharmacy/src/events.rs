//! The events the pharmacy emits through its outbox: `medmesh.pharmacy.v1.prescription.<what>`
//! keyed by prescription id (with the patient as subject, so notify can write to them),
//! `stock.low` (once per downward crossing of a line's critical threshold), `stock.expiring`
//! (once per lot entering the expiring-soon window) and `stock.received`, keyed by pharmacy.

use medmesh_proto::{common::v1::Actor, pharmacy::v1 as pb};
use svc_kit::events::NewEvent;

/// A prescription event carries what its consumers need: notify the medication names, the
/// pharmacy and a rejection's reason (written for the patient); records the dose, frequency and
/// instructions of the medication history, which it seals. The notes the doctor and pharmacist
/// write to each other and a cancellation's reason stay in the pharmacy.
pub(crate) fn prescription(
    kind: &str,
    mut p: pb::Prescription,
    actor: Option<Actor>,
    pharmacy_name: &str,
) -> NewEvent {
    p.notes.clear();
    p.cancellation_reason.clear();
    for item in &mut p.items {
        item.notes.clear();
    }
    let id = p.prescription_id.clone();
    let patient = p.patient_id.clone();
    let payload = pb::PrescriptionEvent {
        prescription: Some(p),
        actor,
        pharmacy_name: pharmacy_name.to_string(),
    };
    NewEvent::new(
        format!("medmesh.pharmacy.v1.prescription.{kind}"),
        "prescription",
        id,
        "medmesh.pharmacy.v1.PrescriptionEvent",
        &payload,
    )
    .with_subject(patient)
}

pub(crate) fn stock_low(level: pb::StockLevel, pharmacy_name: &str) -> NewEvent {
    let key = level.pharmacy_id.clone();
    NewEvent::new(
        "medmesh.pharmacy.v1.stock.low",
        "pharmacy",
        key,
        "medmesh.pharmacy.v1.StockLowEvent",
        &pb::StockLowEvent {
            level: Some(level),
            pharmacy_name: pharmacy_name.to_string(),
        },
    )
}

pub(crate) fn stock_expiring(event: pb::StockExpiringEvent) -> NewEvent {
    let key = event.pharmacy_id.clone();
    NewEvent::new(
        "medmesh.pharmacy.v1.stock.expiring",
        "pharmacy",
        key,
        "medmesh.pharmacy.v1.StockExpiringEvent",
        &event,
    )
}

pub(crate) fn stock_received(event: pb::StockReceivedEvent) -> NewEvent {
    let key = event.pharmacy_id.clone();
    NewEvent::new(
        "medmesh.pharmacy.v1.stock.received",
        "pharmacy",
        key,
        "medmesh.pharmacy.v1.StockReceivedEvent",
        &event,
    )
}
