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
        actor: actor.map(actor_of),
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

/// `medmesh.scheduling.v1.schedule.changed`, keyed by doctor id: the doctor's free time changed
/// for another reason than an appointment (a template, an exception, their listing, their
/// clinic's zone), so cached free slots must be read again.
///
/// The payload is an `AppointmentEvent` without an appointment whose `previous_slot` names the
/// doctor (and the clinic's zone), so a reader that takes every scheduling event's doctor from
/// the appointment or the previous slot (the gateway's live availability) reads this one too.
pub(crate) fn schedule_changed(
    doctor_id: &str,
    time_zone: &str,
    actor: &Caller,
    names: &Names,
) -> NewEvent {
    let payload = pb::AppointmentEvent {
        appointment: None,
        previous_slot: Some(pb::Slot {
            doctor_id: doctor_id.to_string(),
            time_zone: time_zone.to_string(),
            ..Default::default()
        }),
        actor: Some(actor_of(actor)),
        doctor_display_name: names.doctor.clone(),
        clinic_name: names.clinic.clone(),
        clinic_time_zone: time_zone.to_string(),
    };
    NewEvent::new(
        "medmesh.scheduling.v1.schedule.changed",
        "doctor",
        doctor_id.to_string(),
        PAYLOAD,
        &payload,
    )
}

fn actor_of(c: &Caller) -> Actor {
    svc_kit::auth::actor(&c.subject, &c.roles, &c.clients)
}
