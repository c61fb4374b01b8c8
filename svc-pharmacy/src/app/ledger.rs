//! Stock changes inside a write transaction. Every change of a line goes through
//! [`Ledger::change`]: the line is locked, changed, written over exactly what was read, its
//! low-stock mark kept (a `stock.low` event on each downward crossing), and remembered so its
//! cached values are invalidated after the commit. Lines are always changed in (pharmacy,
//! medication) order within one transaction, so two transactions never wait on each other in
//! a circle.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use svc_kit::events::Outbox;

use crate::{
    convert,
    domain::{Caller, stock},
    error::PharmacyError,
    events,
    store::{
        catalog as cat,
        stock::{self as st, MovementRecord, StockRecord},
    },
};

/// One transaction's stock work.
pub(crate) struct Ledger<'a> {
    pub(crate) txn: &'a DatabaseTransaction,
    pub(crate) outbox: &'a Outbox,
    pub(crate) now: DateTime<Utc>,
    pub(crate) caller: Option<&'a Caller>,
    pub(crate) touched: BTreeSet<(String, String)>,
}

/// Quantities to move on one line, all at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LineDelta {
    /// Units taken out of (negative) or put on (positive) the shelf.
    pub(crate) on_hand: i64,
    /// Units reserved (positive) or released (negative).
    pub(crate) reserved: i64,
}

