//! Doctors' schedules (weekly templates and dated exceptions) and the free slots they make.
//!
//! Every schedule edit moves the doctor's cached free slots on at once and tells the platform
//! (`schedule.changed`, keyed by doctor id) in the edit's own transaction.

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc, Weekday};
use medmesh_proto::scheduling::v1 as pb;
use prost::Message;
use sea_orm::DatabaseTransaction;
use svc_kit::idempotency::IdempotencyKey;

use super::{App, allowed};
use crate::{
    clock, convert,
    domain::{
        Caller, Operation, Reach,
        calendar::{self, Exception, ExceptionKind, Template},
    },
    error::SchedulingError,
    events::{Names, schedule_changed},
    slots,
    store::{
        appointments as appts,
        directory::{self as dir, ClinicRecord, DoctorRecord},
    },
};

/// Free slots of one doctor between two instants.
#[derive(Debug, Clone)]
pub(crate) struct FreeSlotsQuery {
    pub(crate) doctor_id: String,
    pub(crate) from: DateTime<Utc>,
    pub(crate) to: DateTime<Utc>,
}

/// A weekly template as requested; `visit_minutes` and `cabinet_id` default to the doctor's.
#[derive(Debug, Clone)]
pub(crate) struct TemplateInput {
    pub(crate) doctor_id: Option<String>,
    pub(crate) weekday: Weekday,
    pub(crate) start: NaiveTime,
    pub(crate) end: NaiveTime,
    pub(crate) visit_minutes: Option<u32>,
    pub(crate) cabinet_id: Option<String>,
    pub(crate) valid_from: NaiveDate,
    pub(crate) valid_to: Option<NaiveDate>,
}

/// A dated exception as requested: a day off, or other hours (`visit_minutes` defaulting to
/// the doctor's).
#[derive(Debug, Clone)]
pub(crate) struct ExceptionInput {
    pub(crate) doctor_id: Option<String>,
    pub(crate) date: NaiveDate,
    pub(crate) reason: String,
    /// `None`: a day off.
    pub(crate) hours: Option<(NaiveTime, NaiveTime, Option<u32>)>,
}

