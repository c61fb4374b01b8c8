//! Prescriptions, their items and the pharmacies they may be filled at.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, QueryResult, Value};
use svc_kit::db::stmt;

use super::{for_update, ts};
use crate::domain::Status;

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct PrescriptionRow {
    pub prescription_id: String,
    pub patient_id: String,
    pub doctor_id: String,
    pub pharmacy_id: String,
    pub status: String,
    pub allow_partial: bool,
    pub notes: String,
    pub rejection_reason: String,
    pub cancellation_reason: String,
    pub pharmacist_id: String,
    pub valid_until: DateTime<Utc>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A prescription with its status parsed, its items and where it may be filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrescriptionRecord {
    pub prescription_id: String,
    pub patient_id: String,
    pub doctor_id: String,
    pub pharmacy_id: String,
    pub status: Status,
    pub allow_partial: bool,
    pub notes: String,
    pub rejection_reason: String,
    pub cancellation_reason: String,
    pub pharmacist_id: String,
    pub valid_until: DateTime<Utc>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub items: Vec<ItemRecord>,
    pub allowed_pharmacy_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct ItemRecord {
    pub item_id: String,
    pub prescription_id: String,
    pub position: i32,
    pub medication_id: String,
    pub quantity: i64,
    pub dosage_instructions: String,
    pub dose: String,
    pub frequency: String,
    pub duration_days: i32,
    pub notes: String,
    pub reserved: i64,
    pub dispensed: i64,
    pub shortfall: i64,
    pub substituted_medication_id: String,
}

impl ItemRecord {
    pub fn owed(&self) -> i64 {
        self.quantity - self.dispensed
    }
}

const COLUMNS: &str = "prescription_id, patient_id, doctor_id, pharmacy_id, status, allow_partial,
    notes, rejection_reason, cancellation_reason, pharmacist_id, valid_until, version, created_at,
    updated_at";

fn row(r: &QueryResult) -> Result<PrescriptionRow, DbErr> {
    PrescriptionRow::from_query_result(r, "")
}

async fn complete<C: ConnectionTrait>(
    conn: &C,
    r: PrescriptionRow,
) -> Result<PrescriptionRecord, DbErr> {
    let b = conn.get_database_backend();
    let items = conn
        .query_all_raw(stmt(
            b,
            "SELECT item_id, prescription_id, position, medication_id, quantity, dosage_instructions,
                dose, frequency, duration_days, notes, reserved, dispensed, shortfall,
                substituted_medication_id
             FROM prescription_items WHERE prescription_id = $1 ORDER BY position",
            [r.prescription_id.clone().into()],
        ))
        .await?
        .iter()
        .map(|i| ItemRecord::from_query_result(i, ""))
        .collect::<Result<Vec<_>, _>>()?;
    let allowed = conn
        .query_all_raw(stmt(
            b,
            "SELECT pharmacy_id FROM prescription_pharmacies WHERE prescription_id = $1 ORDER BY pharmacy_id",
            [r.prescription_id.clone().into()],
        ))
        .await?
        .iter()
        .map(|a| a.try_get::<String>("", "pharmacy_id"))
        .collect::<Result<Vec<_>, _>>()?;
    let status = Status::parse(&r.status)
        .ok_or_else(|| DbErr::Type(format!("prescription status {:?}", r.status)))?;
    Ok(PrescriptionRecord {
        prescription_id: r.prescription_id,
        patient_id: r.patient_id,
        doctor_id: r.doctor_id,
        pharmacy_id: r.pharmacy_id,
        status,
        allow_partial: r.allow_partial,
        notes: r.notes,
        rejection_reason: r.rejection_reason,
        cancellation_reason: r.cancellation_reason,
        pharmacist_id: r.pharmacist_id,
        valid_until: r.valid_until,
        version: r.version,
        created_at: r.created_at,
        updated_at: r.updated_at,
        items,
        allowed_pharmacy_ids: allowed,
    })
}

pub async fn insert<C: ConnectionTrait>(conn: &C, p: &PrescriptionRecord) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    conn.execute_raw(stmt(
        b,
        &format!(
            "INSERT INTO prescriptions ({COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ),
        [
            p.prescription_id.clone().into(),
            p.patient_id.clone().into(),
            p.doctor_id.clone().into(),
            p.pharmacy_id.clone().into(),
            p.status.as_str().into(),
            p.allow_partial.into(),
            p.notes.clone().into(),
            p.rejection_reason.clone().into(),
            p.cancellation_reason.clone().into(),
            p.pharmacist_id.clone().into(),
            ts(b, p.valid_until),
            p.version.into(),
            ts(b, p.created_at),
            ts(b, p.updated_at),
        ],
    ))
    .await?;
    for i in &p.items {
        conn.execute_raw(stmt(
            b,
            "INSERT INTO prescription_items (item_id, prescription_id, position, medication_id,
                quantity, dosage_instructions, dose, frequency, duration_days, notes, reserved,
                dispensed, shortfall, substituted_medication_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            [
                i.item_id.clone().into(),
                p.prescription_id.clone().into(),
                i.position.into(),
                i.medication_id.clone().into(),
                i.quantity.into(),
                i.dosage_instructions.clone().into(),
                i.dose.clone().into(),
                i.frequency.clone().into(),
                i.duration_days.into(),
                i.notes.clone().into(),
                i.reserved.into(),
                i.dispensed.into(),
                i.shortfall.into(),
                i.substituted_medication_id.clone().into(),
            ],
        ))
        .await?;
    }
    for pharmacy_id in &p.allowed_pharmacy_ids {
        conn.execute_raw(stmt(
            b,
            "INSERT INTO prescription_pharmacies (prescription_id, pharmacy_id) VALUES ($1, $2)",
            [p.prescription_id.clone().into(), pharmacy_id.clone().into()],
        ))
        .await?;
    }
    Ok(())
}

/// Saves the prescription and its items' quantities over the row at `p.version - 1`; false
/// when it moved on meanwhile.
pub async fn update<C: ConnectionTrait>(conn: &C, p: &PrescriptionRecord) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    let result = conn
        .execute_raw(stmt(
            b,
            "UPDATE prescriptions SET pharmacy_id = $2, status = $3, rejection_reason = $4,
                cancellation_reason = $5, pharmacist_id = $6, version = $7, updated_at = $8
             WHERE prescription_id = $1 AND version = $9",
            [
                p.prescription_id.clone().into(),
                p.pharmacy_id.clone().into(),
                p.status.as_str().into(),
                p.rejection_reason.clone().into(),
                p.cancellation_reason.clone().into(),
                p.pharmacist_id.clone().into(),
                p.version.into(),
                ts(b, p.updated_at),
                (p.version - 1).into(),
            ],
        ))
        .await?;
    if result.rows_affected() != 1 {
        return Ok(false);
    }
    for i in &p.items {
        conn.execute_raw(stmt(
            b,
            "UPDATE prescription_items SET reserved = $2, dispensed = $3, shortfall = $4,
                substituted_medication_id = $5
             WHERE item_id = $1",
            [
                i.item_id.clone().into(),
                i.reserved.into(),
                i.dispensed.into(),
                i.shortfall.into(),
                i.substituted_medication_id.clone().into(),
            ],
        ))
        .await?;
    }
    Ok(true)
}

/// One prescription; `lock` takes its row lock (PostgreSQL) for a change.
pub async fn get<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    lock: bool,
) -> Result<Option<PrescriptionRecord>, DbErr> {
    let b = conn.get_database_backend();
    let found = conn
        .query_one_raw(stmt(
            b,
            &format!(
                "SELECT {COLUMNS} FROM prescriptions WHERE prescription_id = $1{}",
                if lock { for_update(b) } else { "" }
            ),
            [id.into()],
        ))
        .await?;
    match found {
        Some(r) => Ok(Some(complete(conn, row(&r)?).await?)),
        None => Ok(None),
    }
}

