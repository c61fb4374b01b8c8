//! Notifications and their attempts: made once (by their dedupe key), claimed by one replica
//! at a time for a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's write lock), and
//! finished only by the replica holding the claim.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Value};
use svc_kit::db::stmt;

use super::{opt_ts, ts};

/// A notification to be made.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub notification_id: String,
    pub dedupe_key: String,
    pub user_id: String,
    /// The patient a message to someone else is about (a doctor's calendar notice), if any.
    pub about_user: String,
    pub kind: String,
    pub channel: String,
    pub event_type: String,
    pub event_id: String,
    pub urgent: bool,
    pub context_key: String,
    pub context: Vec<u8>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct NotificationRow {
    pub notification_id: String,
    pub user_id: String,
    pub kind: String,
    pub channel: String,
    pub event_type: String,
    pub event_id: String,
    pub urgent: bool,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub context_key: String,
    pub context: Vec<u8>,
    pub content_key: String,
    pub content: Option<Vec<u8>>,
    pub last_error: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "notification_id, user_id, kind, channel, event_type, event_id,
    urgent, status, attempts, next_attempt_at, context_key, context, content_key, content,
    last_error, created_at, sent_at";

#[derive(Debug, Clone, FromQueryResult)]
pub struct AttemptRow {
    pub number: i32,
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub answer: String,
}

/// Makes `n` unless a notification with its dedupe key exists; whether it was made.
pub async fn insert<C: ConnectionTrait>(conn: &C, n: &NewNotification) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    let made = conn
        .execute_raw(stmt(
            b,
            "INSERT INTO notifications (notification_id, dedupe_key, user_id, kind, channel,
                event_type, event_id, urgent, status, attempts, next_attempt_at, context_key,
                context, created_at, about_user)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', 0, $9, $10, $11, $9, $12)
             ON CONFLICT (dedupe_key) DO NOTHING",
            [
                n.notification_id.clone().into(),
                n.dedupe_key.clone().into(),
                n.user_id.clone().into(),
                n.kind.clone().into(),
                n.channel.clone().into(),
                n.event_type.clone().into(),
                n.event_id.clone().into(),
                n.urgent.into(),
                ts(b, n.at),
                n.context_key.clone().into(),
                n.context.clone().into(),
                n.about_user.clone().into(),
            ],
        ))
        .await?
        .rows_affected();
    Ok(made == 1)
}

/// Claims up to `limit` due notifications for `worker` until `lease_until`: queued ones, failed
/// ones whose retry is due, and ones another replica claimed and did not finish in time.
pub async fn claim<C: ConnectionTrait>(
    conn: &C,
    worker: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<NotificationRow>, DbErr> {
    let b = conn.get_database_backend();
    let lock = match b {
        DbBackend::Postgres => " FOR UPDATE SKIP LOCKED",
        _ => "",
    };
    let sql = format!(
        "UPDATE notifications
            SET status = 'sending', claimed_by = $1, next_attempt_at = $2,
                attempts = attempts + 1
          WHERE notification_id IN (
                SELECT notification_id FROM notifications
                 WHERE status IN ('queued', 'sending', 'failed') AND next_attempt_at <= $3
                 ORDER BY next_attempt_at
                 LIMIT $4{lock})
        RETURNING {COLUMNS}"
    );
    let rows = conn
        .query_all_raw(stmt(
            b,
            &sql,
            [
                worker.into(),
                ts(b, lease_until),
                ts(b, now),
                i64::from(limit).into(),
            ],
        ))
        .await?;
    rows.iter()
        .map(|r| NotificationRow::from_query_result(r, ""))
        .collect()
}

/// Stores the rendered message (sealed) on a claimed notification, if the claim is still
/// `worker`'s and its lease runs past `send_by` (the latest moment a send that starts now
/// can end): a send never starts on a lease that could run out under it.
pub async fn set_content<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    worker: &str,
    key_id: &str,
    content: Vec<u8>,
    send_by: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    Ok(conn
        .execute_raw(stmt(
            b,
            "UPDATE notifications SET content_key = $3, content = $4
              WHERE notification_id = $1 AND claimed_by = $2 AND status = 'sending'
                AND next_attempt_at > $5",
            [
                id.into(),
                worker.into(),
                key_id.into(),
                content.into(),
                ts(b, send_by),
            ],
        ))
        .await?
        .rows_affected()
        == 1)
}

