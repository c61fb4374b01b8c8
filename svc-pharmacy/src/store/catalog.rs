//! Pharmacies, the medication catalog and patients' preferred pharmacies.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, QueryResult};
use svc_kit::{db::stmt, text::search_key};

use super::{contains_pattern, ts};

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct PharmacyRecord {
    pub pharmacy_id: String,
    pub name: String,
    pub address: String,
    pub time_zone: String,
    pub phone: String,
    pub email: String,
    /// `weekday HH:MM-HH:MM` entries separated by `;`.
    pub opening_hours: String,
    pub archived: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn pharmacy(row: &QueryResult) -> Result<PharmacyRecord, DbErr> {
    PharmacyRecord::from_query_result(row, "")
}

const PHARMACY_COLUMNS: &str = "pharmacy_id, name, address, time_zone, phone, email, opening_hours,
    archived, version, created_at, updated_at";

pub async fn insert_pharmacy<C: ConnectionTrait>(
    conn: &C,
    p: &PharmacyRecord,
) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    conn.execute_raw(stmt(
        b,
        "INSERT INTO pharmacies (pharmacy_id, name, name_key, address, time_zone, phone, email,
            opening_hours, archived, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        [
            p.pharmacy_id.clone().into(),
            p.name.clone().into(),
            search_key(&p.name).into(),
            p.address.clone().into(),
            p.time_zone.clone().into(),
            p.phone.clone().into(),
            p.email.clone().into(),
            p.opening_hours.clone().into(),
            p.archived.into(),
            p.version.into(),
            ts(b, p.created_at),
            ts(b, p.updated_at),
        ],
    ))
    .await?;
    Ok(())
}

/// Saves `p` over the row at `p.version - 1`; false when the row moved on meanwhile.
pub async fn update_pharmacy<C: ConnectionTrait>(
    conn: &C,
    p: &PharmacyRecord,
) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    let result = conn
        .execute_raw(stmt(
            b,
            "UPDATE pharmacies SET name = $2, name_key = $3, address = $4, time_zone = $5,
                phone = $6, email = $7, opening_hours = $8, archived = $9, version = $10,
                updated_at = $11
             WHERE pharmacy_id = $1 AND version = $12",
            [
                p.pharmacy_id.clone().into(),
                p.name.clone().into(),
                search_key(&p.name).into(),
                p.address.clone().into(),
                p.time_zone.clone().into(),
                p.phone.clone().into(),
                p.email.clone().into(),
                p.opening_hours.clone().into(),
                p.archived.into(),
                p.version.into(),
                ts(b, p.updated_at),
                (p.version - 1).into(),
            ],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn get_pharmacy<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<PharmacyRecord>, DbErr> {
    conn.query_one_raw(stmt(
        conn.get_database_backend(),
        &format!("SELECT {PHARMACY_COLUMNS} FROM pharmacies WHERE pharmacy_id = $1"),
        [id.into()],
    ))
    .await?
    .map(|r| pharmacy(&r))
    .transpose()
}

/// Pharmacies by id after `after`, `limit` of them.
pub async fn list_pharmacies<C: ConnectionTrait>(
    conn: &C,
    after: Option<&str>,
    limit: u64,
    include_archived: bool,
) -> Result<Vec<PharmacyRecord>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn.get_database_backend(),
            &format!(
                "SELECT {PHARMACY_COLUMNS} FROM pharmacies
                 WHERE pharmacy_id > $1 AND ($2 OR archived = $3)
                 ORDER BY pharmacy_id LIMIT $4"
            ),
            [
                after.unwrap_or("").into(),
                include_archived.into(),
                false.into(),
                (limit as i64).into(),
            ],
        ))
        .await?;
    rows.iter().map(pharmacy).collect()
}

/// Pharmacies by id, the ones that exist.
pub async fn pharmacies_by_id<C: ConnectionTrait>(
    conn: &C,
    ids: &[String],
) -> Result<Vec<PharmacyRecord>, DbErr> {
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(p) = get_pharmacy(conn, id).await? {
            found.push(p);
        }
    }
    Ok(found)
}

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct MedicationRecord {
    pub medication_id: String,
    pub name: String,
    pub active_substance: String,
    pub form: String,
    pub strength: String,
    pub pack_size: i32,
    pub atc_code: String,
    pub prescription_only: bool,
    pub archived: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl MedicationRecord {
    /// A generic of `self`: the same active substance, strength and form.
    pub fn is_generic_of(&self, other: &MedicationRecord) -> bool {
        search_key(&self.active_substance) == search_key(&other.active_substance)
            && search_key(&self.strength) == search_key(&other.strength)
            && search_key(&self.form) == search_key(&other.form)
    }
}

fn medication(row: &QueryResult) -> Result<MedicationRecord, DbErr> {
    MedicationRecord::from_query_result(row, "")
}

const MEDICATION_COLUMNS: &str = "medication_id, name, active_substance, form, strength, pack_size,
    atc_code, prescription_only, archived, version, created_at, updated_at";

fn medication_values(b: sea_orm::DbBackend, m: &MedicationRecord) -> Vec<sea_orm::Value> {
    vec![
        m.medication_id.clone().into(),
        m.name.clone().into(),
        m.active_substance.clone().into(),
        search_key(&m.name).into(),
        search_key(&m.active_substance).into(),
        m.form.clone().into(),
        m.strength.clone().into(),
        m.pack_size.into(),
        m.atc_code.clone().into(),
        m.prescription_only.into(),
        m.archived.into(),
        m.version.into(),
        ts(b, m.updated_at),
    ]
}

pub async fn insert_medication<C: ConnectionTrait>(
    conn: &C,
    m: &MedicationRecord,
) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    let mut values = medication_values(b, m);
    values.push(ts(b, m.created_at));
    conn.execute_raw(stmt(
        b,
        "INSERT INTO medications (medication_id, name, active_substance, search, substance_key,
            form, strength, pack_size, atc_code, prescription_only, archived, version, updated_at,
            created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        values,
    ))
    .await?;
    Ok(())
}

