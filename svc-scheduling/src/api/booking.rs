//! Free slots, holds, bookings, reschedules, cancellations, status changes and reading
//! appointments.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use medmesh_proto::scheduling::v1 as pb;
use prost::Message;
use tonic::{Request, Status};

use super::{
    SchedulingApi, TxError, allowed, check, decode_token, field, internal, next_page, page_size,
    retrying,
};
use crate::{
    clock, convert,
    domain::{Caller, Operation, Reach, Status as AppointmentStatus, calendar},
    events::{Names, appointment_event},
    input::{self, Violations},
    offers, slots,
    store::{
        appointments::{self as appts, AppointmentFilter, AppointmentRecord, AuditEntry},
        directory::{self as dir, ClinicRecord, DoctorRecord},
        waitlist::{self, EntryStatus},
    },
};

fn not_found() -> Status {
    Status::not_found("no such appointment")
}

fn one(v: svc_kit::error::FieldViolation) -> Status {
    check(vec![v]).unwrap_err()
}

/// A doctor with their clinic and zone, as a booking needs them.
#[derive(Debug)]
pub(crate) struct Practice {
    pub(crate) doctor: DoctorRecord,
    pub(crate) clinic: ClinicRecord,
    pub(crate) tz: Tz,
}

impl Practice {
    fn names(&self) -> Names {
        Names {
            doctor: self.doctor.display_name.clone(),
            clinic: self.clinic.name.clone(),
        }
    }
}

impl SchedulingApi {
    /// The doctor `raw` names, listed and not archived; a field error otherwise.
    pub(crate) async fn practice(&self, field_name: &str, raw: &str) -> Result<Practice, Status> {
        let doctor_id = input::id(field_name, raw).map_err(one)?;
        let (doctor, clinic) = dir::get_practice(&self.db, &doctor_id)
            .await
            .map_err(internal)?
            .filter(|(d, _)| !d.archived)
            .ok_or_else(|| field(field_name, "no such doctor"))?;
        let tz = clinic
            .time_zone
            .parse::<Tz>()
            .map_err(|_| Status::internal("internal error"))?;
        Ok(Practice { doctor, clinic, tz })
    }

    /// The doctor a booking for `patient_id` names, if the caller reaches them for that patient;
    /// a doctor out of reach (another clinic's, for its staff) reads as no such doctor.
    pub(crate) async fn practice_within_reach(
        &self,
        caller: &Caller,
        reach: Reach,
        patient_id: &str,
        field_name: &str,
        raw: &str,
    ) -> Result<Practice, Status> {
        let practice = self.practice(field_name, raw).await?;
        if caller.reaches(
            reach,
            patient_id,
            &practice.doctor.doctor_id,
            &practice.clinic.clinic_id,
        ) {
            Ok(practice)
        } else {
            Err(field(field_name, "no such doctor"))
        }
    }

    /// The slot of the doctor's grid starting at `start`, in the future; a field error otherwise.
    async fn slot_at(
        &self,
        practice: &Practice,
        field_name: &str,
        start: DateTime<Utc>,
    ) -> Result<calendar::Slot, Status> {
        if start <= clock::now() {
            return Err(field(field_name, "is in the past"));
        }
        let templates = dir::list_templates(&self.db, &practice.doctor.doctor_id)
            .await
            .map_err(internal)?;
        let exceptions: Vec<_> = dir::list_exceptions(&self.db, &practice.doctor.doctor_id)
            .await
            .map_err(internal)?
            .into_iter()
            .map(|(e, _)| e)
            .collect();
        calendar::slot_at(practice.tz, &templates, &exceptions, start).ok_or_else(|| {
            field(
                field_name,
                "is not the start of a slot in the doctor's schedule",
            )
        })
    }

    /// Who the appointment is for: the caller themself (a patient, `raw` empty or their own id),
    /// or the patient staff name.
    pub(crate) fn patient_for(caller: &Caller, reach: Reach, raw: &str) -> Result<String, Status> {
        match input::optional_id("patient_id", raw).map_err(one)? {
            None => caller
                .user_id
                .clone()
                .filter(|_| caller.roles.contains("patient") || reach == Reach::Own)
                .ok_or_else(|| field("patient_id", "is required when booking for a patient")),
            Some(id) if reach == Reach::Own && !caller.is(&id) => Err(Status::permission_denied(
                "a patient books only for themself",
            )),
            Some(id) => Ok(id),
        }
    }

