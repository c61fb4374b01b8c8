//! Scheduling mutations of appointments: holds, bookings and their changes, waitlists. Each
//! one that changes a doctor's time tells this gateway's free-slot answers at once.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, NaiveDate, Utc};
use medmesh_proto::scheduling::v1 as pb;

use super::{
    client::{client, upstream},
    inputs::BookInput,
    slots::changed,
    types::{Appointment, AppointmentStatus, WaitlistEntry},
};
use crate::{
    context::as_caller,
    convert::{date, timestamp},
};

#[derive(Debug, Default)]
pub(super) struct BookingMutation;

#[Object]
impl BookingMutation {
    /// Holds a free slot for a few minutes (see `holdExpiresAt`); book it with `bookAppointment`.
    async fn hold_slot(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        doctor_id: ID,
        start: DateTime<Utc>,
        patient_id: Option<ID>,
    ) -> Result<Appointment> {
        let request = as_caller(
            ctx,
            pb::HoldSlotRequest {
                request_id,
                doctor_id: doctor_id.0,
                start: Some(timestamp(start)),
                patient_id: patient_id.map(|i| i.0).unwrap_or_default(),
            },
        )?;
        let appointment = client(ctx)
            .hold_slot(request)
            .await
            .map_err(upstream)?
            .into_inner();
        changed(ctx, &appointment);
        Ok(appointment.into())
    }

    /// Books a hold of yours, or a free slot directly. CONFLICT when the time is taken.
    async fn book_appointment(&self, ctx: &Context<'_>, input: BookInput) -> Result<Appointment> {
        let request = as_caller(
            ctx,
            pb::BookAppointmentRequest {
                request_id: input.request_id,
                hold_id: input.hold_id.map(|i| i.0).unwrap_or_default(),
                doctor_id: input.doctor_id.map(|i| i.0).unwrap_or_default(),
                start: input.start.map(timestamp),
                patient_id: input.patient_id.map(|i| i.0).unwrap_or_default(),
                reason: input.reason.unwrap_or_default(),
                override_reason: input.override_reason.unwrap_or_default(),
            },
        )?;
        let appointment = client(ctx)
            .book_appointment(request)
            .await
            .map_err(upstream)?
            .into_inner();
        changed(ctx, &appointment);
        Ok(appointment.into())
    }

    /// Moves an appointment: the new time is taken and the old one freed together, or neither.
    async fn reschedule_appointment(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        id: ID,
        new_start: DateTime<Utc>,
        new_doctor_id: Option<ID>,
    ) -> Result<Appointment> {
        let request = as_caller(
            ctx,
            pb::RescheduleAppointmentRequest {
                request_id,
                appointment_id: id.0,
                new_start: Some(timestamp(new_start)),
                new_doctor_id: new_doctor_id.map(|i| i.0).unwrap_or_default(),
            },
        )?;
        let appointment = client(ctx)
            .reschedule_appointment(request)
            .await
            .map_err(upstream)?
            .into_inner();
        changed(ctx, &appointment);
        Ok(appointment.into())
    }

    /// Cancels (patients: up to the clinic's cut-off). The slot goes to the waitlist.
    async fn cancel_appointment(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        id: ID,
        reason: Option<String>,
    ) -> Result<Appointment> {
        let request = as_caller(
            ctx,
            pb::CancelAppointmentRequest {
                request_id,
                appointment_id: id.0,
                reason: reason.unwrap_or_default(),
            },
        )?;
        let appointment = client(ctx)
            .cancel_appointment(request)
            .await
            .map_err(upstream)?
            .into_inner();
        changed(ctx, &appointment);
        Ok(appointment.into())
    }

    /// Staff: CONFIRMED, CHECKED_IN, COMPLETED or NO_SHOW, as the state machine allows.
    async fn change_appointment_status(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        id: ID,
        status: AppointmentStatus,
        reason: Option<String>,
    ) -> Result<Appointment> {
        let request = as_caller(
            ctx,
            pb::ChangeAppointmentStatusRequest {
                request_id,
                appointment_id: id.0,
                status: status.to_proto() as i32,
                reason: reason.unwrap_or_default(),
            },
        )?;
        let appointment = client(ctx)
            .change_appointment_status(request)
            .await
            .map_err(upstream)?
            .into_inner();
        changed(ctx, &appointment);
        Ok(appointment.into())
    }

    /// Waits for a slot of the doctor between two dates (clinic's calendar); a freed slot is
    /// offered to you as a hold.
    async fn join_waitlist(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        doctor_id: ID,
        from_date: NaiveDate,
        to_date: NaiveDate,
        patient_id: Option<ID>,
    ) -> Result<WaitlistEntry> {
        let request = as_caller(
            ctx,
            pb::JoinWaitlistRequest {
                request_id,
                doctor_id: doctor_id.0,
                from_date: Some(date(from_date)),
                to_date: Some(date(to_date)),
                patient_id: patient_id.map(|i| i.0).unwrap_or_default(),
            },
        )?;
        Ok(client(ctx)
            .join_waitlist(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    async fn leave_waitlist(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        id: ID,
    ) -> Result<WaitlistEntry> {
        let request = as_caller(
            ctx,
            pb::LeaveWaitlistRequest {
                request_id,
                entry_id: id.0,
            },
        )?;
        Ok(client(ctx)
            .leave_waitlist(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }
}