/// Saves `m` over the row at `m.version - 1`; false when the row moved on meanwhile.
pub async fn update_medication<C: ConnectionTrait>(
    conn: &C,
    m: &MedicationRecord,
) -> Result<bool, DbErr> {
    let b = conn.get_database_backend();
    let mut values = medication_values(b, m);
    values.push((m.version - 1).into());
    let result = conn
        .execute_raw(stmt(
            b,
            "UPDATE medications SET name = $2, active_substance = $3, search = $4,
                substance_key = $5, form = $6, strength = $7, pack_size = $8, atc_code = $9,
                prescription_only = $10, archived = $11, version = $12, updated_at = $13
             WHERE medication_id = $1 AND version = $14",
            values,
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn get_medication<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<MedicationRecord>, DbErr> {
    conn.query_one_raw(stmt(
        conn.get_database_backend(),
        &format!("SELECT {MEDICATION_COLUMNS} FROM medications WHERE medication_id = $1"),
        [id.into()],
    ))
    .await?
    .map(|r| medication(&r))
    .transpose()
}

/// What a catalog search asks.
#[derive(Debug, Clone, Default)]
pub struct MedicationSearch {
    pub query: String,
    pub active_substance: String,
    /// The last (search key, id) of the previous page.
    pub after: Option<(String, String)>,
    pub limit: u64,
}

/// Medications whose name or substance contains the query (or whose ATC code starts with
/// it), diacritics and case folded, by name; archived ones left out.
pub async fn search_medications<C: ConnectionTrait>(
    conn: &C,
    search: &MedicationSearch,
) -> Result<Vec<(String, MedicationRecord)>, DbErr> {
    let query = search_key(&search.query);
    let (after_key, after_id) = search.after.clone().unwrap_or_default();
    let rows = conn
        .query_all_raw(stmt(
            conn.get_database_backend(),
            &format!(
                "SELECT search, {MEDICATION_COLUMNS} FROM medications
                 WHERE archived = $1
                   AND ($2 = '' OR search LIKE $3 ESCAPE '\\' OR substance_key LIKE $3 ESCAPE '\\'
                        OR LOWER(atc_code) LIKE $4 ESCAPE '\\')
                   AND ($5 = '' OR substance_key = $5)
                   AND (search > $6 OR (search = $6 AND medication_id > $7))
                 ORDER BY search, medication_id LIMIT $8"
            ),
            [
                false.into(),
                query.clone().into(),
                contains_pattern(&query).into(),
                format!("{}%", query.replace(['%', '_'], "")).into(),
                search_key(&search.active_substance).into(),
                after_key.into(),
                after_id.into(),
                (search.limit as i64).into(),
            ],
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String>("", "search")?, medication(r)?)))
        .collect()
}

/// A patient's preferred pharmacies, in order.
pub async fn preferred<C: ConnectionTrait>(
    conn: &C,
    patient_id: &str,
) -> Result<Vec<String>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn.get_database_backend(),
            "SELECT pharmacy_id FROM preferred_pharmacies WHERE patient_id = $1 ORDER BY position",
            [patient_id.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| r.try_get::<String>("", "pharmacy_id"))
        .collect()
}

pub async fn set_preferred<C: ConnectionTrait>(
    conn: &C,
    patient_id: &str,
    pharmacy_ids: &[String],
) -> Result<(), DbErr> {
    let b = conn.get_database_backend();
    conn.execute_raw(stmt(
        b,
        "DELETE FROM preferred_pharmacies WHERE patient_id = $1",
        [patient_id.into()],
    ))
    .await?;
    for (position, id) in pharmacy_ids.iter().enumerate() {
        conn.execute_raw(stmt(
            b,
            "INSERT INTO preferred_pharmacies (patient_id, position, pharmacy_id) VALUES ($1, $2, $3)",
            [patient_id.into(), (position as i32).into(), id.clone().into()],
        ))
        .await?;
    }
    Ok(())
}
