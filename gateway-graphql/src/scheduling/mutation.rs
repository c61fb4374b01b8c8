//! Scheduling mutations: the directory (admins), schedules (doctors and admins), holds,
//! bookings and their changes, waitlists. Each one that changes a doctor's time tells this
//! gateway's free-slot answers at once.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, NaiveDate, Utc};
use medmesh_proto::scheduling::v1 as pb;

use super::{
    client::{client, upstream},
    inputs::{BookInput, ClinicInput, DoctorInput, ScheduleExceptionInput, ScheduleTemplateInput},
    slots::{changed, doctor_changed},
    types::{
        Appointment, AppointmentStatus, Cabinet, Clinic, Doctor, ScheduleException,
        ScheduleTemplate, Specialization, WaitlistEntry,
    },
};
use crate::{
    context::as_caller,
    convert::{date, time_of_day, timestamp},
};

#[derive(Debug, Default)]
pub struct SchedulingMutation;

#[Object]
impl SchedulingMutation {
    /// Admins: creates a clinic, or (with `id`) replaces one's fields.
    async fn save_clinic(&self, ctx: &Context<'_>, input: ClinicInput) -> Result<Clinic> {
        let clinic = pb::Clinic {
            clinic_id: input.id.map(|i| i.0).unwrap_or_default(),
            name: input.name,
            address: input.address.unwrap_or_default(),
            time_zone: input.time_zone,
            cancellation_cutoff_minutes: input.cancellation_cutoff_minutes,
            archived: input.archived,
            version: input.version.unwrap_or(0),
        };
        let saved = if clinic.clinic_id.is_empty() {
            let request = as_caller(
                ctx,
                pb::CreateClinicRequest {
                    request_id: input.request_id,
                    clinic: Some(clinic),
                },
            )?;
            client(ctx).create_clinic(request).await
        } else {
            let request = as_caller(
                ctx,
                pb::UpdateClinicRequest {
                    request_id: input.request_id,
                    clinic: Some(clinic),
                },
            )?;
            client(ctx).update_clinic(request).await
        };
        Ok(saved.map_err(upstream)?.into_inner().into())
    }