    pub(crate) async fn list_free_slots(
        &self,
        request: Request<pb::ListFreeSlotsRequest>,
    ) -> Result<pb::ListFreeSlotsResponse, Status> {
        let caller = self.caller(&request).await?;
        allowed(Operation::ReadDirectory, &caller)?;
        let body = request.get_ref();
        let mut v = Violations::default();
        let from = v.take(input::instant("from", body.from.as_ref()));
        let to = v.take(input::instant("to", body.to.as_ref()));
        if v.0.is_empty() {
            if to <= from {
                v.push("to", "must be after from");
            } else if to - from > self.rules.max_range {
                v.push(
                    "to",
                    format!(
                        "must be at most {} days after from",
                        self.rules.max_range.num_days()
                    ),
                );
            }
        }
        let doctor_id = v.take(input::id("doctor_id", &body.doctor_id));
        v.finish()?;
        // The cache first: a warm read costs no database round trip at all.
        let generation = slots::generation(&self.cache, &doctor_id).await;
        let key = generation.as_deref().map(|g| {
            slots::list_key(
                &doctor_id,
                g,
                from.timestamp_micros(),
                to.timestamp_micros(),
            )
        });
        if let Some(key) = &key
            && let Ok(Some(bytes)) = self.cache.get(key).await
            && let Ok(cached) = pb::ListFreeSlotsResponse::decode(bytes)
        {
            metrics::counter!("medmesh_scheduling_slot_cache_total", "result" => "hit")
                .increment(1);
            return Ok(cached);
        }
        metrics::counter!("medmesh_scheduling_slot_cache_total", "result" => "miss").increment(1);
        let practice = self.practice("doctor_id", &doctor_id).await?;
        let now = clock::now();
        let templates = dir::list_templates(&self.db, &doctor_id)
            .await
            .map_err(internal)?;
        let exceptions: Vec<_> = dir::list_exceptions(&self.db, &doctor_id)
            .await
            .map_err(internal)?
            .into_iter()
            .map(|(e, _)| e)
            .collect();
        let busy = appts::busy(&self.db, &doctor_id, from, to, now)
            .await
            .map_err(internal)?;
        let grid = calendar::grid(practice.tz, &templates, &exceptions, from, to);
        let free: Vec<_> = calendar::free(grid, &busy)
            .into_iter()
            .filter(|s| s.start > now)
            .collect();
        let response = pb::ListFreeSlotsResponse {
            slots: free
                .iter()
                .map(|s| convert::slot(&doctor_id, &practice.clinic.time_zone, s))
                .collect(),
            time_zone: practice.clinic.time_zone.clone(),
        };
        if let Some(key) = &key {
            let _ = self
                .cache
                .set(
                    key,
                    Bytes::from(response.encode_to_vec()),
                    self.rules.slots_ttl,
                )
                .await;
        }
        Ok(response)
    }

    pub(crate) async fn hold_slot(
        &self,
        request: Request<pb::HoldSlotRequest>,
    ) -> Result<pb::Appointment, Status> {
        let caller = self.caller(&request).await?;
        let reach = allowed(Operation::Book, &caller)?;
        let body = request.get_ref();
        let key = Self::key(&caller, "HoldSlot", &body.request_id, body)?;
        let attempt = async {
            let start = input::instant("start", body.start.as_ref()).map_err(one)?;
            let patient_id = Self::patient_for(&caller, reach, &body.patient_id)?;
            let practice = self
                .practice_within_reach(&caller, reach, &patient_id, "doctor_id", &body.doctor_id)
                .await?;
            let slot = self.slot_at(&practice, "start", start).await?;
            self.place(
                &caller,
                &key,
                &practice,
                &slot,
                &patient_id,
                AppointmentStatus::Held,
                Some(self.rules.hold),
                "",
                "",
            )
            .await
        };
        self.or_replay(&key, attempt).await
    }

