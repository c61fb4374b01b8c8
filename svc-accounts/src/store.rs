//! Accounts' tables and the SQL that reads and writes them, the same on PostgreSQL and SQLite.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, QueryResult, Value};
use svc_kit::db::{Migration, opt_ts, stmt, ts};

use crate::domain::{Role, roles_column, roles_from_column};

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "users, affiliations, audit log",
    postgres: &[
        "CREATE TABLE users (
            user_id TEXT PRIMARY KEY,
            subject TEXT NOT NULL UNIQUE,
            username TEXT NOT NULL,
            email TEXT NOT NULL DEFAULT '',
            phone TEXT NOT NULL DEFAULT '',
            given_name TEXT NOT NULL DEFAULT '',
            family_name TEXT NOT NULL DEFAULT '',
            preferred_language TEXT NOT NULL DEFAULT '',
            time_zone TEXT NOT NULL DEFAULT '',
            roles TEXT NOT NULL DEFAULT '',
            active BOOLEAN NOT NULL DEFAULT TRUE,
            deactivation_reason TEXT NOT NULL DEFAULT '',
            erased_at TIMESTAMPTZ,
            search TEXT NOT NULL DEFAULT '',
            version BIGINT NOT NULL DEFAULT 1,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL)",
        "CREATE INDEX users_username ON users (username)",
        "CREATE TABLE affiliations (
            affiliation_id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users (user_id),
            kind TEXT NOT NULL,
            clinic_id TEXT NOT NULL DEFAULT '',
            specialization TEXT NOT NULL DEFAULT '',
            pharmacy_id TEXT NOT NULL DEFAULT '',
            created_at TIMESTAMPTZ NOT NULL,
            UNIQUE (user_id, kind, clinic_id, specialization, pharmacy_id))",
        "CREATE TABLE audit_log (
            seq BIGSERIAL PRIMARY KEY,
            audit_id TEXT NOT NULL UNIQUE,
            at TIMESTAMPTZ NOT NULL,
            actor_subject TEXT NOT NULL,
            actor_username TEXT NOT NULL,
            action TEXT NOT NULL,
            user_id TEXT NOT NULL,
            before_json TEXT,
            after_json TEXT,
            reason TEXT NOT NULL DEFAULT '')",
        "CREATE INDEX audit_log_user ON audit_log (user_id, seq)",
    ],
    sqlite: &[
        "CREATE TABLE users (
            user_id TEXT PRIMARY KEY,
            subject TEXT NOT NULL UNIQUE,
            username TEXT NOT NULL,
            email TEXT NOT NULL DEFAULT '',
            phone TEXT NOT NULL DEFAULT '',
            given_name TEXT NOT NULL DEFAULT '',
            family_name TEXT NOT NULL DEFAULT '',
            preferred_language TEXT NOT NULL DEFAULT '',
            time_zone TEXT NOT NULL DEFAULT '',
            roles TEXT NOT NULL DEFAULT '',
            active INTEGER NOT NULL DEFAULT 1,
            deactivation_reason TEXT NOT NULL DEFAULT '',
            erased_at TEXT,
            search TEXT NOT NULL DEFAULT '',
            version INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL)",
        "CREATE INDEX users_username ON users (username)",
        "CREATE TABLE affiliations (
            affiliation_id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users (user_id),
            kind TEXT NOT NULL,
            clinic_id TEXT NOT NULL DEFAULT '',
            specialization TEXT NOT NULL DEFAULT '',
            pharmacy_id TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            UNIQUE (user_id, kind, clinic_id, specialization, pharmacy_id))",
        "CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            audit_id TEXT NOT NULL UNIQUE,
            at TEXT NOT NULL,
            actor_subject TEXT NOT NULL,
            actor_username TEXT NOT NULL,
            action TEXT NOT NULL,
            user_id TEXT NOT NULL,
            before_json TEXT,
            after_json TEXT,
            reason TEXT NOT NULL DEFAULT '')",
        "CREATE INDEX audit_log_user ON audit_log (user_id, seq)",
    ],
}];

pub use svc_kit::write::now;

/// A staff member's place of work.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct AffiliationRecord {
    pub affiliation_id: String,
    /// The role it goes with: "doctor", "nurse" or "pharmacist".
    pub kind: String,
    pub clinic_id: String,
    pub specialization: String,
    pub pharmacy_id: String,
    pub created_at: DateTime<Utc>,
}

