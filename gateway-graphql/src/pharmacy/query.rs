//! Pharmacy queries: pharmacies, the catalog, stock and its ledger, availability, preferred
//! pharmacies, prescriptions.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use medmesh_proto::pharmacy::v1 as pb;

use super::{
    client::{client, upstream},
    inputs::PrescriptionFilter,
    prescription::read_prescription,
    prescription_types::{Prescription, PrescriptionPage},
    types::{
        ExpiringLot, Medication, MedicationPage, Pharmacy, PharmacyAvailability, PharmacyPage,
        PreferredPharmacies, StockLevel, StockMovement, StockMovementPage,
    },
};
use crate::{
    context::as_caller,
    convert::{non_empty, timestamp},
    input::PAGE_SIZE,
};

#[derive(Debug, Default)]
pub struct PharmacyQuery;

#[Object]
impl PharmacyQuery {
    /// Pharmacies, a page at a time.
    #[graphql(complexity = "child_complexity + crate::input::page_cost(page_size)")]
    async fn pharmacies(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
        #[graphql(default = false)] include_archived: bool,
    ) -> Result<PharmacyPage> {
        let request = as_caller(
            ctx,
            pb::ListPharmaciesRequest {
                page_size: page_size.unwrap_or(0),
                page_token: page_token.unwrap_or_default(),
                include_archived,
            },
        )?;
        let page = client(ctx)
            .list_pharmacies(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(PharmacyPage {
            pharmacies: page.pharmacies.into_iter().map(Pharmacy::from).collect(),
            next_page_token: non_empty(page.next_page_token),
        })
    }

    async fn pharmacy(&self, ctx: &Context<'_>, id: ID) -> Result<Pharmacy> {
        let request = as_caller(ctx, pb::GetPharmacyRequest { pharmacy_id: id.0 })?;
        Ok(client(ctx)
            .get_pharmacy(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// The catalog by name, active substance or ATC code (diacritics and case do not matter);
    /// with `activeSubstance`, only that substance's medications (generic substitutes).
    #[graphql(complexity = "child_complexity + crate::input::page_cost(page_size)")]
    async fn medications(
        &self,
        ctx: &Context<'_>,
        query: Option<String>,
        active_substance: Option<String>,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
    ) -> Result<MedicationPage> {
        let request = as_caller(
            ctx,
            pb::SearchMedicationsRequest {
                query: query.unwrap_or_default(),
                page_size: page_size.unwrap_or(0),
                page_token: page_token.unwrap_or_default(),
                active_substance: active_substance.unwrap_or_default(),
            },
        )?;
        let page = client(ctx)
            .search_medications(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(MedicationPage {
            medications: page.medications.into_iter().map(Medication::from).collect(),
            next_page_token: non_empty(page.next_page_token),
        })
    }

    async fn medication(&self, ctx: &Context<'_>, id: ID) -> Result<Medication> {
        let request = as_caller(
            ctx,
            pb::GetMedicationRequest {
                medication_id: id.0,
            },
        )?;
        Ok(client(ctx)
            .get_medication(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Pharmacists and admins: a pharmacy's stock with quantities and lots (absent
    /// `medicationIds`: every line it has).
    async fn stock(
        &self,
        ctx: &Context<'_>,
        pharmacy_id: ID,
        medication_ids: Option<Vec<ID>>,
    ) -> Result<Vec<StockLevel>> {
        let request = as_caller(
            ctx,
            pb::GetStockRequest {
                pharmacy_id: pharmacy_id.0,
                medication_ids: ids(medication_ids),
            },
        )?;
        let stock = client(ctx)
            .get_stock(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(stock.levels.into_iter().map(StockLevel::from).collect())
    }

    /// Whether medications are in stock, low or out at pharmacies, without quantities. With
    /// `patientId` and no `pharmacyIds`: at that patient's preferred pharmacies.
    async fn availability(
        &self,
        ctx: &Context<'_>,
        pharmacy_ids: Option<Vec<ID>>,
        medication_ids: Vec<ID>,
        patient_id: Option<ID>,
    ) -> Result<Vec<PharmacyAvailability>> {
        let request = as_caller(
            ctx,
            pb::GetAvailabilityRequest {
                pharmacy_ids: ids(pharmacy_ids),
                medication_ids: ids(Some(medication_ids)),
                patient_id: patient_id.map(|i| i.0).unwrap_or_default(),
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

    /// The pharmacies a patient prefers (patients: your own when `patientId` is absent;
    /// doctors: a patient in your care).
    async fn preferred_pharmacies(
        &self,
        ctx: &Context<'_>,
        patient_id: Option<ID>,
    ) -> Result<PreferredPharmacies> {
        let request = as_caller(
            ctx,
            pb::GetPreferredPharmaciesRequest {
                patient_id: patient_id.map(|i| i.0).unwrap_or_default(),
            },
        )?;
        Ok(client(ctx)
            .get_preferred_pharmacies(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Pharmacists and admins: a pharmacy's lines at or below their critical threshold.
    async fn low_stock(&self, ctx: &Context<'_>, pharmacy_id: ID) -> Result<Vec<StockLevel>> {
        let request = as_caller(
            ctx,
            pb::ListLowStockRequest {
                pharmacy_id: pharmacy_id.0,
            },
        )?;
        let low = client(ctx)
            .list_low_stock(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(low.levels.into_iter().map(StockLevel::from).collect())
    }

    /// Pharmacists and admins: lots with stock left that expire before `before` (absent: 90
    /// days from now).
    async fn expiring_lots(
        &self,
        ctx: &Context<'_>,
        pharmacy_id: ID,
        before: Option<DateTime<Utc>>,
    ) -> Result<Vec<ExpiringLot>> {
        let request = as_caller(
            ctx,
            pb::ListExpiringLotsRequest {
                pharmacy_id: pharmacy_id.0,
                before: before.map(timestamp),
            },
        )?;
        let expiring = client(ctx)
            .list_expiring_lots(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(expiring.lots.into_iter().map(ExpiringLot::from).collect())
    }

    /// Pharmacists and admins: the stock ledger of a pharmacy (or of one medication there),
    /// a page at a time.
    #[graphql(complexity = "child_complexity + crate::input::page_cost(page_size)")]
    async fn stock_movements(
        &self,
        ctx: &Context<'_>,
        pharmacy_id: ID,
        medication_id: Option<ID>,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
    ) -> Result<StockMovementPage> {
        let request = as_caller(
            ctx,
            pb::ListStockMovementsRequest {
                pharmacy_id: pharmacy_id.0,
                medication_id: medication_id.map(|i| i.0).unwrap_or_default(),
                page_size: page_size.unwrap_or(0),
                page_token: page_token.unwrap_or_default(),
            },
        )?;
        let page = client(ctx)
            .list_stock_movements(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(StockMovementPage {
            movements: page
                .movements
                .into_iter()
                .map(StockMovement::from)
                .collect(),
            next_page_token: non_empty(page.next_page_token),
        })
    }

    /// Prescriptions you may see (patients: your own; doctors: those you wrote and your
    /// patients'; pharmacists: your pharmacies'), a page at a time.
    #[graphql(complexity = "child_complexity + crate::input::page_cost(page_size)")]
    async fn prescriptions(
        &self,
        ctx: &Context<'_>,
        filter: Option<PrescriptionFilter>,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
    ) -> Result<PrescriptionPage> {
        let filter = filter.unwrap_or_default();
        let request = as_caller(
            ctx,
            pb::ListPrescriptionsRequest {
                page_size: page_size.unwrap_or(0),
                page_token: page_token.unwrap_or_default(),
                pharmacy_id: filter.pharmacy_id.map(|i| i.0).unwrap_or_default(),
                patient_id: filter.patient_id.map(|i| i.0).unwrap_or_default(),
                doctor_id: filter.doctor_id.map(|i| i.0).unwrap_or_default(),
                statuses: filter
                    .statuses
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| s.to_proto() as i32)
                    .collect(),
                created_from: filter.created_from.map(timestamp),
                created_to: filter.created_to.map(timestamp),
            },
        )?;
        let page = client(ctx)
            .list_prescriptions(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(PrescriptionPage {
            prescriptions: page
                .prescriptions
                .into_iter()
                .map(Prescription::from)
                .collect(),
            next_page_token: non_empty(page.next_page_token),
        })
    }

    /// One prescription, with what its pharmacy has available now of each item.
    async fn prescription(&self, ctx: &Context<'_>, id: ID) -> Result<Prescription> {
        read_prescription(ctx, id).await
    }
}

/// Ids as the contract takes them; absent is empty.
fn ids(ids: Option<Vec<ID>>) -> Vec<String> {
    ids.unwrap_or_default().into_iter().map(|i| i.0).collect()
}
