//! Waitlist entries: patients waiting for a doctor's slot within a date range, first come first
//! served.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, QueryResult};
use svc_kit::db::stmt;

use super::{date_text, parse_date, ts};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    Waiting,
    Offered,
    Fulfilled,
    Left,
    /// An offer ran out unanswered.
    Lapsed,
}

impl EntryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Waiting => "waiting",
            EntryStatus::Offered => "offered",
            EntryStatus::Fulfilled => "fulfilled",
            EntryStatus::Left => "left",
            EntryStatus::Lapsed => "lapsed",
        }
    }

    fn parse(raw: &str) -> Option<EntryStatus> {
        [
            EntryStatus::Waiting,
            EntryStatus::Offered,
            EntryStatus::Fulfilled,
            EntryStatus::Left,
            EntryStatus::Lapsed,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRecord {
    pub entry_id: String,
    pub doctor_id: String,
    pub patient_id: String,
    pub from_date: NaiveDate,
    pub to_date: NaiveDate,
    pub status: EntryStatus,
    pub offered_appointment_id: String,
    pub created_at: DateTime<Utc>,
}

/// A `waitlist` row as sea-orm maps it; civil dates and the status are parsed.
#[derive(Debug, FromQueryResult)]
struct EntryRow {
    entry_id: String,
    doctor_id: String,
    patient_id: String,
    from_date: String,
    to_date: String,
    status: String,
    offered_appointment_id: String,
    created_at: DateTime<Utc>,
}

fn entry(row: &QueryResult) -> Result<EntryRecord, DbErr> {
    let row = EntryRow::from_query_result(row, "")?;
    Ok(EntryRecord {
        from_date: parse_date(&row.from_date)?,
        to_date: parse_date(&row.to_date)?,
        status: EntryStatus::parse(&row.status)
            .ok_or_else(|| DbErr::Type(format!("status {}", row.status)))?,
        entry_id: row.entry_id,
        doctor_id: row.doctor_id,
        patient_id: row.patient_id,
        offered_appointment_id: row.offered_appointment_id,
        created_at: row.created_at,
    })
}

/// Inserts the entry; false if the patient already waits for this doctor.
pub async fn insert<C: ConnectionTrait>(conn: &C, e: &EntryRecord) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    let result = conn
        .execute_raw(stmt(
            b,
            "INSERT INTO waitlist (entry_id, doctor_id, patient_id, from_date, to_date, status,
                offered_appointment_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (doctor_id, patient_id) WHERE status IN ('waiting', 'offered') DO NOTHING",
            [
                e.entry_id.clone().into(),
                e.doctor_id.clone().into(),
                e.patient_id.clone().into(),
                date_text(e.from_date).into(),
                date_text(e.to_date).into(),
                e.status.as_str().into(),
                e.offered_appointment_id.clone().into(),
                ts(b, e.created_at),
            ],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn get<C: ConnectionTrait>(conn: &C, id: &str) -> Result<Option<EntryRecord>, DbErr> {
    conn.query_one_raw(stmt(
        conn.get_database_backend(),
        "SELECT * FROM waitlist WHERE entry_id = $1",
        [id.into()],
    ))
    .await?
    .map(|r| entry(&r))
    .transpose()
}

pub async fn set_status<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    status: EntryStatus,
    offered_appointment_id: &str,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn.get_database_backend(),
        "UPDATE waitlist SET status = $2, offered_appointment_id = $3 WHERE entry_id = $1",
        [
            id.into(),
            status.as_str().into(),
            offered_appointment_id.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Marks a waiting entry left; false if it is not waiting (any more).
pub async fn leave<C: ConnectionTrait>(conn: &C, id: &str) -> Result<bool, DbErr> {
    let result = conn
        .execute_raw(stmt(
            conn.get_database_backend(),
            "UPDATE waitlist SET status = 'left' WHERE entry_id = $1 AND status = 'waiting'",
            [id.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Waiting entries of `doctor_id` whose range covers `date`, first come first served.
pub async fn waiting_for<C: ConnectionTrait>(
    conn: &C,
    doctor_id: &str,
    date: NaiveDate,
) -> Result<Vec<EntryRecord>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn.get_database_backend(),
            "SELECT * FROM waitlist WHERE doctor_id = $1 AND status = 'waiting'
               AND from_date <= $2 AND to_date >= $2
             ORDER BY entry_id LIMIT 20",
            [doctor_id.into(), date_text(date).into()],
        ))
        .await?;
    rows.iter().map(entry).collect()
}

/// A page of a patient's entries, or of a doctor's list, in the order they joined: at most
/// `limit` after the entry `after`.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    doctor_id: Option<&str>,
    patient_id: Option<&str>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<EntryRecord>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn.get_database_backend(),
            "SELECT * FROM waitlist WHERE ($1 = '' OR doctor_id = $1) AND ($2 = '' OR patient_id = $2)
               AND entry_id > $3
             ORDER BY entry_id LIMIT $4",
            [
                doctor_id.unwrap_or("").into(),
                patient_id.unwrap_or("").into(),
                after.unwrap_or("").into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        ))
        .await?;
    rows.iter().map(entry).collect()
}