impl App {
    /// The free slots, from the cache when the doctor's time has not changed since.
    pub(crate) async fn list_free_slots(
        &self,
        caller: &Caller,
        query: FreeSlotsQuery,
    ) -> Result<pb::ListFreeSlotsResponse, SchedulingError> {
        allowed(Operation::ReadDirectory, caller)?;
        let FreeSlotsQuery {
            doctor_id,
            from,
            to,
        } = query;
        if to <= from {
            return Err(SchedulingError::field("to", "must be after from"));
        }
        if to - from > self.rules.max_range {
            return Err(SchedulingError::field(
                "to",
                format!(
                    "must be at most {} days after from",
                    self.rules.max_range.num_days()
                ),
            ));
        }
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
        let templates = dir::list_templates(&self.db, &doctor_id).await?;
        let exceptions: Vec<_> = dir::list_exceptions(&self.db, &doctor_id)
            .await?
            .into_iter()
            .map(|(e, _)| e)
            .collect();
        let busy = appts::busy(&self.db, &doctor_id, from, to, now).await?;
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

    /// The doctor a schedule request names (the caller, if none), with their clinic, within
    /// the caller's reach.
    async fn schedule_owner(
        &self,
        caller: &Caller,
        reach: Reach,
        doctor_id: Option<String>,
        field: &str,
    ) -> Result<(DoctorRecord, ClinicRecord), SchedulingError> {
        let doctor_id = match doctor_id {
            Some(id) => id,
            None => caller
                .user_id
                .clone()
                .ok_or_else(|| SchedulingError::field(field, "is required"))?,
        };
        match dir::get_practice(&self.db, &doctor_id).await? {
            Some((d, c)) if caller.reaches(reach, "", &d.doctor_id, &d.clinic_id) => Ok((d, c)),
            _ => Err(SchedulingError::NoSuch("doctor")),
        }
    }

    /// The cabinet a schedule names, checked to be at the doctor's clinic; the doctor's own if
    /// none.
    async fn cabinet_of(
        &self,
        doctor: &DoctorRecord,
        given: Option<String>,
        field: &str,
    ) -> Result<String, SchedulingError> {
        match given {
            None => Ok(doctor.cabinet_id.clone()),
            Some(id) => match dir::get_cabinet(&self.db, &id).await? {
                Some(c) if c.clinic_id == doctor.clinic_id && !c.archived => Ok(id),
                _ => Err(SchedulingError::field(
                    field,
                    "no such cabinet at the doctor's clinic",
                )),
            },
        }
    }

    pub(crate) async fn add_schedule_template(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        given: TemplateInput,
    ) -> Result<pb::ScheduleTemplate, SchedulingError> {
        let reach = allowed(Operation::ManageSchedule, caller)?;
        let (doctor, clinic) = self
            .schedule_owner(caller, reach, given.doctor_id.clone(), "template.doctor_id")
            .await?;
        let visit = given
            .visit_minutes
            .unwrap_or(doctor.default_visit_minutes as u32);
        // The API checked the window; a visit length defaulted from the doctor is checked here.
        if (given.end - given.start).num_minutes() < i64::from(visit) {
            return Err(SchedulingError::field(
                "template.visit_minutes",
                "is longer than the window from start to end",
            ));
        }
        let cabinet_id = self
            .cabinet_of(&doctor, given.cabinet_id.clone(), "template.cabinet_id")
            .await?;
        let template = Template {
            template_id: uuid::Uuid::now_v7().to_string(),
            weekday: given.weekday,
            start: given.start,
            end: given.end,
            visit_minutes: visit,
            cabinet_id,
            valid_from: given.valid_from,
            valid_to: given.valid_to,
        };
        let doctor = &doctor;
        let clinic = &clinic;
        let template = &template;
        let added = self
            .write(key, |txn| async move {
                let txn = &*txn;
                dir::lock_doctor(txn, &doctor.doctor_id).await?;
                let existing = dir::list_templates(txn, &doctor.doctor_id).await?;
                if let Some(other) = existing.iter().find(|t| t.overlaps(template)) {
                    return Err(SchedulingError::TemplateOverlap(format!(
                        "{} ({} {}-{})",
                        other.template_id,
                        other.weekday,
                        other.start.format("%H:%M"),
                        other.end.format("%H:%M")
                    )));
                }
                dir::insert_template(txn, &doctor.doctor_id, template).await?;
                self.schedule_changed(txn, caller, doctor, clinic).await?;
                Ok(convert::template(&doctor.doctor_id, template))
            })
            .await?;
        slots::invalidate(&self.cache, &doctor.doctor_id).await;
        Ok(added)
    }

    pub(crate) async fn remove_schedule_template(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        template_id: &str,
    ) -> Result<pb::RemoveScheduleTemplateResponse, SchedulingError> {
        let reach = allowed(Operation::ManageSchedule, caller)?;
        let not_found = || SchedulingError::NoSuch("template");
        let outcome = async {
            let owner = dir::template_owner(&self.db, template_id)
                .await?
                .ok_or_else(not_found)?;
            let (doctor, clinic) = self
                .schedule_owner(caller, reach, Some(owner), "template_id")
                .await
                .map_err(|_| not_found())?;
            let doctor = &doctor;
            let clinic = &clinic;
            self.recorded(key, |txn| async move {
                let txn = &*txn;
                dir::lock_doctor(txn, &doctor.doctor_id).await?;
                if !dir::delete_template(txn, template_id).await? {
                    return Err(not_found());
                }
                self.schedule_changed(txn, caller, doctor, clinic).await?;
                Ok(pb::RemoveScheduleTemplateResponse {
                    template_id: template_id.to_string(),
                })
            })
            .await
            .map(|removed| (removed, doctor.doctor_id.clone()))
        }
        .await;
        match outcome {
            Ok((removed, doctor_id)) => {
                slots::invalidate(&self.cache, &doctor_id).await;
                Ok(removed)
            }
            Err(error) => svc_kit::write::or_replay(&self.db, key, Err(error)).await,
        }
    }

    pub(crate) async fn add_schedule_exception(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        given: ExceptionInput,
    ) -> Result<pb::ScheduleException, SchedulingError> {
        let reach = allowed(Operation::ManageSchedule, caller)?;
        let (doctor, clinic) = self
            .schedule_owner(
                caller,
                reach,
                given.doctor_id.clone(),
                "exception.doctor_id",
            )
            .await?;
        let kind = match given.hours {
            None => ExceptionKind::DayOff,
            Some((start, end, visit)) => ExceptionKind::Hours {
                start,
                end,
                visit_minutes: visit.unwrap_or(doctor.default_visit_minutes as u32),
                cabinet_id: doctor.cabinet_id.clone(),
            },
        };
        let exception = Exception {
            exception_id: uuid::Uuid::now_v7().to_string(),
            date: given.date,
            kind,
        };
        let reason = given.reason;
        let doctor = &doctor;
        let clinic = &clinic;
        let exception = &exception;
        let reason = &reason;
        let added = self
            .write(key, |txn| async move {
                let txn = &*txn;
                dir::lock_doctor(txn, &doctor.doctor_id).await?;
                dir::upsert_exception(txn, &doctor.doctor_id, exception, reason).await?;
                self.schedule_changed(txn, caller, doctor, clinic).await?;
                Ok(convert::exception(&doctor.doctor_id, exception, reason))
            })
            .await?;
        slots::invalidate(&self.cache, &doctor.doctor_id).await;
        Ok(added)
    }

    pub(crate) async fn get_schedule(
        &self,
        caller: &Caller,
        doctor_id: Option<String>,
    ) -> Result<pb::Schedule, SchedulingError> {
        let reach = allowed(Operation::ReadSchedule, caller)?;
        let (doctor, clinic) = self
            .schedule_owner(caller, reach, doctor_id, "doctor_id")
            .await?;
        let templates = dir::list_templates(&self.db, &doctor.doctor_id).await?;
        let exceptions = dir::list_exceptions(&self.db, &doctor.doctor_id).await?;
        Ok(pb::Schedule {
            doctor_id: doctor.doctor_id.clone(),
            time_zone: clinic.time_zone,
            templates: templates
                .iter()
                .map(|t| convert::template(&doctor.doctor_id, t))
                .collect(),
            exceptions: exceptions
                .iter()
                .map(|(e, reason)| convert::exception(&doctor.doctor_id, e, reason))
                .collect(),
        })
    }

    /// Tells the platform, in the edit's transaction, that `doctor`'s free time changed.
    pub(crate) async fn schedule_changed(
        &self,
        txn: &DatabaseTransaction,
        caller: &Caller,
        doctor: &DoctorRecord,
        clinic: &ClinicRecord,
    ) -> Result<(), SchedulingError> {
        let names = Names {
            doctor: doctor.display_name.clone(),
            clinic: clinic.name.clone(),
        };
        self.outbox
            .enqueue(
                txn,
                schedule_changed(&doctor.doctor_id, &clinic.time_zone, caller, &names),
            )
            .await?;
        Ok(())
    }
}
