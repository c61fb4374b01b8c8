//! What notify keeps of appointments (for reminders and doctors' agendas), the reminders
//! themselves, agendas sent, and erased users.
//!
//! A reminder is fired by the transaction that claims it (`FOR UPDATE SKIP LOCKED`) and that
//! also makes its notifications: however many replicas look, it is fired once.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult};
use svc_kit::db::stmt;

use super::ts;

#[derive(Debug, Clone, FromQueryResult)]
pub struct AppointmentRow {
    pub appointment_id: String,
    pub patient_id: String,
    pub doctor_id: String,
    pub starts_at: DateTime<Utc>,
    pub live: bool,
    pub context_key: String,
    pub context: Vec<u8>,
}

#[allow(clippy::too_many_arguments)]
pub async fn upsert_appointment<C: ConnectionTrait>(
    conn: &C,
    appointment_id: &str,
    patient_id: &str,
    doctor_id: &str,
    starts_at: DateTime<Utc>,
    live: bool,
    context_key: &str,
    context: Vec<u8>,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    conn.execute_raw(stmt(
        b,
        "INSERT INTO appointments (appointment_id, patient_id, doctor_id, starts_at, live,
            context_key, context, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (appointment_id) DO UPDATE SET patient_id = excluded.patient_id,
            doctor_id = excluded.doctor_id, starts_at = excluded.starts_at, live = excluded.live,
            context_key = excluded.context_key, context = excluded.context,
            updated_at = excluded.updated_at",
        [
            appointment_id.into(),
            patient_id.into(),
            doctor_id.into(),
            ts(b, starts_at),
            live.into(),
            context_key.into(),
            context.into(),
            ts(b, at),
        ],
    ))
    .await?;
    Ok(())
}

const APPOINTMENT_COLUMNS: &str =
    "appointment_id, patient_id, doctor_id, starts_at, live, context_key, context";

pub async fn appointment<C: ConnectionTrait>(
    conn: &C,
    appointment_id: &str,
) -> Result<Option<AppointmentRow>, DbErr> {
    let b = conn.get_database_backend();
    conn.query_one_raw(stmt(
        b,
        &format!("SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE appointment_id = $1"),
        [appointment_id.into()],
    ))
    .await?
    .map(|r| AppointmentRow::from_query_result(&r, ""))
    .transpose()
}

