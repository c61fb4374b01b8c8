//! Entries (sealed content) and the medication history (sealed courses).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, QueryResult, Value};
use svc_kit::{db::stmt, seal::Sealed};

use super::{for_update, opt_ts, ts};

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct EntryRow {
    pub entry_id: String,
    pub patient_id: String,
    pub author_id: String,
    pub kind: String,
    pub status: String,
    pub appointment_id: String,
    pub amends_entry_id: Option<String>,
    /// Filled by the listing queries: the amendment that corrects this entry.
    pub amended_by: Option<String>,
    pub signed_by: String,
    pub key_id: String,
    pub sealed: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub signed_at: Option<DateTime<Utc>>,
    pub version: i64,
}

impl EntryRow {
    pub fn sealed(&self) -> Sealed {
        Sealed {
            key_id: self.key_id.clone(),
            bytes: self.sealed.clone(),
        }
    }
}

const SELECT: &str = "SELECT e.entry_id, e.patient_id, e.author_id, e.kind, e.status,
    e.appointment_id, e.amends_entry_id, a.entry_id AS amended_by, e.signed_by, e.key_id,
    e.sealed, e.created_at, e.updated_at, e.signed_at, e.version
    FROM entries e LEFT JOIN entries a ON a.amends_entry_id = e.entry_id";

fn row(r: &QueryResult) -> Result<EntryRow, DbErr> {
    EntryRow::from_query_result(r, "")
}

pub async fn get<C: ConnectionTrait>(conn: &C, entry_id: &str) -> Result<Option<EntryRow>, DbErr> {
    let b = conn.get_database_backend();
    conn.query_one_raw(stmt(
        b,
        &format!("{SELECT} WHERE e.entry_id = $1"),
        [entry_id.into()],
    ))
    .await?
    .map(|r| row(&r))
    .transpose()
}

/// The entry, its row locked for the rest of the transaction.
pub async fn lock<C: ConnectionTrait>(conn: &C, entry_id: &str) -> Result<Option<EntryRow>, DbErr> {
    let b = conn.get_database_backend();
    // Lock the entry's own row first (a join cannot be locked on PostgreSQL's nullable side).
    let locked = conn
        .query_one_raw(stmt(
            b,
            &format!(
                "SELECT entry_id FROM entries WHERE entry_id = $1{}",
                for_update(b)
            ),
            [entry_id.into()],
        ))
        .await?;
    if locked.is_none() {
        return Ok(None);
    }
    get(conn, entry_id).await
}

/// A patient's entries, newest first: all of them, or only signed ones; of some kinds only
/// (none: all); at most `limit` after the cursor `(created_at, entry_id)`.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    patient_id: &str,
    signed_only: bool,
    kinds: &[&str],
    after: Option<(DateTime<Utc>, String)>,
    limit: u64,
) -> Result<Vec<EntryRow>, DbErr> {
    let b = conn.get_database_backend();
    let mut sql = format!("{SELECT} WHERE e.patient_id = $1");
    let mut values: Vec<Value> = vec![patient_id.into()];
    if signed_only {
        sql.push_str(" AND e.status = 'signed'");
    }
    if !kinds.is_empty() {
        let marks: Vec<String> = kinds
            .iter()
            .map(|k| {
                values.push((*k).into());
                format!("${}", values.len())
            })
            .collect();
        sql.push_str(&format!(" AND e.kind IN ({})", marks.join(", ")));
    }
    if let Some((at, id)) = after {
        values.push(ts(b, at));
        let n = values.len();
        values.push(id.into());
        sql.push_str(&format!(
            " AND (e.created_at < ${n} OR (e.created_at = ${n} AND e.entry_id < ${}))",
            n + 1
        ));
    }
    values.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
    sql.push_str(&format!(
        " ORDER BY e.created_at DESC, e.entry_id DESC LIMIT ${}",
        values.len()
    ));
    conn.query_all_raw(stmt(b, &sql, values))
        .await?
        .iter()
        .map(row)
        .collect()
}

/// What a new entry is written with.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub entry_id: &'a str,
    pub patient_id: &'a str,
    pub author_id: &'a str,
    pub kind: &'a str,
    pub status: &'a str,
    pub appointment_id: &'a str,
    pub amends_entry_id: Option<&'a str>,
    pub signed_by: &'a str,
    pub sealed: &'a Sealed,
    pub at: DateTime<Utc>,
}