/// One account, as stored.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub user_id: String,
    pub subject: String,
    pub username: String,
    pub email: String,
    pub phone: String,
    pub given_name: String,
    pub family_name: String,
    pub preferred_language: String,
    pub time_zone: String,
    pub roles: BTreeSet<Role>,
    pub active: bool,
    pub deactivation_reason: String,
    pub erased_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub affiliations: Vec<AffiliationRecord>,
}

impl UserRecord {
    /// A new account for `subject`, version 1.
    pub fn new(subject: &str, username: &str) -> UserRecord {
        let now = now();
        UserRecord {
            user_id: uuid::Uuid::now_v7().to_string(),
            subject: subject.to_string(),
            username: username.to_string(),
            email: String::new(),
            phone: String::new(),
            given_name: String::new(),
            family_name: String::new(),
            preferred_language: String::new(),
            time_zone: String::new(),
            roles: BTreeSet::new(),
            active: true,
            deactivation_reason: String::new(),
            erased_at: None,
            version: 1,
            created_at: now,
            updated_at: now,
            affiliations: Vec::new(),
        }
    }

    /// What a case-insensitive search matches: names, username, email.
    fn search_text(&self) -> String {
        svc_kit::text::search_key(&format!(
            "{} {} {} {}",
            self.given_name, self.family_name, self.username, self.email
        ))
    }

    /// The fields an audit entry shows, as JSON.
    pub fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({
            "username": self.username,
            "email": self.email,
            "phone": self.phone,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "preferred_language": self.preferred_language,
            "time_zone": self.time_zone,
            "roles": self.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "active": self.active,
            "affiliations": self.affiliations.iter().map(|a| serde_json::json!({
                "affiliation_id": a.affiliation_id, "kind": a.kind, "clinic_id": a.clinic_id,
                "specialization": a.specialization, "pharmacy_id": a.pharmacy_id,
            })).collect::<Vec<_>>(),
        })
    }
}

const USER_COLUMNS: &str = "user_id, subject, username, email, phone, given_name, family_name, \
     preferred_language, time_zone, roles, active, deactivation_reason, erased_at, version, \
     created_at, updated_at";

/// A `users` row as sea-orm maps it; the roles column becomes a set.
#[derive(Debug, FromQueryResult)]
struct UserRow {
    user_id: String,
    subject: String,
    username: String,
    email: String,
    phone: String,
    given_name: String,
    family_name: String,
    preferred_language: String,
    time_zone: String,
    roles: String,
    active: bool,
    deactivation_reason: String,
    erased_at: Option<DateTime<Utc>>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn user_from_row(row: &QueryResult) -> Result<UserRecord, DbErr> {
    let row = UserRow::from_query_result(row, "")?;
    Ok(UserRecord {
        user_id: row.user_id,
        subject: row.subject,
        username: row.username,
        email: row.email,
        phone: row.phone,
        given_name: row.given_name,
        family_name: row.family_name,
        preferred_language: row.preferred_language,
        time_zone: row.time_zone,
        roles: roles_from_column(&row.roles),
        active: row.active,
        deactivation_reason: row.deactivation_reason,
        erased_at: row.erased_at,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        affiliations: Vec::new(),
    })
}

async fn load_one<C: ConnectionTrait>(
    conn: &C,
    column: &str,
    value: &str,
) -> Result<Option<UserRecord>, DbErr> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = $1");
    let Some(row) = conn
        .query_one_raw(stmt(conn.get_database_backend(), &sql, [value.into()]))
        .await?
    else {
        return Ok(None);
    };
    let mut user = user_from_row(&row)?;
    user.affiliations = affiliations(conn, &user.user_id).await?;
    Ok(Some(user))
}

pub async fn find_by_subject<C: ConnectionTrait>(
    conn: &C,
    subject: &str,
) -> Result<Option<UserRecord>, DbErr> {
    load_one(conn, "subject", subject).await
}

pub async fn find_by_id<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
) -> Result<Option<UserRecord>, DbErr> {
    load_one(conn, "user_id", user_id).await
}

