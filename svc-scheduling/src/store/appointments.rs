//! Appointments (holds are appointments in status `held`), their audit trail, and the check
//! that keeps time from being taken twice.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, QueryResult, Value};
use svc_kit::db::stmt;

use super::{Failure, classify, get_ts, opt_ts, ts};
use crate::domain::{Status, calendar::Busy, status::occupying_sql};

pub use crate::domain::appointment::Appointment as AppointmentRecord;

/// An `appointments` row as sea-orm maps it; the status is parsed into the domain's.
#[derive(Debug, FromQueryResult)]
struct AppointmentRow {
    appointment_id: String,
    doctor_id: String,
    patient_id: String,
    clinic_id: String,
    cabinet_id: String,
    time_zone: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    status: String,
    hold_expires_at: Option<DateTime<Utc>>,
    reason: String,
    cancellation_reason: String,
    override_reason: String,
    waitlist_entry_id: String,
    created_by: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

fn appointment(row: &QueryResult) -> Result<AppointmentRecord, DbErr> {
    let row = AppointmentRow::from_query_result(row, "")?;
    Ok(AppointmentRecord {
        status: Status::parse(&row.status)
            .ok_or_else(|| DbErr::Type(format!("status {}", row.status)))?,
        appointment_id: row.appointment_id,
        doctor_id: row.doctor_id,
        patient_id: row.patient_id,
        clinic_id: row.clinic_id,
        cabinet_id: row.cabinet_id,
        time_zone: row.time_zone,
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        hold_expires_at: row.hold_expires_at,
        reason: row.reason,
        cancellation_reason: row.cancellation_reason,
        override_reason: row.override_reason,
        waitlist_entry_id: row.waitlist_entry_id,
        created_by: row.created_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: row.version,
    })
}

/// Whose time is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    Doctor,
    Patient,
}

impl Conflict {
    pub fn describe(self) -> &'static str {
        match self {
            Conflict::Doctor => "the doctor already has an appointment or a hold at that time",
            Conflict::Patient => "the patient already has an appointment or a hold at that time",
        }
    }
}

/// Why a write did not happen.
#[derive(Debug)]
pub enum WriteError {
    Conflict(Conflict),
    Db(DbErr),
}

impl From<DbErr> for WriteError {
    fn from(error: DbErr) -> Self {
        match classify(&error) {
            Failure::Exclusion(constraint) if constraint.contains("patient") => {
                WriteError::Conflict(Conflict::Patient)
            }
            Failure::Exclusion(_) => WriteError::Conflict(Conflict::Doctor),
            _ => WriteError::Db(error),
        }
    }
}

pub async fn get<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<AppointmentRecord>, DbErr> {
    conn.query_one_raw(stmt(
        conn.get_database_backend(),
        "SELECT * FROM appointments WHERE appointment_id = $1",
        [id.into()],
    ))
    .await?
    .map(|r| appointment(&r))
    .transpose()
}

/// Every appointment of `patient_id`, oldest first.
pub async fn of_patient<C: ConnectionTrait>(
    conn: &C,
    patient_id: &str,
) -> Result<Vec<AppointmentRecord>, DbErr> {
    conn.query_all_raw(stmt(
        conn.get_database_backend(),
        "SELECT * FROM appointments WHERE patient_id = $1 ORDER BY starts_at, appointment_id",
        [patient_id.into()],
    ))
    .await?
    .iter()
    .map(appointment)
    .collect()
}

/// Holds past their expiry at `now` that overlap `[start, end)` of `doctor_id` or `patient_id`.
pub async fn expired_overlapping<C: ConnectionTrait>(
    conn: &C,
    doctor_id: &str,
    patient_id: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<AppointmentRecord>, DbErr> {
    let b = conn.get_database_backend();
    let rows = conn
        .query_all_raw(stmt(
            b,
            "SELECT * FROM appointments
             WHERE status = 'held' AND hold_expires_at <= $5
               AND (doctor_id = $1 OR patient_id = $2) AND starts_at < $4 AND ends_at > $3",
            [
                doctor_id.into(),
                patient_id.into(),
                ts(b, start),
                ts(b, end),
                ts(b, now),
            ],
        ))
        .await?;
    rows.iter().map(appointment).collect()
}

/// What one patient has taken at `now`: holds not yet expired, and appointments still to come
/// (held, booked or confirmed), in all and with one doctor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PatientLoad {
    pub live_holds: i64,
    pub upcoming: i64,
    pub upcoming_with_doctor: i64,
}