    /// The answer of `attempt`; if it fails, the answer recorded for `key` when there is one (a
    /// retry of a request that already acted meets its own booking as a conflict). The happy
    /// path costs no lookup.
    async fn or_replay(
        &self,
        key: &svc_kit::idempotency::IdempotencyKey,
        attempt: impl std::future::Future<Output = Result<pb::Appointment, Status>>,
    ) -> Result<pb::Appointment, Status> {
        match attempt.await {
            Ok(answer) => Ok(answer),
            Err(status) => match self.replay(key).await? {
                Some(first) => Ok(first),
                None => Err(status),
            },
        }
    }

    /// Takes the slot for the patient: a new appointment in `status`, in one write transaction
    /// that first releases expired holds in the way, then checks, then inserts.
    #[allow(clippy::too_many_arguments)]
    async fn place(
        &self,
        caller: &Caller,
        key: &svc_kit::idempotency::IdempotencyKey,
        practice: &Practice,
        slot: &calendar::Slot,
        patient_id: &str,
        status: AppointmentStatus,
        hold_for: Option<chrono::Duration>,
        reason: &str,
        override_reason: &str,
    ) -> Result<pb::Appointment, Status> {
        let names = practice.names();
        let placed = retrying(|| async {
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
                hold_expires_at: hold_for.map(|d| now + d),
                reason: reason.to_string(),
                cancellation_reason: String::new(),
                override_reason: override_reason.to_string(),
                waitlist_entry_id: String::new(),
                created_by: caller.subject.clone(),
                created_at: now,
                updated_at: now,
                version: 1,
            };
            let txn = self.begin().await?;
            // The check names whose time is taken. SQLite: under the write lock it is the
            // guard. PostgreSQL: the exclusion constraints are, and the check turns the common
            // conflict (with a committed row) into an answer before the insert, where
            // concurrent conflicting inserts would wait on each other (and could deadlock).
            let check = appts::check_time(&txn, &record, None, now).await?;
            if let Some(conflict) = check.taken {
                return Err(Status::already_exists(conflict.describe()).into());
            }
            // Expired holds still block their time in the database until released.
            if check.expired_holds_in_the_way {
                self.release_in_the_way(&txn, &record, now).await?;
            }
            appts::insert(&txn, &record).await?;
            appts::audit(
                &txn,
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
            self.enqueue(
                &txn,
                appointment_event(status.event_name(), &record, None, Some(caller), &names),
            )
            .await?;
            self.finish(txn, key, convert::appointment(&record)).await
        })
        .await?;
        slots::invalidate(&self.cache, &practice.doctor.doctor_id).await;
        Ok(placed)
    }

    /// Expired holds that overlap `record`'s time for its doctor or patient are released first,
    /// each as the sweeper would (audited, evented, its waitlist offer lapsed), so the time they
    /// still block in the database is free again. A patient's expired hold with another doctor
    /// frees that doctor's time, which goes to that doctor's waitlist.
    async fn release_in_the_way(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        record: &AppointmentRecord,
        now: DateTime<Utc>,
    ) -> Result<(), TxError> {
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
        Ok(())
    }

    pub(crate) async fn book_appointment(
        &self,
        request: Request<pb::BookAppointmentRequest>,
    ) -> Result<pb::Appointment, Status> {
        let caller = self.caller(&request).await?;
        let reach = allowed(Operation::Book, &caller)?;
        let body = request.get_ref();
        let key = Self::key(&caller, "BookAppointment", &body.request_id, body)?;
        let reason = input::text("reason", &body.reason, 500, false).map_err(one)?;
        let override_reason =
            input::text("override_reason", &body.override_reason, 500, false).map_err(one)?;
        if !body.hold_id.trim().is_empty() {
            let hold_id = input::id("hold_id", &body.hold_id).map_err(one)?;
            if !override_reason.is_empty() {
                return Err(field(
                    "override_reason",
                    "applies to booking a slot directly, not a hold",
                ));
            }
            let attempt = self.book_hold(&caller, reach, &key, &hold_id, &reason);
            return self.or_replay(&key, attempt).await;
        }
        let attempt = async {
            let start = input::instant("start", body.start.as_ref()).map_err(one)?;
            let patient_id = Self::patient_for(&caller, reach, &body.patient_id)?;
            let practice = self
                .practice_within_reach(&caller, reach, &patient_id, "doctor_id", &body.doctor_id)
                .await?;
            if !override_reason.is_empty() {
                let may = super::allowed(Operation::Override, &caller)
                    .map(|r| {
                        caller.reaches(
                            r,
                            "",
                            &practice.doctor.doctor_id,
                            &practice.clinic.clinic_id,
                        )
                    })
                    .unwrap_or(false);
                if !may {
                    return Err(Status::permission_denied(
                        "only an admin or the doctor may book over a conflict",
                    ));
                }
            }
            let slot = self.slot_at(&practice, "start", start).await?;
            self.place(
                &caller,
                &key,
                &practice,
                &slot,
                &patient_id,
                AppointmentStatus::Booked,
                None,
                &reason,
                &override_reason,
            )
            .await
        };
        self.or_replay(&key, attempt).await
    }

