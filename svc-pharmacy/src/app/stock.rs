//! Stock: cached reads of lines and availability, shipments, adjustments, thresholds, the
//! low-stock and expiring lists, the ledger, and patients' preferred pharmacies.
//!
//! Reads come from the cache (one entry per line, under the line's cache generation, which every
//! committed change moves on); a missing or unreadable cache answers from the database and is
//! counted. Writes never read the cache.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use medmesh_proto::pharmacy::v1 as pb;
use prost::Message;
use svc_kit::{auth::Role, idempotency::IdempotencyKey, paging};

use super::{
    App, allowed,
    ledger::{Ledger, movement},
    person,
};
use crate::{
    convert,
    domain::{Caller, Operation, stock::Line},
    error::PharmacyError,
    events,
    store::{
        catalog as cat,
        stock::{self as st, LotRecord},
    },
};

/// One line of a shipment (parsed).
#[derive(Debug, Clone)]
pub(crate) struct ShipmentLineInput {
    pub(crate) medication_id: String,
    pub(crate) quantity: i64,
    pub(crate) lot: String,
    pub(crate) expires_at: Option<DateTime<Utc>>,
}

/// A stock correction (parsed).
#[derive(Debug, Clone)]
pub(crate) struct Adjustment {
    pub(crate) pharmacy_id: String,
    pub(crate) medication_id: String,
    pub(crate) delta: i64,
    pub(crate) reason: pb::AdjustmentReason,
    pub(crate) note: String,
    pub(crate) lot: Option<String>,
}

/// The most pharmacies a patient may prefer.
pub(crate) const MAX_PREFERRED: usize = 5;

fn counted(result: &'static str, n: usize) {
    metrics::counter!("medmesh_pharmacy_stock_reads_total", "result" => result).increment(n as u64);
}

impl App {
    /// The levels of `medication_ids` at a pharmacy, from the cache where it holds them; a
    /// medication without a line reads as nothing on hand.
    pub(crate) async fn levels(
        &self,
        pharmacy_id: &str,
        medication_ids: &[String],
    ) -> Result<Vec<pb::StockLevel>, PharmacyError> {
        let scopes: Vec<String> = medication_ids
            .iter()
            .map(|m| format!("stock:{pharmacy_id}:{m}"))
            .collect();
        let generations = self.cache.generations(&scopes).await;
        let keys: Option<Vec<String>> = generations.as_ref().map(|gens| {
            medication_ids
                .iter()
                .zip(gens)
                .map(|(m, g)| format!("stock:{pharmacy_id}:{m}:{g}"))
                .collect()
        });
        let cached: Vec<Option<pb::StockLevel>> = match &keys {
            Some(keys) => match self.cache.get_many(keys).await {
                Ok(values) => values
                    .into_iter()
                    .map(|v| v.and_then(|b| pb::StockLevel::decode(b).ok()))
                    .collect(),
                Err(_) => {
                    counted("fallback", medication_ids.len());
                    vec![None; medication_ids.len()]
                }
            },
            None => {
                counted("fallback", medication_ids.len());
                vec![None; medication_ids.len()]
            }
        };
        let missing: Vec<String> = medication_ids
            .iter()
            .zip(&cached)
            .filter(|(_, c)| c.is_none())
            .map(|(m, _)| m.clone())
            .collect();
        counted("hit", medication_ids.len() - missing.len());
        let mut loaded: BTreeMap<String, pb::StockLevel> = BTreeMap::new();
        if !missing.is_empty() {
            if keys.is_some() {
                counted("miss", missing.len());
            }
            let now = svc_kit::write::now();
            let lines = st::lines(&self.db, pharmacy_id, &missing).await?;
            for medication_id in &missing {
                let name = cat::get_medication(&self.db, medication_id)
                    .await?
                    .map(|m| m.name)
                    .unwrap_or_default();
                let level = match lines.iter().find(|l| &l.medication_id == medication_id) {
                    Some(line) => {
                        let lots = st::lots(&self.db, pharmacy_id, medication_id).await?;
                        convert::level(line, &lots, &name, now)
                    }
                    None => convert::level(
                        &st::StockRecord::empty(pharmacy_id, medication_id, now),
                        &[],
                        &name,
                        now,
                    ),
                };
                loaded.insert(medication_id.clone(), level);
            }
            if let Some(keys) = &keys {
                for (medication_id, key) in medication_ids.iter().zip(keys) {
                    if let Some(level) = loaded.get(medication_id) {
                        let _ = self
                            .cache
                            .set(
                                key,
                                Bytes::from(level.encode_to_vec()),
                                self.rules.stock_ttl,
                            )
                            .await;
                    }
                }
            }
        }
        Ok(medication_ids
            .iter()
            .zip(cached)
            .map(|(m, c)| c.or_else(|| loaded.remove(m)).unwrap_or_default())
            .collect())
    }

