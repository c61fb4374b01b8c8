//! Joining, leaving and reading waitlists.

use medmesh_proto::scheduling::v1 as pb;
use svc_kit::paging::{bad_page_token, decode_token, page_size};
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
        let limit = page_size(body.page_size)?;
        let after = decode_token(&body.page_token)?;
        if let Some(after) = &after {
            input::id("page_token", after).map_err(|_| bad_page_token())?;
        }
        let (entries, next_page_token) = self
            .app
            .list_waitlist(&caller, doctor_id, limit, after)
            .await?;
        Ok(pb::ListWaitlistResponse {
            entries: entries.iter().map(convert::entry).collect(),
            next_page_token,
        })
    }
}
