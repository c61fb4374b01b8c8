//! Pharmacy mutations of the directory and the catalog (admins).

use async_graphql::{Context, ID, Object, Result};
use medmesh_proto::pharmacy::v1 as pb;

use super::{
    client::{client, upstream},
    inputs::{MedicationInput, PharmacyInput},
    types::{Medication, Pharmacy},
};
use crate::{context::as_caller, convert::time_of_day};

#[derive(Debug, Default)]
pub(super) struct PharmacyDirectoryMutation;

#[Object]
impl PharmacyDirectoryMutation {
    /// Admins: a pharmacy.
    async fn create_pharmacy(&self, ctx: &Context<'_>, input: PharmacyInput) -> Result<Pharmacy> {
        let (request_id, pharmacy) = to_pharmacy(String::new(), input, 0);
        let request = as_caller(
            ctx,
            pb::CreatePharmacyRequest {
                request_id,
                pharmacy: Some(pharmacy),
            },
        )?;
        Ok(client(ctx)
            .create_pharmacy(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Admins: replaces every field of a pharmacy. `version` is the one read (a newer one on
    /// the server refuses with CONFLICT); absent, it is not checked.
    async fn update_pharmacy(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: PharmacyInput,
        version: Option<i64>,
    ) -> Result<Pharmacy> {
        let (request_id, pharmacy) = to_pharmacy(id.0, input, version.unwrap_or(0));
        let request = as_caller(
            ctx,
            pb::UpdatePharmacyRequest {
                request_id,
                pharmacy: Some(pharmacy),
            },
        )?;
        Ok(client(ctx)
            .update_pharmacy(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Admins: a medication of the catalog.
    async fn create_medication(
        &self,
        ctx: &Context<'_>,
        input: MedicationInput,
    ) -> Result<Medication> {
        let (request_id, medication) = to_medication(String::new(), input, 0);
        let request = as_caller(
            ctx,
            pb::CreateMedicationRequest {
                request_id,
                medication: Some(medication),
            },
        )?;
        Ok(client(ctx)
            .create_medication(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Admins: replaces every field of a medication; `version` as for `updatePharmacy`.
    async fn update_medication(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: MedicationInput,
        version: Option<i64>,
    ) -> Result<Medication> {
        let (request_id, medication) = to_medication(id.0, input, version.unwrap_or(0));
        let request = as_caller(
            ctx,
            pb::UpdateMedicationRequest {
                request_id,
                medication: Some(medication),
            },
        )?;
        Ok(client(ctx)
            .update_medication(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }
}

/// The request id and the pharmacy an input describes.
fn to_pharmacy(id: String, input: PharmacyInput, version: i64) -> (String, pb::Pharmacy) {
    let pharmacy = pb::Pharmacy {
        pharmacy_id: id,
        name: input.name,
        address: input.address.unwrap_or_default(),
        time_zone: input.time_zone,
        phone: input.phone.unwrap_or_default(),
        email: input.email.unwrap_or_default(),
        opening_hours: input
            .opening_hours
            .into_iter()
            .map(|h| pb::OpeningHours {
                weekday: h.weekday,
                opens: Some(time_of_day(&h.opens)),
                closes: Some(time_of_day(&h.closes)),
            })
            .collect(),
        archived: input.archived,
        version,
    };
    (input.request_id, pharmacy)
}

/// The request id and the medication an input describes.
fn to_medication(id: String, input: MedicationInput, version: i64) -> (String, pb::Medication) {
    let medication = pb::Medication {
        medication_id: id,
        name: input.name,
        active_substance: input.active_substance.unwrap_or_default(),
        form: input.form.unwrap_or_default(),
        strength: input.strength.unwrap_or_default(),
        pack_size: input.pack_size.unwrap_or(0),
        atc_code: input.atc_code.unwrap_or_default(),
        prescription_only: input.prescription_only,
        archived: input.archived,
        version,
    };
    (input.request_id, medication)
}
