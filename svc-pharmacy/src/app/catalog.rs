//! Pharmacies and the medication catalog.

use medmesh_proto::pharmacy::v1 as pb;
use svc_kit::{
    db::{DbFailure, classify},
    idempotency::IdempotencyKey,
    paging,
};

use super::{App, allowed};
use crate::{
    convert,
    domain::{Caller, Operation},
    error::PharmacyError,
    store::catalog::{self as cat, MedicationRecord, MedicationSearch, PharmacyRecord},
};

/// A pharmacy as given (parsed).
#[derive(Debug, Clone)]
pub(crate) struct PharmacyInput {
    pub(crate) name: String,
    pub(crate) address: String,
    pub(crate) time_zone: String,
    pub(crate) phone: String,
    pub(crate) email: String,
    pub(crate) opening_hours: String,
    pub(crate) archived: bool,
    /// For an update: the version read (0: don't check).
    pub(crate) version: i64,
}

/// A medication as given (parsed).
#[derive(Debug, Clone)]
pub(crate) struct MedicationInput {
    pub(crate) name: String,
    pub(crate) active_substance: String,
    pub(crate) form: String,
    pub(crate) strength: String,
    pub(crate) pack_size: i32,
    pub(crate) atc_code: String,
    pub(crate) prescription_only: bool,
    pub(crate) archived: bool,
    pub(crate) version: i64,
}

const DUPLICATE_PHARMACY: &str = "a pharmacy with this name at this address already exists";
const DUPLICATE_MEDICATION: &str =
    "a medication with this name, form, strength and pack size already exists";

/// A unique index said no: `what` is the answer.
fn unique(error: sea_orm::DbErr, what: &'static str) -> PharmacyError {
    match classify(&error) {
        DbFailure::Duplicate(_) => PharmacyError::Duplicate(what),
        _ => error.into(),
    }
}

fn stale(version: i64) -> PharmacyError {
    PharmacyError::Kit(svc_kit::ApiError::Aborted(format!(
        "version {version} is not the current one; read it again"
    )))
}