    pub(crate) async fn get_stock(
        &self,
        caller: &Caller,
        pharmacy_id: &str,
        medication_ids: Vec<String>,
    ) -> Result<pb::GetStockResponse, PharmacyError> {
        allowed(Operation::ReadStock, caller)?;
        self.own_pharmacy(caller, pharmacy_id, true).await?;
        let medication_ids = if medication_ids.is_empty() {
            st::lines(&self.db, pharmacy_id, &[])
                .await?
                .into_iter()
                .map(|l| l.medication_id)
                .collect()
        } else {
            medication_ids
        };
        Ok(pb::GetStockResponse {
            levels: self.levels(pharmacy_id, &medication_ids).await?,
        })
    }

    /// In stock / low / out at each pharmacy for each medication (the patient's preferred
    /// pharmacies when none are named).
    pub(crate) async fn get_availability(
        &self,
        caller: &Caller,
        pharmacy_ids: Vec<String>,
        medication_ids: Vec<String>,
        patient_id: Option<String>,
    ) -> Result<pb::GetAvailabilityResponse, PharmacyError> {
        allowed(Operation::ReadAvailability, caller)?;
        let pharmacy_ids = match (pharmacy_ids.is_empty(), patient_id) {
            (false, _) => pharmacy_ids,
            (true, Some(patient_id)) => {
                self.may_read_preferences(caller, &patient_id).await?;
                cat::preferred(&self.db, &patient_id).await?
            }
            (true, None) => {
                return Err(PharmacyError::field(
                    "pharmacy_ids",
                    "name at least one pharmacy, or a patient_id",
                ));
            }
        };
        for (n, id) in pharmacy_ids.iter().enumerate() {
            self.pharmacy_named(&format!("pharmacy_ids[{n}]"), id, false)
                .await?;
        }
        let mut availability = Vec::new();
        for pharmacy_id in &pharmacy_ids {
            for level in self.levels(pharmacy_id, &medication_ids).await? {
                let line = Line {
                    on_hand: level.on_hand,
                    reserved: level.reserved,
                    critical_threshold: level.critical_threshold,
                };
                availability.push(pb::PharmacyAvailability {
                    pharmacy_id: pharmacy_id.clone(),
                    medication_id: level.medication_id.clone(),
                    availability: convert::availability(line.availability()) as i32,
                });
            }
        }
        Ok(pb::GetAvailabilityResponse { availability })
    }

