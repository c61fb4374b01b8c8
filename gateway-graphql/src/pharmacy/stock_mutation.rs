//! Pharmacy mutations of stock (pharmacists; thresholds admins too).

use async_graphql::{Context, ID, Object, Result};
use medmesh_proto::pharmacy::v1 as pb;

use super::{
    client::{client, upstream},
    enums::AdjustmentReason,
    inputs::ShipmentLineInput,
    types::{Shipment, StockLevel},
};
use crate::{
    context::as_caller,
    convert::timestamp,
    input::{CRITICAL_THRESHOLD, DELTA},
};

#[derive(Debug, Default)]
pub(super) struct StockMutation;

#[Object]
impl StockMutation {
    /// Pharmacists: a shipment received at your pharmacy, by lot with its expiry. Raises
    /// on-hand stock.
    async fn receive_shipment(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        pharmacy_id: ID,
        lines: Vec<ShipmentLineInput>,
    ) -> Result<Shipment> {
        let request = as_caller(
            ctx,
            pb::ReceiveShipmentRequest {
                request_id,
                pharmacy_id: pharmacy_id.0,
                lines: lines
                    .into_iter()
                    .map(|l| pb::ShipmentLine {
                        medication_id: l.medication_id.0,
                        quantity: l.quantity,
                        lot: l.lot,
                        expires_at: Some(timestamp(l.expires_at)),
                    })
                    .collect(),
            },
        )?;
        Ok(client(ctx)
            .receive_shipment(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Pharmacists: corrects stock by `delta` (negative removes, never below what is
    /// reserved), with a reason; audited. Without `lot`, a removal takes the
    /// earliest-expiring lots.
    #[allow(clippy::too_many_arguments)]
    async fn adjust_stock(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        pharmacy_id: ID,
        medication_id: ID,
        #[graphql(validator(custom = "DELTA"))] delta: i64,
        reason: AdjustmentReason,
        note: Option<String>,
        lot: Option<String>,
    ) -> Result<StockLevel> {
        let request = as_caller(
            ctx,
            pb::AdjustStockRequest {
                request_id,
                pharmacy_id: pharmacy_id.0,
                medication_id: medication_id.0,
                delta,
                reason: reason.to_proto() as i32,
                note: note.unwrap_or_default(),
                lot: lot.unwrap_or_default(),
            },
        )?;
        Ok(client(ctx)
            .adjust_stock(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Pharmacists and admins: the level at or below which a line is low.
    async fn set_critical_threshold(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        pharmacy_id: ID,
        medication_id: ID,
        #[graphql(validator(custom = "CRITICAL_THRESHOLD"))] critical_threshold: i64,
    ) -> Result<StockLevel> {
        let request = as_caller(
            ctx,
            pb::SetCriticalThresholdRequest {
                request_id,
                pharmacy_id: pharmacy_id.0,
                medication_id: medication_id.0,
                critical_threshold,
            },
        )?;
        Ok(client(ctx)
            .set_critical_threshold(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }
}
