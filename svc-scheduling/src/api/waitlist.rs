//! Joining, leaving and reading waitlists.

use medmesh_proto::scheduling::v1 as pb;
use tonic::{Request, Status};

use super::{SchedulingApi, allowed, check, field, internal, retrying};
use crate::{
    clock, convert,
    domain::{Operation, Reach},
    input::{self, Violations},
    store::waitlist::{self, EntryRecord, EntryStatus},
};

impl SchedulingApi {
    pub(crate) async fn join_waitlist(
        &self,
        request: Request<pb::JoinWaitlistRequest>,
    ) -> Result<pb::WaitlistEntry, Status> {
        let caller = self.caller(&request).await?;
        let reach = allowed(Operation::Book, &caller)?;
        let body = request.get_ref();
        let key = Self::key(&caller, "JoinWaitlist", &body.request_id, body)?;
        let mut v = Violations::default();
        let from_date = v.take(input::date("from_date", body.from_date.as_ref()));
        let to_date = v.take(input::date("to_date", body.to_date.as_ref()));
        if v.0.is_empty() && to_date < from_date {
            v.push("to_date", "must not be before from_date");
        }
        if v.0.is_empty() && (to_date - from_date).num_days() > 92 {
            v.push("to_date", "must be at most 92 days after from_date");
        }
        v.finish()?;
        let patient_id = Self::patient_for(&caller, reach, &body.patient_id)?;
        let practice = self
            .practice_within_reach(&caller, reach, &patient_id, "doctor_id", &body.doctor_id)
            .await?;
        let today = clock::now().with_timezone(&practice.tz).date_naive();
        if to_date < today {
            return Err(field("to_date", "is in the past"));
        }
        if let Some(first) = self.replay(&key).await? {
            return Ok(first);
        }
        let entry = EntryRecord {
            entry_id: uuid::Uuid::now_v7().to_string(),
            doctor_id: practice.doctor.doctor_id.clone(),
            patient_id,
            from_date,
            to_date,
            status: EntryStatus::Waiting,
            offered_appointment_id: String::new(),
            created_at: clock::now(),
        };
        retrying(|| async {
            let txn = self.begin().await?;
            if !waitlist::insert(&txn, &entry).await? {
                return Err(Status::already_exists(
                    "the patient is already on this doctor's waitlist",
                )
                .into());
            }
            self.finish(txn, &key, convert::entry(&entry)).await
        })
        .await
    }

    pub(crate) async fn leave_waitlist(
        &self,
        request: Request<pb::LeaveWaitlistRequest>,
    ) -> Result<pb::WaitlistEntry, Status> {
        let caller = self.caller(&request).await?;
        let reach = allowed(Operation::Book, &caller)?;
        let body = request.get_ref();
        let key = Self::key(&caller, "LeaveWaitlist", &body.request_id, body)?;
        let entry_id =
            input::id("entry_id", &body.entry_id).map_err(|v| check(vec![v]).unwrap_err())?;
        if let Some(first) = self.replay(&key).await? {
            return Ok(first);
        }
        let not_found = || Status::not_found("no such waitlist entry");
        let entry = waitlist::get(&self.db, &entry_id)
            .await
            .map_err(internal)?
            .ok_or_else(not_found)?;
        let clinic = crate::store::directory::get_doctor(&self.db, &entry.doctor_id)
            .await
            .map_err(internal)?
            .map(|d| d.clinic_id)
            .unwrap_or_default();
        if !caller.reaches(reach, &entry.patient_id, &entry.doctor_id, &clinic) {
            return Err(not_found());
        }
        if entry.status != EntryStatus::Waiting {
            return Err(Status::failed_precondition(
                "only a waiting entry can be left; cancel an offered hold instead",
            ));
        }
        retrying(|| async {
            let txn = self.begin().await?;
            // Only a waiting entry is left: one offered a slot meanwhile keeps its offer.
            if !waitlist::leave(&txn, &entry.entry_id).await? {
                return Err(Status::failed_precondition(
                    "only a waiting entry can be left; cancel an offered hold instead",
                )
                .into());
            }
            let left = EntryRecord {
                status: EntryStatus::Left,
                ..entry.clone()
            };
            self.finish(txn, &key, convert::entry(&left)).await
        })
        .await
    }

    pub(crate) async fn list_waitlist(
        &self,
        request: Request<pb::ListWaitlistRequest>,
    ) -> Result<pb::ListWaitlistResponse, Status> {
        let caller = self.caller(&request).await?;
        let reach = allowed(Operation::ReadAppointments, &caller)?;
        let doctor_id = input::optional_id("doctor_id", &request.get_ref().doctor_id)
            .map_err(|v| check(vec![v]).unwrap_err())?;
        let entries = match (reach, doctor_id) {
            (Reach::Own, _) | (_, None) => {
                let me = caller
                    .user_id
                    .clone()
                    .ok_or_else(|| field("doctor_id", "is required"))?;
                waitlist::list(&self.db, None, Some(&me)).await
            }
            (_, Some(doctor_id)) => {
                let practice = self.practice("doctor_id", &doctor_id).await?;
                if !caller.reaches(
                    reach,
                    "",
                    &practice.doctor.doctor_id,
                    &practice.clinic.clinic_id,
                ) {
                    return Err(field("doctor_id", "no such doctor"));
                }
                waitlist::list(&self.db, Some(&doctor_id), None).await
            }
        }
        .map_err(internal)?;
        Ok(pb::ListWaitlistResponse {
            entries: entries.iter().map(convert::entry).collect(),
        })
    }
}
