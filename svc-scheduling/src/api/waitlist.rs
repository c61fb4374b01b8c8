//! Joining, leaving and reading waitlists.

use medmesh_proto::scheduling::v1 as pb;
use tonic::Request;

use super::{Answer, SchedulingApi, key};
use crate::{
    app::WaitlistJoin,
    convert,
    domain::Operation,
    input::{self, Violations},
};

/// The longest stretch of days one waitlist entry may cover.
const MAX_WAIT_DAYS: i64 = 92;

/// How many entries one `ListWaitlist` answers until its request carries `page_size` and
/// `page_token` (the proto field is additive, but the gateway builds the request with a struct
/// literal and is being restructured, so the request fields wait for it). A longer list is no
/// longer cut silently: the answer carries `next_page_token`.
const WAITLIST_PAGE: u64 = 500;

impl SchedulingApi {
    pub(crate) async fn join_waitlist(
        &self,
        request: Request<pb::JoinWaitlistRequest>,
    ) -> Answer<pb::WaitlistEntry> {
        let caller = self.caller_for(&request, Operation::Book).await?;
        let body = request.get_ref();
        let key = key(&caller, "JoinWaitlist", &body.request_id, body)?;
        let mut v = Violations::default();
        let from_date = v.take(input::date("from_date", body.from_date.as_ref()));
        let to_date = v.take(input::date("to_date", body.to_date.as_ref()));
        if v.is_empty() && to_date < from_date {
            v.push("to_date", "must not be before from_date");
        }
        if v.is_empty() && (to_date - from_date).num_days() > MAX_WAIT_DAYS {
            v.push("to_date", "must be at most 92 days after from_date");
        }
        v.finish()?;
        let join = WaitlistJoin {
            patient_id: input::optional_id("patient_id", &body.patient_id)?,
            doctor_id: input::id("doctor_id", &body.doctor_id)?,
            from_date,
            to_date,
        };
        self.app.join_waitlist(&caller, &key, join).await
    }

    pub(crate) async fn leave_waitlist(
        &self,
        request: Request<pb::LeaveWaitlistRequest>,
    ) -> Answer<pb::WaitlistEntry> {
        let caller = self.caller_for(&request, Operation::Book).await?;
        let body = request.get_ref();
        let key = key(&caller, "LeaveWaitlist", &body.request_id, body)?;
        let entry_id = input::id("entry_id", &body.entry_id)?;
        self.app.leave_waitlist(&caller, &key, &entry_id).await
    }

    pub(crate) async fn list_waitlist(
        &self,
        request: Request<pb::ListWaitlistRequest>,
    ) -> Answer<pb::ListWaitlistResponse> {
        let caller = self
            .caller_for(&request, Operation::ReadAppointments)
            .await?;
        let body = request.get_ref();
        let doctor_id = input::optional_id("doctor_id", &body.doctor_id)?;
        let (entries, next_page_token) = self
            .app
            .list_waitlist(&caller, doctor_id, WAITLIST_PAGE, None)
            .await?;
        Ok(pb::ListWaitlistResponse {
            entries: entries.iter().map(convert::entry).collect(),
            next_page_token,
        })
    }
}
