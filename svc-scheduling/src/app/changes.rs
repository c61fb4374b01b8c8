//! Changing an existing appointment: booking a hold, cancelling, the visit's statuses and
//! rescheduling all go one way, [`App::change_appointment`].

use chrono::{DateTime, Utc};
use medmesh_proto::scheduling::v1 as pb;
use sea_orm::DatabaseTransaction;
use svc_kit::{idempotency::IdempotencyKey, write::or_replay};

use super::{App, Practice, allowed};
use crate::{
    clock, convert,
    domain::{Caller, Change, Operation, Placement, Reach, Status},
    error::SchedulingError,
    events::appointment_event,
    offers, slots,
    store::{
        appointments::{self as appts, AppointmentRecord, AuditEntry},
        directory as dir,
        waitlist::{self, EntryStatus},
    },
};

/// The answer to an appointment out of the caller's reach, or none: the same for both.
fn not_found(change: &Change) -> SchedulingError {
    match change {
        Change::BookHold { .. } => SchedulingError::field("hold_id", "no such hold"),
        _ => SchedulingError::NoSuchAppointment,
    }
}

impl App {
    /// Turns the caller's hold into a booking, unless it ran out.
    pub(crate) async fn book_hold(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        hold_id: &str,
        reason: String,
    ) -> Result<pb::Appointment, SchedulingError> {
        let reach = allowed(Operation::Book, caller)?;
        let change = Change::BookHold { reason };
        let outcome = self
            .change_appointment(caller, key, reach, hold_id, &change, None)
            .await;
        or_replay(&self.db, key, outcome).await
    }

    pub(crate) async fn cancel_appointment(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        appointment_id: &str,
        reason: String,
    ) -> Result<pb::Appointment, SchedulingError> {
        let reach = allowed(Operation::Book, caller)?;
        let change = Change::Cancel { reason };
        let outcome = self
            .change_appointment(caller, key, reach, appointment_id, &change, None)
            .await;
        or_replay(&self.db, key, outcome).await
    }

    /// Confirms, checks in, completes or marks a no-show: staff only, over the doctor's
    /// calendar or clinic, never on their own appointment as its patient.
    pub(crate) async fn change_appointment_status(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        appointment_id: &str,
        to: Status,
        reason: String,
    ) -> Result<pb::Appointment, SchedulingError> {
        let reach = allowed(Operation::ChangeStatus, caller)?;
        let change = Change::Advance { to, reason };
        let outcome = self
            .change_appointment(caller, key, reach, appointment_id, &change, None)
            .await;
        let changed = or_replay(&self.db, key, outcome).await?;
        if to == Status::Confirmed {
            // The confirmation is rendered now so the first download is instant; if this
            // fails, the download renders it instead.
            let app = self.clone();
            let id = changed.appointment_id.clone();
            tokio::spawn(async move {
                if let Err(error) = app.confirmation_of(&id).await {
                    tracing::warn!(%error, "confirmation not rendered ahead");
                }
            });
        }
        Ok(changed)
    }

    /// Moves the appointment to `new_start` (with `new_doctor_id`, or its own doctor): the new
    /// time is taken and the old one freed in one transaction, or neither.
    pub(crate) async fn reschedule_appointment(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        appointment_id: &str,
        new_doctor_id: Option<String>,
        new_start: DateTime<Utc>,
    ) -> Result<pb::Appointment, SchedulingError> {
        let reach = allowed(Operation::Book, caller)?;
        let outcome = async {
            let current = self.visible(caller, reach, appointment_id).await?;
            let doctor_id = new_doctor_id.unwrap_or_else(|| current.doctor_id.clone());
            let practice = self
                .practice_within_reach(
                    caller,
                    reach,
                    &current.patient_id,
                    "new_doctor_id",
                    &doctor_id,
                )
                .await?;
            let slot = self.slot_at(&practice, "new_start", new_start).await?;
            let change = Change::Reschedule {
                to: Box::new(Placement {
                    doctor_id: practice.doctor.doctor_id.clone(),
                    clinic_id: practice.clinic.clinic_id.clone(),
                    time_zone: practice.clinic.time_zone.clone(),
                    slot,
                }),
            };
            let moved = self
                .change_appointment(caller, key, reach, appointment_id, &change, Some(&practice))
                .await?;
            slots::invalidate(&self.cache, &current.doctor_id).await;
            Ok(moved)
        }
        .await;
        or_replay(&self.db, key, outcome).await
    }