/// How a claimed notification ends this round.
#[derive(Debug, Clone)]
pub enum Finish {
    Sent {
        answer: String,
    },
    /// Another attempt at `retry_at`, or a dead letter when `None`.
    Failed {
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
    /// Not sent, and not to be.
    Skipped {
        reason: String,
    },
    /// Not attempted: back in the queue until `until` (quiet hours, the recipient's rate).
    Deferred {
        until: DateTime<Utc>,
    },
}

/// Ends `worker`'s claim on `id` as `finish` says and records the attempt (numbered after the
/// ones before it, however often the notification was retried); false when the claim was lost (another replica took it over after the lease ran out).
pub async fn finish<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    worker: &str,
    now: DateTime<Utc>,
    finish: &Finish,
) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    let (status, next, error, sent, attempts_delta): (
        &str,
        DateTime<Utc>,
        &str,
        Option<DateTime<Utc>>,
        i32,
    ) = match finish {
        Finish::Sent { .. } => ("sent", now, "", Some(now), 0),
        Finish::Failed {
            error,
            retry_at: Some(at),
        } => ("failed", *at, error, None, 0),
        Finish::Failed {
            error,
            retry_at: None,
        } => ("dead", now, error, None, 0),
        Finish::Skipped { reason } => ("skipped", now, reason, None, 0),
        Finish::Deferred { until } => ("queued", *until, "", None, -1),
    };
    let updated = conn
        .execute_raw(stmt(
            b,
            "UPDATE notifications
                SET status = $3, next_attempt_at = $4, last_error = $5, sent_at = $6,
                    attempts = attempts + $7, claimed_by = ''
              WHERE notification_id = $1 AND claimed_by = $2 AND status = 'sending'",
            [
                id.into(),
                worker.into(),
                status.into(),
                ts(b, next),
                error.into(),
                opt_ts(b, sent),
                attempts_delta.into(),
            ],
        ))
        .await?
        .rows_affected()
        == 1;
    let outcome = match finish {
        Finish::Sent { answer } => Some((true, answer.as_str())),
        Finish::Failed { error, .. } => Some((false, error.as_str())),
        _ => None,
    };
    if updated && let Some((ok, answer)) = outcome {
        conn.execute_raw(stmt(
            b,
            "INSERT INTO attempts (notification_id, number, at, ok, answer)
             SELECT $1, COALESCE(MAX(number), 0) + 1, $2, $3, $4 FROM attempts WHERE notification_id = $1",
            [
                id.into(),
                ts(b, now),
                ok.into(),
                answer.chars().take(1000).collect::<String>().into(),
            ],
        ))
        .await?;
    }
    Ok(updated)
}

/// How many `channel` messages `user_id` was sent since `since`.
pub async fn sent_since<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
    channel: &str,
    since: DateTime<Utc>,
) -> Result<i64, DbErr> {
    let b = conn.get_database_backend();
    let row = conn
        .query_one_raw(stmt(
            b,
            "SELECT COUNT(*) AS n FROM notifications
              WHERE user_id = $1 AND channel = $2 AND status = 'sent' AND sent_at >= $3",
            [user_id.into(), channel.into(), ts(b, since)],
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0))
}

/// A page of notifications, newest first, after the cursor `(created_at, id)`.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    user_id: Option<&str>,
    statuses: &[&str],
    after: Option<(DateTime<Utc>, String)>,
    limit: u64,
) -> Result<Vec<NotificationRow>, DbErr> {
    let b = conn.get_database_backend();
    let mut values: Vec<Value> = Vec::new();
    let mut filters = vec!["1 = 1".to_string()];
    if let Some(user) = user_id {
        values.push(user.into());
        filters.push(format!("user_id = ${}", values.len()));
    }
    if !statuses.is_empty() {
        let mut marks = Vec::new();
        for s in statuses {
            values.push((*s).into());
            marks.push(format!("${}", values.len()));
        }
        filters.push(format!("status IN ({})", marks.join(", ")));
    }
    if let Some((at, id)) = after {
        values.push(ts(b, at));
        let at_mark = values.len();
        values.push(id.into());
        let id_mark = values.len();
        filters.push(format!(
            "(created_at < ${at_mark} OR (created_at = ${at_mark} AND notification_id < ${id_mark}))"
        ));
    }
    values.push(((limit + 1) as i64).into());
    let sql = format!(
        "SELECT {COLUMNS} FROM notifications WHERE {} ORDER BY created_at DESC, notification_id DESC LIMIT ${}",
        filters.join(" AND "),
        values.len()
    );
    let rows = conn.query_all_raw(stmt(b, &sql, values)).await?;
    rows.iter()
        .map(|r| NotificationRow::from_query_result(r, ""))
        .collect()
}

pub async fn get<C: ConnectionTrait>(conn: &C, id: &str) -> Result<Option<NotificationRow>, DbErr> {
    let b = conn.get_database_backend();
    let row = conn
        .query_one_raw(stmt(
            b,
            &format!("SELECT {COLUMNS} FROM notifications WHERE notification_id = $1"),
            [id.into()],
        ))
        .await?;
    row.map(|r| NotificationRow::from_query_result(&r, ""))
        .transpose()
}

pub async fn attempts<C: ConnectionTrait>(conn: &C, id: &str) -> Result<Vec<AttemptRow>, DbErr> {
    let b = conn.get_database_backend();
    let rows = conn
        .query_all_raw(stmt(
            b,
            "SELECT number, at, ok, answer FROM attempts WHERE notification_id = $1 ORDER BY number",
            [id.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| AttemptRow::from_query_result(r, ""))
        .collect()
}

/// Puts a failed or dead notification back in the queue with a fresh set of attempts; false
/// when it is in neither state.
pub async fn requeue<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    Ok(conn
        .execute_raw(stmt(
            b,
            "UPDATE notifications SET status = 'queued', attempts = 0, next_attempt_at = $2,
                    last_error = ''
              WHERE notification_id = $1 AND status IN ('failed', 'dead')",
            [id.into(), ts(b, now)],
        ))
        .await?
        .rows_affected()
        == 1)
}

/// Removes every notification to `user_id`, and every one to someone else about them (their
/// attempts go with them).
pub async fn delete_user<C: ConnectionTrait>(conn: &C, user_id: &str) -> Result<u64, DbErr> {
    let b = conn.get_database_backend();
    conn.execute_raw(stmt(
        b,
        "DELETE FROM attempts WHERE notification_id IN (SELECT notification_id FROM notifications WHERE user_id = $1 OR about_user = $1)",
        [user_id.into()],
    ))
    .await?;
    Ok(conn
        .execute_raw(stmt(
            b,
            "DELETE FROM notifications WHERE user_id = $1 OR about_user = $1",
            [user_id.into()],
        ))
        .await?
        .rows_affected())
}
