//! The access log: one hash chain per patient, its head in `access_chains`. Appending locks the
//! head (a row lock on PostgreSQL, the write lock on SQLite), so the entries of one patient
//! are chained one after the other while other patients' append in parallel.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, QueryResult};
use svc_kit::db::stmt;

use crate::domain::chain::{GENESIS, Link, Stored};

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
struct LogRow {
    patient_id: String,
    sequence: i64,
    actor_id: String,
    actor_role: String,
    action: String,
    resource: String,
    basis: String,
    reason: String,
    allowed: bool,
    flagged: bool,
    trace_id: String,
    at: String,
    previous_hash: String,
    hash: String,
}

fn stored(r: &QueryResult) -> Result<Stored, DbErr> {
    let r = LogRow::from_query_result(r, "")?;
    Ok(Stored {
        link: Link {
            patient_id: r.patient_id,
            sequence: r.sequence,
            actor_id: r.actor_id,
            actor_role: r.actor_role,
            action: r.action,
            resource: r.resource,
            basis: r.basis,
            reason: r.reason,
            allowed: r.allowed,
            flagged: r.flagged,
            trace_id: r.trace_id,
            at: r.at,
        },
        previous_hash: r.previous_hash,
        hash: r.hash,
    })
}

const COLUMNS: &str = "patient_id, sequence, actor_id, actor_role, action, resource, basis,
    reason, allowed, flagged, trace_id, at, previous_hash, hash";

/// Appends `link` (its sequence is set here) to its patient's chain; the stored entry.
pub async fn append<C: ConnectionTrait>(conn: &C, link: Link) -> Result<Stored, DbErr> {
    let mut stored = append_all(conn, vec![link]).await?;
    stored
        .pop()
        .ok_or_else(|| DbErr::RecordNotFound("access log entry".into()))
}

/// Appends `links`, all of one patient, in order: three statements whatever their number
/// (take the sequences and lock the head; insert the entries; move the head's hash on).
pub async fn append_all<C: ConnectionTrait>(
    conn: &C,
    mut links: Vec<Link>,
) -> Result<Vec<Stored>, DbErr> {
    let Some(first) = links.first() else {
        return Ok(Vec::new());
    };
    let patient_id = first.patient_id.clone();
    let count = i64::try_from(links.len()).unwrap_or(i64::MAX);
    let b = conn.get_database_backend();
    // One statement takes the next `count` sequences and locks the head until the transaction
    // ends (a new chain starts after the genesis hash); the head's hash moves on below.
    let head = conn
        .query_one_raw(stmt(
            b,
            "INSERT INTO access_chains (patient_id, sequence, hash) VALUES ($1, $3, $2)
             ON CONFLICT (patient_id) DO UPDATE SET sequence = access_chains.sequence + $3
             RETURNING sequence, hash",
            [patient_id.clone().into(), GENESIS.into(), count.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("access chain".into()))?;
    let last: i64 = head.try_get("", "sequence")?;
    let mut previous: String = head.try_get("", "hash")?;
    let mut stored = Vec::with_capacity(links.len());
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(14 * links.len());
    let mut rows = Vec::with_capacity(links.len());
    for (n, mut link) in links.drain(..).enumerate() {
        if link.patient_id != patient_id {
            return Err(DbErr::Custom("one chain per append".into()));
        }
        link.sequence = last - count + 1 + i64::try_from(n).unwrap_or(0);
        let hash = link.hash(&previous);
        let base = values.len();
        rows.push(format!(
            "({})",
            (1..=14)
                .map(|k| format!("${}", base + k))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        values.extend([
            link.patient_id.clone().into(),
            link.sequence.into(),
            link.actor_id.clone().into(),
            link.actor_role.clone().into(),
            link.action.clone().into(),
            link.resource.clone().into(),
            link.basis.clone().into(),
            link.reason.clone().into(),
            link.allowed.into(),
            link.flagged.into(),
            link.trace_id.clone().into(),
            link.at.clone().into(),
            previous.clone().into(),
            hash.clone().into(),
        ]);
        stored.push(Stored {
            link,
            previous_hash: previous,
            hash: hash.clone(),
        });
        previous = hash;
    }
    conn.execute_raw(stmt(
        b,
        &format!(
            "INSERT INTO access_log ({COLUMNS}) VALUES {}",
            rows.join(", ")
        ),
        values,
    ))
    .await?;
    conn.execute_raw(stmt(
        b,
        "UPDATE access_chains SET hash = $1 WHERE patient_id = $2",
        [previous.into(), patient_id.into()],
    ))
    .await?;
    Ok(stored)
}

/// A patient's log, newest first, before sequence `before` (none: from the newest).
pub async fn page<C: ConnectionTrait>(
    conn: &C,
    patient_id: &str,
    flagged_only: bool,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<Stored>, DbErr> {
    let b = conn.get_database_backend();
    let flagged = if flagged_only { " AND flagged" } else { "" };
    conn.query_all_raw(stmt(
        b,
        &format!(
            "SELECT {COLUMNS} FROM access_log WHERE patient_id = $1 AND sequence < $2{flagged}
             ORDER BY sequence DESC LIMIT $3"
        ),
        [
            patient_id.into(),
            before.unwrap_or(i64::MAX).into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    ))
    .await?
    .iter()
    .map(stored)
    .collect()
}

/// The patients with a chain (or with log entries), by id, after `after`.
pub async fn chains<C: ConnectionTrait>(
    conn: &C,
    after: &str,
    limit: u64,
) -> Result<Vec<(String, Option<(i64, String)>)>, DbErr> {
    let b = conn.get_database_backend();
    let rows = conn
        .query_all_raw(stmt(
            b,
            "SELECT p.patient_id, c.sequence, c.hash FROM
                (SELECT patient_id FROM access_chains UNION SELECT patient_id FROM access_log) p
             LEFT JOIN access_chains c ON c.patient_id = p.patient_id
             WHERE p.patient_id > $1 ORDER BY p.patient_id LIMIT $2",
            [
                after.into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            let id: String = r.try_get("", "patient_id")?;
            let sequence: Option<i64> = r.try_get("", "sequence")?;
            let hash: Option<String> = r.try_get("", "hash")?;
            Ok((id, sequence.zip(hash)))
        })
        .collect()
}

/// One patient's chain in sequence order, up to `upto` (the head read before it: entries
/// appended since are not part of what is checked).
pub async fn whole<C: ConnectionTrait>(
    conn: &C,
    patient_id: &str,
    upto: Option<i64>,
) -> Result<Vec<Stored>, DbErr> {
    let b = conn.get_database_backend();
    conn.query_all_raw(stmt(
        b,
        &format!(
            "SELECT {COLUMNS} FROM access_log WHERE patient_id = $1 AND sequence <= $2
             ORDER BY sequence"
        ),
        [patient_id.into(), upto.unwrap_or(i64::MAX).into()],
    ))
    .await?
    .iter()
    .map(stored)
    .collect()
}

/// A chain's head: its last sequence and hash.
pub async fn head<C: ConnectionTrait>(
    conn: &C,
    patient_id: &str,
) -> Result<Option<(i64, String)>, DbErr> {
    let b = conn.get_database_backend();
    let row = conn
        .query_one_raw(stmt(
            b,
            "SELECT sequence, hash FROM access_chains WHERE patient_id = $1",
            [patient_id.into()],
        ))
        .await?;
    row.map(|r| Ok((r.try_get("", "sequence")?, r.try_get("", "hash")?)))
        .transpose()
}
