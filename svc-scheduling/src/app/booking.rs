//! Taking free time: holds and direct bookings, one write transaction each that checks the
//! time, releases expired holds in the way and inserts.

use chrono::{DateTime, Utc};
use medmesh_proto::scheduling::v1 as pb;
use sea_orm::DatabaseTransaction;
use svc_kit::{idempotency::IdempotencyKey, write::or_replay};

use super::{App, Practice, allowed, patient_for};
use crate::{
    clock, convert,
    domain::{Caller, Operation, Status, calendar},
    error::SchedulingError,
    events::appointment_event,
    offers, slots,
    store::{
        appointments::{self as appts, AppointmentRecord, AuditEntry},
        directory as dir,
    },
};

/// A slot to take: the doctor, the start, for whom (`None`: the caller), why, and (staff) the
/// reason to book it over a conflict.
#[derive(Debug, Clone)]
pub(crate) struct Booking {
    pub(crate) doctor_id: String,
    pub(crate) start: DateTime<Utc>,
    pub(crate) patient_id: Option<String>,
    pub(crate) reason: String,
    pub(crate) override_reason: String,
}

impl App {
    /// The slot of the doctor's grid starting at `start`, in the future; a field error otherwise.
    pub(super) async fn slot_at(
        &self,
        practice: &Practice,
        field: &str,
        start: DateTime<Utc>,
    ) -> Result<calendar::Slot, SchedulingError> {
        if start <= clock::now() {
            return Err(SchedulingError::field(field, "is in the past"));
        }
        let templates = dir::list_templates(&self.db, &practice.doctor.doctor_id).await?;
        let exceptions: Vec<_> = dir::list_exceptions(&self.db, &practice.doctor.doctor_id)
            .await?
            .into_iter()
            .map(|(e, _)| e)
            .collect();
        calendar::slot_at(practice.tz, &templates, &exceptions, start).ok_or_else(|| {
            SchedulingError::field(field, "is not the start of a slot in the doctor's schedule")
        })
    }

    pub(crate) async fn hold_slot(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        booking: Booking,
    ) -> Result<pb::Appointment, SchedulingError> {
        let reach = allowed(Operation::Book, caller)?;
        let outcome = async {
            let patient_id = patient_for(caller, reach, booking.patient_id.clone())?;
            let practice = self
                .practice_within_reach(caller, reach, &patient_id, "doctor_id", &booking.doctor_id)
                .await?;
            let slot = self.slot_at(&practice, "start", booking.start).await?;
            self.place(
                caller,
                key,
                &practice,
                &slot,
                &patient_id,
                Status::Held,
                "",
                "",
            )
            .await
        }
        .await;
        or_replay(&self.db, key, outcome).await
    }

    /// Books a free slot directly.
    pub(crate) async fn book_slot(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        booking: Booking,
    ) -> Result<pb::Appointment, SchedulingError> {
        let reach = allowed(Operation::Book, caller)?;
        let outcome = async {
            let patient_id = patient_for(caller, reach, booking.patient_id.clone())?;
            let practice = self
                .practice_within_reach(caller, reach, &patient_id, "doctor_id", &booking.doctor_id)
                .await?;
            if !booking.override_reason.is_empty() {
                let may = allowed(Operation::Override, caller).is_ok_and(|r| {
                    caller.reaches(
                        r,
                        "",
                        &practice.doctor.doctor_id,
                        &practice.clinic.clinic_id,
                    )
                });
                if !may {
                    return Err(SchedulingError::denied(
                        "only an admin or the doctor may book over a conflict",
                    ));
                }
            }
            let slot = self.slot_at(&practice, "start", booking.start).await?;
            self.place(
                caller,
                key,
                &practice,
                &slot,
                &patient_id,
                Status::Booked,
                &booking.reason,
                &booking.override_reason,
            )
            .await
        }
        .await;
        or_replay(&self.db, key, outcome).await
    }

