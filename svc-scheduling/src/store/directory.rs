//! Clinics, cabinets, specializations, the doctor directory and their schedules.

use chrono::{DateTime, NaiveTime, Timelike, Utc, Weekday};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, QueryResult, Value};
use svc_kit::db::stmt;

use super::{date_text, get_bool, get_ts, parse_date, ts};
use crate::domain::calendar::{Exception, ExceptionKind, Template};

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct ClinicRecord {
    pub clinic_id: String,
    pub name: String,
    pub address: String,
    pub time_zone: String,
    pub cancellation_cutoff_minutes: i32,
    pub archived: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn clinic(row: &QueryResult) -> Result<ClinicRecord, DbErr> {
    ClinicRecord::from_query_result(row, "")
}

pub async fn insert_clinic<C: ConnectionTrait>(conn: &C, c: &ClinicRecord) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    conn.execute_raw(stmt(
        b,
        "INSERT INTO clinics (clinic_id, name, address, time_zone, cancellation_cutoff_minutes,
            archived, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [
            c.clinic_id.clone().into(),
            c.name.clone().into(),
            c.address.clone().into(),
            c.time_zone.clone().into(),
            c.cancellation_cutoff_minutes.into(),
            c.archived.into(),
            c.version.into(),
            ts(b, c.created_at),
            ts(b, c.updated_at),
        ],
    ))
    .await?;
    Ok(())
}

/// Saves `c` over the row at `c.version - 1`; false when the row moved on meanwhile.
pub async fn update_clinic<C: ConnectionTrait>(conn: &C, c: &ClinicRecord) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    let result = conn
        .execute_raw(stmt(
            b,
            "UPDATE clinics SET name = $2, address = $3, time_zone = $4,
                cancellation_cutoff_minutes = $5, archived = $6, version = $7, updated_at = $8
             WHERE clinic_id = $1 AND version = $9",
            [
                c.clinic_id.clone().into(),
                c.name.clone().into(),
                c.address.clone().into(),
                c.time_zone.clone().into(),
                c.cancellation_cutoff_minutes.into(),
                c.archived.into(),
                c.version.into(),
                ts(b, c.updated_at),
                (c.version - 1).into(),
            ],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn get_clinic<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<ClinicRecord>, DbErr> {
    conn.query_one_raw(stmt(
        conn.get_database_backend(),
        "SELECT * FROM clinics WHERE clinic_id = $1",
        [id.into()],
    ))
    .await?
    .map(|r| clinic(&r))
    .transpose()
}

/// Clinics by id after `after`, `limit` of them.
pub async fn list_clinics<C: ConnectionTrait>(
    conn: &C,
    after: Option<&str>,
    limit: u64,
    include_archived: bool,
) -> Result<Vec<ClinicRecord>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn.get_database_backend(),
            "SELECT * FROM clinics WHERE clinic_id > $1 AND ($2 OR archived = $3)
             ORDER BY clinic_id LIMIT $4",
            [
                after.unwrap_or("").into(),
                include_archived.into(),
                false.into(),
                (limit as i64).into(),
            ],
        ))
        .await?;
    rows.iter().map(clinic).collect()
}

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct CabinetRecord {
    pub cabinet_id: String,
    pub clinic_id: String,
    pub room: String,
    pub floor: String,
    pub archived: bool,
}

fn cabinet(row: &QueryResult) -> Result<CabinetRecord, DbErr> {
    CabinetRecord::from_query_result(row, "")
}

