//! Prescriptions in the graph, and their conversions from svc-pharmacy's messages.

use async_graphql::{ComplexObject, Context, ID, Result, SimpleObject};
use chrono::{DateTime, Utc};
use medmesh_proto::pharmacy::v1 as pb;

use super::{
    client::{client, upstream},
    enums::PrescriptionStatus,
    types::PharmacyAvailability,
};
use crate::{
    context::as_caller,
    convert::{non_empty, time},
};

/// A prescription: what a doctor wrote for a patient, to be filled at `pharmacyId`.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
#[graphql(complex)]
pub struct Prescription {
    pub id: ID,
    pub patient_id: ID,
    pub doctor_id: ID,
    /// Where it is to be filled now (its stock is reserved there).
    pub pharmacy_id: ID,
    /// Where it may be filled; the patient may move it between these.
    pub allowed_pharmacy_ids: Vec<ID>,
    pub items: Vec<PrescriptionItem>,
    pub status: Option<PrescriptionStatus>,
    /// Whether a pharmacy may give part of it and owe the rest.
    pub allow_partial: bool,
    pub notes: Option<String>,
    pub rejection_reason: Option<String>,
    pub cancellation_reason: Option<String>,
    /// Who dispensed or rejected it last.
    pub pharmacist_id: Option<ID>,
    pub valid_until: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub version: i64,
}

#[ComplexObject]
impl Prescription {
    /// Where it can be filled right now: whether each medication still owed is in stock, low
    /// or out at every pharmacy it may be filled at (its own when the doctor named no others).
    /// One call to svc-pharmacy, with the caller's token, when selected.
    async fn fillable_at(&self, ctx: &Context<'_>) -> Result<Vec<PharmacyAvailability>> {
        let owed: Vec<String> = self
            .items
            .iter()
            .filter(|i| i.owed > 0)
            .map(|i| i.medication_id.0.clone())
            .collect();
        if owed.is_empty() || self.is_final() {
            return Ok(Vec::new());
        }
        let pharmacies = if self.allowed_pharmacy_ids.is_empty() {
            vec![self.pharmacy_id.0.clone()]
        } else {
            self.allowed_pharmacy_ids
                .iter()
                .map(|i| i.0.clone())
                .collect()
        };
        let request = as_caller(
            ctx,
            pb::GetAvailabilityRequest {
                pharmacy_ids: pharmacies,
                medication_ids: owed,
                patient_id: String::new(),
            },
        )?;
        let answer = client(ctx)
            .get_availability(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(answer
            .availability
            .into_iter()
            .map(PharmacyAvailability::from)
            .collect())
    }
}

impl Prescription {
    /// A prescription read on its own (`GetPrescription`), whose items carry what the pharmacy
    /// has available now. Lists and changes do not check stock, so their `availableNow` is null.
    pub(super) fn read(p: pb::Prescription) -> Prescription {
        let live: Vec<i64> = p.items.iter().map(|i| i.available_now).collect();
        let mut prescription = Prescription::from(p);
        for (item, available) in prescription.items.iter_mut().zip(live) {
            item.available_now = Some(available);
        }
        prescription
    }

    /// Whether nothing can happen to it any more.
    pub fn is_final(&self) -> bool {
        self.status.is_some_and(PrescriptionStatus::is_terminal)
    }
}

impl From<pb::Prescription> for Prescription {
    fn from(p: pb::Prescription) -> Prescription {
        Prescription {
            id: ID(p.prescription_id),
            patient_id: ID(p.patient_id),
            doctor_id: ID(p.doctor_id),
            pharmacy_id: ID(p.pharmacy_id),
            allowed_pharmacy_ids: p.allowed_pharmacy_ids.into_iter().map(ID).collect(),
            items: p.items.into_iter().map(PrescriptionItem::from).collect(),
            status: PrescriptionStatus::from_proto(p.status),
            allow_partial: p.allow_partial,
            notes: non_empty(p.notes),
            rejection_reason: non_empty(p.rejection_reason),
            cancellation_reason: non_empty(p.cancellation_reason),
            pharmacist_id: non_empty(p.pharmacist_id).map(ID),
            valid_until: time(p.valid_until),
            created_at: time(p.created_at),
            updated_at: time(p.updated_at),
            version: p.version,
        }
    }
}

/// One medication of a prescription, and how far it is filled.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct PrescriptionItem {
    pub id: ID,
    pub medication_id: ID,
    pub medication_name: Option<String>,
    /// Units (tablets, ml ...) to give.
    pub quantity: i64,
    /// e.g. "1 tablet".
    pub dose: Option<String>,
    /// e.g. "3 times a day".
    pub frequency: Option<String>,
    pub duration_days: Option<i32>,
    /// Free text, kept for older clients; `dose`, `frequency` and `durationDays` are preferred.
    pub dosage_instructions: Option<String>,
    pub notes: Option<String>,
    /// Reserved at the current pharmacy.
    pub reserved: i64,
    /// Given so far.
    pub dispensed: i64,
    /// `quantity - dispensed`.
    pub owed: i64,
    /// What the pharmacy could not reserve when it was written or moved.
    pub shortfall: i64,
    /// A generic given instead (same substance and strength), when one was.
    pub substituted_medication_id: Option<ID>,
    /// What the current pharmacy has available now: on `prescription` and
    /// `prescriptionStatus` only, null elsewhere.
    pub available_now: Option<i64>,
}

impl From<pb::PrescriptionItem> for PrescriptionItem {
    fn from(i: pb::PrescriptionItem) -> PrescriptionItem {
        PrescriptionItem {
            id: ID(i.item_id),
            medication_id: ID(i.medication_id),
            medication_name: non_empty(i.medication_name),
            quantity: i.quantity,
            dose: non_empty(i.dose),
            frequency: non_empty(i.frequency),
            duration_days: (i.duration_days != 0).then_some(i.duration_days),
            dosage_instructions: non_empty(i.dosage_instructions),
            notes: non_empty(i.notes),
            reserved: i.reserved,
            dispensed: i.dispensed,
            owed: i.owed,
            shortfall: i.shortfall,
            substituted_medication_id: non_empty(i.substituted_medication_id).map(ID),
            available_now: None,
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct PrescriptionPage {
    pub prescriptions: Vec<Prescription>,
    pub next_page_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(available_now: i64) -> pb::PrescriptionItem {
        pb::PrescriptionItem {
            item_id: "i1".into(),
            medication_id: "m1".into(),
            quantity: 20,
            available_now,
            ..Default::default()
        }
    }

    #[test]
    fn only_a_single_read_says_what_is_available_now() {
        let p = pb::Prescription {
            prescription_id: "p1".into(),
            items: vec![item(0), item(7)],
            status: pb::PrescriptionStatus::Issued as i32,
            ..Default::default()
        };
        let read = Prescription::read(p.clone());
        assert_eq!(
            read.items
                .iter()
                .map(|i| i.available_now)
                .collect::<Vec<_>>(),
            [Some(0), Some(7)],
            "a zero read live is a zero"
        );
        let listed = Prescription::from(p);
        assert!(listed.items.iter().all(|i| i.available_now.is_none()));
        assert!(!listed.is_final());
    }
}