impl<'a> Ledger<'a> {
    pub(crate) fn new(
        txn: &'a DatabaseTransaction,
        outbox: &'a Outbox,
        caller: Option<&'a Caller>,
    ) -> Ledger<'a> {
        Ledger {
            txn,
            outbox,
            now: svc_kit::write::now(),
            caller,
            touched: BTreeSet::new(),
        }
    }

    /// Changes one line with `change` (which may refuse); `create` makes a missing line first,
    /// otherwise a missing line is `None` and nothing happens.
    pub(crate) async fn change(
        &mut self,
        pharmacy_id: &str,
        medication_id: &str,
        create: bool,
        change: impl FnOnce(&mut StockRecord) -> Result<(), PharmacyError>,
    ) -> Result<Option<StockRecord>, PharmacyError> {
        let mut before = st::lock_line(self.txn, pharmacy_id, medication_id).await?;
        if before.is_none() && create {
            st::ensure_line(self.txn, pharmacy_id, medication_id, self.now).await?;
            before = st::lock_line(self.txn, pharmacy_id, medication_id).await?;
        }
        let Some(before) = before else {
            return Ok(None);
        };
        let mut after = before.clone();
        change(&mut after)?;
        after.updated_at = self.now;
        let low = after.line().is_low();
        after.low = low;
        if !st::set_line(self.txn, &before, &after).await? {
            return Err(PharmacyError::moved_on());
        }
        self.touched
            .insert((pharmacy_id.to_string(), medication_id.to_string()));
        if low && !before.low {
            metrics::counter!("medmesh_pharmacy_low_stock_crossings_total").increment(1);
            let name = cat::get_medication(self.txn, medication_id)
                .await?
                .map(|m| m.name)
                .unwrap_or_default();
            let pharmacy = cat::get_pharmacy(self.txn, pharmacy_id)
                .await?
                .map(|p| p.name)
                .unwrap_or_default();
            let level = convert::level(&after, &[], &name, self.now);
            self.outbox
                .enqueue(self.txn, events::stock_low(level, &pharmacy))
                .await?;
        }
        Ok(Some(after))
    }

    /// Applies `deltas` (per medication, at one pharmacy) in medication order: every line or
    /// none. A take that would leave less than what stays reserved is refused as insufficient.
    pub(crate) async fn apply(
        &mut self,
        pharmacy_id: &str,
        deltas: &BTreeMap<String, LineDelta>,
    ) -> Result<BTreeMap<String, StockRecord>, PharmacyError> {
        let mut after = BTreeMap::new();
        for (medication_id, delta) in deltas {
            if *delta == LineDelta::default() {
                continue;
            }
            let changed = self
                .change(pharmacy_id, medication_id, false, |line| {
                    let on_hand = line.on_hand + delta.on_hand;
                    let reserved = line.reserved + delta.reserved;
                    if on_hand < 0 || reserved > on_hand {
                        // What the take needs beyond what stays reserved for others.
                        return Err(PharmacyError::Insufficient {
                            medication_id: medication_id.clone(),
                            available: line.line().available(),
                            needed: (-delta.on_hand) - (-delta.reserved).max(0),
                        });
                    }
                    line.on_hand = on_hand;
                    line.reserved = reserved.max(0);
                    Ok(())
                })
                .await?;
            match changed {
                Some(line) => {
                    after.insert(medication_id.clone(), line);
                }
                None if delta.on_hand < 0 => {
                    return Err(PharmacyError::Insufficient {
                        medication_id: medication_id.clone(),
                        available: 0,
                        needed: -delta.on_hand,
                    });
                }
                None => {}
            }
        }
        Ok(after)
    }

    /// Reserves up to `wanted` of a line; returns (reserved, short). A line that does not exist
    /// reserves nothing.
    pub(crate) async fn reserve(
        &mut self,
        pharmacy_id: &str,
        medication_id: &str,
        wanted: i64,
    ) -> Result<(i64, i64), PharmacyError> {
        let mut outcome = (0, wanted);
        self.change(pharmacy_id, medication_id, false, |line| {
            outcome = line.line().reservable(wanted);
            line.reserved += outcome.0;
            Ok(())
        })
        .await?;
        Ok(outcome)
    }

    /// Takes `quantity` units out of the line's lots (the earliest-expiring first, or the one
    /// named) and writes one ledger row per lot.
    pub(crate) async fn take_from_lots(
        &mut self,
        pharmacy_id: &str,
        medication_id: &str,
        quantity: i64,
        lot: Option<&str>,
        movement: &MovementRecord,
    ) -> Result<(), PharmacyError> {
        let plan = match lot {
            Some(name) => vec![(name.to_string(), quantity)],
            None => {
                let lots: Vec<stock::LotLeft> = st::lots(self.txn, pharmacy_id, medication_id)
                    .await?
                    .iter()
                    .map(|l| l.left())
                    .collect();
                stock::draw(&lots, quantity).ok_or_else(|| {
                    PharmacyError::Kit(svc_kit::ApiError::internal(format!(
                        "the lots of {pharmacy_id}/{medication_id} hold less than its stock"
                    )))
                })?
            }
        };
        for (name, take) in plan {
            if !st::take_from_lot(self.txn, pharmacy_id, medication_id, &name, take).await? {
                return Err(PharmacyError::field(
                    "lot",
                    format!("lot {name} holds fewer than {take} units"),
                ));
            }
            self.record(MovementRecord {
                lot: name,
                delta: -take,
                ..movement.clone()
            })
            .await?;
        }
        Ok(())
    }

    /// A ledger row, stamped with the caller and now.
    pub(crate) async fn record(&self, movement: MovementRecord) -> Result<(), PharmacyError> {
        let (subject, roles) = match self.caller {
            Some(c) => {
                let actor = convert::actor(c);
                (actor.subject, actor.roles.join(" "))
            }
            None => ("svc-pharmacy".to_string(), String::new()),
        };
        st::insert_movement(
            self.txn,
            &MovementRecord {
                movement_id: uuid::Uuid::now_v7().to_string(),
                actor_subject: subject,
                actor_roles: roles,
                at: self.now,
                ..movement
            },
        )
        .await?;
        Ok(())
    }
}

/// A ledger row of `kind` for a line, to be completed by [`Ledger::record`].
pub(crate) fn movement(
    kind: &str,
    pharmacy_id: &str,
    medication_id: &str,
    reference: &str,
) -> MovementRecord {
    MovementRecord {
        movement_id: String::new(),
        pharmacy_id: pharmacy_id.to_string(),
        medication_id: medication_id.to_string(),
        kind: kind.to_string(),
        delta: 0,
        reason: String::new(),
        note: String::new(),
        lot: String::new(),
        reference: reference.to_string(),
        actor_subject: String::new(),
        actor_roles: String::new(),
        at: Utc::now(),
    }
}