    /// Takes the slot for the patient: a new appointment in `status`, in one write transaction
    /// that checks, releases expired holds in the way, then inserts.
    #[allow(clippy::too_many_arguments)]
    async fn place(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        practice: &Practice,
        slot: &calendar::Slot,
        patient_id: &str,
        status: Status,
        reason: &str,
        override_reason: &str,
    ) -> Result<pb::Appointment, SchedulingError> {
        let names = practice.names();
        let names = &names;
        let placed = self
            .recorded(key, |txn| async move {
                let txn = &*txn;
                let now = clock::now();
                let record = AppointmentRecord {
                    appointment_id: uuid::Uuid::now_v7().to_string(),
                    doctor_id: practice.doctor.doctor_id.clone(),
                    patient_id: patient_id.to_string(),
                    clinic_id: practice.clinic.clinic_id.clone(),
                    cabinet_id: slot.cabinet_id.clone(),
                    time_zone: practice.clinic.time_zone.clone(),
                    starts_at: slot.start,
                    ends_at: slot.end,
                    status,
                    hold_expires_at: (status == Status::Held).then(|| now + self.rules.hold),
                    reason: reason.to_string(),
                    cancellation_reason: String::new(),
                    override_reason: override_reason.to_string(),
                    waitlist_entry_id: String::new(),
                    created_by: caller.subject.clone(),
                    created_at: now,
                    updated_at: now,
                    version: 1,
                };
                if crate::erasure::is_erased(txn, patient_id).await? {
                    return Err(crate::erasure::erased_refusal());
                }
                if caller.is(patient_id) {
                    self.within_caps(txn, &record, now, false).await?;
                }
                self.take_time(txn, &record, None, now).await?;
                appts::insert(txn, &record).await?;
                appts::audit(
                    txn,
                    &AuditEntry {
                        appointment_id: &record.appointment_id,
                        actor_subject: &caller.subject,
                        action: if override_reason.is_empty() {
                            status.event_name()
                        } else {
                            "appointment.booked_over_conflict"
                        },
                        from: None,
                        to: Some(status),
                        reason: override_reason,
                        at: now,
                    },
                )
                .await?;
                self.outbox
                    .enqueue(
                        txn,
                        appointment_event(status.event_name(), &record, None, Some(caller), names),
                    )
                    .await?;
                Ok(convert::appointment(&record))
            })
            .await?;
        slots::invalidate(&self.cache, &practice.doctor.doctor_id).await;
        Ok(placed)
    }

    /// Refuses `record` when its patient, booking for themselves, already holds or has booked
    /// as much as `scheduling.patient_max_*` allow. `moving`: the record is an upcoming
    /// appointment of theirs moving to its doctor (already counted in their holds and upcoming
    /// appointments, not yet with that doctor).
    pub(super) async fn within_caps(
        &self,
        txn: &DatabaseTransaction,
        record: &AppointmentRecord,
        now: DateTime<Utc>,
        moving: bool,
    ) -> Result<(), SchedulingError> {
        let caps = self.rules.caps;
        let load = appts::patient_load(txn, &record.patient_id, &record.doctor_id, now).await?;
        let refusal = if !moving
            && record.status == Status::Held
            && load.live_holds >= caps.live_holds
        {
            Some(format!(
                "the patient already holds {} slots, the most allowed; book or release one first",
                load.live_holds
            ))
        } else if load.upcoming_with_doctor >= caps.upcoming_per_doctor {
            Some(format!(
                "the patient already has {} upcoming appointments with this doctor, the most allowed is {}",
                load.upcoming_with_doctor, caps.upcoming_per_doctor
            ))
        } else if !moving && load.upcoming >= caps.upcoming {
            Some(format!(
                "the patient already has {} upcoming appointments, the most allowed is {}",
                load.upcoming, caps.upcoming
            ))
        } else {
            None
        };
        match refusal {
            Some(message) => {
                metrics::counter!("medmesh_scheduling_caps_refused_total").increment(1);
                Err(SchedulingError::Kit(svc_kit::ApiError::FailedPrecondition(
                    message,
                )))
            }
            None => Ok(()),
        }
    }

    /// Checks that `record`'s time is free for its doctor and patient (but for the appointment
    /// `moving` itself), and releases expired holds in the way.
    ///
    /// The check names whose time is taken. SQLite: under the write lock it is the guard.
    /// PostgreSQL: the exclusion constraints are, and the check turns the common conflict (with
    /// a committed row) into an answer before the write, where concurrent conflicting inserts
    /// would wait on each other (and could deadlock).
    pub(super) async fn take_time(
        &self,
        txn: &DatabaseTransaction,
        record: &AppointmentRecord,
        moving: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), SchedulingError> {
        let check = appts::check_time(txn, record, moving, now).await?;
        if let Some(conflict) = check.taken {
            return Err(SchedulingError::TimeTaken(conflict));
        }
        // Expired holds still block their time in the database until released, each as the
        // sweeper would (audited, evented, its waitlist offer lapsed). A patient's expired hold
        // with another doctor frees that doctor's time, which goes to that doctor's waitlist.
        if check.expired_holds_in_the_way {
            let expired = appts::expired_overlapping(
                txn,
                &record.doctor_id,
                &record.patient_id,
                record.starts_at,
                record.ends_at,
                now,
            )
            .await?;
            for hold in expired {
                let elsewhere = hold.doctor_id != record.doctor_id;
                offers::expire_hold(
                    txn,
                    &self.outbox,
                    &hold.appointment_id,
                    now,
                    self.rules.offer,
                    elsewhere,
                )
                .await?;
            }
        }
        Ok(())
    }
}