    /// Admins: a room at a clinic.
    async fn create_cabinet(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        clinic_id: ID,
        room: String,
        floor: Option<String>,
    ) -> Result<Cabinet> {
        let request = as_caller(
            ctx,
            pb::CreateCabinetRequest {
                request_id,
                cabinet: Some(pb::Cabinet {
                    cabinet_id: String::new(),
                    clinic_id: clinic_id.0,
                    room,
                    floor: floor.unwrap_or_default(),
                    archived: false,
                }),
            },
        )?;
        Ok(client(ctx)
            .create_cabinet(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Admins: renames, moves or archives a cabinet.
    async fn update_cabinet(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        id: ID,
        room: String,
        floor: Option<String>,
        #[graphql(default = false)] archived: bool,
    ) -> Result<Cabinet> {
        let request = as_caller(
            ctx,
            pb::UpdateCabinetRequest {
                request_id,
                cabinet: Some(pb::Cabinet {
                    cabinet_id: id.0,
                    clinic_id: String::new(),
                    room,
                    floor: floor.unwrap_or_default(),
                    archived,
                }),
            },
        )?;
        Ok(client(ctx)
            .update_cabinet(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Admins: renames or archives a specialization.
    async fn update_specialization(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        id: ID,
        name: String,
        #[graphql(default = false)] archived: bool,
    ) -> Result<Specialization> {
        let request = as_caller(
            ctx,
            pb::UpdateSpecializationRequest {
                request_id,
                specialization: Some(pb::Specialization {
                    specialization_id: id.0,
                    name,
                    archived,
                }),
            },
        )?;
        Ok(client(ctx)
            .update_specialization(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    async fn create_specialization(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        name: String,
    ) -> Result<Specialization> {
        let request = as_caller(
            ctx,
            pb::CreateSpecializationRequest {
                request_id,
                specialization: Some(pb::Specialization {
                    specialization_id: String::new(),
                    name,
                    archived: false,
                }),
            },
        )?;
        Ok(client(ctx)
            .create_specialization(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Admins: lists a doctor in the directory (or changes their entry).
    async fn save_doctor(&self, ctx: &Context<'_>, input: DoctorInput) -> Result<Doctor> {
        let request = as_caller(
            ctx,
            pb::UpsertDoctorRequest {
                request_id: input.request_id,
                doctor: Some(pb::Doctor {
                    doctor_id: input.id.0,
                    display_name: String::new(),
                    specialization_id: input.specialization_id.0,
                    specialization_name: String::new(),
                    clinic_id: input.clinic_id.0,
                    cabinet_id: input.cabinet_id.map(|i| i.0).unwrap_or_default(),
                    bio: input.bio.unwrap_or_default(),
                    years_of_experience: input.years_of_experience,
                    default_visit_minutes: input.default_visit_minutes,
                    archived: input.archived,
                }),
            },
        )?;
        let answer = client(ctx)
            .upsert_doctor(request)
            .await
            .map_err(upstream)?
            .into_inner();
        doctor_changed(ctx, &answer.doctor_id);
        Ok(answer.into())
    }

    /// Doctors (own) and admins: a weekly template. One overlapping another is refused.
    async fn add_schedule_template(
        &self,
        ctx: &Context<'_>,
        input: ScheduleTemplateInput,
    ) -> Result<ScheduleTemplate> {
        let request = as_caller(
            ctx,
            pb::AddScheduleTemplateRequest {
                request_id: input.request_id,
                template: Some(pb::ScheduleTemplate {
                    template_id: String::new(),
                    doctor_id: input.doctor_id.map(|i| i.0).unwrap_or_default(),
                    weekday: input.weekday,
                    start: Some(time_of_day(&input.start)),
                    end: Some(time_of_day(&input.end)),
                    visit_minutes: input.visit_minutes.unwrap_or(0),
                    cabinet_id: input.cabinet_id.map(|i| i.0).unwrap_or_default(),
                    valid_from: Some(date(input.valid_from)),
                    valid_to: input.valid_to.map(date),
                }),
            },
        )?;
        let answer = client(ctx)
            .add_schedule_template(request)
            .await
            .map_err(upstream)?
            .into_inner();
        doctor_changed(ctx, &answer.doctor_id);
        Ok(answer.into())
    }

    async fn remove_schedule_template(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        id: ID,
    ) -> Result<ID> {
        let request = as_caller(
            ctx,
            pb::RemoveScheduleTemplateRequest {
                request_id,
                template_id: id.0,
            },
        )?;
        Ok(ID(client(ctx)
            .remove_schedule_template(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .template_id))
    }

    /// Doctors (own) and admins: a day off or other hours on one date.
    async fn add_schedule_exception(
        &self,
        ctx: &Context<'_>,
        input: ScheduleExceptionInput,
    ) -> Result<ScheduleException> {
        let request = as_caller(
            ctx,
            pb::AddScheduleExceptionRequest {
                request_id: input.request_id,
                exception: Some(pb::ScheduleException {
                    exception_id: String::new(),
                    doctor_id: input.doctor_id.map(|i| i.0).unwrap_or_default(),
                    date: Some(date(input.date)),
                    day_off: input.day_off,
                    start: input.start.as_deref().map(time_of_day),
                    end: input.end.as_deref().map(time_of_day),
                    visit_minutes: input.visit_minutes.unwrap_or(0),
                    reason: input.reason.unwrap_or_default(),
                }),
            },
        )?;
        let answer = client(ctx)
            .add_schedule_exception(request)
            .await
            .map_err(upstream)?
            .into_inner();
        doctor_changed(ctx, &answer.doctor_id);
        Ok(answer.into())
    }

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
