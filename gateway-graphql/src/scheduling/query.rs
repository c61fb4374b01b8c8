//! Scheduling queries: the clinic directory, schedules, free slots, appointments, waitlists.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use medmesh_proto::scheduling::v1 as pb;

use super::{
    client::{client, upstream},
    slots::free_slots,
    types::{
        Appointment, AppointmentPage, AppointmentStatus, Cabinet, CabinetPage, Clinic, ClinicPage,
        Doctor, DoctorPage, Document, FreeSlots, Schedule, ScheduleException, ScheduleTemplate,
        Specialization, SpecializationPage, WaitlistEntry, WaitlistPage,
    },
};
use crate::{
    context::as_caller,
    convert::{non_empty, timestamp},
    input::PAGE_SIZE,
};

#[derive(Debug, Default)]
pub struct SchedulingQuery;

#[Object]
impl SchedulingQuery {
    /// Clinics, a page at a time.
    #[graphql(complexity = "child_complexity + crate::input::page_cost(page_size)")]
    async fn clinics(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
        #[graphql(default = false)] include_archived: bool,
    ) -> Result<ClinicPage> {
        let request = as_caller(
            ctx,
            pb::ListClinicsRequest {
                page_size: page_size.unwrap_or(0),
                page_token: page_token.unwrap_or_default(),
                include_archived,
            },
        )?;
        let page = client(ctx)
            .list_clinics(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(ClinicPage {
            clinics: page.clinics.into_iter().map(Clinic::from).collect(),
            next_page_token: non_empty(page.next_page_token),
        })
    }

    async fn clinic(&self, ctx: &Context<'_>, id: ID) -> Result<Clinic> {
        let request = as_caller(ctx, pb::GetClinicRequest { clinic_id: id.0 })?;
        Ok(client(ctx)
            .get_clinic(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// A clinic's cabinets by room, a page at a time.
    #[graphql(complexity = "child_complexity + crate::input::page_cost(page_size)")]
    async fn cabinets(
        &self,
        ctx: &Context<'_>,
        clinic_id: ID,
        #[graphql(default = false)] include_archived: bool,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
    ) -> Result<CabinetPage> {
        let request = as_caller(
            ctx,
            pb::ListCabinetsRequest {
                clinic_id: clinic_id.0,
                include_archived,
                page_size: page_size.unwrap_or(0),
                page_token: page_token.unwrap_or_default(),
            },
        )?;
        let page = client(ctx)
            .list_cabinets(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(CabinetPage {
            cabinets: page.cabinets.into_iter().map(Cabinet::from).collect(),
            next_page_token: non_empty(page.next_page_token),
        })
    }

    /// Specializations by name, a page at a time.
    #[graphql(complexity = "child_complexity + crate::input::page_cost(page_size)")]
    async fn specializations(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] include_archived: bool,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
    ) -> Result<SpecializationPage> {
        let request = as_caller(
            ctx,
            pb::ListSpecializationsRequest {
                include_archived,
                page_size: page_size.unwrap_or(0),
                page_token: page_token.unwrap_or_default(),
            },
        )?;
        let page = client(ctx)
            .list_specializations(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(SpecializationPage {
            specializations: page
                .specializations
                .into_iter()
                .map(Specialization::from)
                .collect(),
            next_page_token: non_empty(page.next_page_token),
        })
    }

    /// Doctors by specialization, clinic and part of the name.
    #[graphql(complexity = "child_complexity + crate::input::page_cost(page_size)")]
    async fn doctors(
        &self,
        ctx: &Context<'_>,
        specialization_id: Option<ID>,
        clinic_id: Option<ID>,
        name: Option<String>,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
    ) -> Result<DoctorPage> {
        let request = as_caller(
            ctx,
            pb::ListDoctorsRequest {
                page_size: page_size.unwrap_or(0),
                page_token: page_token.unwrap_or_default(),
                specialization_id: specialization_id.map(|i| i.0).unwrap_or_default(),
                clinic_id: clinic_id.map(|i| i.0).unwrap_or_default(),
                name_query: name.unwrap_or_default(),
            },
        )?;
        let page = client(ctx)
            .list_doctors(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(DoctorPage {
            doctors: page.doctors.into_iter().map(Doctor::from).collect(),
            next_page_token: non_empty(page.next_page_token),
        })
    }

    async fn doctor(&self, ctx: &Context<'_>, id: ID) -> Result<Doctor> {
        let request = as_caller(ctx, pb::GetDoctorRequest { doctor_id: id.0 })?;
        Ok(client(ctx)
            .get_doctor(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// A doctor's templates and exceptions (doctors: your own when `doctorId` is absent).
    async fn schedule(&self, ctx: &Context<'_>, doctor_id: Option<ID>) -> Result<Schedule> {
        let request = as_caller(
            ctx,
            pb::GetScheduleRequest {
                doctor_id: doctor_id.map(|i| i.0).unwrap_or_default(),
            },
        )?;
        let s = client(ctx)
            .get_schedule(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(Schedule {
            doctor_id: ID(s.doctor_id),
            time_zone: s.time_zone,
            templates: s
                .templates
                .into_iter()
                .map(ScheduleTemplate::from)
                .collect(),
            exceptions: s
                .exceptions
                .into_iter()
                .map(ScheduleException::from)
                .collect(),
        })
    }

    /// A doctor's free slots between two instants (at most 31 days apart).
    // A range no other query asked for is computed from the doctor's whole schedule.
    #[graphql(complexity = "50 + child_complexity")]
    async fn free_slots(
        &self,
        ctx: &Context<'_>,
        doctor_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<FreeSlots> {
        free_slots(ctx, doctor_id, from, to).await
    }

    async fn appointment(&self, ctx: &Context<'_>, id: ID) -> Result<Appointment> {
        let request = as_caller(
            ctx,
            pb::GetAppointmentRequest {
                appointment_id: id.0,
            },
        )?;
        Ok(client(ctx)
            .get_appointment(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Appointments you may see (patients: your own; doctors: your calendar and your clinics'),
    /// ordered by start.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "child_complexity + crate::input::page_cost(page_size)")]
    async fn appointments(
        &self,
        ctx: &Context<'_>,
        doctor_id: Option<ID>,
        patient_id: Option<ID>,
        clinic_id: Option<ID>,
        statuses: Option<Vec<AppointmentStatus>>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
    ) -> Result<AppointmentPage> {
        let request = as_caller(
            ctx,
            pb::ListAppointmentsRequest {
                page_size: page_size.unwrap_or(0),
                page_token: page_token.unwrap_or_default(),
                doctor_id: doctor_id.map(|i| i.0).unwrap_or_default(),
                patient_id: patient_id.map(|i| i.0).unwrap_or_default(),
                statuses: statuses
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| s.to_proto() as i32)
                    .collect(),
                from: from.map(timestamp),
                to: to.map(timestamp),
                clinic_id: clinic_id.map(|i| i.0).unwrap_or_default(),
            },
        )?;
        let page = client(ctx)
            .list_appointments(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(AppointmentPage {
            appointments: page
                .appointments
                .into_iter()
                .map(Appointment::from)
                .collect(),
            next_page_token: non_empty(page.next_page_token),
        })
    }

    /// The confirmation of a confirmed (or later) appointment, as a PDF.
    async fn appointment_confirmation(&self, ctx: &Context<'_>, id: ID) -> Result<Document> {
        use base64::Engine;
        let request = as_caller(
            ctx,
            pb::GetAppointmentConfirmationRequest {
                appointment_id: id.0,
            },
        )?;
        let document = client(ctx)
            .get_appointment_confirmation(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(Document {
            file_name: document.file_name,
            content_type: document.content_type,
            size_bytes: i32::try_from(document.content.len()).unwrap_or(i32::MAX),
            base64: base64::engine::general_purpose::STANDARD.encode(&document.content),
        })
    }

    /// Your waitlist entries, or (staff) one doctor's list, in the order the patients joined,
    /// a page at a time.
    #[graphql(complexity = "child_complexity + crate::input::page_cost(page_size)")]
    async fn waitlist(
        &self,
        ctx: &Context<'_>,
        doctor_id: Option<ID>,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
    ) -> Result<WaitlistPage> {
        let request = as_caller(
            ctx,
            pb::ListWaitlistRequest {
                doctor_id: doctor_id.map(|i| i.0).unwrap_or_default(),
                page_size: page_size.unwrap_or(0),
                page_token: page_token.unwrap_or_default(),
            },
        )?;
        let page = client(ctx)
            .list_waitlist(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(WaitlistPage {
            entries: page.entries.into_iter().map(WaitlistEntry::from).collect(),
            next_page_token: non_empty(page.next_page_token),
        })
    }
}
