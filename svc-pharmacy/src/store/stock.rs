//! Stock lines, their lots and the ledger. A line changes only through [`set_line`], which
//! writes the new quantities over exactly the ones read (under the row lock taken by
//! [`lock_line`]); the `CHECK` constraints refuse anything negative or over-reserved.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, QueryResult, Value};
use svc_kit::db::stmt;

use super::{for_update, opt_ts, ts};
use crate::domain::stock::{Line, LotLeft};

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct StockRecord {
    pub pharmacy_id: String,
    pub medication_id: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub critical_threshold: i64,
    pub low: bool,
    pub updated_at: DateTime<Utc>,
}

impl StockRecord {
    pub fn line(&self) -> Line {
        Line {
            on_hand: self.on_hand,
            reserved: self.reserved,
            critical_threshold: self.critical_threshold,
        }
    }

    /// No line yet: nothing on hand.
    pub fn empty(pharmacy_id: &str, medication_id: &str, now: DateTime<Utc>) -> StockRecord {
        StockRecord {
            pharmacy_id: pharmacy_id.to_string(),
            medication_id: medication_id.to_string(),
            on_hand: 0,
            reserved: 0,
            critical_threshold: 0,
            low: false,
            updated_at: now,
        }
    }
}

fn stock(row: &QueryResult) -> Result<StockRecord, DbErr> {
    StockRecord::from_query_result(row, "")
}

const STOCK_COLUMNS: &str =
    "pharmacy_id, medication_id, on_hand, reserved, critical_threshold, low, updated_at";

/// The line, locked until the transaction ends (PostgreSQL); `None` when there is none.
pub async fn lock_line<C: ConnectionTrait>(
    conn: &C,
    pharmacy_id: &str,
    medication_id: &str,
) -> Result<Option<StockRecord>, DbErr> {
    let b = conn.get_database_backend();
    conn.query_one_raw(stmt(
        b,
        &format!(
            "SELECT {STOCK_COLUMNS} FROM stock WHERE pharmacy_id = $1 AND medication_id = $2{}",
            for_update(b)
        ),
        [pharmacy_id.into(), medication_id.into()],
    ))
    .await?
    .map(|r| stock(&r))
    .transpose()
}

/// Creates an empty line if there is none.
pub async fn ensure_line<C: ConnectionTrait>(
    conn: &C,
    pharmacy_id: &str,
    medication_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    conn.execute_raw(stmt(
        b,
        "INSERT INTO stock (pharmacy_id, medication_id, on_hand, reserved, critical_threshold, low,
            updated_at)
         VALUES ($1, $2, 0, 0, 0, FALSE, $3) ON CONFLICT (pharmacy_id, medication_id) DO NOTHING",
        [pharmacy_id.into(), medication_id.into(), ts(b, now)],
    ))
    .await?;
    Ok(())
}

/// Writes `after`'s quantities, threshold and low mark over the line exactly as `before` read
/// it; false when the line moved on meanwhile (the transaction then runs again).
pub async fn set_line<C: ConnectionTrait>(
    conn: &C,
    before: &StockRecord,
    after: &StockRecord,
) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    let result = conn
        .execute_raw(stmt(
            b,
            "UPDATE stock SET on_hand = $3, reserved = $4, critical_threshold = $5, low = $6,
                updated_at = $7
             WHERE pharmacy_id = $1 AND medication_id = $2 AND on_hand = $8 AND reserved = $9",
            [
                before.pharmacy_id.clone().into(),
                before.medication_id.clone().into(),
                after.on_hand.into(),
                after.reserved.into(),
                after.critical_threshold.into(),
                after.low.into(),
                ts(b, after.updated_at),
                before.on_hand.into(),
                before.reserved.into(),
            ],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Lines of a pharmacy: the named medications (those that have a line), or all of them.
pub async fn lines<C: ConnectionTrait>(
    conn: &C,
    pharmacy_id: &str,
    medication_ids: &[String],
) -> Result<Vec<StockRecord>, DbErr> {
    let b = conn.get_database_backend();
    if medication_ids.is_empty() {
        let rows = conn
            .query_all_raw(stmt(
                b,
                &format!("SELECT {STOCK_COLUMNS} FROM stock WHERE pharmacy_id = $1 ORDER BY medication_id"),
                [pharmacy_id.into()],
            ))
            .await?;
        return rows.iter().map(stock).collect();
    }
    let placeholders: Vec<String> = (0..medication_ids.len())
        .map(|i| format!("${}", i + 2))
        .collect();
    let mut values: Vec<Value> = vec![pharmacy_id.into()];
    values.extend(medication_ids.iter().map(|m| Value::from(m.clone())));
    let rows = conn
        .query_all_raw(stmt(
            b,
            &format!(
                "SELECT {STOCK_COLUMNS} FROM stock WHERE pharmacy_id = $1 AND medication_id IN ({})
                 ORDER BY medication_id",
                placeholders.join(", ")
            ),
            values,
        ))
        .await?;
    rows.iter().map(stock).collect()
}

/// Lines at or below their critical threshold.
pub async fn low_lines<C: ConnectionTrait>(
    conn: &C,
    pharmacy_id: &str,
) -> Result<Vec<StockRecord>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn.get_database_backend(),
            &format!(
                "SELECT {STOCK_COLUMNS} FROM stock
                 WHERE pharmacy_id = $1 AND on_hand - reserved <= critical_threshold
                 ORDER BY medication_id"
            ),
            [pharmacy_id.into()],
        ))
        .await?;
    rows.iter().map(stock).collect()
}

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct LotRecord {
    pub pharmacy_id: String,
    pub medication_id: String,
    pub lot: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub quantity: i64,
    pub received_at: DateTime<Utc>,
}