/// Inserts `user` unless its subject already has an account; true if it was inserted.
pub async fn insert<C: ConnectionTrait>(conn: &C, user: &UserRecord) -> Result<bool, DbErr> {
    let backend = conn.get_database_backend();
    let sql = format!(
        "INSERT INTO users ({USER_COLUMNS}, search) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         ON CONFLICT (subject) DO NOTHING"
    );
    let values: Vec<Value> = vec![
        user.user_id.clone().into(),
        user.subject.clone().into(),
        user.username.clone().into(),
        user.email.clone().into(),
        user.phone.clone().into(),
        user.given_name.clone().into(),
        user.family_name.clone().into(),
        user.preferred_language.clone().into(),
        user.time_zone.clone().into(),
        roles_column(&user.roles).into(),
        user.active.into(),
        user.deactivation_reason.clone().into(),
        opt_ts(backend, user.erased_at),
        user.version.into(),
        ts(backend, user.created_at),
        ts(backend, user.updated_at),
        user.search_text().into(),
    ];
    let result = conn.execute_raw(stmt(backend, &sql, values)).await?;
    Ok(result.rows_affected() == 1)
}

/// Writes every mutable column of `user` if the stored version is still `user.version`; the
/// stored version becomes `user.version + 1`. False if someone else changed it first.
pub async fn save<C: ConnectionTrait>(conn: &C, user: &UserRecord) -> Result<bool, DbErr> {
    let backend = conn.get_database_backend();
    let sql = "UPDATE users SET username = $1, email = $2, phone = $3, given_name = $4, \
         family_name = $5, preferred_language = $6, time_zone = $7, roles = $8, active = $9, \
         deactivation_reason = $10, erased_at = $11, search = $12, updated_at = $13, \
         version = version + 1 WHERE user_id = $14 AND version = $15";
    let values: Vec<Value> = vec![
        user.username.clone().into(),
        user.email.clone().into(),
        user.phone.clone().into(),
        user.given_name.clone().into(),
        user.family_name.clone().into(),
        user.preferred_language.clone().into(),
        user.time_zone.clone().into(),
        roles_column(&user.roles).into(),
        user.active.into(),
        user.deactivation_reason.clone().into(),
        opt_ts(backend, user.erased_at),
        user.search_text().into(),
        ts(backend, now()),
        user.user_id.clone().into(),
        user.version.into(),
    ];
    let result = conn.execute_raw(stmt(backend, sql, values)).await?;
    Ok(result.rows_affected() == 1)
}

pub async fn affiliations<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
) -> Result<Vec<AffiliationRecord>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn.get_database_backend(),
            "SELECT affiliation_id, kind, clinic_id, specialization, pharmacy_id, created_at \
             FROM affiliations WHERE user_id = $1 ORDER BY created_at, affiliation_id",
            [user_id.into()],
        ))
        .await?;
    rows.iter()
        .map(|row| AffiliationRecord::from_query_result(row, ""))
        .collect()
}