    pub(crate) async fn receive_shipment(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        pharmacy_id: &str,
        lines: Vec<ShipmentLineInput>,
    ) -> Result<pb::ReceiveShipmentResponse, PharmacyError> {
        allowed(Operation::ManageStock, caller)?;
        self.own_pharmacy(caller, pharmacy_id, false).await?;
        let mut names = BTreeMap::new();
        for (n, line) in lines.iter().enumerate() {
            let m = self
                .medication_named(&format!("lines[{n}].medication_id"), &line.medication_id)
                .await?;
            names.insert(m.medication_id, m.name);
        }
        let shipment_id = uuid::Uuid::now_v7().to_string();
        let (lines, names, shipment_id) = (&lines, &names, &shipment_id);
        self.stock_write(key, |txn| async move {
            let mut ledger = Ledger::new(&txn, &self.outbox, Some(caller));
            let mut order: Vec<(usize, &ShipmentLineInput)> = lines.iter().enumerate().collect();
            order.sort_by(|a, b| a.1.medication_id.cmp(&b.1.medication_id));
            for (n, line) in order {
                if let Some(existing) =
                    st::get_lot(ledger.txn, pharmacy_id, &line.medication_id, &line.lot).await?
                    && existing.expires_at != line.expires_at
                {
                    return Err(PharmacyError::field(
                        &format!("lines[{n}].expires_at"),
                        format!("lot {} was received before with another expiry", line.lot),
                    ));
                }
                ledger
                    .change(pharmacy_id, &line.medication_id, true, |l| {
                        l.on_hand += line.quantity;
                        Ok(())
                    })
                    .await?;
                st::add_to_lot(
                    ledger.txn,
                    &LotRecord {
                        pharmacy_id: pharmacy_id.to_string(),
                        medication_id: line.medication_id.clone(),
                        lot: line.lot.clone(),
                        expires_at: line.expires_at,
                        quantity: line.quantity,
                        received_at: ledger.now,
                    },
                )
                .await?;
                ledger
                    .record(st::MovementRecord {
                        delta: line.quantity,
                        lot: line.lot.clone(),
                        ..movement("received", pharmacy_id, &line.medication_id, shipment_id)
                    })
                    .await?;
            }
            ledger
                .outbox
                .enqueue(
                    ledger.txn,
                    events::stock_received(pb::StockReceivedEvent {
                        shipment_id: shipment_id.clone(),
                        pharmacy_id: pharmacy_id.to_string(),
                        lines: lines
                            .iter()
                            .map(|l| pb::ShipmentLine {
                                medication_id: l.medication_id.clone(),
                                quantity: l.quantity,
                                lot: l.lot.clone(),
                                expires_at: l.expires_at.map(convert::timestamp),
                            })
                            .collect(),
                        actor: Some(convert::actor(caller)),
                    }),
                )
                .await?;
            let mut levels = Vec::new();
            let ids: BTreeSet<&String> = lines.iter().map(|l| &l.medication_id).collect();
            for id in ids {
                if let Some(line) = st::lock_line(ledger.txn, pharmacy_id, id).await? {
                    let lots = st::lots(ledger.txn, pharmacy_id, id).await?;
                    levels.push(convert::level(
                        &line,
                        &lots,
                        names.get(id).map_or("", |s| s),
                        ledger.now,
                    ));
                }
            }
            Ok((
                pb::ReceiveShipmentResponse {
                    shipment_id: shipment_id.clone(),
                    levels,
                },
                ledger.touched,
            ))
        })
        .await
    }

