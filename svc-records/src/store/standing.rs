//! What ties a clinician to a patient: visits (learned from scheduling's events; care itself is
//! the kit's `care_relationships`), the patient's grants, and emergency accesses.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Value};
use svc_kit::db::stmt;

use super::{opt_ts, ts};
use crate::domain::Ties;

/// The caller's ties to `patient_id` at `now`, in one round trip.
pub async fn ties<C: ConnectionTrait>(
    conn: &C,
    caller_id: &str,
    clinics: &[String],
    patient_id: &str,
    now: DateTime<Utc>,
) -> Result<Ties, DbErr> {
    let b = conn.get_database_backend();
    let mut values: Vec<Value> = vec![caller_id.into(), patient_id.into(), ts(b, now)];
    let clinic_sql = if clinics.is_empty() {
        "FALSE".to_string()
    } else {
        let marks: Vec<String> = clinics
            .iter()
            .map(|c| {
                values.push(c.clone().into());
                format!("${}", values.len())
            })
            .collect();
        format!(
            "EXISTS (SELECT 1 FROM visits WHERE patient_id = $2 AND clinic_id IN ({}))",
            marks.join(", ")
        )
    };
    let sql = format!(
        "SELECT
            EXISTS (SELECT 1 FROM care_relationships WHERE doctor_id = $1 AND patient_id = $2)
                AS care,
            {clinic_sql} AS clinic,
            EXISTS (SELECT 1 FROM grants WHERE doctor_id = $1 AND patient_id = $2
                AND revoked_at IS NULL AND starts_at <= $3 AND ends_at > $3) AS grant_now,
            EXISTS (SELECT 1 FROM emergency_access WHERE doctor_id = $1 AND patient_id = $2
                AND opened_at <= $3 AND expires_at > $3) AS emergency"
    );
    let row = conn.query_one_raw(stmt(b, &sql, values)).await?;
    let flag = |name: &str| -> Result<bool, DbErr> {
        match &row {
            Some(r) => r
                .try_get::<bool>("", name)
                .or_else(|_| r.try_get::<i64>("", name).map(|n| n != 0)),
            None => Ok(false),
        }
    };
    Ok(Ties {
        care: flag("care")?,
        clinic: flag("clinic")?,
        grant: flag("grant_now")?,
        emergency: flag("emergency")?,
    })
}

/// Records an appointment seen on scheduling's topic (where and with whom a patient is seen).
pub async fn record_visit<C: ConnectionTrait>(
    conn: &C,
    appointment_id: &str,
    patient_id: &str,
    doctor_id: &str,
    clinic_id: &str,
    starts_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    conn.execute_raw(stmt(
        b,
        "INSERT INTO visits (appointment_id, patient_id, doctor_id, clinic_id, starts_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (appointment_id) DO UPDATE SET doctor_id = excluded.doctor_id,
            clinic_id = excluded.clinic_id, starts_at = excluded.starts_at",
        [
            appointment_id.into(),
            patient_id.into(),
            doctor_id.into(),
            clinic_id.into(),
            ts(b, starts_at),
        ],
    ))
    .await?;
    Ok(())
}

/// The patient an appointment seen on scheduling's topic belongs to, with its doctor.
pub async fn visit<C: ConnectionTrait>(
    conn: &C,
    appointment_id: &str,
) -> Result<Option<(String, String)>, DbErr> {
    let b = conn.get_database_backend();
    let row = conn
        .query_one_raw(stmt(
            b,
            "SELECT patient_id, doctor_id FROM visits WHERE appointment_id = $1",
            [appointment_id.into()],
        ))
        .await?;
    row.map(|r| Ok((r.try_get("", "patient_id")?, r.try_get("", "doctor_id")?)))
        .transpose()
}

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct GrantRow {
    pub grant_id: String,
    pub patient_id: String,
    pub doctor_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl GrantRow {
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.starts_at <= now && now < self.ends_at
    }
}

const GRANT: &str = "SELECT grant_id, patient_id, doctor_id, starts_at, ends_at, revoked_at, created_at FROM grants";

