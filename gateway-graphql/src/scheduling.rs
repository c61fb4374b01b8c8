//! Scheduling in the graph: the clinic directory, schedules, free slots, holds, appointments
//! and waitlists. Every resolver forwards the caller's bearer token; svc-scheduling decides
//! whose appointments a caller reaches.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike, Utc};
use medmesh_proto::{
    common::v1 as common,
    scheduling::v1::{self as pb, scheduling_service_client::SchedulingServiceClient},
};
use svc_kit::ServiceName;
use tonic::transport::Channel;

use crate::{
    accounts::{as_caller, non_empty, time},
    clients::ServiceClients,
    errors::upstream_error,
    input::PAGE_SIZE,
};

fn client(ctx: &Context<'_>) -> SchedulingServiceClient<Channel> {
    SchedulingServiceClient::new(
        ctx.data_unchecked::<ServiceClients>()
            .channel(ServiceName::Scheduling),
    )
}

fn upstream(status: tonic::Status) -> async_graphql::Error {
    upstream_error(ServiceName::Scheduling, &status)
}

fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

fn date(d: NaiveDate) -> common::Date {
    common::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

fn from_date(d: Option<common::Date>) -> Option<NaiveDate> {
    d.and_then(|d| NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32))
}

/// "HH:MM"; anything else is passed on as an impossible time, which the service names as the
/// bad field.
fn time_of_day(raw: &str) -> common::TimeOfDay {
    NaiveTime::parse_from_str(raw.trim(), "%H:%M")
        .map(|t| common::TimeOfDay {
            hours: t.hour() as i32,
            minutes: t.minute() as i32,
        })
        .unwrap_or(common::TimeOfDay {
            hours: -1,
            minutes: -1,
        })
}

fn hhmm(t: Option<common::TimeOfDay>) -> Option<String> {
    t.map(|t| format!("{:02}:{:02}", t.hours, t.minutes))
}

/// A clinic; every civil time of it is read in `timeZone`.
#[derive(SimpleObject, Debug, Clone)]
pub struct Clinic {
    pub id: ID,
    pub name: String,
    pub address: Option<String>,
    /// IANA zone, e.g. "Europe/Kyiv".
    pub time_zone: String,
    /// How long before the start a patient may still cancel or reschedule.
    pub cancellation_cutoff_minutes: i32,
    pub archived: bool,
    pub version: i64,
}

