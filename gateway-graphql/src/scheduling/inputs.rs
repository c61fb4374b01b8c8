//! What scheduling mutations take.

use async_graphql::{ID, InputObject};
use chrono::{DateTime, NaiveDate, Utc};

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