    /// Turns the caller's hold into a booking, unless it ran out.
    async fn book_hold(
        &self,
        caller: &Caller,
        reach: Reach,
        key: &svc_kit::idempotency::IdempotencyKey,
        hold_id: &str,
        reason: &str,
    ) -> Result<pb::Appointment, Status> {
        let booked = retrying(|| async {
            let now = clock::now();
            let txn = self.begin().await?;
            let hold = appts::get(&txn, hold_id)
                .await?
                .filter(|h| caller.reaches(reach, &h.patient_id, &h.doctor_id, &h.clinic_id))
                .ok_or_else(|| field("hold_id", "no such hold"))?;
            if hold.status != AppointmentStatus::Held {
                return Err(Status::failed_precondition(format!(
                    "the appointment is {}, not held",
                    hold.status.as_str()
                ))
                .into());
            }
            if hold.hold_expires_at.is_none_or(|at| at <= now) {
                return Err(
                    Status::failed_precondition("the hold expired; hold the slot again").into(),
                );
            }
            let booked = AppointmentRecord {
                status: AppointmentStatus::Booked,
                hold_expires_at: None,
                reason: reason.to_string(),
                updated_at: now,
                version: hold.version + 1,
                ..hold.clone()
            };
            if !appts::save(&txn, &booked).await? {
                return Err(TxError::Retry);
            }
            if !hold.waitlist_entry_id.is_empty() {
                waitlist::set_status(
                    &txn,
                    &hold.waitlist_entry_id,
                    EntryStatus::Fulfilled,
                    &hold.appointment_id,
                )
                .await?;
            }
            appts::audit(
                &txn,
                &AuditEntry {
                    appointment_id: &booked.appointment_id,
                    actor_subject: &caller.subject,
                    action: "appointment.booked",
                    from: Some(AppointmentStatus::Held),
                    to: Some(AppointmentStatus::Booked),
                    reason: "",
                    at: now,
                },
            )
            .await?;
            let names = offers::names(&txn, &booked).await?;
            self.enqueue(
                &txn,
                appointment_event("appointment.booked", &booked, None, Some(caller), &names),
            )
            .await?;
            self.finish(txn, key, convert::appointment(&booked)).await
        })
        .await?;
        if let Some(slot) = &booked.slot {
            slots::invalidate(&self.cache, &slot.doctor_id).await;
        }
        Ok(booked)
    }

    /// The appointment `raw` names, if the caller reaches it; NOT_FOUND alike for someone else's
    /// and for none.
    pub(crate) async fn visible(
        &self,
        caller: &Caller,
        reach: Reach,
        field_name: &str,
        raw: &str,
    ) -> Result<AppointmentRecord, Status> {
        let id = input::id(field_name, raw).map_err(one)?;
        appts::get(&self.db, &id)
            .await
            .map_err(internal)?
            .filter(|a| caller.reaches(reach, &a.patient_id, &a.doctor_id, &a.clinic_id))
            .ok_or_else(not_found)
    }

    /// A patient acting on their own appointment must do it before the clinic's cut-off.
    async fn check_cutoff(
        &self,
        caller: &Caller,
        a: &AppointmentRecord,
        action: &str,
    ) -> Result<(), Status> {
        // Staff act for the clinic; a staff member who is the patient here is a patient.
        let staff = ["admin", "doctor", "nurse"]
            .iter()
            .any(|r| caller.roles.contains(*r))
            && !caller.is(&a.patient_id);
        if staff || a.status == AppointmentStatus::Held {
            return Ok(());
        }
        let clinic = dir::get_clinic(&self.db, &a.clinic_id)
            .await
            .map_err(internal)?;
        let cutoff = chrono::Duration::minutes(i64::from(
            clinic.map(|c| c.cancellation_cutoff_minutes).unwrap_or(0),
        ));
        if clock::now() + cutoff > a.starts_at {
            return Err(Status::failed_precondition(format!(
                "too late to {action}: the clinic allows it until {} minutes before the start",
                cutoff.num_minutes()
            )));
        }
        Ok(())
    }

