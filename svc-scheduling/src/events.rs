//! The events scheduling emits, keyed by appointment id, carrying what svc-notify needs to
//! write to the patient without calling back (names, times and the clinic's zone; no PHI beyond
//! ids).

use medmesh_proto::{common::v1::Actor, scheduling::v1 as pb};
use svc_kit::events::NewEvent;

use crate::{convert, domain::Caller, store::appointments::AppointmentRecord};

const PAYLOAD: &str = "medmesh.scheduling.v1.AppointmentEvent";

/// Names the event carries beside the appointment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Names {
    pub doctor: String,
    pub clinic: String,
}

/// `kind` is e.g. "appointment.booked"; the type becomes "medmesh.scheduling.v1.<kind>".
pub(crate) fn appointment_event(
    kind: &str,
    a: &AppointmentRecord,
    previous: Option<pb::Slot>,
    actor: Option<&Caller>,
    names: &Names,
) -> NewEvent {
    let payload = pb::AppointmentEvent {
        appointment: Some(convert::appointment(a)),
        previous_slot: previous,
        actor: actor.map(|c| Actor {
            subject: c.subject.clone(),
            roles: c.roles.iter().cloned().collect(),
        }),
        doctor_display_name: names.doctor.clone(),
        clinic_name: names.clinic.clone(),
        clinic_time_zone: a.time_zone.clone(),
    };
    NewEvent::new(
        format!("medmesh.scheduling.v1.{kind}"),
        "appointment",
        a.appointment_id.clone(),
        PAYLOAD,
        &payload,
    )
    .with_subject(a.patient_id.clone())
}
