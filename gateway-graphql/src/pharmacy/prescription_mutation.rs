//! Pharmacy mutations of prescriptions: a patient's preferred pharmacies, writing a
//! prescription, moving it, dispensing, rejecting and cancelling it.

use async_graphql::{Context, ID, Object, Result};
use medmesh_proto::pharmacy::v1 as pb;

use super::{
    client::{client, upstream},
    inputs::{DispenseLineInput, IssuePrescriptionInput},
    prescription_types::Prescription,
    types::PreferredPharmacies,
};
use crate::{context::as_caller, convert::timestamp};

#[derive(Debug, Default)]
pub(super) struct PrescriptionMutation;

#[Object]
impl PrescriptionMutation {
    /// Patients: the pharmacies you prefer, in order (at most 5); a doctor writing you a
    /// prescription sees availability there first.
    async fn set_preferred_pharmacies(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        pharmacy_ids: Vec<ID>,
    ) -> Result<PreferredPharmacies> {
        let request = as_caller(
            ctx,
            pb::SetPreferredPharmaciesRequest {
                request_id,
                pharmacy_ids: pharmacy_ids.into_iter().map(|i| i.0).collect(),
            },
        )?;
        Ok(client(ctx)
            .set_preferred_pharmacies(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Doctors: a prescription for a patient in your care, to a pharmacy; its quantities are
    /// reserved there (what is short is recorded in `shortfall`, not refused).
    async fn issue_prescription(
        &self,
        ctx: &Context<'_>,
        input: IssuePrescriptionInput,
    ) -> Result<Prescription> {
        let request = as_caller(
            ctx,
            pb::CreatePrescriptionRequest {
                request_id: input.request_id,
                patient_id: input.patient_id.0,
                pharmacy_id: input.pharmacy_id.0,
                items: input
                    .items
                    .into_iter()
                    .map(|i| pb::PrescriptionItem {
                        medication_id: i.medication_id.0,
                        quantity: i.quantity,
                        dosage_instructions: i.dosage_instructions.unwrap_or_default(),
                        dose: i.dose.unwrap_or_default(),
                        frequency: i.frequency.unwrap_or_default(),
                        duration_days: i.duration_days.unwrap_or(0),
                        notes: i.notes.unwrap_or_default(),
                        ..Default::default()
                    })
                    .collect(),
                valid_until: input.valid_until.map(timestamp),
                allowed_pharmacy_ids: input
                    .allowed_pharmacy_ids
                    .into_iter()
                    .map(|i| i.0)
                    .collect(),
                allow_partial: input.allow_partial,
                notes: input.notes.unwrap_or_default(),
            },
        )?;
        Ok(client(ctx)
            .create_prescription(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Patients (and the prescriber): moves a prescription to another pharmacy it may be
    /// filled at; the reservation moves with it.
    async fn change_prescription_pharmacy(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        id: ID,
        pharmacy_id: ID,
    ) -> Result<Prescription> {
        let request = as_caller(
            ctx,
            pb::ChangePrescriptionPharmacyRequest {
                request_id,
                prescription_id: id.0,
                pharmacy_id: pharmacy_id.0,
            },
        )?;
        Ok(client(ctx)
            .change_prescription_pharmacy(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Pharmacists: you start preparing a prescription of your pharmacy.
    async fn start_dispensing(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        id: ID,
    ) -> Result<Prescription> {
        let request = as_caller(
            ctx,
            pb::StartDispensingRequest {
                request_id,
                prescription_id: id.0,
            },
        )?;
        Ok(client(ctx)
            .start_dispensing(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Pharmacists: gives what `lines` say (absent: every item, in full), all or nothing;
    /// stock never goes negative.
    async fn dispense_prescription(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        id: ID,
        lines: Option<Vec<DispenseLineInput>>,
    ) -> Result<Prescription> {
        let request = as_caller(
            ctx,
            pb::DispensePrescriptionRequest {
                request_id,
                prescription_id: id.0,
                lines: lines
                    .unwrap_or_default()
                    .into_iter()
                    .map(|l| pb::DispenseLine {
                        item_id: l.item_id.0,
                        quantity: l.quantity,
                        substitute_medication_id: l
                            .substitute_medication_id
                            .map(|i| i.0)
                            .unwrap_or_default(),
                    })
                    .collect(),
            },
        )?;
        Ok(client(ctx)
            .dispense_prescription(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Pharmacists: refuses to fill a prescription, saying why.
    async fn reject_prescription(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        id: ID,
        reason: String,
    ) -> Result<Prescription> {
        let request = as_caller(
            ctx,
            pb::RejectPrescriptionRequest {
                request_id,
                prescription_id: id.0,
                reason,
            },
        )?;
        Ok(client(ctx)
            .reject_prescription(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Doctors: cancels a prescription you wrote that is not yet dispensed.
    async fn cancel_prescription(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        id: ID,
        reason: Option<String>,
    ) -> Result<Prescription> {
        let request = as_caller(
            ctx,
            pb::CancelPrescriptionRequest {
                request_id,
                prescription_id: id.0,
                reason: reason.unwrap_or_default(),
            },
        )?;
        Ok(client(ctx)
            .cancel_prescription(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }
}
