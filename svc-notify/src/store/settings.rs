//! Preferences (one JSON document per user, versioned) and template overrides.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use svc_kit::db::stmt;

use super::ts;

#[derive(Debug, Clone, FromQueryResult)]
pub struct PreferencesRow {
    pub user_id: String,
    pub settings: String,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

pub async fn preferences<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
) -> Result<Option<PreferencesRow>, DbErr> {
    let b = conn.get_database_backend();
    conn.query_one_raw(stmt(
        b,
        "SELECT user_id, settings, version, updated_at FROM preferences WHERE user_id = $1",
        [user_id.into()],
    ))
    .await?
    .map(|r| PreferencesRow::from_query_result(&r, ""))
    .transpose()
}

/// Writes `user_id`'s preferences at `expected` (0: none stored yet); false when another
/// version is stored.
pub async fn put_preferences<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
    settings: &str,
    agenda_minute: Option<i32>,
    expected: i64,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    let sql = if expected == 0 {
        "INSERT INTO preferences (user_id, settings, agenda_minute, version, updated_at)
         VALUES ($1, $2, $3, 1, $4) ON CONFLICT DO NOTHING"
    } else {
        "UPDATE preferences SET settings = $2, agenda_minute = $3, version = version + 1,
                updated_at = $4
          WHERE user_id = $1 AND version = $5"
    };
    let mut values = vec![
        user_id.into(),
        settings.into(),
        agenda_minute.into(),
        ts(b, at),
    ];
    if expected != 0 {
        values.push(expected.into());
    }
    Ok(conn
        .execute_raw(stmt(b, sql, values))
        .await?
        .rows_affected()
        == 1)
}

/// Users whose agenda is due at or before `minute` of their day (the caller checks the day).
pub async fn agenda_users<C: ConnectionTrait>(conn: &C) -> Result<Vec<(String, i32)>, DbErr> {
    let b = conn.get_database_backend();
    let rows = conn
        .query_all_raw(stmt(
            b,
            "SELECT user_id, agenda_minute FROM preferences WHERE agenda_minute IS NOT NULL",
            [],
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("", "user_id")?, r.try_get("", "agenda_minute")?)))
        .collect()
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct TemplateRow {
    pub kind: String,
    pub channel: String,
    pub language: String,
    pub subject: String,
    pub body: String,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

pub async fn templates<C: ConnectionTrait>(conn: &C) -> Result<Vec<TemplateRow>, DbErr> {
    let b = conn.get_database_backend();
    let rows = conn
        .query_all_raw(stmt(
            b,
            "SELECT kind, channel, language, subject, body, version, updated_at FROM templates",
            [],
        ))
        .await?;
    rows.iter()
        .map(|r| TemplateRow::from_query_result(r, ""))
        .collect()
}

pub async fn template<C: ConnectionTrait>(
    conn: &C,
    kind: &str,
    channel: &str,
    language: &str,
) -> Result<Option<TemplateRow>, DbErr> {
    let b = conn.get_database_backend();
    conn.query_one_raw(stmt(
        b,
        "SELECT kind, channel, language, subject, body, version, updated_at FROM templates
          WHERE kind = $1 AND channel = $2 AND language = $3",
        [kind.into(), channel.into(), language.into()],
    ))
    .await?
    .map(|r| TemplateRow::from_query_result(&r, ""))
    .transpose()
}

/// Writes an override at `expected` (0: none stored yet); false when another version is.
#[allow(clippy::too_many_arguments)]
pub async fn put_template<C: ConnectionTrait>(
    conn: &C,
    kind: &str,
    channel: &str,
    language: &str,
    subject: &str,
    body: &str,
    expected: i64,
    by: &str,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    let sql = if expected == 0 {
        "INSERT INTO templates (kind, channel, language, subject, body, version, updated_by, updated_at)
         VALUES ($1, $2, $3, $4, $5, 1, $6, $7) ON CONFLICT DO NOTHING"
    } else {
        "UPDATE templates SET subject = $4, body = $5, version = version + 1, updated_by = $6,
                updated_at = $7
          WHERE kind = $1 AND channel = $2 AND language = $3 AND version = $8"
    };
    let mut values = vec![
        kind.into(),
        channel.into(),
        language.into(),
        subject.into(),
        body.into(),
        by.into(),
        ts(b, at),
    ];
    if expected != 0 {
        values.push(expected.into());
    }
    Ok(conn
        .execute_raw(stmt(b, sql, values))
        .await?
        .rows_affected()
        == 1)
}

pub async fn delete_template<C: ConnectionTrait>(
    conn: &C,
    kind: &str,
    channel: &str,
    language: &str,
) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    Ok(conn
        .execute_raw(stmt(
            b,
            "DELETE FROM templates WHERE kind = $1 AND channel = $2 AND language = $3",
            [kind.into(), channel.into(), language.into()],
        ))
        .await?
        .rows_affected()
        == 1)
}