/// Adds the affiliation unless the user has the same one; true if it was added.
pub async fn add_affiliation<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
    affiliation: &AffiliationRecord,
) -> Result<bool, DbErr> {
    let result = conn
        .execute_raw(stmt(
            conn.get_database_backend(),
            "INSERT INTO affiliations \
             (affiliation_id, user_id, kind, clinic_id, specialization, pharmacy_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (user_id, kind, clinic_id, specialization, pharmacy_id) DO NOTHING",
            [
                affiliation.affiliation_id.clone().into(),
                user_id.into(),
                affiliation.kind.clone().into(),
                affiliation.clinic_id.clone().into(),
                affiliation.specialization.clone().into(),
                affiliation.pharmacy_id.clone().into(),
                ts(conn.get_database_backend(), affiliation.created_at),
            ],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn remove_affiliation<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
    affiliation_id: &str,
) -> Result<bool, DbErr> {
    let result = conn
        .execute_raw(stmt(
            conn.get_database_backend(),
            "DELETE FROM affiliations WHERE user_id = $1 AND affiliation_id = $2",
            [user_id.into(), affiliation_id.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn remove_all_affiliations<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn.get_database_backend(),
        "DELETE FROM affiliations WHERE user_id = $1",
        [user_id.into()],
    ))
    .await?;
    Ok(())
}

/// What [`list`] filters on.
#[derive(Debug, Default)]
pub struct UserFilter {
    /// Matched case-insensitively against names, username and email.
    pub query: Option<String>,
    pub role: Option<Role>,
    pub include_inactive: bool,
}

/// Escapes `%`, `_` and `\` for a LIKE pattern (with `ESCAPE '\'`).
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Up to `limit` accounts after `after` (a user id), in id order (UUIDv7: creation order).
/// Erased accounts are never listed.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    filter: &UserFilter,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<UserRecord>, DbErr> {
    let mut sql = format!("SELECT {USER_COLUMNS} FROM users WHERE erased_at IS NULL");
    let mut values: Vec<Value> = Vec::new();
    if !filter.include_inactive {
        sql.push_str(" AND active = TRUE");
    }
    if let Some(query) = filter.query.as_deref() {
        values.push(format!("%{}%", like_escape(&svc_kit::text::search_key(query))).into());
        sql.push_str(&format!(" AND search LIKE ${} ESCAPE '\\'", values.len()));
    }
    if let Some(role) = filter.role {
        values.push(format!("%,{role},%").into());
        sql.push_str(&format!(" AND roles LIKE ${}", values.len()));
    }
    if let Some(after) = after {
        values.push(after.into());
        sql.push_str(&format!(" AND user_id > ${}", values.len()));
    }
    values.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
    sql.push_str(&format!(" ORDER BY user_id LIMIT ${}", values.len()));
    let rows = conn
        .query_all_raw(stmt(conn.get_database_backend(), &sql, values))
        .await?;
    let mut users = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut user = user_from_row(row)?;
        user.affiliations = affiliations(conn, &user.user_id).await?;
        users.push(user);
    }
    Ok(users)
}

/// One audit entry.
#[derive(Debug, Clone, FromQueryResult)]
pub struct AuditRecord {
    pub seq: i64,
    pub audit_id: String,
    pub at: DateTime<Utc>,
    pub actor_subject: String,
    pub actor_username: String,
    pub action: String,
    pub user_id: String,
    #[sea_orm(from_alias = "before_json")]
    pub before: Option<String>,
    #[sea_orm(from_alias = "after_json")]
    pub after: Option<String>,
    pub reason: String,
}

pub async fn append_audit<C: ConnectionTrait>(conn: &C, entry: &AuditRecord) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn.get_database_backend(),
        "INSERT INTO audit_log (audit_id, at, actor_subject, actor_username, action, user_id, \
         before_json, after_json, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [
            entry.audit_id.clone().into(),
            ts(conn.get_database_backend(), entry.at),
            entry.actor_subject.clone().into(),
            entry.actor_username.clone().into(),
            entry.action.clone().into(),
            entry.user_id.clone().into(),
            entry.before.clone().into(),
            entry.after.clone().into(),
            entry.reason.clone().into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Up to `limit` entries older than `before_seq`, newest first.
pub async fn list_audit<C: ConnectionTrait>(
    conn: &C,
    user_id: Option<&str>,
    before_seq: Option<i64>,
    limit: u64,
) -> Result<Vec<AuditRecord>, DbErr> {
    let mut sql = "SELECT seq, audit_id, at, actor_subject, actor_username, action, user_id, \
                   before_json, after_json, reason FROM audit_log WHERE 1 = 1"
        .to_string();
    let mut values: Vec<Value> = Vec::new();
    if let Some(user_id) = user_id {
        values.push(user_id.into());
        sql.push_str(&format!(" AND user_id = ${}", values.len()));
    }
    if let Some(before) = before_seq {
        values.push(before.into());
        sql.push_str(&format!(" AND seq < ${}", values.len()));
    }
    values.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${}", values.len()));
    let rows = conn
        .query_all_raw(stmt(conn.get_database_backend(), &sql, values))
        .await?;
    rows.iter()
        .map(|row| AuditRecord::from_query_result(row, ""))
        .collect()
}

/// Drops the personal data the audit trail holds about `user_id` (the before/after views),
/// keeping who did what when.
pub async fn scrub_audit<C: ConnectionTrait>(conn: &C, user_id: &str) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn.get_database_backend(),
        "UPDATE audit_log SET before_json = NULL, after_json = NULL, reason = '' \
         WHERE user_id = $1",
        [user_id.into()],
    ))
    .await?;
    Ok(())
}
