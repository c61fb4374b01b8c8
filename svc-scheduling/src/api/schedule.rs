//! Doctors' schedules and free slots.

use medmesh_proto::scheduling::v1 as pb;
use tonic::Request;

use super::{Answer, SchedulingApi, key};
use crate::{
    app::{ExceptionInput, FreeSlotsQuery, TemplateInput},
    domain::Operation,
    input::{self, Violations},
};

impl SchedulingApi {
    pub(crate) async fn list_free_slots(
        &self,
        request: Request<pb::ListFreeSlotsRequest>,
    ) -> Answer<pb::ListFreeSlotsResponse> {
        let caller = self.caller_for(&request, Operation::ReadDirectory).await?;
        let body = request.get_ref();
        let mut v = Violations::default();
        let from = v.take(input::instant("from", body.from.as_ref()));
        let to = v.take(input::instant("to", body.to.as_ref()));
        let doctor_id = v.take(input::id("doctor_id", &body.doctor_id));
        v.finish()?;
        self.app
            .list_free_slots(
                &caller,
                FreeSlotsQuery {
                    doctor_id,
                    from,
                    to,
                },
            )
            .await
    }

    pub(crate) async fn add_schedule_template(
        &self,
        request: Request<pb::AddScheduleTemplateRequest>,
    ) -> Answer<pb::ScheduleTemplate> {
        let caller = self.caller_for(&request, Operation::ManageSchedule).await?;
        let body = request.get_ref();
        let key = key(&caller, "AddScheduleTemplate", &body.request_id, body)?;
        let given = body.template.clone().unwrap_or_default();
        let mut v = Violations::default();
        let doctor_id = v.take(input::optional_id("template.doctor_id", &given.doctor_id));
        let weekday = v.take(input::weekday("template.weekday", given.weekday).map(Some));
        let start = v.take(input::time_of_day("template.start", given.start.as_ref()));
        let end = v.take(input::time_of_day("template.end", given.end.as_ref()));
        let visit_minutes = if given.visit_minutes == 0 {
            None
        } else {
            Some(v.take(input::visit_minutes(
                "template.visit_minutes",
                given.visit_minutes,
            )))
        };
        let cabinet_id = v.take(input::optional_id("template.cabinet_id", &given.cabinet_id));
        let valid_from = v.take(input::date(
            "template.valid_from",
            given.valid_from.as_ref(),
        ));
        let valid_to = v.take(input::optional_date(
            "template.valid_to",
            given.valid_to.as_ref(),
        ));
        if v.is_empty() {
            if end <= start {
                v.push("template.end", "must be after start");
            } else if visit_minutes
                .is_some_and(|visit| (end - start).num_minutes() < i64::from(visit))
            {
                v.push(
                    "template.visit_minutes",
                    "is longer than the window from start to end",
                );
            }
            if valid_to.is_some_and(|to| to < valid_from) {
                v.push("template.valid_to", "must not be before valid_from");
            }
        }
        v.finish()?;
        let Some(weekday) = weekday else {
            return Err(svc_kit::ApiError::field("template.weekday", "is required").into());
        };
        let template = TemplateInput {
            doctor_id,
            weekday,
            start,
            end,
            visit_minutes,
            cabinet_id,
            valid_from,
            valid_to,
        };
        self.app
            .add_schedule_template(&caller, &key, template)
            .await
    }

    pub(crate) async fn remove_schedule_template(
        &self,
        request: Request<pb::RemoveScheduleTemplateRequest>,
    ) -> Answer<pb::RemoveScheduleTemplateResponse> {
        let caller = self.caller_for(&request, Operation::ManageSchedule).await?;
        let body = request.get_ref();
        let key = key(&caller, "RemoveScheduleTemplate", &body.request_id, body)?;
        let template_id = input::id("template_id", &body.template_id)?;
        self.app
            .remove_schedule_template(&caller, &key, &template_id)
            .await
    }

    pub(crate) async fn add_schedule_exception(
        &self,
        request: Request<pb::AddScheduleExceptionRequest>,
    ) -> Answer<pb::ScheduleException> {
        let caller = self.caller_for(&request, Operation::ManageSchedule).await?;
        let body = request.get_ref();
        let key = key(&caller, "AddScheduleException", &body.request_id, body)?;
        let given = body.exception.clone().unwrap_or_default();
        let mut v = Violations::default();
        let doctor_id = v.take(input::optional_id("exception.doctor_id", &given.doctor_id));
        let date = v.take(input::date("exception.date", given.date.as_ref()));
        let reason = v.take(input::text("exception.reason", &given.reason, 500, false));
        let hours = if given.day_off {
            None
        } else {
            let start = v.take(input::time_of_day("exception.start", given.start.as_ref()));
            let end = v.take(input::time_of_day("exception.end", given.end.as_ref()));
            let visit = if given.visit_minutes == 0 {
                None
            } else {
                Some(v.take(input::visit_minutes(
                    "exception.visit_minutes",
                    given.visit_minutes,
                )))
            };
            if v.is_empty() && end <= start {
                v.push("exception.end", "must be after start");
            }
            Some((start, end, visit))
        };
        v.finish()?;
        let exception = ExceptionInput {
            doctor_id,
            date,
            reason,
            hours,
        };
        self.app
            .add_schedule_exception(&caller, &key, exception)
            .await
    }

    pub(crate) async fn get_schedule(
        &self,
        request: Request<pb::GetScheduleRequest>,
    ) -> Answer<pb::Schedule> {
        let caller = self.caller_for(&request, Operation::ReadSchedule).await?;
        let doctor_id = input::optional_id("doctor_id", &request.get_ref().doctor_id)?;
        self.app.get_schedule(&caller, doctor_id).await
    }
}