impl App {
    pub(crate) async fn create_pharmacy(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        given: PharmacyInput,
    ) -> Result<pb::Pharmacy, PharmacyError> {
        allowed(Operation::ManagePharmacies, caller)?;
        let now = svc_kit::write::now();
        let record = PharmacyRecord {
            pharmacy_id: uuid::Uuid::now_v7().to_string(),
            name: given.name,
            address: given.address,
            time_zone: given.time_zone,
            phone: given.phone,
            email: given.email,
            opening_hours: given.opening_hours,
            archived: given.archived,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let record = &record;
        self.write(key, |txn| async move {
            cat::insert_pharmacy(&*txn, record)
                .await
                .map_err(|e| unique(e, DUPLICATE_PHARMACY))?;
            Ok(convert::pharmacy(record))
        })
        .await
    }

    pub(crate) async fn update_pharmacy(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        pharmacy_id: &str,
        given: PharmacyInput,
    ) -> Result<pb::Pharmacy, PharmacyError> {
        allowed(Operation::ManagePharmacies, caller)?;
        let given = &given;
        let answer = self
            .write(key, |txn| async move {
                let txn = &*txn;
                let current = cat::get_pharmacy(txn, pharmacy_id)
                    .await?
                    .ok_or(PharmacyError::NoSuch("pharmacy"))?;
                if given.version != 0 && given.version != current.version {
                    return Err(stale(given.version));
                }
                let record = PharmacyRecord {
                    name: given.name.clone(),
                    address: given.address.clone(),
                    time_zone: given.time_zone.clone(),
                    phone: given.phone.clone(),
                    email: given.email.clone(),
                    opening_hours: given.opening_hours.clone(),
                    archived: given.archived,
                    version: current.version + 1,
                    updated_at: svc_kit::write::now(),
                    ..current
                };
                if !cat::update_pharmacy(txn, &record)
                    .await
                    .map_err(|e| unique(e, DUPLICATE_PHARMACY))?
                {
                    return Err(PharmacyError::moved_on());
                }
                Ok(convert::pharmacy(&record))
            })
            .await;
        // This replica reads the change at once; the others within their cache's TTL.
        self.pharmacies.invalidate(pharmacy_id).await;
        answer
    }

    pub(crate) async fn get_pharmacy(
        &self,
        caller: &Caller,
        pharmacy_id: &str,
    ) -> Result<pb::Pharmacy, PharmacyError> {
        allowed(Operation::ReadPharmacies, caller)?;
        cat::get_pharmacy(&self.db, pharmacy_id)
            .await?
            .map(|p| convert::pharmacy(&p))
            .ok_or(PharmacyError::NoSuch("pharmacy"))
    }

    pub(crate) async fn list_pharmacies(
        &self,
        caller: &Caller,
        limit: u64,
        after: Option<String>,
        include_archived: bool,
    ) -> Result<pb::ListPharmaciesResponse, PharmacyError> {
        allowed(Operation::ReadPharmacies, caller)?;
        let mut found =
            cat::list_pharmacies(&self.db, after.as_deref(), limit + 1, include_archived).await?;
        let next_page_token = paging::next_page(&mut found, limit, |p| p.pharmacy_id.clone());
        Ok(pb::ListPharmaciesResponse {
            pharmacies: found.iter().map(convert::pharmacy).collect(),
            next_page_token,
        })
    }

    pub(crate) async fn create_medication(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        given: MedicationInput,
    ) -> Result<pb::Medication, PharmacyError> {
        allowed(Operation::ManageCatalog, caller)?;
        let now = svc_kit::write::now();
        let record = MedicationRecord {
            medication_id: uuid::Uuid::now_v7().to_string(),
            name: given.name,
            active_substance: given.active_substance,
            form: given.form,
            strength: given.strength,
            pack_size: given.pack_size,
            atc_code: given.atc_code,
            prescription_only: given.prescription_only,
            archived: given.archived,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let record = &record;
        self.write(key, |txn| async move {
            cat::insert_medication(&*txn, record)
                .await
                .map_err(|e| unique(e, DUPLICATE_MEDICATION))?;
            Ok(convert::medication(record))
        })
        .await
    }

    pub(crate) async fn update_medication(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        medication_id: &str,
        given: MedicationInput,
    ) -> Result<pb::Medication, PharmacyError> {
        allowed(Operation::ManageCatalog, caller)?;
        let given = &given;
        self.write(key, |txn| async move {
            let txn = &*txn;
            let current = cat::get_medication(txn, medication_id)
                .await?
                .ok_or(PharmacyError::NoSuch("medication"))?;
            if given.version != 0 && given.version != current.version {
                return Err(stale(given.version));
            }
            let record = MedicationRecord {
                name: given.name.clone(),
                active_substance: given.active_substance.clone(),
                form: given.form.clone(),
                strength: given.strength.clone(),
                pack_size: given.pack_size,
                atc_code: given.atc_code.clone(),
                prescription_only: given.prescription_only,
                archived: given.archived,
                version: current.version + 1,
                updated_at: svc_kit::write::now(),
                ..current
            };
            if !cat::update_medication(txn, &record)
                .await
                .map_err(|e| unique(e, DUPLICATE_MEDICATION))?
            {
                return Err(PharmacyError::moved_on());
            }
            Ok(convert::medication(&record))
        })
        .await
    }

    pub(crate) async fn get_medication(
        &self,
        caller: &Caller,
        medication_id: &str,
    ) -> Result<pb::Medication, PharmacyError> {
        allowed(Operation::ReadCatalog, caller)?;
        cat::get_medication(&self.db, medication_id)
            .await?
            .map(|m| convert::medication(&m))
            .ok_or(PharmacyError::NoSuch("medication"))
    }

    pub(crate) async fn search_medications(
        &self,
        caller: &Caller,
        mut search: MedicationSearch,
    ) -> Result<pb::SearchMedicationsResponse, PharmacyError> {
        allowed(Operation::ReadCatalog, caller)?;
        let limit = search.limit;
        search.limit = limit + 1;
        let mut found = cat::search_medications(&self.db, &search).await?;
        let next_page_token = paging::next_page(&mut found, limit, |(key, m)| {
            format!("{key}\u{1f}{}", m.medication_id)
        });
        Ok(pb::SearchMedicationsResponse {
            medications: found.iter().map(|(_, m)| convert::medication(m)).collect(),
            next_page_token,
        })
    }
}
