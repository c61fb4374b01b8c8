//! Scheduling mutations of the directory (admins) and of schedules (doctors and admins). Each
//! one that changes a doctor's time tells this gateway's free-slot answers at once.

use async_graphql::{Context, ID, Object, Result};
use medmesh_proto::scheduling::v1 as pb;

use super::{
    client::{client, upstream},
    inputs::{ClinicInput, DoctorInput, ScheduleExceptionInput, ScheduleTemplateInput},
    slots::doctor_changed,
    types::{Cabinet, Clinic, Doctor, ScheduleException, ScheduleTemplate, Specialization},
};
use crate::{
    context::as_caller,
    convert::{date, time_of_day},
};

#[derive(Debug, Default)]
pub(super) struct DirectoryMutation;

#[Object]
impl DirectoryMutation {
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
}