impl LotRecord {
    pub fn left(&self) -> LotLeft {
        LotLeft {
            lot: self.lot.clone(),
            quantity: self.quantity,
            expires_at: self.expires_at,
        }
    }
}

fn lot(row: &QueryResult) -> Result<LotRecord, DbErr> {
    LotRecord::from_query_result(row, "")
}

const LOT_COLUMNS: &str = "pharmacy_id, medication_id, lot, expires_at, quantity, received_at";

/// The line's lots with stock left.
pub async fn lots<C: ConnectionTrait>(
    conn: &C,
    pharmacy_id: &str,
    medication_id: &str,
) -> Result<Vec<LotRecord>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn.get_database_backend(),
            &format!(
                "SELECT {LOT_COLUMNS} FROM lots
                 WHERE pharmacy_id = $1 AND medication_id = $2 AND quantity > 0 ORDER BY lot"
            ),
            [pharmacy_id.into(), medication_id.into()],
        ))
        .await?;
    rows.iter().map(lot).collect()
}

/// A lot by name, with or without stock left.
pub async fn get_lot<C: ConnectionTrait>(
    conn: &C,
    pharmacy_id: &str,
    medication_id: &str,
    name: &str,
) -> Result<Option<LotRecord>, DbErr> {
    conn.query_one_raw(stmt(
        conn.get_database_backend(),
        &format!("SELECT {LOT_COLUMNS} FROM lots WHERE pharmacy_id = $1 AND medication_id = $2 AND lot = $3"),
        [pharmacy_id.into(), medication_id.into(), name.into()],
    ))
    .await?
    .map(|r| lot(&r))
    .transpose()
}

/// Adds `quantity` to a lot, creating it (with its expiry) if new.
pub async fn add_to_lot<C: ConnectionTrait>(conn: &C, l: &LotRecord) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    conn.execute_raw(stmt(
        b,
        "INSERT INTO lots (pharmacy_id, medication_id, lot, expires_at, quantity, received_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (pharmacy_id, medication_id, lot)
         DO UPDATE SET quantity = lots.quantity + excluded.quantity",
        [
            l.pharmacy_id.clone().into(),
            l.medication_id.clone().into(),
            l.lot.clone().into(),
            opt_ts(b, l.expires_at),
            l.quantity.into(),
            ts(b, l.received_at),
        ],
    ))
    .await?;
    Ok(())
}