impl From<pb::Clinic> for Clinic {
    fn from(c: pb::Clinic) -> Clinic {
        Clinic {
            id: ID(c.clinic_id),
            name: c.name,
            address: non_empty(c.address),
            time_zone: c.time_zone,
            cancellation_cutoff_minutes: c.cancellation_cutoff_minutes,
            archived: c.archived,
            version: c.version,
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct ClinicPage {
    pub clinics: Vec<Clinic>,
    pub next_page_token: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct Cabinet {
    pub id: ID,
    pub clinic_id: ID,
    pub room: String,
    pub floor: Option<String>,
    pub archived: bool,
}

impl From<pb::Cabinet> for Cabinet {
    fn from(c: pb::Cabinet) -> Cabinet {
        Cabinet {
            id: ID(c.cabinet_id),
            clinic_id: ID(c.clinic_id),
            room: c.room,
            floor: non_empty(c.floor),
            archived: c.archived,
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct CabinetPage {
    pub cabinets: Vec<Cabinet>,
    pub next_page_token: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct SpecializationPage {
    pub specializations: Vec<Specialization>,
    pub next_page_token: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct Specialization {
    pub id: ID,
    pub name: String,
    pub archived: bool,
}

impl From<pb::Specialization> for Specialization {
    fn from(s: pb::Specialization) -> Specialization {
        Specialization {
            id: ID(s.specialization_id),
            name: s.name,
            archived: s.archived,
        }
    }
}

/// A doctor in the directory.
#[derive(SimpleObject, Debug, Clone)]
pub struct Doctor {
    /// The doctor's MedMesh user id.
    pub id: ID,
    pub display_name: String,
    pub specialization_id: ID,
    pub specialization_name: String,
    pub clinic_id: ID,
    pub cabinet_id: Option<ID>,
    pub bio: Option<String>,
    pub years_of_experience: i32,
    pub default_visit_minutes: i32,
    pub archived: bool,
}

impl From<pb::Doctor> for Doctor {
    fn from(d: pb::Doctor) -> Doctor {
        Doctor {
            id: ID(d.doctor_id),
            display_name: d.display_name,
            specialization_id: ID(d.specialization_id),
            specialization_name: d.specialization_name,
            clinic_id: ID(d.clinic_id),
            cabinet_id: non_empty(d.cabinet_id).map(ID),
            bio: non_empty(d.bio),
            years_of_experience: d.years_of_experience,
            default_visit_minutes: d.default_visit_minutes,
            archived: d.archived,
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct DoctorPage {
    pub doctors: Vec<Doctor>,
    pub next_page_token: Option<String>,
}

/// Every `weekday` (1 = Monday) the doctor sees patients from `start` to `end` ("HH:MM" in the
/// clinic's zone), one visit every `visitMinutes`.
#[derive(SimpleObject, Debug, Clone)]
pub struct ScheduleTemplate {
    pub id: ID,
    pub doctor_id: ID,
    pub weekday: i32,
    pub start: Option<String>,
    pub end: Option<String>,
    pub visit_minutes: i32,
    pub cabinet_id: Option<ID>,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
}

impl From<pb::ScheduleTemplate> for ScheduleTemplate {
    fn from(t: pb::ScheduleTemplate) -> ScheduleTemplate {
        ScheduleTemplate {
            id: ID(t.template_id),
            doctor_id: ID(t.doctor_id),
            weekday: t.weekday,
            start: hhmm(t.start),
            end: hhmm(t.end),
            visit_minutes: t.visit_minutes,
            cabinet_id: non_empty(t.cabinet_id).map(ID),
            valid_from: from_date(t.valid_from),
            valid_to: from_date(t.valid_to),
        }
    }
}

/// A date that differs from the templates: a day off, or other hours.
#[derive(SimpleObject, Debug, Clone)]
pub struct ScheduleException {
    pub id: ID,
    pub doctor_id: ID,
    pub date: Option<NaiveDate>,
    pub day_off: bool,
    pub start: Option<String>,
    pub end: Option<String>,
    pub visit_minutes: Option<i32>,
    pub reason: Option<String>,
}

impl From<pb::ScheduleException> for ScheduleException {
    fn from(e: pb::ScheduleException) -> ScheduleException {
        ScheduleException {
            id: ID(e.exception_id),
            doctor_id: ID(e.doctor_id),
            date: from_date(e.date),
            day_off: e.day_off,
            start: if e.day_off { None } else { hhmm(e.start) },
            end: if e.day_off { None } else { hhmm(e.end) },
            visit_minutes: (!e.day_off).then_some(e.visit_minutes),
            reason: non_empty(e.reason),
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct Schedule {
    pub doctor_id: ID,
    pub time_zone: String,
    pub templates: Vec<ScheduleTemplate>,
    pub exceptions: Vec<ScheduleException>,
}

/// One bookable visit.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct Slot {
    pub doctor_id: ID,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// The start as the clinic's wall clock reads it, e.g. "2026-11-27T09:00:00+02:00".
    pub local_start: Option<String>,
    pub cabinet_id: Option<ID>,
    pub time_zone: String,
}

impl From<pb::Slot> for Slot {
    fn from(s: pb::Slot) -> Slot {
        let start = time(s.start);
        let local_start = start
            .zip(s.time_zone.parse::<chrono_tz::Tz>().ok())
            .map(|(at, tz)| at.with_timezone(&tz).to_rfc3339());
        Slot {
            doctor_id: ID(s.doctor_id),
            start,
            end: time(s.end),
            local_start,
            cabinet_id: non_empty(s.cabinet_id).map(ID),
            time_zone: s.time_zone,
        }
    }
}

#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct FreeSlots {
    pub doctor_id: ID,
    pub time_zone: String,
    pub slots: Vec<Slot>,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppointmentStatus {
    Held,
    Booked,
    Confirmed,
    CheckedIn,
    Completed,
    Cancelled,
    NoShow,
    Expired,
}

impl AppointmentStatus {
    fn to_proto(self) -> pb::AppointmentStatus {
        match self {
            AppointmentStatus::Held => pb::AppointmentStatus::Held,
            AppointmentStatus::Booked => pb::AppointmentStatus::Booked,
            AppointmentStatus::Confirmed => pb::AppointmentStatus::Confirmed,
            AppointmentStatus::CheckedIn => pb::AppointmentStatus::CheckedIn,
            AppointmentStatus::Completed => pb::AppointmentStatus::Completed,
            AppointmentStatus::Cancelled => pb::AppointmentStatus::Cancelled,
            AppointmentStatus::NoShow => pb::AppointmentStatus::NoShow,
            AppointmentStatus::Expired => pb::AppointmentStatus::Expired,
        }
    }

    fn from_proto(raw: i32) -> Option<AppointmentStatus> {
        Some(match pb::AppointmentStatus::try_from(raw).ok()? {
            pb::AppointmentStatus::Unspecified => return None,
            pb::AppointmentStatus::Held => AppointmentStatus::Held,
            pb::AppointmentStatus::Booked => AppointmentStatus::Booked,
            pb::AppointmentStatus::Confirmed => AppointmentStatus::Confirmed,
            pb::AppointmentStatus::CheckedIn => AppointmentStatus::CheckedIn,
            pb::AppointmentStatus::Completed => AppointmentStatus::Completed,
            pb::AppointmentStatus::Cancelled => AppointmentStatus::Cancelled,
            pb::AppointmentStatus::NoShow => AppointmentStatus::NoShow,
            pb::AppointmentStatus::Expired => AppointmentStatus::Expired,
        })
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct Appointment {
    pub id: ID,
    pub slot: Option<Slot>,
    pub patient_id: ID,
    pub clinic_id: ID,
    pub status: Option<AppointmentStatus>,
    pub reason: Option<String>,
    /// While HELD: when the hold runs out.
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub cancellation_reason: Option<String>,
    /// Set when staff booked over a conflict on purpose.
    pub override_reason: Option<String>,
    /// Set when the hold is a waitlist offer.
    pub waitlist_entry_id: Option<ID>,
    pub version: i64,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<pb::Appointment> for Appointment {
    fn from(a: pb::Appointment) -> Appointment {
        Appointment {
            id: ID(a.appointment_id),
            slot: a.slot.map(Slot::from),
            patient_id: ID(a.patient_id),
            clinic_id: ID(a.clinic_id),
            status: AppointmentStatus::from_proto(a.status),
            reason: non_empty(a.reason),
            hold_expires_at: time(a.hold_expires_at),
            cancellation_reason: non_empty(a.cancellation_reason),
            override_reason: non_empty(a.override_reason),
            waitlist_entry_id: non_empty(a.waitlist_entry_id).map(ID),
            version: a.version,
            created_at: time(a.created_at),
            updated_at: time(a.updated_at),
        }
    }
}

/// A generated document, inline.
#[derive(SimpleObject, Debug, Clone)]
pub struct Document {
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i32,
    /// The content, base64-encoded (standard alphabet, padded).
    pub base64: String,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct AppointmentPage {
    pub appointments: Vec<Appointment>,
    pub next_page_token: Option<String>,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitlistStatus {
    Waiting,
    Offered,
    Fulfilled,
    Left,
    Lapsed,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct WaitlistEntry {
    pub id: ID,
    pub doctor_id: ID,
    pub patient_id: ID,
    pub from_date: Option<NaiveDate>,
    pub to_date: Option<NaiveDate>,
    pub status: Option<WaitlistStatus>,
    pub offered_appointment_id: Option<ID>,
    pub created_at: Option<DateTime<Utc>>,
}

impl From<pb::WaitlistEntry> for WaitlistEntry {
    fn from(e: pb::WaitlistEntry) -> WaitlistEntry {
        let status = match pb::WaitlistStatus::try_from(e.status).ok() {
            Some(pb::WaitlistStatus::Waiting) => Some(WaitlistStatus::Waiting),
            Some(pb::WaitlistStatus::Offered) => Some(WaitlistStatus::Offered),
            Some(pb::WaitlistStatus::Fulfilled) => Some(WaitlistStatus::Fulfilled),
            Some(pb::WaitlistStatus::Left) => Some(WaitlistStatus::Left),
            Some(pb::WaitlistStatus::Lapsed) => Some(WaitlistStatus::Lapsed),
            _ => None,
        };
        WaitlistEntry {
            id: ID(e.entry_id),
            doctor_id: ID(e.doctor_id),
            patient_id: ID(e.patient_id),
            from_date: from_date(e.from_date),
            to_date: from_date(e.to_date),
            status,
            offered_appointment_id: non_empty(e.offered_appointment_id).map(ID),
            created_at: time(e.created_at),
        }
    }
}

#[derive(InputObject, Debug)]
pub struct ClinicInput {
    /// Idempotency key: the same key on a retry returns the first answer.
    pub request_id: String,
    /// Absent: create a clinic; present: replace that clinic's fields.
    pub id: Option<ID>,
    pub name: String,
    pub address: Option<String>,
    pub time_zone: String,
    #[graphql(default = 0)]
    pub cancellation_cutoff_minutes: i32,
    #[graphql(default = false)]
    pub archived: bool,
    /// The version read (updates); a newer one on the server refuses with CONFLICT.
    pub version: Option<i64>,
}

#[derive(InputObject, Debug)]
pub struct DoctorInput {
    pub request_id: String,
    /// The user (holding the doctor role) to list.
    pub id: ID,
    pub specialization_id: ID,
    pub clinic_id: ID,
    pub cabinet_id: Option<ID>,
    pub bio: Option<String>,
    #[graphql(default = 0)]
    pub years_of_experience: i32,
    pub default_visit_minutes: i32,
    #[graphql(default = false)]
    pub archived: bool,
}

#[derive(InputObject, Debug)]
pub struct ScheduleTemplateInput {
    pub request_id: String,
    /// Absent: your own schedule (doctors).
    pub doctor_id: Option<ID>,
    /// 1 = Monday ... 7 = Sunday.
    pub weekday: i32,
    /// "HH:MM", clinic time.
    pub start: String,
    pub end: String,
    /// Absent: the doctor's default.
    pub visit_minutes: Option<i32>,
    pub cabinet_id: Option<ID>,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

#[derive(InputObject, Debug)]
pub struct ScheduleExceptionInput {
    pub request_id: String,
    pub doctor_id: Option<ID>,
    pub date: NaiveDate,
    #[graphql(default = false)]
    pub day_off: bool,
    pub start: Option<String>,
    pub end: Option<String>,
    pub visit_minutes: Option<i32>,
    pub reason: Option<String>,
}

#[derive(InputObject, Debug)]
pub struct BookInput {
    pub request_id: String,
    /// Book a hold of yours ...
    pub hold_id: Option<ID>,
    /// ... or a free slot directly.
    pub doctor_id: Option<ID>,
    pub start: Option<DateTime<Utc>>,
    /// Staff book for a patient; patients leave it out.
    pub patient_id: Option<ID>,
    pub reason: Option<String>,
    /// Admins and the doctor: book over a conflict, with the reason (audited).
    pub override_reason: Option<String>,
}

#[derive(Debug, Default)]
pub struct SchedulingQuery;

#[Object]
impl SchedulingQuery {
    /// Clinics, a page at a time.
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

    /// Your waitlist entries, or (staff) one doctor's list.
    async fn waitlist(
        &self,
        ctx: &Context<'_>,
        doctor_id: Option<ID>,
    ) -> Result<Vec<WaitlistEntry>> {
        let request = as_caller(
            ctx,
            pb::ListWaitlistRequest {
                doctor_id: doctor_id.map(|i| i.0).unwrap_or_default(),
            },
        )?;
        let list = client(ctx)
            .list_waitlist(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(list.entries.into_iter().map(WaitlistEntry::from).collect())
    }
}

/// A doctor id as svc-scheduling writes it (a lower-case UUID), so answers and events match
/// however the client spelled it; anything else goes on as given, for the service to refuse.
fn canonical(id: ID) -> ID {
    uuid::Uuid::parse_str(&id.0)
        .map(|u| ID(u.to_string()))
        .unwrap_or(id)
}

pub(crate) async fn free_slots(
    ctx: &Context<'_>,
    doctor_id: ID,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<FreeSlots> {
    let doctor_id = canonical(doctor_id);
    // Everyone allowed to select this field may read any doctor's free slots (the same rule as
    // svc-scheduling's), so an answer read for one caller serves the next.
    let feed = ctx.data_opt::<crate::live::AvailabilityFeed>();
    let (from_key, to_key) = (from.timestamp_micros(), to.timestamp_micros());
    let mut generation = 0;
    if let Some(feed) = feed {
        let (current, cached) = feed.cached(&doctor_id.0, from_key, to_key).await;
        if let Some(cached) = cached {
            metrics::counter!("graphql_free_slots_answers_total", "source" => "gateway")
                .increment(1);
            return Ok(cached);
        }
        generation = current;
    }
    let request = as_caller(
        ctx,
        pb::ListFreeSlotsRequest {
            doctor_id: doctor_id.0.clone(),
            from: Some(timestamp(from)),
            to: Some(timestamp(to)),
        },
    )?;
    let list = client(ctx)
        .list_free_slots(request)
        .await
        .map_err(upstream)?
        .into_inner();
    metrics::counter!("graphql_free_slots_answers_total", "source" => "scheduling").increment(1);
    let answer = FreeSlots {
        doctor_id: doctor_id.clone(),
        time_zone: list.time_zone,
        slots: list.slots.into_iter().map(Slot::from).collect(),
    };
    if let Some(feed) = feed {
        feed.remember(&doctor_id.0, generation, from_key, to_key, answer.clone())
            .await;
    }
    Ok(answer)
}

/// A scheduling change made through this gateway shows in its own free-slot answers at once
/// (other gateways learn it from the event feed).
fn changed(ctx: &Context<'_>, appointment: &pb::Appointment) {
    if let Some(slot) = appointment.slot.as_ref() {
        doctor_changed(ctx, &slot.doctor_id);
    }
}

/// The doctor's schedule or listing changed through this gateway.
fn doctor_changed(ctx: &Context<'_>, doctor_id: &str) {
    if let Some(feed) = ctx.data_opt::<crate::live::AvailabilityFeed>() {
        feed.changed(doctor_id);
    }
}

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

/// Free slots asked for with `bearer`, outside any request context (live updates).
async fn fetch_free_slots(
    clients: &ServiceClients,
    bearer: &str,
    doctor_id: &ID,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<FreeSlots> {
    let request = svc_kit::auth::with_bearer(
        tonic::Request::new(pb::ListFreeSlotsRequest {
            doctor_id: doctor_id.0.clone(),
            from: Some(timestamp(from)),
            to: Some(timestamp(to)),
        }),
        bearer,
    )
    .map_err(|_| crate::accounts::unauthenticated())?;
    let list = SchedulingServiceClient::new(clients.channel(ServiceName::Scheduling))
        .list_free_slots(request)
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(FreeSlots {
        doctor_id: doctor_id.clone(),
        time_zone: list.time_zone,
        slots: list.slots.into_iter().map(Slot::from).collect(),
    })
}

/// The `doctorAvailability` subscription: the slots now (read as the caller, which is the
/// authorization), then again whenever the feed says the doctor's time changed and the answer
/// differs. Updates are read with the gateway's own token where it has one, so a long-lived
/// subscription outlives the caller's short access token.
pub(crate) async fn availability_stream(
    ctx: &Context<'_>,
    doctor_id: ID,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<impl futures::Stream<Item = Result<FreeSlots>> + use<>> {
    use secrecy::ExposeSecret;

    let doctor_id = canonical(doctor_id);
    let first = free_slots(ctx, doctor_id.clone(), from, to).await?;
    let clients = ctx.data_unchecked::<ServiceClients>().clone();
    let platform = ctx.data_opt::<crate::accounts::PlatformTokens>().cloned();
    let caller = ctx
        .data_opt::<crate::schema::RequestAuth>()
        .and_then(|a| a.bearer.clone())
        .unwrap_or_default();
    let changes = ctx
        .data_opt::<crate::live::AvailabilityFeed>()
        .map(|f| f.subscribe());
    struct State {
        pending: Option<FreeSlots>,
        last: Option<FreeSlots>,
        changes: Option<tokio::sync::broadcast::Receiver<String>>,
    }
    let state = State {
        pending: Some(first),
        last: None,
        changes,
    };
    Ok(futures::stream::unfold(state, move |mut state| {
        let (clients, platform, caller, doctor_id) = (
            clients.clone(),
            platform.clone(),
            caller.clone(),
            doctor_id.clone(),
        );
        async move {
            if let Some(now) = state.pending.take() {
                state.last = Some(now.clone());
                return Some((Ok(now), state));
            }
            loop {
                let changes = state.changes.as_mut()?;
                match changes.recv().await {
                    Ok(doctor) if doctor != doctor_id.0 => continue,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
                let bearer = match &platform {
                    Some(tokens) => match tokens.0.token().await {
                        Ok(token) => token.expose_secret().to_string(),
                        Err(_) => caller.clone(),
                    },
                    None => caller.clone(),
                };
                match fetch_free_slots(&clients, &bearer, &doctor_id, from, to).await {
                    Ok(fresh) if state.last.as_ref() == Some(&fresh) => continue,
                    Ok(fresh) => {
                        state.last = Some(fresh.clone());
                        return Some((Ok(fresh), state));
                    }
                    Err(error) => {
                        state.changes = None;
                        return Some((Err(error), state));
                    }
                }
            }
        }
    }))
}