/// Takes `patient_id`'s transaction-scoped lock on PostgreSQL (taking it again in the same
/// transaction is free); SQLite's immediate transaction already holds the only write lock.
/// Bookings of one patient and their erasure go one after the other under it.
pub async fn lock_patient<C: ConnectionTrait>(conn: &C, patient_id: &str) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    if b == sea_orm::DbBackend::Postgres {
        conn.execute_raw(stmt(
            b,
            "SELECT pg_advisory_xact_lock(hashtextextended('patient-load:' || $1, 0))",
            [patient_id.into()],
        ))
        .await?;
    }
    Ok(())
}

/// [`PatientLoad`] of `patient_id` (with `doctor_id`). On PostgreSQL it first takes the
/// patient's transaction-scoped advisory lock, so two bookings of one patient count one after
/// the other and a cap cannot be passed by sending both at once; SQLite's immediate
/// transaction already holds the only write lock.
pub async fn patient_load<C: ConnectionTrait>(
    conn: &C,
    patient_id: &str,
    doctor_id: &str,
    now: DateTime<Utc>,
) -> Result<PatientLoad, DbErr> {
    let b = conn.get_database_backend();
    lock_patient(conn, patient_id).await?;
    let live = "(status = 'held' AND hold_expires_at > $3)";
    let upcoming = format!("(starts_at > $3 AND (status IN ('booked', 'confirmed') OR {live}))");
    let sql = format!(
        "SELECT COALESCE(SUM(CASE WHEN {live} THEN 1 ELSE 0 END), 0) AS live_holds,
                COALESCE(SUM(CASE WHEN {upcoming} THEN 1 ELSE 0 END), 0) AS upcoming,
                COALESCE(SUM(CASE WHEN {upcoming} AND doctor_id = $2 THEN 1 ELSE 0 END), 0)
                  AS upcoming_with_doctor
         FROM appointments WHERE patient_id = $1"
    );
    let row = conn
        .query_one_raw(stmt(
            b,
            &sql,
            [patient_id.into(), doctor_id.into(), ts(b, now)],
        ))
        .await?;
    let Some(row) = row else {
        return Ok(PatientLoad::default());
    };
    let count = |column: &str| row.try_get::<i64>("", column);
    Ok(PatientLoad {
        live_holds: count("live_holds")?,
        upcoming: count("upcoming")?,
        upcoming_with_doctor: count("upcoming_with_doctor")?,
    })
}

/// What occupies the time of an appointment about to be written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeCheck {
    /// Whose time is taken (by a live appointment or an unexpired hold).
    pub taken: Option<Conflict>,
    /// Holds past their expiry still block the time in the database until released.
    pub expired_holds_in_the_way: bool,
}

/// Whose time within `[start, end)` is already occupied at `now`, leaving out `except` (the
/// appointment being moved). The database's constraints say the same on PostgreSQL; this check
/// gives the reason first, and on SQLite it is the guard (inside the immediate transaction).
pub async fn check_time<C: ConnectionTrait>(
    conn: &C,
    a: &AppointmentRecord,
    except: Option<&str>,
    now: DateTime<Utc>,
) -> Result<TimeCheck, DbErr> {
    let b = conn.get_database_backend();
    let sql = format!(
        "SELECT doctor_id = $1 AS doctor_taken, patient_id = $2 AS patient_taken,
                COALESCE(status = 'held' AND hold_expires_at <= $6, FALSE) AS expired
         FROM appointments
         WHERE status IN ({}) AND appointment_id <> $5
           AND (doctor_id = $1 OR patient_id = $2)
           AND starts_at < $4 AND ends_at > $3",
        occupying_sql()
    );
    let rows = conn
        .query_all_raw(stmt(
            b,
            &sql,
            [
                a.doctor_id.clone().into(),
                a.patient_id.clone().into(),
                ts(b, a.starts_at),
                ts(b, a.ends_at),
                except.unwrap_or("").into(),
                ts(b, now),
            ],
        ))
        .await?;
    let mut check = TimeCheck::default();
    for row in rows {
        if super::get_bool(&row, "expired")? {
            check.expired_holds_in_the_way = true;
            continue;
        }
        // Any appointment of the doctor at that time blocks a booking, an overridden one too
        // (the override let *it* in, not whatever comes next); only a booking that is itself
        // an override goes over the doctor's. Nothing goes over the patient's own time.
        if super::get_bool(&row, "doctor_taken")? && a.override_reason.is_empty() {
            check.taken = Some(Conflict::Doctor);
        } else if super::get_bool(&row, "patient_taken")? && check.taken.is_none() {
            check.taken = Some(Conflict::Patient);
        }
    }
    Ok(check)
}