/// Takes `quantity` out of a lot; false when it holds less.
pub async fn take_from_lot<C: ConnectionTrait>(
    conn: &C,
    pharmacy_id: &str,
    medication_id: &str,
    name: &str,
    quantity: i64,
) -> Result<bool, DbErr> {
    let result = conn
        .execute_raw(stmt(
            conn.get_database_backend(),
            "UPDATE lots SET quantity = quantity - $4
             WHERE pharmacy_id = $1 AND medication_id = $2 AND lot = $3 AND quantity >= $4",
            [
                pharmacy_id.into(),
                medication_id.into(),
                name.into(),
                quantity.into(),
            ],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Lots with stock left expiring before `before`, earliest first.
pub async fn expiring<C: ConnectionTrait>(
    conn: &C,
    pharmacy_id: &str,
    before: DateTime<Utc>,
) -> Result<Vec<LotRecord>, DbErr> {
    let b = conn.get_database_backend();
    let rows = conn
        .query_all_raw(stmt(
            b,
            &format!(
                "SELECT {LOT_COLUMNS} FROM lots
                 WHERE pharmacy_id = $1 AND quantity > 0 AND expires_at IS NOT NULL AND expires_at < $2
                 ORDER BY expires_at, medication_id, lot LIMIT 1000"
            ),
            [pharmacy_id.into(), ts(b, before)],
        ))
        .await?;
    rows.iter().map(lot).collect()
}

/// A lot with stock left that entered the expiring-soon window and was not announced yet.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct ExpiringLot {
    pub pharmacy_id: String,
    pub pharmacy_name: String,
    pub medication_id: String,
    pub medication_name: String,
    pub lot: String,
    pub quantity: i64,
    pub expires_at: DateTime<Utc>,
}

/// Up to `limit` lots, in any pharmacy, expiring before `before` and not announced yet.
pub async fn unannounced_expiring<C: ConnectionTrait>(
    conn: &C,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<ExpiringLot>, DbErr> {
    let b = conn.get_database_backend();
    let rows = conn
        .query_all_raw(stmt(
            b,
            "SELECT l.pharmacy_id, p.name AS pharmacy_name, l.medication_id,
                    m.name AS medication_name, l.lot, l.quantity, l.expires_at
               FROM lots l
               JOIN pharmacies p ON p.pharmacy_id = l.pharmacy_id
               JOIN medications m ON m.medication_id = l.medication_id
              WHERE l.quantity > 0 AND l.expires_at IS NOT NULL AND l.expires_at < $1
                AND NOT EXISTS (SELECT 1 FROM expiry_alerts a
                                 WHERE a.pharmacy_id = l.pharmacy_id
                                   AND a.medication_id = l.medication_id AND a.lot = l.lot)
              ORDER BY l.expires_at LIMIT $2",
            [ts(b, before), (limit as i64).into()],
        ))
        .await?;
    rows.iter()
        .map(|r| ExpiringLot::from_query_result(r, ""))
        .collect()
}

/// Marks a lot's expiry as announced; false when it already was (another replica did it).
pub async fn announce_expiry<C: ConnectionTrait>(
    conn: &C,
    lot: &ExpiringLot,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    Ok(conn
        .execute_raw(stmt(
            b,
            "INSERT INTO expiry_alerts (pharmacy_id, medication_id, lot, alerted_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            [
                lot.pharmacy_id.as_str().into(),
                lot.medication_id.as_str().into(),
                lot.lot.as_str().into(),
                ts(b, at),
            ],
        ))
        .await?
        .rows_affected()
        == 1)
}

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct MovementRecord {
    pub movement_id: String,
    pub pharmacy_id: String,
    pub medication_id: String,
    /// `received`, `adjusted`, `dispensed`.
    pub kind: String,
    pub delta: i64,
    pub reason: String,
    pub note: String,
    pub lot: String,
    pub reference: String,
    pub actor_subject: String,
    /// Space-separated.
    pub actor_roles: String,
    pub at: DateTime<Utc>,
}

pub async fn insert_movement<C: ConnectionTrait>(
    conn: &C,
    m: &MovementRecord,
) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    conn.execute_raw(stmt(
        b,
        "INSERT INTO stock_movements (movement_id, pharmacy_id, medication_id, kind, delta, reason,
            note, lot, reference, actor_subject, actor_roles, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        [
            m.movement_id.clone().into(),
            m.pharmacy_id.clone().into(),
            m.medication_id.clone().into(),
            m.kind.clone().into(),
            m.delta.into(),
            m.reason.clone().into(),
            m.note.clone().into(),
            m.lot.clone().into(),
            m.reference.clone().into(),
            m.actor_subject.clone().into(),
            m.actor_roles.clone().into(),
            ts(b, m.at),
        ],
    ))
    .await?;
    Ok(())
}

/// The ledger of a pharmacy (one medication, or all), newest first, before `before`.
pub async fn movements<C: ConnectionTrait>(
    conn: &C,
    pharmacy_id: &str,
    medication_id: Option<&str>,
    before: Option<&str>,
    limit: u64,
) -> Result<Vec<MovementRecord>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn.get_database_backend(),
            "SELECT movement_id, pharmacy_id, medication_id, kind, delta, reason, note, lot,
                reference, actor_subject, actor_roles, at
             FROM stock_movements
             WHERE pharmacy_id = $1 AND ($2 = '' OR medication_id = $2)
               AND ($3 = '' OR movement_id < $3)
             ORDER BY movement_id DESC LIMIT $4",
            [
                pharmacy_id.into(),
                medication_id.unwrap_or("").into(),
                before.unwrap_or("").into(),
                (limit as i64).into(),
            ],
        ))
        .await?;
    rows.iter()
        .map(|r| MovementRecord::from_query_result(r, ""))
        .collect()
}
