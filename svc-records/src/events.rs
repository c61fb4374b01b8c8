//! The events records emits through its outbox, `medmesh.records.v1.record.<what>`, keyed by
//! patient. They carry identifiers only: no clinical content and no stated reason leaves the
//! service on the bus.

use chrono::{DateTime, Utc};
use medmesh_proto::{common::v1::Actor, records::v1 as pb};
use svc_kit::events::NewEvent;

use crate::{convert::timestamp, domain::Caller};

pub(crate) fn actor(caller: &Caller) -> Actor {
    Actor {
        subject: caller.subject.clone(),
        roles: caller
            .roles
            .iter()
            .map(|r| r.as_str().to_string())
            .collect(),
    }
}

pub(crate) fn record(kind: &str, mut event: pb::RecordEvent, at: DateTime<Utc>) -> NewEvent {
    event.at = Some(timestamp(at));
    let patient = event.patient_id.clone();
    NewEvent::new(
        format!("medmesh.records.v1.record.{kind}"),
        "patient",
        patient.clone(),
        "medmesh.records.v1.RecordEvent",
        &event,
    )
    .with_subject(patient)
}