pub async fn insert_cabinet<C: ConnectionTrait>(conn: &C, c: &CabinetRecord) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn.get_database_backend(),
        "INSERT INTO cabinets (cabinet_id, clinic_id, room, floor, archived)
         VALUES ($1, $2, $3, $4, $5)",
        [
            c.cabinet_id.clone().into(),
            c.clinic_id.clone().into(),
            c.room.clone().into(),
            c.floor.clone().into(),
            c.archived.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Saves room, floor and archived; false when there is no such cabinet.
pub async fn update_cabinet<C: ConnectionTrait>(
    conn: &C,
    c: &CabinetRecord,
) -> Result<bool, DbErr> {
    let result = conn
        .execute_raw(stmt(
            conn.get_database_backend(),
            "UPDATE cabinets SET room = $2, floor = $3, archived = $4 WHERE cabinet_id = $1",
            [
                c.cabinet_id.clone().into(),
                c.room.clone().into(),
                c.floor.clone().into(),
                c.archived.into(),
            ],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn get_cabinet<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<CabinetRecord>, DbErr> {
    conn.query_one_raw(stmt(
        conn.get_database_backend(),
        "SELECT * FROM cabinets WHERE cabinet_id = $1",
        [id.into()],
    ))
    .await?
    .map(|r| cabinet(&r))
    .transpose()
}

/// A clinic's cabinets by room, after the room `after`, `limit` of them.
pub async fn list_cabinets<C: ConnectionTrait>(
    conn: &C,
    clinic_id: &str,
    include_archived: bool,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<CabinetRecord>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn.get_database_backend(),
            "SELECT * FROM cabinets WHERE clinic_id = $1 AND ($2 OR archived = $3) AND room > $4
             ORDER BY room LIMIT $5",
            [
                clinic_id.into(),
                include_archived.into(),
                false.into(),
                after.unwrap_or("").into(),
                (limit as i64).into(),
            ],
        ))
        .await?;
    rows.iter().map(cabinet).collect()
}

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct SpecializationRecord {
    pub specialization_id: String,
    pub name: String,
    pub archived: bool,
}

/// Inserts unless a specialization of that name (case-insensitive) exists.
pub async fn insert_specialization<C: ConnectionTrait>(
    conn: &C,
    s: &SpecializationRecord,
) -> Result<bool, DbErr> {
    let result = conn
        .execute_raw(stmt(
            conn.get_database_backend(),
            "INSERT INTO specializations (specialization_id, name, name_key) VALUES ($1, $2, $3)
             ON CONFLICT (name_key) DO NOTHING",
            [
                s.specialization_id.clone().into(),
                s.name.clone().into(),
                s.name.to_lowercase().into(),
            ],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Saves name and archived. `None`: no such specialization; `Some(false)`: another one has
/// that name.
pub async fn update_specialization<C: ConnectionTrait>(
    conn: &C,
    s: &SpecializationRecord,
) -> Result<Option<bool>, DbErr> {
    let taken = conn
        .query_one_raw(stmt(
            conn.get_database_backend(),
            "SELECT 1 AS one FROM specializations WHERE name_key = $1 AND specialization_id <> $2",
            [
                s.name.to_lowercase().into(),
                s.specialization_id.clone().into(),
            ],
        ))
        .await?
        .is_some();
    if taken {
        return Ok(Some(false));
    }
    let result = conn
        .execute_raw(stmt(
            conn.get_database_backend(),
            "UPDATE specializations SET name = $2, name_key = $3, archived = $4
             WHERE specialization_id = $1",
            [
                s.specialization_id.clone().into(),
                s.name.clone().into(),
                s.name.to_lowercase().into(),
                s.archived.into(),
            ],
        ))
        .await?;
    Ok((result.rows_affected() == 1).then_some(true))
}

pub async fn get_specialization<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<SpecializationRecord>, DbErr> {
    conn.query_one_raw(stmt(
        conn.get_database_backend(),
        "SELECT specialization_id, name, archived FROM specializations WHERE specialization_id = $1",
        [id.into()],
    ))
    .await?
    .map(|r| SpecializationRecord::from_query_result(&r, ""))
    .transpose()
}

/// Specializations by name (case-insensitively), after the name key `after`, `limit` of them.
pub async fn list_specializations<C: ConnectionTrait>(
    conn: &C,
    include_archived: bool,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<SpecializationRecord>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn.get_database_backend(),
            "SELECT specialization_id, name, archived FROM specializations
             WHERE ($1 OR archived = $2) AND name_key > $3 ORDER BY name_key LIMIT $4",
            [
                include_archived.into(),
                false.into(),
                after.unwrap_or("").into(),
                (limit as i64).into(),
            ],
        ))
        .await?;
    rows.iter()
        .map(|r| SpecializationRecord::from_query_result(r, ""))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct DoctorRecord {
    pub doctor_id: String,
    pub display_name: String,
    pub specialization_id: String,
    /// Read with the doctor; not stored on the row.
    pub specialization_name: String,
    pub clinic_id: String,
    pub cabinet_id: String,
    pub bio: String,
    pub years_of_experience: i32,
    pub default_visit_minutes: i32,
    pub archived: bool,
}

fn doctor(row: &QueryResult) -> Result<DoctorRecord, DbErr> {
    DoctorRecord::from_query_result(row, "")
}

const DOCTOR_SELECT: &str = "SELECT d.*, s.name AS specialization_name FROM doctors d
    JOIN specializations s ON s.specialization_id = d.specialization_id";

pub async fn upsert_doctor<C: ConnectionTrait>(conn: &C, d: &DoctorRecord) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    conn.execute_raw(stmt(
        b,
        "INSERT INTO doctors (doctor_id, display_name, search, specialization_id, clinic_id,
            cabinet_id, bio, years_of_experience, default_visit_minutes, archived, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (doctor_id) DO UPDATE SET display_name = excluded.display_name,
            search = excluded.search, specialization_id = excluded.specialization_id,
            clinic_id = excluded.clinic_id, cabinet_id = excluded.cabinet_id, bio = excluded.bio,
            years_of_experience = excluded.years_of_experience,
            default_visit_minutes = excluded.default_visit_minutes,
            archived = excluded.archived, updated_at = excluded.updated_at",
        [
            d.doctor_id.clone().into(),
            d.display_name.clone().into(),
            svc_kit::text::search_key(&d.display_name).into(),
            d.specialization_id.clone().into(),
            d.clinic_id.clone().into(),
            d.cabinet_id.clone().into(),
            d.bio.clone().into(),
            d.years_of_experience.into(),
            d.default_visit_minutes.into(),
            d.archived.into(),
            ts(b, super::now()),
        ],
    ))
    .await?;
    Ok(())
}

pub async fn get_doctor<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<DoctorRecord>, DbErr> {
    conn.query_one_raw(stmt(
        conn.get_database_backend(),
        &format!("{DOCTOR_SELECT} WHERE d.doctor_id = $1"),
        [id.into()],
    ))
    .await?
    .map(|r| doctor(&r))
    .transpose()
}

/// Takes the doctor's row lock (PostgreSQL) so schedule changes for one doctor happen one at a
/// time; SQLite's immediate transaction already holds the only write lock.
pub async fn lock_doctor<C: ConnectionTrait>(conn: &C, id: &str) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_raw(stmt(
            DbBackend::Postgres,
            "SELECT 1 FROM doctors WHERE doctor_id = $1 FOR UPDATE",
            [id.into()],
        ))
        .await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct DoctorFilter {
    pub specialization_id: Option<String>,
    pub clinic_id: Option<String>,
    /// Lower-cased; `%` and `_` match themselves.
    pub name_query: Option<String>,
}

fn like_pattern(query: &str) -> String {
    let escaped = query
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

pub async fn list_doctors<C: ConnectionTrait>(
    conn: &C,
    filter: &DoctorFilter,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<DoctorRecord>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn.get_database_backend(),
            &format!(
                "{DOCTOR_SELECT} WHERE d.archived = $1 AND d.doctor_id > $2
                   AND ($3 = '' OR d.specialization_id = $3)
                   AND ($4 = '' OR d.clinic_id = $4)
                   AND ($5 = '' OR d.search LIKE $6 ESCAPE '\\')
                 ORDER BY d.doctor_id LIMIT $7"
            ),
            [
                false.into(),
                after.unwrap_or("").into(),
                filter.specialization_id.clone().unwrap_or_default().into(),
                filter.clinic_id.clone().unwrap_or_default().into(),
                filter.name_query.clone().unwrap_or_default().into(),
                like_pattern(filter.name_query.as_deref().unwrap_or("")).into(),
                (limit as i64).into(),
            ],
        ))
        .await?;
    rows.iter().map(doctor).collect()
}

fn minute_of_day(t: NaiveTime) -> i32 {
    (t.hour() * 60 + t.minute()) as i32
}

fn time_of_minute(m: i32) -> Result<NaiveTime, DbErr> {
    u32::try_from(m)
        .ok()
        .and_then(|m| NaiveTime::from_hms_opt(m / 60, m % 60, 0))
        .ok_or_else(|| DbErr::Type(format!("minute of day {m}")))
}

fn weekday_number(w: Weekday) -> i32 {
    w.number_from_monday() as i32
}

fn weekday_of(n: i32) -> Result<Weekday, DbErr> {
    match n {
        1 => Ok(Weekday::Mon),
        2 => Ok(Weekday::Tue),
        3 => Ok(Weekday::Wed),
        4 => Ok(Weekday::Thu),
        5 => Ok(Weekday::Fri),
        6 => Ok(Weekday::Sat),
        7 => Ok(Weekday::Sun),
        _ => Err(DbErr::Type(format!("weekday {n}"))),
    }
}

/// A template's end: minute 1440 is midnight at the end of the day.
fn end_time(m: i32) -> Result<NaiveTime, DbErr> {
    if m >= 1440 {
        Ok(NaiveTime::from_hms_opt(23, 59, 0).expect("a valid time"))
    } else {
        time_of_minute(m)
    }
}

fn template(row: &QueryResult) -> Result<Template, DbErr> {
    let valid_to: Option<String> = row.try_get("", "valid_to")?;
    Ok(Template {
        template_id: row.try_get("", "template_id")?,
        weekday: weekday_of(row.try_get("", "weekday")?)?,
        start: time_of_minute(row.try_get("", "start_minute")?)?,
        end: end_time(row.try_get("", "end_minute")?)?,
        visit_minutes: row.try_get::<i32>("", "visit_minutes")? as u32,
        cabinet_id: row.try_get("", "cabinet_id")?,
        valid_from: parse_date(&row.try_get::<String>("", "valid_from")?)?,
        valid_to: valid_to.map(|d| parse_date(&d)).transpose()?,
    })
}

pub async fn list_templates<C: ConnectionTrait>(
    conn: &C,
    doctor_id: &str,
) -> Result<Vec<Template>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn.get_database_backend(),
            "SELECT * FROM schedule_templates WHERE doctor_id = $1
             ORDER BY weekday, start_minute, valid_from",
            [doctor_id.into()],
        ))
        .await?;
    rows.iter().map(template).collect()
}