pub async fn insert_grant<C: ConnectionTrait>(conn: &C, g: &GrantRow) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    conn.execute_raw(stmt(
        b,
        "INSERT INTO grants (grant_id, patient_id, doctor_id, starts_at, ends_at, revoked_at,
            created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            g.grant_id.clone().into(),
            g.patient_id.clone().into(),
            g.doctor_id.clone().into(),
            ts(b, g.starts_at),
            ts(b, g.ends_at),
            opt_ts(b, g.revoked_at),
            ts(b, g.created_at),
        ],
    ))
    .await?;
    Ok(())
}

pub async fn get_grant<C: ConnectionTrait>(
    conn: &C,
    grant_id: &str,
) -> Result<Option<GrantRow>, DbErr> {
    let b = conn.get_database_backend();
    conn.query_one_raw(stmt(
        b,
        &format!("{GRANT} WHERE grant_id = $1"),
        [grant_id.into()],
    ))
    .await?
    .map(|r| GrantRow::from_query_result(&r, ""))
    .transpose()
}

/// Ends a grant now, if it was not revoked yet; whether it did.
pub async fn revoke_grant<C: ConnectionTrait>(
    conn: &C,
    grant_id: &str,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    let done = conn
        .execute_raw(stmt(
            b,
            "UPDATE grants SET revoked_at = $1 WHERE grant_id = $2 AND revoked_at IS NULL",
            [ts(b, at), grant_id.into()],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Grants given by a patient (`by_patient`) or received by a doctor, oldest first; ended ones
/// (revoked, or past their end) only when asked.
pub async fn grants<C: ConnectionTrait>(
    conn: &C,
    by_patient: bool,
    person_id: &str,
    include_ended: bool,
    now: DateTime<Utc>,
) -> Result<Vec<GrantRow>, DbErr> {
    let b = conn.get_database_backend();
    let who = if by_patient {
        "patient_id"
    } else {
        "doctor_id"
    };
    let ended = if include_ended {
        ""
    } else {
        " AND revoked_at IS NULL AND ends_at > $2"
    };
    let mut values: Vec<Value> = vec![person_id.into()];
    if !include_ended {
        values.push(ts(b, now));
    }
    conn.query_all_raw(stmt(
        b,
        &format!("{GRANT} WHERE {who} = $1{ended} ORDER BY created_at, grant_id LIMIT 500"),
        values,
    ))
    .await?
    .iter()
    .map(|r| GrantRow::from_query_result(r, ""))
    .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct EmergencyRow {
    pub access_id: String,
    pub patient_id: String,
    pub doctor_id: String,
    pub reason: String,
    pub opened_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_emergency<C: ConnectionTrait>(conn: &C, e: &EmergencyRow) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    conn.execute_raw(stmt(
        b,
        "INSERT INTO emergency_access (access_id, patient_id, doctor_id, reason, opened_at,
            expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        [
            e.access_id.clone().into(),
            e.patient_id.clone().into(),
            e.doctor_id.clone().into(),
            e.reason.clone().into(),
            ts(b, e.opened_at),
            ts(b, e.expires_at),
        ],
    ))
    .await?;
    Ok(())
}

/// Emergency accesses, newest first, after the cursor `(opened_at, access_id)`.
pub async fn emergencies<C: ConnectionTrait>(
    conn: &C,
    after: Option<(DateTime<Utc>, String)>,
    limit: u64,
) -> Result<Vec<EmergencyRow>, DbErr> {
    let b = conn.get_database_backend();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let (cursor, mut values): (&str, Vec<Value>) = match after {
        Some((at, id)) => (
            " WHERE opened_at < $1 OR (opened_at = $1 AND access_id < $2)",
            vec![ts(b, at), id.into()],
        ),
        None => ("", Vec::new()),
    };
    values.push(limit.into());
    conn.query_all_raw(stmt(
        b,
        &format!(
            "SELECT access_id, patient_id, doctor_id, reason, opened_at, expires_at
             FROM emergency_access{cursor} ORDER BY opened_at DESC, access_id DESC LIMIT ${}",
            values.len()
        ),
        values,
    ))
    .await?
    .iter()
    .map(|r| EmergencyRow::from_query_result(r, ""))
    .collect()
}