    pub(crate) async fn adjust_stock(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        given: Adjustment,
    ) -> Result<pb::StockLevel, PharmacyError> {
        allowed(Operation::ManageStock, caller)?;
        self.own_pharmacy(caller, &given.pharmacy_id, false).await?;
        let medication = self
            .medication_named("medication_id", &given.medication_id)
            .await?;
        let (given, medication) = (&given, &medication);
        self.stock_write(key, |txn| async move {
            let mut ledger = Ledger::new(&txn, &self.outbox, Some(caller));
            let p = &given.pharmacy_id;
            let m = &given.medication_id;
            let record = st::MovementRecord {
                reason: convert::reason_text(given.reason).to_string(),
                note: given.note.clone(),
                ..movement("adjusted", p, m, "")
            };
            if given.delta < 0 {
                let taken = -given.delta;
                let changed = ledger
                    .change(p, m, false, |line| {
                        if line.on_hand - taken < line.reserved {
                            return Err(PharmacyError::precondition(format!(
                                "only {} units are not reserved by prescriptions; {taken} cannot be removed",
                                line.line().available()
                            )));
                        }
                        line.on_hand -= taken;
                        Ok(())
                    })
                    .await?;
                if changed.is_none() {
                    return Err(PharmacyError::precondition("there is no stock of this medication to remove"));
                }
                ledger.take_from_lots(p, m, taken, given.lot.as_deref(), &record).await?;
            } else {
                ledger
                    .change(p, m, true, |line| {
                        line.on_hand += given.delta;
                        Ok(())
                    })
                    .await?;
                let lot = given.lot.clone().unwrap_or_default();
                let expires_at = st::get_lot(ledger.txn, p, m, &lot).await?.and_then(|l| l.expires_at);
                st::add_to_lot(ledger.txn, &LotRecord {
                    pharmacy_id: p.clone(),
                    medication_id: m.clone(),
                    lot: lot.clone(),
                    expires_at,
                    quantity: given.delta,
                    received_at: ledger.now,
                })
                .await?;
                ledger
                    .record(st::MovementRecord {
                        delta: given.delta,
                        lot,
                        ..record
                    })
                    .await?;
            }
            let line = st::lock_line(ledger.txn, p, m)
                .await?
                .ok_or_else(|| PharmacyError::Kit(svc_kit::ApiError::internal("the line is gone")))?;
            let lots = st::lots(ledger.txn, p, m).await?;
            Ok((convert::level(&line, &lots, &medication.name, ledger.now), ledger.touched))
        })
        .await
    }

    pub(crate) async fn set_critical_threshold(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        pharmacy_id: &str,
        medication_id: &str,
        threshold: i64,
    ) -> Result<pb::StockLevel, PharmacyError> {
        allowed(Operation::SetThreshold, caller)?;
        self.own_pharmacy(caller, pharmacy_id, true).await?;
        let medication = self
            .medication_named("medication_id", medication_id)
            .await?;
        let medication = &medication;
        self.stock_write(key, |txn| async move {
            let mut ledger = Ledger::new(&txn, &self.outbox, Some(caller));
            let line = ledger
                .change(pharmacy_id, medication_id, true, |line| {
                    line.critical_threshold = threshold;
                    Ok(())
                })
                .await?
                .ok_or_else(|| {
                    PharmacyError::Kit(svc_kit::ApiError::internal("the line is gone"))
                })?;
            let lots = st::lots(ledger.txn, pharmacy_id, medication_id).await?;
            Ok((
                convert::level(&line, &lots, &medication.name, ledger.now),
                ledger.touched,
            ))
        })
        .await
    }

    pub(crate) async fn list_low_stock(
        &self,
        caller: &Caller,
        pharmacy_id: &str,
    ) -> Result<pb::ListLowStockResponse, PharmacyError> {
        allowed(Operation::ReadStock, caller)?;
        self.own_pharmacy(caller, pharmacy_id, true).await?;
        let now = svc_kit::write::now();
        let mut levels = Vec::new();
        for line in st::low_lines(&self.db, pharmacy_id).await? {
            let name = cat::get_medication(&self.db, &line.medication_id)
                .await?
                .map(|m| m.name)
                .unwrap_or_default();
            let lots = st::lots(&self.db, pharmacy_id, &line.medication_id).await?;
            levels.push(convert::level(&line, &lots, &name, now));
        }
        Ok(pb::ListLowStockResponse { levels })
    }