pub async fn insert<C: ConnectionTrait>(conn: &C, e: &NewEntry<'_>) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    let signed_at = (e.status == "signed").then_some(e.at);
    conn.execute_raw(stmt(
        b,
        "INSERT INTO entries (entry_id, patient_id, author_id, kind, status, appointment_id,
            amends_entry_id, signed_by, key_id, sealed, created_at, updated_at, signed_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, 1)",
        [
            e.entry_id.into(),
            e.patient_id.into(),
            e.author_id.into(),
            e.kind.into(),
            e.status.into(),
            e.appointment_id.into(),
            e.amends_entry_id.map(str::to_string).into(),
            e.signed_by.into(),
            e.sealed.key_id.clone().into(),
            e.sealed.bytes.clone().into(),
            ts(b, e.at),
            opt_ts(b, signed_at),
        ],
    ))
    .await?;
    Ok(())
}

/// Rewrites a draft's content (only while it is a draft at `version`); whether it did.
pub async fn update_draft<C: ConnectionTrait>(
    conn: &C,
    entry_id: &str,
    version: i64,
    appointment_id: &str,
    sealed: &Sealed,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    let done = conn
        .execute_raw(stmt(
            b,
            "UPDATE entries SET key_id = $1, sealed = $2, appointment_id = $3, updated_at = $4,
                version = version + 1
             WHERE entry_id = $5 AND status = 'draft' AND version = $6",
            [
                sealed.key_id.clone().into(),
                sealed.bytes.clone().into(),
                appointment_id.into(),
                ts(b, at),
                entry_id.into(),
                version.into(),
            ],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Signs a draft at `version`; whether it did.
pub async fn sign<C: ConnectionTrait>(
    conn: &C,
    entry_id: &str,
    version: i64,
    signed_by: &str,
    sealed: &Sealed,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    let done = conn
        .execute_raw(stmt(
            b,
            "UPDATE entries SET status = 'signed', signed_by = $1, signed_at = $2, updated_at = $2,
                version = version + 1, key_id = $5, sealed = $6
             WHERE entry_id = $3 AND status = 'draft' AND version = $4",
            [
                signed_by.into(),
                ts(b, at),
                entry_id.into(),
                version.into(),
                sealed.key_id.clone().into(),
                sealed.bytes.clone().into(),
            ],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes a draft at `version`; whether it did.
pub async fn discard<C: ConnectionTrait>(
    conn: &C,
    entry_id: &str,
    version: i64,
) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    let done = conn
        .execute_raw(stmt(
            b,
            "DELETE FROM entries WHERE entry_id = $1 AND status = 'draft' AND version = $2",
            [entry_id.into(), version.into()],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A sealed value found under an old key.
#[derive(Debug, Clone)]
pub struct Stale {
    pub table: &'static str,
    pub id: String,
    pub patient_id: String,
    /// An entry's version (bound into its seal); 0 for a medication course.
    pub version: i64,
    pub sealed: Sealed,
}

/// Sealed values under a retired key, for re-sealing (at most `limit` per table).
pub async fn stale<C: ConnectionTrait>(
    conn: &C,
    retired: &[String],
    limit: u64,
) -> Result<Vec<Stale>, DbErr> {
    let b = conn.get_database_backend();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut out = Vec::new();
    if retired.is_empty() {
        return Ok(out);
    }
    let marks: Vec<String> = (0..retired.len()).map(|n| format!("${}", n + 2)).collect();
    let marks = marks.join(", ");
    for (table, id, version) in [
        ("entries", "entry_id", "version"),
        ("medication_courses", "prescription_id", "0"),
    ] {
        let rows = conn
            .query_all_raw(stmt(
                b,
                &format!(
                    "SELECT {id} AS id, patient_id, {version} AS version, key_id, sealed FROM {table}
                     WHERE key_id IN ({marks}) LIMIT $1"
                ),
                std::iter::once(Value::from(limit))
                    .chain(retired.iter().map(|k| Value::from(k.clone()))),
            ))
            .await?;
        for r in rows {
            out.push(Stale {
                table,
                id: r.try_get("", "id")?,
                patient_id: r.try_get("", "patient_id")?,
                version: r
                    .try_get::<i64>("", "version")
                    .or_else(|_| r.try_get::<i32>("", "version").map(i64::from))?,
                sealed: Sealed {
                    key_id: r.try_get("", "key_id")?,
                    bytes: r.try_get("", "sealed")?,
                },
            });
        }
    }
    Ok(out)
}

/// Replaces a sealed value if it is still the one read (`old`); whether it did. The content is
/// the same, sealed again: no version moves, a signed entry stays as signed.
pub async fn reseal<C: ConnectionTrait>(
    conn: &C,
    stale: &Stale,
    new: &Sealed,
) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    let (table, column) = if stale.table == "entries" {
        ("entries", "entry_id")
    } else {
        ("medication_courses", "prescription_id")
    };
    let (id, old) = (&stale.id, &stale.sealed);
    let done = conn
        .execute_raw(stmt(
            b,
            &format!(
                "UPDATE {table} SET key_id = $1, sealed = $2
                 WHERE {column} = $3 AND key_id = $4 AND sealed = $5"
            ),
            [
                new.key_id.clone().into(),
                new.bytes.clone().into(),
                id.clone().into(),
                old.key_id.clone().into(),
                old.bytes.clone().into(),
            ],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct CourseRow {
    pub prescription_id: String,
    pub patient_id: String,
    pub key_id: String,
    pub sealed: Vec<u8>,
    pub prescribed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A patient's medication history, newest first.
pub async fn courses<C: ConnectionTrait>(
    conn: &C,
    patient_id: &str,
) -> Result<Vec<CourseRow>, DbErr> {
    let b = conn.get_database_backend();
    conn.query_all_raw(stmt(
        b,
        "SELECT prescription_id, patient_id, key_id, sealed, prescribed_at, updated_at
         FROM medication_courses WHERE patient_id = $1
         ORDER BY prescribed_at DESC, prescription_id DESC",
        [patient_id.into()],
    ))
    .await?
    .iter()
    .map(|r| CourseRow::from_query_result(r, ""))
    .collect()
}

/// Writes a course as last reported (an event older than the one kept changes nothing).
pub async fn put_course<C: ConnectionTrait>(
    conn: &C,
    prescription_id: &str,
    patient_id: &str,
    sealed: &Sealed,
    prescribed_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    conn.execute_raw(stmt(
        b,
        "INSERT INTO medication_courses (prescription_id, patient_id, key_id, sealed,
            prescribed_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (prescription_id) DO UPDATE SET key_id = excluded.key_id,
            sealed = excluded.sealed, updated_at = excluded.updated_at
         WHERE medication_courses.updated_at <= excluded.updated_at",
        [
            prescription_id.into(),
            patient_id.into(),
            sealed.key_id.clone().into(),
            sealed.bytes.clone().into(),
            ts(b, prescribed_at),
            ts(b, updated_at),
        ],
    ))
    .await?;
    Ok(())
}

/// What erasing a patient removed and kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Erased {
    pub kept_entries: i64,
    pub removed_entries: i64,
    pub removed_other: i64,
}

/// Removes what the law lets go of: drafts, entries signed before `retain_after` (past their
/// retention), grants, emergency accesses, the medication history and visits. Signed entries
/// still under retention stay (amendments keep their originals: they go or stay together by
/// the newest one's age).
pub async fn erase<C: ConnectionTrait>(
    conn: &C,
    patient_id: &str,
    retain_after: DateTime<Utc>,
) -> Result<Erased, DbErr> {
    let b = conn.get_database_backend();
    let count = |sql: &'static str, values: Vec<Value>| async move {
        conn.execute_raw(stmt(b, sql, values))
            .await
            .map(|r| i64::try_from(r.rows_affected()).unwrap_or(i64::MAX))
    };
    let drafts = count(
        "DELETE FROM entries WHERE patient_id = $1 AND status = 'draft'",
        vec![patient_id.into()],
    )
    .await?;
    // Expired chains, newest first, so an amendment goes before what it amends.
    let mut expired = 0;
    loop {
        let gone = count(
            "DELETE FROM entries WHERE patient_id = $1 AND signed_at < $2
             AND NOT EXISTS (SELECT 1 FROM entries a WHERE a.amends_entry_id = entries.entry_id)",
            vec![patient_id.into(), ts(b, retain_after)],
        )
        .await?;
        if gone == 0 {
            break;
        }
        expired += gone;
    }
    let mut other = 0;
    for sql in [
        "DELETE FROM grants WHERE patient_id = $1",
        "DELETE FROM emergency_access WHERE patient_id = $1",
        "DELETE FROM medication_courses WHERE patient_id = $1",
        "DELETE FROM visits WHERE patient_id = $1",
        "DELETE FROM care_relationships WHERE patient_id = $1",
    ] {
        other += count(sql, vec![patient_id.into()]).await?;
    }
    let kept = conn
        .query_one_raw(stmt(
            b,
            "SELECT COUNT(*) AS n FROM entries WHERE patient_id = $1",
            [patient_id.into()],
        ))
        .await?
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    Ok(Erased {
        kept_entries: kept,
        removed_entries: drafts + expired,
        removed_other: other,
    })
}

/// Erased patients whose kept entries' retention ended by `now`.
pub async fn kept_past<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
) -> Result<Vec<String>, DbErr> {
    let b = conn.get_database_backend();
    conn.query_all_raw(stmt(
        b,
        "SELECT patient_id FROM erasures WHERE keep_until IS NOT NULL AND keep_until <= $1
         ORDER BY patient_id LIMIT 100",
        [ts(b, now)],
    ))
    .await?
    .iter()
    .map(|r| r.try_get::<String>("", "patient_id"))
    .collect()
}