/// What a listing asks; every condition given must hold. `before` is the last id of the
/// previous page (newest first).
#[derive(Debug, Clone, Default)]
pub struct PrescriptionFilter {
    pub patient_id: Option<String>,
    pub doctor_id: Option<String>,
    pub pharmacy_id: Option<String>,
    pub statuses: Vec<Status>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub before: Option<String>,
    pub limit: u64,
}

pub async fn list<C: ConnectionTrait>(
    conn: &C,
    f: &PrescriptionFilter,
) -> Result<Vec<PrescriptionRecord>, DbErr> {
    let b = conn.get_database_backend();
    let mut sql = format!("SELECT {COLUMNS} FROM prescriptions WHERE TRUE");
    let mut values: Vec<Value> = Vec::new();
    let mut bind = |sql: &mut String, clause: &str, value: Value| {
        values.push(value);
        sql.push_str(&clause.replace('?', &format!("${}", values.len())));
    };
    if let Some(v) = &f.patient_id {
        bind(&mut sql, " AND patient_id = ?", v.clone().into());
    }
    if let Some(v) = &f.doctor_id {
        bind(&mut sql, " AND doctor_id = ?", v.clone().into());
    }
    if let Some(v) = &f.pharmacy_id {
        bind(&mut sql, " AND pharmacy_id = ?", v.clone().into());
    }
    if let Some(v) = f.created_from {
        bind(&mut sql, " AND created_at >= ?", ts(b, v));
    }
    if let Some(v) = f.created_to {
        bind(&mut sql, " AND created_at < ?", ts(b, v));
    }
    if let Some(v) = &f.before {
        bind(&mut sql, " AND prescription_id < ?", v.clone().into());
    }
    if !f.statuses.is_empty() {
        sql.push_str(" AND status IN (");
        for (n, s) in f.statuses.iter().enumerate() {
            if n > 0 {
                sql.push_str(", ");
            }
            bind(&mut sql, "?", s.as_str().into());
        }
        sql.push(')');
    }
    bind(
        &mut sql,
        " ORDER BY prescription_id DESC LIMIT ?",
        (f.limit as i64).into(),
    );
    let rows = conn.query_all_raw(stmt(b, &sql, values)).await?;
    let mut found = Vec::with_capacity(rows.len());
    for r in &rows {
        found.push(complete(conn, row(r)?).await?);
    }
    Ok(found)
}

/// Open prescriptions past their validity, at most `limit`.
pub async fn due_to_expire<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<String>, DbErr> {
    let b = conn.get_database_backend();
    let rows = conn
        .query_all_raw(stmt(
            b,
            "SELECT prescription_id FROM prescriptions
             WHERE status IN ('issued', 'in_progress', 'partially_dispensed') AND valid_until <= $1
             ORDER BY valid_until LIMIT $2",
            [ts(b, now), (limit as i64).into()],
        ))
        .await?;
    rows.iter()
        .map(|r| r.try_get::<String>("", "prescription_id"))
        .collect()
}