    pub(crate) async fn reschedule_appointment(
        &self,
        request: Request<pb::RescheduleAppointmentRequest>,
    ) -> Result<pb::Appointment, Status> {
        let caller = self.caller(&request).await?;
        let reach = allowed(Operation::Book, &caller)?;
        let body = request.get_ref();
        let key = Self::key(&caller, "RescheduleAppointment", &body.request_id, body)?;
        let new_start = input::instant("new_start", body.new_start.as_ref()).map_err(one)?;
        let current = self
            .visible(&caller, reach, "appointment_id", &body.appointment_id)
            .await?;
        if let Some(first) = self.replay(&key).await? {
            return Ok(first);
        }
        let doctor_raw = if body.new_doctor_id.trim().is_empty() {
            current.doctor_id.clone()
        } else {
            body.new_doctor_id.clone()
        };
        let practice = self
            .practice_within_reach(
                &caller,
                reach,
                &current.patient_id,
                "new_doctor_id",
                &doctor_raw,
            )
            .await?;
        let slot = self.slot_at(&practice, "new_start", new_start).await?;
        if !current.status.can_reschedule() {
            return Err(Status::failed_precondition(format!(
                "a {} appointment cannot be rescheduled",
                current.status.as_str()
            )));
        }
        self.check_cutoff(&caller, &current, "reschedule").await?;
        let names = practice.names();
        let moved = retrying(|| async {
            let now = clock::now();
            let txn = self.begin().await?;
            let before = appts::get(&txn, &current.appointment_id)
                .await?
                .ok_or_else(not_found)?;
            if !before.status.can_reschedule() {
                return Err(Status::failed_precondition(format!(
                    "a {} appointment cannot be rescheduled",
                    before.status.as_str()
                ))
                .into());
            }
            let after = AppointmentRecord {
                doctor_id: practice.doctor.doctor_id.clone(),
                clinic_id: practice.clinic.clinic_id.clone(),
                cabinet_id: slot.cabinet_id.clone(),
                time_zone: practice.clinic.time_zone.clone(),
                starts_at: slot.start,
                ends_at: slot.end,
                status: AppointmentStatus::Booked,
                override_reason: String::new(),
                updated_at: now,
                version: before.version + 1,
                ..before.clone()
            };
            let check = appts::check_time(&txn, &after, Some(&before.appointment_id), now).await?;
            if let Some(conflict) = check.taken {
                return Err(Status::already_exists(conflict.describe()).into());
            }
            if check.expired_holds_in_the_way {
                self.release_in_the_way(&txn, &after, now).await?;
            }
            // One UPDATE moves the appointment: the new time is taken and the old one freed
            // together, or neither is.
            if !appts::save(&txn, &after).await? {
                return Err(TxError::Retry);
            }
            appts::audit(
                &txn,
                &AuditEntry {
                    appointment_id: &after.appointment_id,
                    actor_subject: &caller.subject,
                    action: "appointment.rescheduled",
                    from: Some(before.status),
                    to: Some(after.status),
                    reason: "",
                    at: now,
                },
            )
            .await?;
            self.enqueue(
                &txn,
                appointment_event(
                    "appointment.rescheduled",
                    &after,
                    Some(convert::appointment_slot(&before)),
                    Some(&caller),
                    &names,
                ),
            )
            .await?;
            offers::offer_freed_time(&txn, &self.outbox, &before, now, self.rules.offer).await?;
            self.finish(txn, &key, convert::appointment(&after)).await
        })
        .await?;
        slots::invalidate(&self.cache, &current.doctor_id).await;
        slots::invalidate(&self.cache, &practice.doctor.doctor_id).await;
        Ok(moved)
    }