    /// The one way an existing appointment changes: in one write transaction, read it, check
    /// the caller's reach and the state machine (and a patient's cut-off), take the new time
    /// if it moves, save it with its version (a row that moved on meanwhile runs the whole
    /// transaction again), keep its waitlist entry in step, audit, enqueue the event, offer the
    /// freed time to the waitlist and record the answer.
    async fn change_appointment(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        reach: Reach,
        appointment_id: &str,
        change: &Change,
        // The doctor a reschedule moves to (their names go in the event).
        moving_to: Option<&Practice>,
    ) -> Result<pb::Appointment, SchedulingError> {
        let changed = self
            .recorded(key, |txn| {
                async move {
                    let txn = &*txn;
                    let now = clock::now();
                    let Some(before) = appts::get(txn, appointment_id).await? else {
                        return Err(not_found(change));
                    };
                    if !change.within_reach(caller, reach, &before) {
                        return Err(
                            if matches!(change, Change::Advance { .. })
                                && caller.is(&before.patient_id)
                            {
                                SchedulingError::denied(
                                    "staff act on their own appointment only as its patient",
                                )
                            } else {
                                not_found(change)
                            },
                        );
                    }
                    let after = change.apply(&before, now)?;
                    if let Some(action) = change.cutoff_action() {
                        self.check_cutoff(txn, caller, &before, action).await?;
                    }
                    if let Change::Reschedule { .. } = change {
                        // A patient moving their own appointment to another doctor (or from the
                        // past into the future) is held to their caps as a new booking is.
                        let upcoming_before = before.starts_at > now;
                        if caller.is(&after.patient_id)
                            && (after.doctor_id != before.doctor_id || !upcoming_before)
                        {
                            self.within_caps(txn, &after, now, upcoming_before).await?;
                        }
                        self.take_time(txn, &after, Some(&before.appointment_id), now)
                            .await?;
                    }
                    // One UPDATE, conditional on the version read: a reschedule takes the new time and
                    // frees the old one together, or neither.
                    if !appts::save(txn, &after).await? {
                        return Err(SchedulingError::moved_on());
                    }
                    if !before.waitlist_entry_id.is_empty() {
                        let entry = match change {
                            Change::BookHold { .. } => Some(EntryStatus::Fulfilled),
                            Change::Cancel { .. } if before.status == Status::Held => {
                                Some(EntryStatus::Left)
                            }
                            _ => None,
                        };
                        if let Some(entry) = entry {
                            waitlist::set_status(
                                txn,
                                &before.waitlist_entry_id,
                                entry,
                                &before.appointment_id,
                            )
                            .await?;
                        }
                    }
                    let event = change.event_name(&after);
                    appts::audit(
                        txn,
                        &AuditEntry {
                            appointment_id: &after.appointment_id,
                            actor_subject: &caller.subject,
                            action: event,
                            from: Some(before.status),
                            to: Some(after.status),
                            reason: change.audit_reason(),
                            at: now,
                        },
                    )
                    .await?;
                    let (names, previous) = match (change, moving_to) {
                        (Change::Reschedule { .. }, Some(practice)) => {
                            (practice.names(), Some(convert::appointment_slot(&before)))
                        }
                        _ => (offers::names(txn, &after).await?, None),
                    };
                    self.outbox
                        .enqueue(
                            txn,
                            appointment_event(event, &after, previous, Some(caller), &names),
                        )
                        .await?;
                    if change.frees_time() {
                        offers::offer_freed_time(txn, &self.outbox, &before, now, self.rules.offer)
                            .await?;
                    }
                    Ok(convert::appointment(&after))
                }
            })
            .await?;
        if change.changes_free_time()
            && let Some(slot) = &changed.slot
        {
            slots::invalidate(&self.cache, &slot.doctor_id).await;
        }
        Ok(changed)
    }

    /// A patient acting on their own appointment must do it before the clinic's cut-off; staff
    /// act for the clinic (but a staff member who is the patient here is a patient).
    async fn check_cutoff(
        &self,
        txn: &DatabaseTransaction,
        caller: &Caller,
        a: &AppointmentRecord,
        action: &'static str,
    ) -> Result<(), SchedulingError> {
        if caller.acts_as_staff_for(&a.patient_id) || a.status == Status::Held {
            return Ok(());
        }
        let clinic = dir::get_clinic(txn, &a.clinic_id).await?;
        let cutoff = chrono::Duration::minutes(i64::from(
            clinic.map(|c| c.cancellation_cutoff_minutes).unwrap_or(0),
        ));
        if clock::now() + cutoff > a.starts_at {
            return Err(SchedulingError::PastCutoff {
                action,
                minutes: cutoff.num_minutes(),
            });
        }
        Ok(())
    }
}