pub async fn insert_template<C: ConnectionTrait>(
    conn: &C,
    doctor_id: &str,
    t: &Template,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn.get_database_backend(),
        "INSERT INTO schedule_templates (template_id, doctor_id, weekday, start_minute,
            end_minute, visit_minutes, cabinet_id, valid_from, valid_to)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [
            t.template_id.clone().into(),
            doctor_id.into(),
            weekday_number(t.weekday).into(),
            minute_of_day(t.start).into(),
            minute_of_day(t.end).into(),
            (t.visit_minutes as i32).into(),
            t.cabinet_id.clone().into(),
            date_text(t.valid_from).into(),
            Value::String(t.valid_to.map(date_text)),
        ],
    ))
    .await?;
    Ok(())
}

/// The doctor who owns a template.
pub async fn template_owner<C: ConnectionTrait>(
    conn: &C,
    template_id: &str,
) -> Result<Option<String>, DbErr> {
    conn.query_one_raw(stmt(
        conn.get_database_backend(),
        "SELECT doctor_id FROM schedule_templates WHERE template_id = $1",
        [template_id.into()],
    ))
    .await?
    .map(|r| r.try_get("", "doctor_id"))
    .transpose()
}

pub async fn delete_template<C: ConnectionTrait>(
    conn: &C,
    template_id: &str,
) -> Result<bool, DbErr> {
    let result = conn
        .execute_raw(stmt(
            conn.get_database_backend(),
            "DELETE FROM schedule_templates WHERE template_id = $1",
            [template_id.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

fn exception(row: &QueryResult) -> Result<Exception, DbErr> {
    let kind = if get_bool(row, "day_off")? {
        ExceptionKind::DayOff
    } else {
        ExceptionKind::Hours {
            start: time_of_minute(row.try_get("", "start_minute")?)?,
            end: end_time(row.try_get("", "end_minute")?)?,
            visit_minutes: row.try_get::<i32>("", "visit_minutes")? as u32,
            cabinet_id: row.try_get("", "cabinet_id")?,
        }
    };
    Ok(Exception {
        exception_id: row.try_get("", "exception_id")?,
        date: parse_date(&row.try_get::<String>("", "on_date")?)?,
        kind,
    })
}

/// An exception with its reason, as listed.
pub async fn list_exceptions<C: ConnectionTrait>(
    conn: &C,
    doctor_id: &str,
) -> Result<Vec<(Exception, String)>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn.get_database_backend(),
            "SELECT * FROM schedule_exceptions WHERE doctor_id = $1 ORDER BY on_date",
            [doctor_id.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((exception(r)?, r.try_get("", "reason")?)))
        .collect()
}

/// One exception per date: a new one replaces the date's earlier one.
pub async fn upsert_exception<C: ConnectionTrait>(
    conn: &C,
    doctor_id: &str,
    e: &Exception,
    reason: &str,
) -> Result<(), DbErr> {
    let (day_off, start, end, visit, cabinet) = match &e.kind {
        ExceptionKind::DayOff => (true, 0, 0, 0, String::new()),
        ExceptionKind::Hours {
            start,
            end,
            visit_minutes,
            cabinet_id,
        } => (
            false,
            minute_of_day(*start),
            minute_of_day(*end),
            *visit_minutes as i32,
            cabinet_id.clone(),
        ),
    };
    conn.execute_raw(stmt(
        conn.get_database_backend(),
        "INSERT INTO schedule_exceptions (exception_id, doctor_id, on_date, day_off, start_minute,
            end_minute, visit_minutes, cabinet_id, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (doctor_id, on_date) DO UPDATE SET exception_id = excluded.exception_id,
            day_off = excluded.day_off, start_minute = excluded.start_minute,
            end_minute = excluded.end_minute, visit_minutes = excluded.visit_minutes,
            cabinet_id = excluded.cabinet_id, reason = excluded.reason",
        [
            e.exception_id.clone().into(),
            doctor_id.into(),
            date_text(e.date).into(),
            day_off.into(),
            start.into(),
            end.into(),
            visit.into(),
            cabinet.into(),
            reason.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// A doctor with their clinic, in one round trip (every booking needs both).
pub async fn get_practice<C: ConnectionTrait>(
    conn: &C,
    doctor_id: &str,
) -> Result<Option<(DoctorRecord, ClinicRecord)>, DbErr> {
    let row = conn
        .query_one_raw(stmt(
            conn.get_database_backend(),
            "SELECT d.*, s.name AS specialization_name, c.name AS clinic_name,
                c.address AS clinic_address, c.time_zone AS clinic_time_zone,
                c.cancellation_cutoff_minutes AS clinic_cutoff, c.archived AS clinic_archived,
                c.version AS clinic_version, c.created_at AS clinic_created_at,
                c.updated_at AS clinic_updated_at
             FROM doctors d
             JOIN specializations s ON s.specialization_id = d.specialization_id
             JOIN clinics c ON c.clinic_id = d.clinic_id
             WHERE d.doctor_id = $1",
            [doctor_id.into()],
        ))
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let doctor = doctor(&row)?;
    let clinic = ClinicRecord {
        clinic_id: doctor.clinic_id.clone(),
        name: row.try_get("", "clinic_name")?,
        address: row.try_get("", "clinic_address")?,
        time_zone: row.try_get("", "clinic_time_zone")?,
        cancellation_cutoff_minutes: row.try_get("", "clinic_cutoff")?,
        archived: get_bool(&row, "clinic_archived")?,
        version: row.try_get("", "clinic_version")?,
        created_at: get_ts(&row, "clinic_created_at")?,
        updated_at: get_ts(&row, "clinic_updated_at")?,
    };
    Ok(Some((doctor, clinic)))
}

/// The listed (not archived) doctors of a clinic.
pub async fn doctors_at_clinic<C: ConnectionTrait>(
    conn: &C,
    clinic_id: &str,
) -> Result<Vec<DoctorRecord>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn.get_database_backend(),
            &format!(
                "{DOCTOR_SELECT} WHERE d.clinic_id = $1 AND d.archived = $2 ORDER BY d.doctor_id"
            ),
            [clinic_id.into(), false.into()],
        ))
        .await?;
    rows.iter().map(doctor).collect()
}
