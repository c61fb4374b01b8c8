//! The events scheduling emits, keyed by appointment id, carrying what svc-notify needs to
//! write to the patient without calling back (names, times and the clinic's zone) and no
//! free text: not the reason for the visit, nor why it was cancelled or booked over a conflict.
//! Events stay in the outbox and on the broker for days and are read by every consumer; a
//! consumer that needs more asks scheduling with its own token, and is checked like anyone.

use medmesh_proto::{common::v1::Actor, scheduling::v1 as pb};
use svc_kit::events::NewEvent;

use chrono::{DateTime, Utc};

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
        appointment: Some(without_free_text(convert::appointment(a))),
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

/// The appointment as events carry it: the people, the place, the time and the status, without
/// what a person wrote (a reason for the visit is clinical; cancellation and override reasons
/// may be).
fn without_free_text(appointment: pb::Appointment) -> pb::Appointment {
    pb::Appointment {
        reason: String::new(),
        cancellation_reason: String::new(),
        override_reason: String::new(),
        ..appointment
    }
}

fn actor_of(c: &Caller) -> Actor {
    svc_kit::auth::actor(&c.subject, &c.roles, &c.clients)
}

/// What an erasure did, as `patient.erased` reports it.
#[derive(Debug, Clone)]
pub(crate) struct ErasureReport {
    pub patient_id: String,
    pub appointments_anonymised: i64,
    pub appointments_cancelled: i64,
    pub waitlist_entries_removed: i64,
    pub documents_removed: i64,
    pub requested_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
}

/// `medmesh.scheduling.v1.patient.erased`, keyed by patient id: scheduling's part of an erasure
/// is done.
pub(crate) fn patient_erased(report: &ErasureReport) -> NewEvent {
    NewEvent::new(
        "medmesh.scheduling.v1.patient.erased",
        "patient",
        report.patient_id.clone(),
        "medmesh.scheduling.v1.PatientErasedEvent",
        &pb::PatientErasedEvent {
            patient_id: report.patient_id.clone(),
            appointments_anonymised: report.appointments_anonymised,
            appointments_cancelled: report.appointments_cancelled,
            waitlist_entries_removed: report.waitlist_entries_removed,
            documents_removed: report.documents_removed,
            requested_at: Some(convert::timestamp(report.requested_at)),
            completed_at: Some(convert::timestamp(report.completed_at)),
        },
    )
    .with_subject(report.patient_id.clone())
}