pub async fn insert<C: ConnectionTrait>(conn: &C, a: &AppointmentRecord) -> Result<(), WriteError> {
    let b = conn.get_database_backend();
    conn.execute_raw(stmt(
        b,
        "INSERT INTO appointments (appointment_id, doctor_id, patient_id, clinic_id, cabinet_id,
            time_zone, starts_at, ends_at, status, hold_expires_at, reason, cancellation_reason,
            override_reason, waitlist_entry_id, created_by, created_at, updated_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        [
            a.appointment_id.clone().into(),
            a.doctor_id.clone().into(),
            a.patient_id.clone().into(),
            a.clinic_id.clone().into(),
            a.cabinet_id.clone().into(),
            a.time_zone.clone().into(),
            ts(b, a.starts_at),
            ts(b, a.ends_at),
            a.status.as_str().into(),
            opt_ts(b, a.hold_expires_at),
            a.reason.clone().into(),
            a.cancellation_reason.clone().into(),
            a.override_reason.clone().into(),
            a.waitlist_entry_id.clone().into(),
            a.created_by.clone().into(),
            ts(b, a.created_at),
            ts(b, a.updated_at),
            a.version.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Saves `a` over the row at `a.version - 1` (time, status and texts); false when it moved on.
pub async fn save<C: ConnectionTrait>(conn: &C, a: &AppointmentRecord) -> Result<bool, WriteError> {
    let b = conn.get_database_backend();
    let result = conn
        .execute_raw(stmt(
            b,
            "UPDATE appointments SET doctor_id = $2, clinic_id = $3, cabinet_id = $4,
                time_zone = $5, starts_at = $6, ends_at = $7, status = $8, hold_expires_at = $9,
                reason = $10, cancellation_reason = $11, override_reason = $12,
                updated_at = $13, version = $14
             WHERE appointment_id = $1 AND version = $15",
            [
                a.appointment_id.clone().into(),
                a.doctor_id.clone().into(),
                a.clinic_id.clone().into(),
                a.cabinet_id.clone().into(),
                a.time_zone.clone().into(),
                ts(b, a.starts_at),
                ts(b, a.ends_at),
                a.status.as_str().into(),
                opt_ts(b, a.hold_expires_at),
                a.reason.clone().into(),
                a.cancellation_reason.clone().into(),
                a.override_reason.clone().into(),
                ts(b, a.updated_at),
                a.version.into(),
                (a.version - 1).into(),
            ],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// What occupies `doctor_id`'s time within `[from, to)` at `now` (expired holds don't).
pub async fn busy<C: ConnectionTrait>(
    conn: &C,
    doctor_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<Busy>, DbErr> {
    let b = conn.get_database_backend();
    let sql = format!(
        "SELECT starts_at, ends_at FROM appointments
         WHERE doctor_id = $1 AND status IN ({}) AND starts_at < $3 AND ends_at > $2
           AND NOT (status = 'held' AND hold_expires_at <= $4)
         ORDER BY starts_at",
        occupying_sql()
    );
    let rows = conn
        .query_all_raw(stmt(
            b,
            &sql,
            [doctor_id.into(), ts(b, from), ts(b, to), ts(b, now)],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Busy {
                start: get_ts(r, "starts_at")?,
                end: get_ts(r, "ends_at")?,
            })
        })
        .collect()
}

/// Holds whose time ran out at `now`, oldest first.
pub async fn expired_holds<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<AppointmentRecord>, DbErr> {
    let b = conn.get_database_backend();
    let rows = conn
        .query_all_raw(stmt(
            b,
            "SELECT * FROM appointments WHERE status = 'held' AND hold_expires_at <= $1
             ORDER BY hold_expires_at LIMIT $2",
            [ts(b, now), (limit as i64).into()],
        ))
        .await?;
    rows.iter().map(appointment).collect()
}

#[derive(Debug, Clone, Default)]
pub struct AppointmentFilter {
    pub doctor_id: Option<String>,
    pub patient_id: Option<String>,
    pub clinic_id: Option<String>,
    pub statuses: Vec<Status>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Restricts to what a caller with Own/Clinic reach may see: appointments where they are the
    /// patient or the doctor, or (clinic reach) at one of these clinics.
    pub visible_to: Option<(String, Vec<String>)>,
}

/// Appointments ordered by (start, id), after the cursor `after`.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    filter: &AppointmentFilter,
    after: Option<(DateTime<Utc>, String)>,
    limit: u64,
) -> Result<Vec<AppointmentRecord>, DbErr> {
    let b = conn.get_database_backend();
    let mut sql = String::from("SELECT * FROM appointments WHERE 1 = 1");
    let mut values: Vec<Value> = Vec::new();
    let bind = |values: &mut Vec<Value>, v: Value| {
        values.push(v);
        format!("${}", values.len())
    };
    if let Some(d) = &filter.doctor_id {
        sql += &format!(" AND doctor_id = {}", bind(&mut values, d.clone().into()));
    }
    if let Some(p) = &filter.patient_id {
        sql += &format!(" AND patient_id = {}", bind(&mut values, p.clone().into()));
    }
    if let Some(c) = &filter.clinic_id {
        sql += &format!(" AND clinic_id = {}", bind(&mut values, c.clone().into()));
    }
    if !filter.statuses.is_empty() {
        let list: Vec<String> = filter
            .statuses
            .iter()
            .map(|s| bind(&mut values, s.as_str().into()))
            .collect();
        sql += &format!(" AND status IN ({})", list.join(", "));
    }
    if let Some(from) = filter.from {
        sql += &format!(" AND ends_at > {}", bind(&mut values, ts(b, from)));
    }
    if let Some(to) = filter.to {
        sql += &format!(" AND starts_at < {}", bind(&mut values, ts(b, to)));
    }
    if let Some((me, clinics)) = &filter.visible_to {
        let me_p = bind(&mut values, me.clone().into());
        let mut clause = format!(" AND (patient_id = {me_p} OR doctor_id = {me_p}");
        if !clinics.is_empty() {
            let list: Vec<String> = clinics
                .iter()
                .map(|c| bind(&mut values, c.clone().into()))
                .collect();
            clause += &format!(" OR clinic_id IN ({})", list.join(", "));
        }
        sql += &clause;
        sql += ")";
    }
    if let Some((start, id)) = after {
        let s = bind(&mut values, ts(b, start));
        let i = bind(&mut values, id.into());
        sql += &format!(" AND (starts_at > {s} OR (starts_at = {s} AND appointment_id > {i}))");
    }
    sql += &format!(
        " ORDER BY starts_at, appointment_id LIMIT {}",
        bind(&mut values, (limit as i64).into())
    );
    let rows = conn.query_all_raw(stmt(b, &sql, values)).await?;
    rows.iter().map(appointment).collect()
}

/// One line of an appointment's audit trail.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub appointment_id: &'a str,
    pub actor_subject: &'a str,
    pub action: &'a str,
    pub from: Option<Status>,
    pub to: Option<Status>,
    pub reason: &'a str,
    pub at: DateTime<Utc>,
}

pub async fn audit<C: ConnectionTrait>(conn: &C, e: &AuditEntry<'_>) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    conn.execute_raw(stmt(
        b,
        "INSERT INTO appointment_audit (appointment_id, at, actor_subject, action, from_status,
            to_status, reason) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            e.appointment_id.into(),
            ts(b, e.at),
            e.actor_subject.into(),
            e.action.into(),
            e.from.map(Status::as_str).unwrap_or("").into(),
            e.to.map(Status::as_str).unwrap_or("").into(),
            e.reason.into(),
        ],
    ))
    .await?;
    Ok(())
}
