//! Prescriptions: writing one (its stock reserved at the chosen pharmacy), reading and listing
//! them within the caller's reach, moving one to another pharmacy, and a pharmacy's work on it:
//! start, dispense (all or nothing; part where allowed; a generic instead, recorded), reject.
//! The prescriber cancels; the sweeper expires. Every way out of "open" releases what is still
//! reserved.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use medmesh_proto::pharmacy::v1 as pb;
use svc_kit::{auth::Role, idempotency::IdempotencyKey, paging, write::Txn};

use super::{
    App, PrescriptionFilter, allowed,
    ledger::{Ledger, LineDelta, movement},
    person,
};
use crate::{
    convert,
    domain::{
        Caller, Operation, Status,
        prescription::{Change, ItemState, RequestedLine, plan_dispense},
    },
    error::PharmacyError,
    events,
    store::{
        catalog::{self as cat, MedicationRecord},
        prescriptions::{self as rx, ItemRecord, PrescriptionRecord},
    },
};

/// One item as the doctor writes it (parsed).
#[derive(Debug, Clone)]
pub(crate) struct ItemInput {
    pub(crate) medication_id: String,
    pub(crate) quantity: i64,
    pub(crate) dosage_instructions: String,
    pub(crate) dose: String,
    pub(crate) frequency: String,
    pub(crate) duration_days: i32,
    pub(crate) notes: String,
}

/// A prescription as the doctor writes it (parsed).
#[derive(Debug, Clone)]
pub(crate) struct NewPrescription {
    pub(crate) patient_id: String,
    pub(crate) pharmacy_id: String,
    pub(crate) allowed_pharmacy_ids: Vec<String>,
    pub(crate) items: Vec<ItemInput>,
    pub(crate) valid_until: Option<DateTime<Utc>>,
    pub(crate) allow_partial: bool,
    pub(crate) notes: String,
}

/// The medication names a prescription's items need.
type Names = BTreeMap<String, String>;

/// The names of the medications a prescription's items name (and their substitutes).
async fn names<C: sea_orm::ConnectionTrait>(
    conn: &C,
    p: &PrescriptionRecord,
) -> Result<Names, PharmacyError> {
    let mut names = Names::new();
    for item in &p.items {
        for id in [&item.medication_id, &item.substituted_medication_id] {
            if !id.is_empty() && !names.contains_key(id) {
                let name = cat::get_medication(conn, id)
                    .await?
                    .map(|m| m.name)
                    .unwrap_or_default();
                names.insert(id.clone(), name);
            }
        }
    }
    Ok(names)
}

fn not_found() -> PharmacyError {
    PharmacyError::NoSuch("prescription")
}

impl App {
    fn answer(p: &PrescriptionRecord, names: &Names) -> pb::Prescription {
        convert::prescription(p, &|id| names.get(id).cloned().unwrap_or_default())
    }

    /// Whether the caller reaches `p`: its patient, its prescriber, or a pharmacist of the
    /// pharmacy it is addressed to.
    fn reaches(caller: &Caller, p: &PrescriptionRecord) -> bool {
        (caller.holds(Role::Patient) && caller.is(&p.patient_id))
            || (caller.holds(Role::Doctor) && caller.is(&p.doctor_id))
            || caller.works_at(&p.pharmacy_id)
    }