    pub(crate) async fn list_expiring_lots(
        &self,
        caller: &Caller,
        pharmacy_id: &str,
        before: Option<DateTime<Utc>>,
    ) -> Result<pb::ListExpiringLotsResponse, PharmacyError> {
        allowed(Operation::ReadStock, caller)?;
        self.own_pharmacy(caller, pharmacy_id, true).await?;
        let before = before.unwrap_or_else(|| svc_kit::write::now() + self.rules.expiring_soon);
        let mut lots = Vec::new();
        for lot in st::expiring(&self.db, pharmacy_id, before).await? {
            let name = cat::get_medication(&self.db, &lot.medication_id)
                .await?
                .map(|m| m.name)
                .unwrap_or_default();
            lots.push(pb::ExpiringLot {
                medication_id: lot.medication_id.clone(),
                medication_name: name,
                lot: Some(convert::lot(&lot)),
            });
        }
        Ok(pb::ListExpiringLotsResponse { lots })
    }

    pub(crate) async fn list_stock_movements(
        &self,
        caller: &Caller,
        pharmacy_id: &str,
        medication_id: Option<String>,
        limit: u64,
        before: Option<String>,
    ) -> Result<pb::ListStockMovementsResponse, PharmacyError> {
        allowed(Operation::ReadStock, caller)?;
        self.own_pharmacy(caller, pharmacy_id, true).await?;
        let mut found = st::movements(
            &self.db,
            pharmacy_id,
            medication_id.as_deref(),
            before.as_deref(),
            limit + 1,
        )
        .await?;
        let next_page_token = paging::next_page(&mut found, limit, |m| m.movement_id.clone());
        Ok(pb::ListStockMovementsResponse {
            movements: found.iter().map(convert::movement).collect(),
            next_page_token,
        })
    }

    /// A patient reads their own preferences; a doctor those of a patient in their care.
    async fn may_read_preferences(
        &self,
        caller: &Caller,
        patient_id: &str,
    ) -> Result<(), PharmacyError> {
        if caller.is(patient_id) {
            return Ok(());
        }
        if caller.holds(Role::Doctor)
            && svc_kit::care::in_care(&self.db, person(caller)?, patient_id).await?
        {
            return Ok(());
        }
        // Anyone else (partners and services included) reads no patient's choices.
        Err(PharmacyError::NoSuch("patient"))
    }

    pub(crate) async fn get_preferred(
        &self,
        caller: &Caller,
        patient_id: Option<String>,
    ) -> Result<pb::PreferredPharmacies, PharmacyError> {
        allowed(Operation::ReadPreferences, caller)?;
        let patient_id = match patient_id {
            Some(id) => id,
            None => person(caller)?.to_string(),
        };
        self.may_read_preferences(caller, &patient_id).await?;
        Ok(pb::PreferredPharmacies {
            pharmacy_ids: cat::preferred(&self.db, &patient_id).await?,
            patient_id,
        })
    }

    pub(crate) async fn set_preferred(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        pharmacy_ids: Vec<String>,
    ) -> Result<pb::PreferredPharmacies, PharmacyError> {
        allowed(Operation::SetPreferences, caller)?;
        let patient_id = person(caller)?.to_string();
        if pharmacy_ids.len() > MAX_PREFERRED {
            return Err(PharmacyError::field(
                "pharmacy_ids",
                format!("at most {MAX_PREFERRED}"),
            ));
        }
        let mut unique = BTreeSet::new();
        for (n, id) in pharmacy_ids.iter().enumerate() {
            if !unique.insert(id) {
                return Err(PharmacyError::field(
                    &format!("pharmacy_ids[{n}]"),
                    "is named twice",
                ));
            }
            self.pharmacy_named(&format!("pharmacy_ids[{n}]"), id, false)
                .await?;
        }
        let (patient_id, pharmacy_ids) = (&patient_id, &pharmacy_ids);
        self.write(key, |txn| async move {
            cat::set_preferred(&*txn, patient_id, pharmacy_ids).await?;
            Ok(pb::PreferredPharmacies {
                patient_id: patient_id.clone(),
                pharmacy_ids: pharmacy_ids.clone(),
            })
        })
        .await
    }
}
