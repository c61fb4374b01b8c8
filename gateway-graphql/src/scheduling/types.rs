//! The scheduling part of the graph's types, and their conversions from svc-scheduling's
//! messages.

use async_graphql::{Enum, ID, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use medmesh_proto::scheduling::v1 as pb;

use crate::convert::{from_date, hhmm, non_empty, time};

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

#[derive(SimpleObject, Debug, Clone)]
pub struct WaitlistPage {
    pub entries: Vec<WaitlistEntry>,
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
    pub(super) fn to_proto(self) -> pb::AppointmentStatus {
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
