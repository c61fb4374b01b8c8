//! The patient card: the record's current state at a glance, built from every entry the
//! caller may see (an amended entry gives way to its amendment) and the medication history.

use std::collections::BTreeMap;

use medmesh_proto::records::v1::{self as pb, entry_content::Body};
use prost::Message as _;

use super::{Action, App, entries::strip_document, place};
use crate::{
    domain::{Basis, Caller},
    error::RecordsError,
    store::entries as store,
};

/// How many encounters the card shows.
const RECENT_ENCOUNTERS: usize = 20;

impl App {
    pub(crate) async fn patient_card(
        &self,
        caller: &Caller,
        patient_id: &str,
    ) -> Result<pb::PatientCard, RecordsError> {
        let basis = self.admit(caller, patient_id, Action::Read, "card").await?;
        let card = self.card(patient_id, basis).await?;
        self.log_read(caller, patient_id, basis, "card").await?;
        Ok(card)
    }

    /// Every entry the basis shows, opened, newest first.
    pub(crate) async fn all_entries(
        &self,
        patient_id: &str,
        basis: Basis,
    ) -> Result<Vec<pb::Entry>, RecordsError> {
        let rows = store::list(
            &self.db,
            patient_id,
            !basis.sees_drafts(),
            &[],
            None,
            u64::MAX >> 1,
        )
        .await?;
        rows.iter().map(|r| self.show(r)).collect()
    }

    pub(crate) async fn medications(
        &self,
        patient_id: &str,
    ) -> Result<Vec<pb::MedicationCourse>, RecordsError> {
        store::courses(&self.db, patient_id)
            .await?
            .iter()
            .map(|c| {
                let plain = self.keys.open(
                    &place("medication_courses", &c.prescription_id, &c.patient_id, 0),
                    &svc_kit::seal::Sealed {
                        key_id: c.key_id.clone(),
                        bytes: c.sealed.clone(),
                    },
                )?;
                pb::MedicationCourse::decode(plain.as_slice())
                    .map_err(|_| svc_kit::seal::SealError::Corrupt.into())
            })
            .collect()
    }

    pub(crate) async fn card(
        &self,
        patient_id: &str,
        basis: Basis,
    ) -> Result<pb::PatientCard, RecordsError> {
        let entries = self.all_entries(patient_id, basis).await?;
        let mut card = compose(patient_id, entries);
        card.basis = crate::convert::basis(Some(basis)).into();
        card.medications = self.medications(patient_id).await?;
        Ok(card)
    }
}

/// The card from a patient's entries, newest first.
pub(crate) fn compose(patient_id: &str, entries: Vec<pb::Entry>) -> pb::PatientCard {
    let mut card = pb::PatientCard {
        patient_id: patient_id.to_string(),
        ..Default::default()
    };
    let mut latest: BTreeMap<(i32, String), pb::Entry> = BTreeMap::new();
    for entry in entries {
        if card.updated_at.as_ref().is_none_or(|at| {
            entry
                .updated_at
                .as_ref()
                .is_some_and(|u| (u.seconds, u.nanos) > (at.seconds, at.nanos))
        }) {
            card.updated_at = entry.updated_at;
        }
        match entry.status() {
            pb::EntryStatus::Draft => {
                card.drafts.push(strip_document(entry));
                continue;
            }
            pb::EntryStatus::Signed => card.signed_entries += 1,
            // Shown through its amendment.
            pb::EntryStatus::Amended => {
                card.signed_entries += 1;
                continue;
            }
            pb::EntryStatus::Unspecified => continue,
        }
        match entry.content.as_ref().and_then(|c| c.body.as_ref()) {
            Some(Body::Encounter(_)) if card.recent_encounters.len() < RECENT_ENCOUNTERS => {
                card.recent_encounters.push(entry);
            }
            Some(Body::Diagnosis(_)) => card.diagnoses.push(entry),
            Some(Body::Allergy(_)) => card.allergies.push(entry),
            Some(Body::Observation(o) | Body::LabResult(o)) => {
                let code = (entry.kind, o.code.clone());
                let newer = latest
                    .get(&code)
                    .is_none_or(|kept| observed(kept) < observed(&entry));
                if newer {
                    latest.insert(code, entry);
                }
            }
            Some(Body::Document(_)) => card.documents.push(strip_document(entry)),
            _ => {}
        }
    }
    // Active diagnoses first, newest first within each (a stable sort keeps that order).
    card.diagnoses
        .sort_by_key(|e| match e.content.as_ref().and_then(|c| c.body.as_ref()) {
            Some(Body::Diagnosis(d)) => d.status() != pb::DiagnosisStatus::Active,
            _ => true,
        });
    let mut observations: Vec<pb::Entry> = latest.into_values().collect();
    observations.sort_by_key(|e| std::cmp::Reverse(observed(e)));
    card.latest_observations = observations;
    card
}

fn observed(e: &pb::Entry) -> (i64, i32) {
    match e.content.as_ref().and_then(|c| c.body.as_ref()) {
        Some(Body::Observation(o) | Body::LabResult(o)) => o
            .observed_at
            .as_ref()
            .map_or((0, 0), |t| (t.seconds, t.nanos)),
        _ => (0, 0),
    }
}