    pub(crate) async fn cancel_appointment(
        &self,
        request: Request<pb::CancelAppointmentRequest>,
    ) -> Result<pb::Appointment, Status> {
        let caller = self.caller(&request).await?;
        let reach = allowed(Operation::Book, &caller)?;
        let body = request.get_ref();
        let key = Self::key(&caller, "CancelAppointment", &body.request_id, body)?;
        let reason = input::text("reason", &body.reason, 500, false).map_err(one)?;
        let current = self
            .visible(&caller, reach, "appointment_id", &body.appointment_id)
            .await?;
        if let Some(first) = self.replay(&key).await? {
            return Ok(first);
        }
        if !current.status.can_become(AppointmentStatus::Cancelled) {
            return Err(Status::failed_precondition(format!(
                "a {} appointment cannot be cancelled",
                current.status.as_str()
            )));
        }
        self.check_cutoff(&caller, &current, "cancel").await?;
        let cancelled = retrying(|| async {
            let now = clock::now();
            let txn = self.begin().await?;
            let before = appts::get(&txn, &current.appointment_id)
                .await?
                .ok_or_else(not_found)?;
            if !before.status.can_become(AppointmentStatus::Cancelled) {
                return Err(Status::failed_precondition(format!(
                    "a {} appointment cannot be cancelled",
                    before.status.as_str()
                ))
                .into());
            }
            let after = AppointmentRecord {
                status: AppointmentStatus::Cancelled,
                cancellation_reason: reason.clone(),
                hold_expires_at: None,
                updated_at: now,
                version: before.version + 1,
                ..before.clone()
            };
            if !appts::save(&txn, &after).await? {
                return Err(TxError::Retry);
            }
            if !before.waitlist_entry_id.is_empty() && before.status == AppointmentStatus::Held {
                waitlist::set_status(
                    &txn,
                    &before.waitlist_entry_id,
                    EntryStatus::Left,
                    &before.appointment_id,
                )
                .await?;
            }
            appts::audit(
                &txn,
                &AuditEntry {
                    appointment_id: &after.appointment_id,
                    actor_subject: &caller.subject,
                    action: "appointment.cancelled",
                    from: Some(before.status),
                    to: Some(after.status),
                    reason: &reason,
                    at: now,
                },
            )
            .await?;
            let names = offers::names(&txn, &after).await?;
            self.enqueue(
                &txn,
                appointment_event("appointment.cancelled", &after, None, Some(&caller), &names),
            )
            .await?;
            offers::offer_freed_time(&txn, &self.outbox, &before, now, self.rules.offer).await?;
            self.finish(txn, &key, convert::appointment(&after)).await
        })
        .await?;
        slots::invalidate(&self.cache, &current.doctor_id).await;
        Ok(cancelled)
    }

    pub(crate) async fn change_appointment_status(
        &self,
        request: Request<pb::ChangeAppointmentStatusRequest>,
    ) -> Result<pb::Appointment, Status> {
        let caller = self.caller(&request).await?;
        let reach = allowed(Operation::ChangeStatus, &caller)?;
        let body = request.get_ref();
        let key = Self::key(&caller, "ChangeAppointmentStatus", &body.request_id, body)?;
        let target = match pb::AppointmentStatus::try_from(body.status)
            .ok()
            .and_then(convert::status_from)
        {
            Some(
                s @ (AppointmentStatus::Confirmed
                | AppointmentStatus::CheckedIn
                | AppointmentStatus::Completed
                | AppointmentStatus::NoShow),
            ) => s,
            _ => {
                return Err(field(
                    "status",
                    "must be CONFIRMED, CHECKED_IN, COMPLETED or NO_SHOW",
                ));
            }
        };
        let reason = input::text("reason", &body.reason, 500, false).map_err(one)?;
        let current = self
            .visible(&caller, reach, "appointment_id", &body.appointment_id)
            .await?;
        if let Some(first) = self.replay(&key).await? {
            return Ok(first);
        }
        let refuse = |from: AppointmentStatus| {
            Status::failed_precondition(format!(
                "a {} appointment cannot become {}",
                from.as_str(),
                target.as_str()
            ))
        };
        if !current.status.can_become(target) {
            return Err(refuse(current.status));
        }
        let changed = retrying(|| async {
            let now = clock::now();
            let txn = self.begin().await?;
            let before = appts::get(&txn, &current.appointment_id)
                .await?
                .ok_or_else(not_found)?;
            if !before.status.can_become(target) {
                return Err(refuse(before.status).into());
            }
            let after = AppointmentRecord {
                status: target,
                updated_at: now,
                version: before.version + 1,
                ..before.clone()
            };
            if !appts::save(&txn, &after).await? {
                return Err(TxError::Retry);
            }
            appts::audit(
                &txn,
                &AuditEntry {
                    appointment_id: &after.appointment_id,
                    actor_subject: &caller.subject,
                    action: target.event_name(),
                    from: Some(before.status),
                    to: Some(target),
                    reason: &reason,
                    at: now,
                },
            )
            .await?;
            let names = offers::names(&txn, &after).await?;
            self.enqueue(
                &txn,
                appointment_event(target.event_name(), &after, None, Some(&caller), &names),
            )
            .await?;
            self.finish(txn, &key, convert::appointment(&after)).await
        })
        .await?;
        if target == AppointmentStatus::NoShow {
            slots::invalidate(&self.cache, &current.doctor_id).await;
        }
        if target == AppointmentStatus::Confirmed {
            // The confirmation is rendered now so the first download is instant; if this
            // fails, the download renders it instead.
            let api = self.clone();
            let id = changed.appointment_id.clone();
            tokio::spawn(async move {
                if let Err(status) = api.confirmation_of(&id).await {
                    tracing::warn!(code = ?status.code(), "confirmation not rendered ahead");
                }
            });
        }
        Ok(changed)
    }

