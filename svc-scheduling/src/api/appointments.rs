//! Holds, bookings, reschedules, cancellations, status changes, reading appointments and their
//! confirmations.

use medmesh_proto::scheduling::v1 as pb;
use tonic::Request;

use super::{Answer, SchedulingApi, key};
use crate::{
    app::{AppointmentFilter, Booking},
    convert, documents,
    domain::{Operation, Status},
    error::SchedulingError,
    input::{self, Violations},
};

impl SchedulingApi {
    pub(crate) async fn hold_slot(
        &self,
        request: Request<pb::HoldSlotRequest>,
    ) -> Answer<pb::Appointment> {
        let caller = self.caller_for(&request, Operation::Book).await?;
        let body = request.get_ref();
        let key = key(&caller, "HoldSlot", &body.request_id, body)?;
        let booking = Booking {
            start: input::instant("start", body.start.as_ref())?,
            patient_id: input::optional_id("patient_id", &body.patient_id)?,
            doctor_id: input::id("doctor_id", &body.doctor_id)?,
            reason: String::new(),
            override_reason: String::new(),
        };
        self.app.hold_slot(&caller, &key, booking).await
    }

    pub(crate) async fn book_appointment(
        &self,
        request: Request<pb::BookAppointmentRequest>,
    ) -> Answer<pb::Appointment> {
        let caller = self.caller_for(&request, Operation::Book).await?;
        let body = request.get_ref();
        let key = key(&caller, "BookAppointment", &body.request_id, body)?;
        let reason = input::text("reason", &body.reason, 500, false)?;
        let override_reason = input::text("override_reason", &body.override_reason, 500, false)?;
        if !body.hold_id.trim().is_empty() {
            let hold_id = input::id("hold_id", &body.hold_id)?;
            if !override_reason.is_empty() {
                return Err(SchedulingError::field(
                    "override_reason",
                    "applies to booking a slot directly, not a hold",
                ));
            }
            return self.app.book_hold(&caller, &key, &hold_id, reason).await;
        }
        let booking = Booking {
            start: input::instant("start", body.start.as_ref())?,
            patient_id: input::optional_id("patient_id", &body.patient_id)?,
            doctor_id: input::id("doctor_id", &body.doctor_id)?,
            reason,
            override_reason,
        };
        self.app.book_slot(&caller, &key, booking).await
    }

    pub(crate) async fn reschedule_appointment(
        &self,
        request: Request<pb::RescheduleAppointmentRequest>,
    ) -> Answer<pb::Appointment> {
        let caller = self.caller_for(&request, Operation::Book).await?;
        let body = request.get_ref();
        let key = key(&caller, "RescheduleAppointment", &body.request_id, body)?;
        let new_start = input::instant("new_start", body.new_start.as_ref())?;
        let appointment_id = input::id("appointment_id", &body.appointment_id)?;
        let new_doctor_id = input::optional_id("new_doctor_id", &body.new_doctor_id)?;
        self.app
            .reschedule_appointment(&caller, &key, &appointment_id, new_doctor_id, new_start)
            .await
    }

    pub(crate) async fn cancel_appointment(
        &self,
        request: Request<pb::CancelAppointmentRequest>,
    ) -> Answer<pb::Appointment> {
        let caller = self.caller_for(&request, Operation::Book).await?;
        let body = request.get_ref();
        let key = key(&caller, "CancelAppointment", &body.request_id, body)?;
        let reason = input::text("reason", &body.reason, 500, false)?;
        let appointment_id = input::id("appointment_id", &body.appointment_id)?;
        self.app
            .cancel_appointment(&caller, &key, &appointment_id, reason)
            .await
    }

    pub(crate) async fn change_appointment_status(
        &self,
        request: Request<pb::ChangeAppointmentStatusRequest>,
    ) -> Answer<pb::Appointment> {
        let caller = self.caller_for(&request, Operation::ChangeStatus).await?;
        let body = request.get_ref();
        let key = key(&caller, "ChangeAppointmentStatus", &body.request_id, body)?;
        let to = match pb::AppointmentStatus::try_from(body.status)
            .ok()
            .and_then(convert::status_from)
        {
            Some(s) if Status::VISIT.contains(&s) => s,
            _ => {
                return Err(SchedulingError::field(
                    "status",
                    "must be CONFIRMED, CHECKED_IN, COMPLETED or NO_SHOW",
                ));
            }
        };
        let reason = input::text("reason", &body.reason, 500, false)?;
        let appointment_id = input::id("appointment_id", &body.appointment_id)?;
        self.app
            .change_appointment_status(&caller, &key, &appointment_id, to, reason)
            .await
    }

    pub(crate) async fn get_appointment(
        &self,
        request: Request<pb::GetAppointmentRequest>,
    ) -> Answer<pb::Appointment> {
        let caller = self
            .caller_for(&request, Operation::ReadAppointments)
            .await?;
        let id = input::id("appointment_id", &request.get_ref().appointment_id)?;
        let a = self.app.get_appointment(&caller, &id).await?;
        Ok(convert::appointment(&a))
    }

    pub(crate) async fn list_appointments(
        &self,
        request: Request<pb::ListAppointmentsRequest>,
    ) -> Answer<pb::ListAppointmentsResponse> {
        let caller = self
            .caller_for(&request, Operation::ReadAppointments)
            .await?;
        let body = request.get_ref();
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
        let (found, next_page_token) = self
            .app
            .list_appointments(&caller, filter, body.page_size, &body.page_token)
            .await?;
        Ok(pb::ListAppointmentsResponse {
            appointments: found.iter().map(convert::appointment).collect(),
            next_page_token,
        })
    }

    pub(crate) async fn get_appointment_confirmation(
        &self,
        request: Request<pb::GetAppointmentConfirmationRequest>,
    ) -> Answer<pb::Document> {
        let caller = self
            .caller_for(&request, Operation::ReadAppointments)
            .await?;
        let id = input::id("appointment_id", &request.get_ref().appointment_id)?;
        let content = self.app.get_appointment_confirmation(&caller, &id).await?;
        Ok(pb::Document {
            file_name: format!("appointment-{id}.pdf"),
            content_type: documents::PDF.to_string(),
            content,
        })
    }
}