    pub(crate) async fn create_prescription(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        given: NewPrescription,
    ) -> Result<pb::Prescription, PharmacyError> {
        allowed(Operation::Prescribe, caller)?;
        let doctor_id = person(caller)?.to_string();
        let outcome = async {
            if given.patient_id == doctor_id {
                return Err(PharmacyError::field(
                    "patient_id",
                    "a doctor cannot prescribe for themselves",
                ));
            }
            if crate::erasure::is_erased(&self.db, &given.patient_id).await? {
                return Err(PharmacyError::field(
                    "patient_id",
                    "names a patient whose account was erased",
                ));
            }
            if !svc_kit::care::in_care(&self.db, &doctor_id, &given.patient_id).await? {
                return Err(PharmacyError::field(
                    "patient_id",
                    "is not a patient in your care (one with an appointment with you)",
                ));
            }
            let pharmacy = self
                .pharmacy_named("pharmacy_id", &given.pharmacy_id, false)
                .await?;
            let mut allowed_ids: BTreeSet<String> = BTreeSet::new();
            for (n, id) in given.allowed_pharmacy_ids.iter().enumerate() {
                self.pharmacy_named(&format!("allowed_pharmacy_ids[{n}]"), id, false)
                    .await?;
                allowed_ids.insert(id.clone());
            }
            if !allowed_ids.is_empty() {
                allowed_ids.insert(pharmacy.pharmacy_id.clone());
            }
            let mut names = Names::new();
            for (n, item) in given.items.iter().enumerate() {
                let m = self
                    .medication_named(&format!("items[{n}].medication_id"), &item.medication_id)
                    .await?;
                names.insert(m.medication_id, m.name);
            }
            let now = svc_kit::write::now();
            let valid_until = given
                .valid_until
                .unwrap_or(now + self.rules.default_validity);
            if valid_until <= now {
                return Err(PharmacyError::field("valid_until", "is in the past"));
            }
            if valid_until > now + self.rules.max_validity {
                return Err(PharmacyError::field(
                    "valid_until",
                    format!("must be within {} days", self.rules.max_validity.num_days()),
                ));
            }
            let prescription_id = uuid::Uuid::now_v7().to_string();
            let record = PrescriptionRecord {
                prescription_id: prescription_id.clone(),
                patient_id: given.patient_id.clone(),
                doctor_id: doctor_id.clone(),
                pharmacy_id: pharmacy.pharmacy_id.clone(),
                status: Status::Issued,
                allow_partial: given.allow_partial,
                notes: given.notes.clone(),
                rejection_reason: String::new(),
                cancellation_reason: String::new(),
                pharmacist_id: String::new(),
                valid_until,
                version: 1,
                created_at: now,
                updated_at: now,
                items: given
                    .items
                    .iter()
                    .enumerate()
                    .map(|(n, i)| ItemRecord {
                        item_id: uuid::Uuid::now_v7().to_string(),
                        prescription_id: prescription_id.clone(),
                        position: n as i32,
                        medication_id: i.medication_id.clone(),
                        quantity: i.quantity,
                        dosage_instructions: i.dosage_instructions.clone(),
                        dose: i.dose.clone(),
                        frequency: i.frequency.clone(),
                        duration_days: i.duration_days,
                        notes: i.notes.clone(),
                        reserved: 0,
                        dispensed: 0,
                        shortfall: 0,
                        substituted_medication_id: String::new(),
                    })
                    .collect(),
                allowed_pharmacy_ids: allowed_ids.into_iter().collect(),
            };
            let (record, names, pharmacy) = (&record, &names, &pharmacy);
            self.stock_write(key, |txn| async move {
                let mut ledger = Ledger::new(&txn, &self.outbox, Some(caller));
                let mut p = record.clone();
                reserve_all(&mut ledger, &mut p).await?;
                rx::insert(ledger.txn, &p).await?;
                let answer = App::answer(&p, names);
                ledger
                    .outbox
                    .enqueue(
                        ledger.txn,
                        events::prescription(
                            "issued",
                            answer.clone(),
                            Some(convert::actor(caller)),
                            &pharmacy.name,
                        ),
                    )
                    .await?;
                metrics::counter!("medmesh_pharmacy_reservations_total")
                    .increment(p.items.len() as u64);
                Ok((answer, ledger.touched))
            })
            .await
        }
        .await;
        svc_kit::write::or_replay(&self.db, key, outcome).await
    }