    pub(crate) async fn get_appointment(
        &self,
        request: Request<pb::GetAppointmentRequest>,
    ) -> Result<pb::Appointment, Status> {
        let caller = self.caller(&request).await?;
        let reach = allowed(Operation::ReadAppointments, &caller)?;
        let a = self
            .visible(
                &caller,
                reach,
                "appointment_id",
                &request.get_ref().appointment_id,
            )
            .await?;
        Ok(convert::appointment(&a))
    }

    pub(crate) async fn list_appointments(
        &self,
        request: Request<pb::ListAppointmentsRequest>,
    ) -> Result<pb::ListAppointmentsResponse, Status> {
        let caller = self.caller(&request).await?;
        let reach = allowed(Operation::ReadAppointments, &caller)?;
        let body = request.get_ref();
        let limit = page_size(body.page_size)?;
        let mut v = Violations::default();
        let mut filter = AppointmentFilter {
            doctor_id: v.take(input::optional_id("doctor_id", &body.doctor_id)),
            patient_id: v.take(input::optional_id("patient_id", &body.patient_id)),
            clinic_id: v.take(input::optional_id("clinic_id", &body.clinic_id)),
            ..Default::default()
        };
        for raw in &body.statuses {
            match pb::AppointmentStatus::try_from(*raw)
                .ok()
                .and_then(convert::status_from)
            {
                Some(s) => filter.statuses.push(s),
                None => v.push("statuses", "names an unknown status"),
            }
        }
        if body.from.is_some() {
            filter.from = Some(v.take(input::instant("from", body.from.as_ref())));
        }
        if body.to.is_some() {
            filter.to = Some(v.take(input::instant("to", body.to.as_ref())));
        }
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && to <= from
        {
            v.push("to", "must be after from");
        }
        v.finish()?;
        if reach != Reach::Any {
            let me = caller.user_id.clone().unwrap_or_default();
            let clinics = if reach == Reach::Clinic {
                caller.clinics.iter().cloned().collect()
            } else {
                Vec::new()
            };
            filter.visible_to = Some((me, clinics));
        }
        let after = match decode_token(&body.page_token)? {
            None => None,
            Some(raw) => {
                let bad = svc_kit::paging::bad_page_token;
                let (micros, id) = raw.split_once('|').ok_or_else(bad)?;
                let at = micros
                    .parse::<i64>()
                    .ok()
                    .and_then(DateTime::from_timestamp_micros)
                    .ok_or_else(bad)?;
                Some((at, id.to_string()))
            }
        };
        let mut found = appts::list(&self.db, &filter, after, limit + 1)
            .await
            .map_err(internal)?;
        let next_page_token = next_page(&mut found, limit, |a| {
            format!("{}|{}", a.starts_at.timestamp_micros(), a.appointment_id)
        });
        Ok(pb::ListAppointmentsResponse {
            appointments: found.iter().map(convert::appointment).collect(),
            next_page_token,
        })
    }
}
