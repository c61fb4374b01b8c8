//! Joining, leaving and reading waitlists.

use chrono::NaiveDate;
use medmesh_proto::scheduling::v1 as pb;
use svc_kit::{idempotency::IdempotencyKey, paging, write::or_replay};

use super::{App, allowed, patient_for};
use crate::{
    clock, convert,
    domain::{Caller, Operation, Reach},
    error::SchedulingError,
    store::{
        directory as dir,
        waitlist::{self, EntryRecord, EntryStatus},
    },
};

/// Waiting for a doctor between two dates (the clinic's calendar).
#[derive(Debug, Clone)]
pub(crate) struct WaitlistJoin {
    pub(crate) doctor_id: String,
    pub(crate) patient_id: Option<String>,
    pub(crate) from_date: NaiveDate,
    pub(crate) to_date: NaiveDate,
}

const ONLY_WAITING: &str = "only a waiting entry can be left; cancel an offered hold instead";

impl App {
    pub(crate) async fn join_waitlist(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        given: WaitlistJoin,
    ) -> Result<pb::WaitlistEntry, SchedulingError> {
        let reach = allowed(Operation::Book, caller)?;
        let patient_id = patient_for(caller, reach, given.patient_id)?;
        let practice = self
            .practice_within_reach(caller, reach, &patient_id, "doctor_id", &given.doctor_id)
            .await?;
        let today = clock::now().with_timezone(&practice.tz).date_naive();
        if given.to_date < today {
            return Err(SchedulingError::field("to_date", "is in the past"));
        }
        let entry = EntryRecord {
            entry_id: uuid::Uuid::now_v7().to_string(),
            doctor_id: practice.doctor.doctor_id.clone(),
            patient_id,
            from_date: given.from_date,
            to_date: given.to_date,
            status: EntryStatus::Waiting,
            offered_appointment_id: String::new(),
            created_at: clock::now(),
        };
        let entry = &entry;
        self.write(key, |txn| async move {
            let txn = &*txn;
            if crate::erasure::is_erased(txn, &entry.patient_id).await? {
                return Err(crate::erasure::erased_refusal());
            }
            if !waitlist::insert(txn, entry).await? {
                return Err(SchedulingError::Duplicate(
                    "the patient is already on this doctor's waitlist",
                ));
            }
            Ok(convert::entry(entry))
        })
        .await
    }

    pub(crate) async fn leave_waitlist(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        entry_id: &str,
    ) -> Result<pb::WaitlistEntry, SchedulingError> {
        let reach = allowed(Operation::Book, caller)?;
        let not_found = || SchedulingError::NoSuch("waitlist entry");
        let outcome = async {
            let entry = waitlist::get(&self.db, entry_id)
                .await?
                .ok_or_else(not_found)?;
            let clinic = dir::get_doctor(&self.db, &entry.doctor_id)
                .await?
                .map(|d| d.clinic_id)
                .unwrap_or_default();
            if !caller.reaches(reach, &entry.patient_id, &entry.doctor_id, &clinic) {
                return Err(not_found());
            }
            if entry.status != EntryStatus::Waiting {
                return Err(SchedulingError::Kit(svc_kit::ApiError::FailedPrecondition(
                    ONLY_WAITING.to_string(),
                )));
            }
            let entry = &entry;
            self.recorded(key, |txn| {
                async move {
                    let txn = &*txn;
                    // Only a waiting entry is left: one offered a slot meanwhile keeps its offer.
                    if !waitlist::leave(txn, &entry.entry_id).await? {
                        return Err(SchedulingError::Kit(svc_kit::ApiError::FailedPrecondition(
                            ONLY_WAITING.to_string(),
                        )));
                    }
                    let left = EntryRecord {
                        status: EntryStatus::Left,
                        ..entry.clone()
                    };
                    Ok(convert::entry(&left))
                }
            })
            .await
        }
        .await;
        or_replay(&self.db, key, outcome).await
    }

    /// A page of at most `limit` of the caller's own entries, or (staff) of one doctor's list,
    /// after the entry `after` (a page token's key), and the token of the next page.
    pub(crate) async fn list_waitlist(
        &self,
        caller: &Caller,
        doctor_id: Option<String>,
        limit: u64,
        after: Option<String>,
    ) -> Result<(Vec<EntryRecord>, String), SchedulingError> {
        let reach = allowed(Operation::ReadAppointments, caller)?;
        let mut entries = match (reach, doctor_id) {
            (Reach::Own, _) | (_, None) => {
                let me = caller
                    .user_id
                    .clone()
                    .ok_or_else(|| SchedulingError::field("doctor_id", "is required"))?;
                waitlist::list(&self.db, None, Some(&me), after.as_deref(), limit + 1).await?
            }
            (_, Some(doctor_id)) => {
                let practice = self.practice("doctor_id", &doctor_id).await?;
                if !caller.reaches(
                    reach,
                    "",
                    &practice.doctor.doctor_id,
                    &practice.clinic.clinic_id,
                ) {
                    return Err(SchedulingError::field("doctor_id", "no such doctor"));
                }
                waitlist::list(
                    &self.db,
                    Some(&doctor_id),
                    None,
                    after.as_deref(),
                    limit + 1,
                )
                .await?
            }
        };
        let next = paging::next_page(&mut entries, limit, |e| e.entry_id.clone());
        Ok((entries, next))
    }
}