    /// The prescription, if the caller reaches it, with what its pharmacy has available now.
    pub(crate) async fn get_prescription(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<pb::Prescription, PharmacyError> {
        allowed(Operation::ReadPrescriptions, caller)?;
        let p = rx::get(&self.db, id, false).await?.ok_or_else(not_found)?;
        if !App::reaches(caller, &p) {
            return Err(not_found());
        }
        let names = names(&self.db, &p).await?;
        let mut answer = App::answer(&p, &names);
        if p.status.is_open() {
            let ids: Vec<String> = p.items.iter().map(|i| i.medication_id.clone()).collect();
            let levels = self.levels(&p.pharmacy_id, &ids).await?;
            for (item, level) in answer.items.iter_mut().zip(levels) {
                item.available_now = level.available;
            }
        }
        Ok(answer)
    }

    /// A page of prescriptions in the caller's reach: a pharmacist's pharmacy's, a doctor's
    /// own, a patient's own. The filter narrows, never widens.
    pub(crate) async fn list_prescriptions(
        &self,
        caller: &Caller,
        mut filter: PrescriptionFilter,
    ) -> Result<pb::ListPrescriptionsResponse, PharmacyError> {
        allowed(Operation::ReadPrescriptions, caller)?;
        let me = person(caller)?.to_string();
        let limit = filter.limit;
        match &filter.pharmacy_id {
            Some(pharmacy_id) if caller.works_at(pharmacy_id) => {}
            Some(_)
                if caller.holds(Role::Pharmacist)
                    && !caller.holds(Role::Doctor)
                    && !caller.holds(Role::Patient) =>
            {
                return Err(PharmacyError::NoSuch("pharmacy"));
            }
            _ => {
                let as_doctor =
                    caller.holds(Role::Doctor) && filter.patient_id.as_deref() != Some(me.as_str());
                if as_doctor {
                    filter.doctor_id = Some(me.clone());
                } else if caller.holds(Role::Patient) {
                    filter.patient_id = Some(me.clone());
                } else if let [only] = caller.pharmacies.iter().collect::<Vec<_>>()[..] {
                    filter.pharmacy_id = Some(only.clone());
                } else {
                    return Err(PharmacyError::field(
                        "pharmacy_id",
                        "is required: name one of your pharmacies",
                    ));
                }
            }
        }
        filter.limit = limit + 1;
        let mut found = rx::list(&self.db, &filter).await?;
        let next_page_token = paging::next_page(&mut found, limit, |p| p.prescription_id.clone());
        let mut prescriptions = Vec::with_capacity(found.len());
        for p in &found {
            prescriptions.push(App::answer(p, &names(&self.db, p).await?));
        }
        Ok(pb::ListPrescriptionsResponse {
            prescriptions,
            next_page_token,
        })
    }

    /// The patient or the prescriber moves an issued prescription to another pharmacy it may be
    /// filled at: released at the old one, reserved at the new one.
    pub(crate) async fn change_pharmacy(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        id: &str,
        pharmacy_id: &str,
    ) -> Result<pb::Prescription, PharmacyError> {
        allowed(Operation::MovePrescription, caller)?;
        let target = self
            .pharmacy_named("pharmacy_id", pharmacy_id, false)
            .await?;
        let target = &target;
        self.change(caller, key, id, |caller, p| {
            if !((caller.holds(Role::Patient) && caller.is(&p.patient_id))
                || (caller.holds(Role::Doctor) && caller.is(&p.doctor_id)))
            {
                return Err(not_found());
            }
            p.status.allows(Change::MovePharmacy)?;
            if !p.allowed_pharmacy_ids.is_empty()
                && !p.allowed_pharmacy_ids.contains(&target.pharmacy_id)
            {
                return Err(PharmacyError::field(
                    "pharmacy_id",
                    "is not one of the pharmacies this prescription may be filled at",
                ));
            }
            if p.pharmacy_id == target.pharmacy_id {
                return Err(PharmacyError::field(
                    "pharmacy_id",
                    "is already this prescription's pharmacy",
                ));
            }
            Ok(("pharmacy_changed", Step::Move(target.pharmacy_id.clone())))
        })
        .await
    }

    pub(crate) async fn start_dispensing(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        id: &str,
    ) -> Result<pb::Prescription, PharmacyError> {
        allowed(Operation::Dispense, caller)?;
        self.change(caller, key, id, |caller, p| {
            if !caller.works_at(&p.pharmacy_id) {
                return Err(not_found());
            }
            p.status.allows(Change::Start)?;
            if p.valid_until <= svc_kit::write::now() {
                return Err(PharmacyError::Expired("started"));
            }
            Ok(("in_progress", Step::Start))
        })
        .await
    }

    pub(crate) async fn dispense(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        id: &str,
        lines: Vec<RequestedLine>,
    ) -> Result<pb::Prescription, PharmacyError> {
        allowed(Operation::Dispense, caller)?;
        // Substitutes are checked against the catalog before the transaction.
        let mut substitutes: BTreeMap<String, MedicationRecord> = BTreeMap::new();
        for (n, line) in lines.iter().enumerate() {
            if let Some(s) = &line.substitute {
                let m = self
                    .medication_named(&format!("lines[{n}].substitute_medication_id"), s)
                    .await?;
                substitutes.insert(s.clone(), m);
            }
        }
        let mut originals: BTreeMap<String, MedicationRecord> = BTreeMap::new();
        if let Some(p) = rx::get(&self.db, id, false).await? {
            for item in &p.items {
                if let Some(m) = cat::get_medication(&self.db, &item.medication_id).await? {
                    originals.insert(m.medication_id.clone(), m);
                }
            }
        }
        let (lines, substitutes, originals) = (&lines, &substitutes, &originals);
        let outcome = self
            .change(caller, key, id, |caller, p| {
                if !caller.works_at(&p.pharmacy_id) {
                    return Err(not_found());
                }
                p.status.allows(Change::Dispense)?;
                if p.valid_until <= svc_kit::write::now() {
                    return Err(PharmacyError::Expired("dispensed"));
                }
                let items: Vec<ItemState> = p
                    .items
                    .iter()
                    .map(|i| ItemState {
                        item_id: i.item_id.clone(),
                        quantity: i.quantity,
                        dispensed: i.dispensed,
                    })
                    .collect();
                let plan = plan_dispense(&items, lines, p.allow_partial)?;
                for (n, line) in plan.lines.iter().enumerate() {
                    if let Some(s) = &line.substitute {
                        let item = &p.items[line.index];
                        let generic = substitutes.get(s).zip(originals.get(&item.medication_id));
                        if !generic.is_some_and(|(s, o)| s.is_generic_of(o)) {
                            return Err(PharmacyError::field(
                                &format!("lines[{n}].substitute_medication_id"),
                                "is not a generic of the prescribed medication (same substance, strength and form)",
                            ));
                        }
                    }
                }
                let kind = if plan.completes { "dispensed" } else { "partially_dispensed" };
                Ok((kind, Step::Dispense(plan)))
            })
            .await;
        let label = match &outcome {
            Ok(p) if p.status == pb::PrescriptionStatus::Dispensed as i32 => "dispensed",
            Ok(_) => "partially_dispensed",
            Err(PharmacyError::Insufficient { .. }) => "insufficient",
            Err(_) => "refused",
        };
        metrics::counter!("medmesh_pharmacy_dispenses_total", "outcome" => label).increment(1);
        outcome
    }

    pub(crate) async fn reject(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        id: &str,
        reason: String,
    ) -> Result<pb::Prescription, PharmacyError> {
        allowed(Operation::Dispense, caller)?;
        let reason = &reason;
        let outcome = self
            .change(caller, key, id, |caller, p| {
                if !caller.works_at(&p.pharmacy_id) {
                    return Err(not_found());
                }
                p.status.allows(Change::Reject)?;
                Ok(("rejected", Step::Close(Status::Rejected, reason.clone())))
            })
            .await;
        if outcome.is_ok() {
            metrics::counter!("medmesh_pharmacy_rejections_total").increment(1);
        }
        outcome
    }

    pub(crate) async fn cancel(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        id: &str,
        reason: String,
    ) -> Result<pb::Prescription, PharmacyError> {
        allowed(Operation::CancelPrescription, caller)?;
        let reason = &reason;
        self.change(caller, key, id, |caller, p| {
            if !caller.is(&p.doctor_id) {
                return Err(not_found());
            }
            p.status.allows(Change::Cancel)?;
            Ok(("cancelled", Step::Close(Status::Cancelled, reason.clone())))
        })
        .await
    }

    /// Expires one prescription past its validity (the sweeper); false if it was not due any more.
    pub(crate) async fn expire(&self, id: &str) -> Result<bool, PharmacyError> {
        let (expired, touched) = svc_kit::write::retrying(&self.db, |txn: Txn| async move {
            let mut ledger = Ledger::new(&txn, &self.outbox, None);
            let Some(mut p) = rx::get(ledger.txn, id, true).await? else {
                return Ok::<_, PharmacyError>((false, BTreeSet::new()));
            };
            if p.status.allows(Change::Expire).is_err() || p.valid_until > ledger.now {
                return Ok((false, BTreeSet::new()));
            }
            let (names, pharmacy) = looked_up(ledger.txn, &p, &[], &p.pharmacy_id).await?;
            release_all(&mut ledger, &mut p).await?;
            p.status = Status::Expired;
            save(&mut ledger, &mut p, "expired", None, &names, &pharmacy).await?;
            Ok((true, ledger.touched))
        })
        .await?;
        self.cache.advance(&super::scopes(&touched)).await;
        Ok(expired)
    }

    /// One change of a prescription: `decide` checks the caller's reach and the state on the
    /// locked row and says what to do; the step runs, the row is saved, the event written.
    async fn change<F>(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        id: &str,
        decide: F,
    ) -> Result<pb::Prescription, PharmacyError>
    where
        F: Fn(&Caller, &PrescriptionRecord) -> Result<(&'static str, Step), PharmacyError>,
    {
        let decide = &decide;
        self.stock_write(key, |txn| async move {
            let mut ledger = Ledger::new(&txn, &self.outbox, Some(caller));
            let mut p = rx::get(ledger.txn, id, true).await?.ok_or_else(not_found)?;
            let (kind, step) = decide(caller, &p)?;
            // What the answer and the event name, read before any stock line is locked, so
            // the time a hot line stays locked is the stock work alone.
            let (substitutes, destination) = match &step {
                Step::Dispense(plan) => (
                    plan.lines
                        .iter()
                        .filter_map(|l| l.substitute.clone())
                        .collect(),
                    p.pharmacy_id.clone(),
                ),
                Step::Move(to) => (Vec::new(), to.clone()),
                _ => (Vec::new(), p.pharmacy_id.clone()),
            };
            let (names, pharmacy) = looked_up(ledger.txn, &p, &substitutes, &destination).await?;
            match step {
                Step::Move(pharmacy_id) => {
                    release_all(&mut ledger, &mut p).await?;
                    p.pharmacy_id = pharmacy_id;
                    reserve_all(&mut ledger, &mut p).await?;
                }
                Step::Start => {
                    p.status = Status::InProgress;
                    p.pharmacist_id = person(caller)?.to_string();
                }
                Step::Dispense(plan) => {
                    dispense_plan(&mut ledger, &mut p, &plan.lines).await?;
                    p.status = if plan.completes {
                        Status::Dispensed
                    } else {
                        Status::PartiallyDispensed
                    };
                    p.pharmacist_id = person(caller)?.to_string();
                }
                Step::Close(status, reason) => {
                    release_all(&mut ledger, &mut p).await?;
                    p.status = status;
                    match status {
                        Status::Rejected => {
                            p.rejection_reason = reason;
                            p.pharmacist_id = person(caller)?.to_string();
                        }
                        _ => p.cancellation_reason = reason,
                    }
                }
            }
            let answer = save(&mut ledger, &mut p, kind, Some(caller), &names, &pharmacy).await?;
            Ok((answer, ledger.touched))
        })
        .await
    }
}

/// The medication names (items and `substitutes`) and the pharmacy name a change's answer and
/// event carry.
async fn looked_up<C: sea_orm::ConnectionTrait>(
    conn: &C,
    p: &PrescriptionRecord,
    substitutes: &[String],
    pharmacy_id: &str,
) -> Result<(Names, String), PharmacyError> {
    let mut names = names(conn, p).await?;
    for id in substitutes {
        if !names.contains_key(id) {
            let name = cat::get_medication(conn, id)
                .await?
                .map(|m| m.name)
                .unwrap_or_default();
            names.insert(id.clone(), name);
        }
    }
    let pharmacy = cat::get_pharmacy(conn, pharmacy_id)
        .await?
        .map(|p| p.name)
        .unwrap_or_default();
    Ok((names, pharmacy))
}

/// Saves `p` one version on and writes its event.
async fn save(
    ledger: &mut Ledger<'_>,
    p: &mut PrescriptionRecord,
    kind: &str,
    caller: Option<&Caller>,
    names: &Names,
    pharmacy: &str,
) -> Result<pb::Prescription, PharmacyError> {
    p.version += 1;
    p.updated_at = ledger.now;
    if !rx::update(ledger.txn, p).await? {
        return Err(PharmacyError::moved_on());
    }
    let answer = App::answer(p, names);
    ledger
        .outbox
        .enqueue(
            ledger.txn,
            events::prescription(kind, answer.clone(), caller.map(convert::actor), pharmacy),
        )
        .await?;
    Ok(answer)
}

/// What a decided change does.
enum Step {
    Move(String),
    Start,
    Dispense(crate::domain::DispensePlan),
    Close(Status, String),
}

/// Reserves every item's owed quantity at the prescription's pharmacy (what is there; the rest
/// is recorded as short), lines in medication order.
async fn reserve_all(
    ledger: &mut Ledger<'_>,
    p: &mut PrescriptionRecord,
) -> Result<(), PharmacyError> {
    let mut order: Vec<usize> = (0..p.items.len()).collect();
    order.sort_by(|a, b| p.items[*a].medication_id.cmp(&p.items[*b].medication_id));
    for index in order {
        let item = &p.items[index];
        let (reserved, short) = ledger
            .reserve(&p.pharmacy_id, &item.medication_id, item.owed())
            .await?;
        let item = &mut p.items[index];
        item.reserved = reserved;
        item.shortfall = short;
    }
    Ok(())
}

/// Releases everything the prescription still holds.
async fn release_all(
    ledger: &mut Ledger<'_>,
    p: &mut PrescriptionRecord,
) -> Result<(), PharmacyError> {
    let mut deltas: BTreeMap<String, LineDelta> = BTreeMap::new();
    for item in &mut p.items {
        if item.reserved > 0 {
            deltas
                .entry(item.medication_id.clone())
                .or_default()
                .reserved -= item.reserved;
            item.reserved = 0;
        }
        item.shortfall = 0;
    }
    ledger.apply(&p.pharmacy_id, &deltas).await?;
    Ok(())
}

/// Gives what the plan says: reservations turn into takes (a substitute's take comes from its
/// own available stock, and the original's reservation is released), lots drawn earliest
/// expiry first, one ledger row per lot.
async fn dispense_plan(
    ledger: &mut Ledger<'_>,
    p: &mut PrescriptionRecord,
    lines: &[crate::domain::PlannedLine],
) -> Result<(), PharmacyError> {
    let mut deltas: BTreeMap<String, LineDelta> = BTreeMap::new();
    let mut takes: Vec<(String, i64)> = Vec::new();
    for line in lines {
        let item = &mut p.items[line.index];
        match &line.substitute {
            Some(s) if *s != item.medication_id => {
                deltas
                    .entry(item.medication_id.clone())
                    .or_default()
                    .reserved -= item.reserved;
                item.reserved = 0;
                deltas.entry(s.clone()).or_default().on_hand -= line.quantity;
                item.substituted_medication_id = s.clone();
                takes.push((s.clone(), line.quantity));
            }
            _ => {
                let from_reservation = item.reserved.min(line.quantity);
                let d = deltas.entry(item.medication_id.clone()).or_default();
                d.on_hand -= line.quantity;
                d.reserved -= from_reservation;
                item.reserved -= from_reservation;
                takes.push((item.medication_id.clone(), line.quantity));
            }
        }
        item.dispensed += line.quantity;
        // What is still owed may still be short of a reservation.
        item.shortfall = (item.owed() - item.reserved).max(0);
    }
    ledger.apply(&p.pharmacy_id, &deltas).await?;
    takes.sort();
    for (medication_id, quantity) in takes {
        let row = movement(
            "dispensed",
            &p.pharmacy_id,
            &medication_id,
            &p.prescription_id,
        );
        ledger
            .take_from_lots(&p.pharmacy_id, &medication_id, quantity, None, &row)
            .await?;
    }
    Ok(())
}