/// A doctor's live appointments starting in `[from, to)`, in order.
pub async fn doctors_day<C: ConnectionTrait>(
    conn: &C,
    doctor_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<AppointmentRow>, DbErr> {
    let b = conn.get_database_backend();
    let rows = conn
        .query_all_raw(stmt(
            b,
            &format!(
                "SELECT {APPOINTMENT_COLUMNS} FROM appointments
                  WHERE doctor_id = $1 AND live AND starts_at >= $2 AND starts_at < $3
                  ORDER BY starts_at"
            ),
            [doctor_id.into(), ts(b, from), ts(b, to)],
        ))
        .await?;
    rows.iter()
        .map(|r| AppointmentRow::from_query_result(r, ""))
        .collect()
}

/// Schedules (or moves) the reminder `lead_minutes` before an appointment; one that already
/// fired stays fired.
pub async fn schedule_reminder<C: ConnectionTrait>(
    conn: &C,
    appointment_id: &str,
    patient_id: &str,
    lead_minutes: i32,
    due_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    conn.execute_raw(stmt(
        b,
        "INSERT INTO reminders (reminder_id, appointment_id, patient_id, lead_minutes, due_at, status)
         VALUES ($1, $2, $3, $4, $5, 'pending')
         ON CONFLICT (reminder_id) DO UPDATE SET due_at = excluded.due_at, status = 'pending'
          WHERE reminders.status <> 'fired'",
        [
            format!("{appointment_id}/{lead_minutes}").into(),
            appointment_id.into(),
            patient_id.into(),
            lead_minutes.into(),
            ts(b, due_at),
        ],
    ))
    .await?;
    Ok(())
}

/// Cancels an appointment's reminders not yet fired; a moved appointment's reminders are
/// cancelled, then scheduled again.
pub async fn cancel_reminders<C: ConnectionTrait>(
    conn: &C,
    appointment_id: &str,
) -> Result<u64, DbErr> {
    let b = conn.get_database_backend();
    Ok(conn
        .execute_raw(stmt(
            b,
            "UPDATE reminders SET status = 'cancelled' WHERE appointment_id = $1 AND status = 'pending'",
            [appointment_id.into()],
        ))
        .await?
        .rows_affected())
}

/// A moved appointment: its fired reminders may fire again for the new time.
pub async fn rearm_reminders<C: ConnectionTrait>(
    conn: &C,
    appointment_id: &str,
) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    conn.execute_raw(stmt(
        b,
        "DELETE FROM reminders WHERE appointment_id = $1",
        [appointment_id.into()],
    ))
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct DueReminder {
    pub reminder_id: String,
    pub appointment_id: String,
    pub patient_id: String,
    pub lead_minutes: i32,
    /// When it was due: a moved appointment's reminder is another reminder.
    pub due_at: DateTime<Utc>,
}

/// Fires up to `limit` reminders due at `now`: they are marked fired by this transaction,
/// which the caller commits with their notifications.
pub async fn fire_due<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<DueReminder>, DbErr> {
    let b = conn.get_database_backend();
    let lock = match b {
        DbBackend::Postgres => " FOR UPDATE SKIP LOCKED",
        _ => "",
    };
    let rows = conn
        .query_all_raw(stmt(
            b,
            &format!(
                "UPDATE reminders SET status = 'fired', fired_at = $1
                  WHERE reminder_id IN (
                        SELECT reminder_id FROM reminders
                         WHERE status = 'pending' AND due_at <= $1
                         ORDER BY due_at LIMIT $2{lock})
                RETURNING reminder_id, appointment_id, patient_id, lead_minutes, due_at"
            ),
            [ts(b, now), i64::from(limit).into()],
        ))
        .await?;
    rows.iter()
        .map(|r| DueReminder::from_query_result(r, ""))
        .collect()
}

/// Pending reminders (a gauge for operators).
pub async fn pending_reminders<C: ConnectionTrait>(conn: &C) -> Result<i64, DbErr> {
    let b = conn.get_database_backend();
    let row = conn
        .query_one_raw(stmt(
            b,
            "SELECT COUNT(*) AS n FROM reminders WHERE status = 'pending'",
            [],
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0))
}

/// Marks a doctor's agenda for `day` as sent; false when it was already.
pub async fn claim_agenda<C: ConnectionTrait>(
    conn: &C,
    doctor_id: &str,
    day: &str,
) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    Ok(conn
        .execute_raw(stmt(
            b,
            "INSERT INTO agendas (doctor_id, day) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [doctor_id.into(), day.into()],
        ))
        .await?
        .rows_affected()
        == 1)
}

pub async fn erased<C: ConnectionTrait>(conn: &C, user_id: &str) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    Ok(conn
        .query_one_raw(stmt(
            b,
            "SELECT 1 AS one FROM erasures WHERE user_id = $1",
            [user_id.into()],
        ))
        .await?
        .is_some())
}

/// Forgets `user_id`: their preferences, appointments (as patient), reminders and agendas;
/// remembers that they were erased so late events do not bring them back.
pub async fn erase<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    for sql in [
        "DELETE FROM reminders WHERE patient_id = $1",
        "DELETE FROM preferences WHERE user_id = $1",
        "DELETE FROM appointments WHERE patient_id = $1",
        "DELETE FROM agendas WHERE doctor_id = $1",
        "DELETE FROM pharmacy_staff WHERE user_id = $1",
    ] {
        conn.execute_raw(stmt(b, sql, [user_id.into()])).await?;
    }
    conn.execute_raw(stmt(
        b,
        "INSERT INTO erasures (user_id, erased_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [user_id.into(), ts(b, at)],
    ))
    .await?;
    Ok(())
}

/// Replaces the pharmacies `user_id` works at (from accounts' events).
pub async fn set_pharmacies<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
    pharmacies: &[String],
) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    conn.execute_raw(stmt(
        b,
        "DELETE FROM pharmacy_staff WHERE user_id = $1",
        [user_id.into()],
    ))
    .await?;
    for pharmacy in pharmacies {
        conn.execute_raw(stmt(
            b,
            "INSERT INTO pharmacy_staff (pharmacy_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [pharmacy.as_str().into(), user_id.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Who works at `pharmacy_id`.
pub async fn pharmacy_staff<C: ConnectionTrait>(
    conn: &C,
    pharmacy_id: &str,
) -> Result<Vec<String>, DbErr> {
    let b = conn.get_database_backend();
    let rows = conn
        .query_all_raw(stmt(
            b,
            "SELECT user_id FROM pharmacy_staff WHERE pharmacy_id = $1 ORDER BY user_id",
            [pharmacy_id.into()],
        ))
        .await?;
    rows.iter().map(|r| r.try_get("", "user_id")).collect()
}
