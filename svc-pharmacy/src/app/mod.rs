//! The use cases: one function per operation, taking typed input and the caller, returning the
//! answer or a [`PharmacyError`]. Each write runs through `svc_kit::write` (one transaction
//! holding the change, its ledger rows, its events and its idempotency key, run again on
//! contention); the cached stock lines it touched move on to a new cache generation after the
//! commit.
//!
//! `app` knows the domain and the store, never tonic: the API parses requests into these inputs
//! and maps the results back.

mod catalog;
mod ledger;
mod prescriptions;
mod stock;

use std::{collections::BTreeSet, future::Future, time::Duration};

use prost::Message;
use sea_orm::DatabaseConnection;
use svc_kit::{
    cache::Cache,
    events::Outbox,
    idempotency::IdempotencyKey,
    write::{self, Txn},
};

pub(crate) use self::{
    catalog::{MedicationInput, PharmacyInput},
    prescriptions::{ItemInput, NewPrescription},
    stock::{Adjustment, MAX_PREFERRED, ShipmentLineInput},
};
pub(crate) use crate::store::prescriptions::PrescriptionFilter;
use crate::{
    domain::{Caller, Operation, access},
    error::PharmacyError,
    store::catalog::{self as cat, MedicationRecord, PharmacyRecord},
};

/// How long things last and how far they reach.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub stock_ttl: Duration,
    pub default_validity: chrono::Duration,
    pub max_validity: chrono::Duration,
    pub expiring_soon: chrono::Duration,
}

/// What the use cases work with.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub(crate) db: DatabaseConnection,
    pub(crate) outbox: Outbox,
    pub(crate) cache: Cache,
    pub(crate) rules: Rules,
    /// Pharmacies read lately, kept for [`PHARMACY_TTL`] (every read of stock checks its
    /// pharmacy; an edit on this replica is seen at once, on another within the TTL).
    pub(crate) pharmacies: moka::future::Cache<String, PharmacyRecord>,
}

/// How long a pharmacy read is reused.
pub(crate) const PHARMACY_TTL: Duration = Duration::from_secs(30);

/// The pharmacy cache an [`App`] starts with.
pub(crate) fn pharmacy_cache() -> moka::future::Cache<String, PharmacyRecord> {
    moka::future::Cache::builder()
        .max_capacity(10_000)
        .time_to_live(PHARMACY_TTL)
        .build()
}

/// Refused at once if the caller's roles don't name `operation`.
pub(crate) fn allowed(operation: Operation, caller: &Caller) -> Result<(), PharmacyError> {
    if access::allows(operation, caller) {
        Ok(())
    } else {
        Err(PharmacyError::denied())
    }
}

/// The caller's MedMesh user id; clients acting for themselves have none.
fn person(caller: &Caller) -> Result<&str, PharmacyError> {
    caller.user_id.as_deref().ok_or_else(PharmacyError::denied)
}

/// The cache scopes of stock lines: one per line, moved on after every committed change.
fn scopes(lines: &BTreeSet<(String, String)>) -> Vec<String> {
    lines
        .iter()
        .map(|(p, m)| format!("stock:{p}:{m}"))
        .collect()
}

/// The kit's write helpers, answering the service's error.
impl App {
    async fn write<M, F, Fut>(&self, key: &IdempotencyKey, change: F) -> Result<M, PharmacyError>
    where
        M: Message + Default,
        F: FnMut(Txn) -> Fut,
        Fut: Future<Output = Result<M, PharmacyError>>,
    {
        write::write(&self.db, key, change).await
    }

    /// A write that touches stock: the change returns its answer and the lines it touched,
    /// whose cached values are stale once it committed.
    async fn stock_write<M, F, Fut>(
        &self,
        key: &IdempotencyKey,
        change: F,
    ) -> Result<M, PharmacyError>
    where
        M: Message + Default,
        F: FnMut(Txn) -> Fut,
        Fut: Future<Output = Result<(M, BTreeSet<(String, String)>), PharmacyError>>,
    {
        let (answer, touched) = write::write_with(&self.db, key, change).await?;
        if let Some(touched) = touched {
            self.cache.advance(&scopes(&touched)).await;
        }
        Ok(answer)
    }

    /// A pharmacy, from the last [`PHARMACY_TTL`]'s reads or the database.
    async fn pharmacy(&self, id: &str) -> Result<Option<PharmacyRecord>, PharmacyError> {
        if let Some(p) = self.pharmacies.get(id).await {
            return Ok(Some(p));
        }
        let found = cat::get_pharmacy(&self.db, id).await?;
        if let Some(p) = &found {
            self.pharmacies.insert(id.to_string(), p.clone()).await;
        }
        Ok(found)
    }

    /// The pharmacy `id` names (not archived unless `archived_ok`); a field error on `field`.
    async fn pharmacy_named(
        &self,
        field: &str,
        id: &str,
        archived_ok: bool,
    ) -> Result<PharmacyRecord, PharmacyError> {
        match cat::get_pharmacy(&self.db, id).await? {
            Some(p) if archived_ok || !p.archived => Ok(p),
            _ => Err(PharmacyError::field(field, "is not a pharmacy")),
        }
    }

    /// The medication `id` names, not archived; a field error on `field`.
    async fn medication_named(
        &self,
        field: &str,
        id: &str,
    ) -> Result<MedicationRecord, PharmacyError> {
        match cat::get_medication(&self.db, id).await? {
            Some(m) if !m.archived => Ok(m),
            _ => Err(PharmacyError::field(
                field,
                "is not a medication in the catalog",
            )),
        }
    }

    /// A pharmacy the caller works at (a pharmacist) or any (an admin, where `admin_ok`);
    /// "no such pharmacy" otherwise.
    async fn own_pharmacy(
        &self,
        caller: &Caller,
        pharmacy_id: &str,
        admin_ok: bool,
    ) -> Result<PharmacyRecord, PharmacyError> {
        let reaches =
            caller.works_at(pharmacy_id) || (admin_ok && caller.holds(svc_kit::auth::Role::Admin));
        if !reaches {
            return Err(PharmacyError::NoSuch("pharmacy"));
        }
        match self.pharmacy(pharmacy_id).await? {
            Some(p) => Ok(p),
            _ => Err(PharmacyError::NoSuch("pharmacy")),
        }
    }
}
