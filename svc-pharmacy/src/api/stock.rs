//! Stock, availability, shipments, adjustments and preferred pharmacies.

use medmesh_proto::pharmacy::v1 as pb;
use svc_kit::{
    input::{self, Violations},
    paging::{bad_page_token, decode_token, page_size},
};
use tonic::Request;

use super::{Answer, PharmacyApi, ids, key};
use crate::{
    app::{Adjustment, ShipmentLineInput},
    domain::Operation,
    error::PharmacyError,
};

/// The most units one shipment line or adjustment may move.
const MAX_UNITS: i64 = 1_000_000;
/// The most lines one shipment may have, and medications one read may name.
const MAX_LINES: usize = 200;
/// The most pharmacies one availability read may name.
const MAX_PHARMACIES: usize = 20;

/// A lot name: printable, at most 64 characters.
fn lot_name(
    field: &str,
    raw: &str,
    required: bool,
) -> Result<String, svc_kit::error::FieldViolation> {
    input::text(field, raw, 64, required)
}

impl PharmacyApi {
    pub(crate) async fn get_stock(
        &self,
        request: Request<pb::GetStockRequest>,
    ) -> Answer<pb::GetStockResponse> {
        let caller = self.caller_for(&request, Operation::ReadStock).await?;
        let body = request.get_ref();
        let pharmacy_id = input::id("pharmacy_id", &body.pharmacy_id)?;
        let medication_ids = ids("medication_ids", &body.medication_ids, MAX_LINES)?;
        self.app
            .get_stock(&caller, &pharmacy_id, medication_ids)
            .await
    }

    pub(crate) async fn get_availability(
        &self,
        request: Request<pb::GetAvailabilityRequest>,
    ) -> Answer<pb::GetAvailabilityResponse> {
        let caller = self
            .caller_for(&request, Operation::ReadAvailability)
            .await?;
        let body = request.get_ref();
        let pharmacy_ids = ids("pharmacy_ids", &body.pharmacy_ids, MAX_PHARMACIES)?;
        let medication_ids = ids("medication_ids", &body.medication_ids, MAX_LINES)?;
        if medication_ids.is_empty() {
            return Err(PharmacyError::field(
                "medication_ids",
                "name at least one medication",
            ));
        }
        let patient_id = input::optional_id("patient_id", &body.patient_id)?;
        self.app
            .get_availability(&caller, pharmacy_ids, medication_ids, patient_id)
            .await
    }

    pub(crate) async fn get_preferred_pharmacies(
        &self,
        request: Request<pb::GetPreferredPharmaciesRequest>,
    ) -> Answer<pb::PreferredPharmacies> {
        let caller = self
            .caller_for(&request, Operation::ReadPreferences)
            .await?;
        let patient_id = input::optional_id("patient_id", &request.get_ref().patient_id)?;
        self.app.get_preferred(&caller, patient_id).await
    }

    pub(crate) async fn set_preferred_pharmacies(
        &self,
        request: Request<pb::SetPreferredPharmaciesRequest>,
    ) -> Answer<pb::PreferredPharmacies> {
        let caller = self.caller_for(&request, Operation::SetPreferences).await?;
        let body = request.get_ref();
        let key = key(&caller, "SetPreferredPharmacies", &body.request_id, body)?;
        let pharmacy_ids = ids(
            "pharmacy_ids",
            &body.pharmacy_ids,
            crate::app::MAX_PREFERRED,
        )?;
        self.app.set_preferred(&caller, &key, pharmacy_ids).await
    }

    pub(crate) async fn receive_shipment(
        &self,
        request: Request<pb::ReceiveShipmentRequest>,
    ) -> Answer<pb::ReceiveShipmentResponse> {
        let caller = self.caller_for(&request, Operation::ManageStock).await?;
        let body = request.get_ref();
        let key = key(&caller, "ReceiveShipment", &body.request_id, body)?;
        let mut v = Violations::default();
        let pharmacy_id = v.take(input::id("pharmacy_id", &body.pharmacy_id));
        if body.lines.is_empty() || body.lines.len() > MAX_LINES {
            v.push("lines", format!("between 1 and {MAX_LINES} lines"));
        }
        let now = svc_kit::write::now();
        let mut lines = Vec::new();
        for (n, line) in body.lines.iter().enumerate() {
            let field = |f: &str| format!("lines[{n}].{f}");
            let medication_id = v.take(input::id(&field("medication_id"), &line.medication_id));
            if !(1..=MAX_UNITS).contains(&line.quantity) {
                v.push(
                    &field("quantity"),
                    format!("must be between 1 and {MAX_UNITS}"),
                );
            }
            let lot = v.take(lot_name(&field("lot"), &line.lot, true));
            let expires_at = match &line.expires_at {
                None => None,
                Some(at) => {
                    let at = v.take(input::instant(&field("expires_at"), Some(at)));
                    if at <= now {
                        v.push(
                            &field("expires_at"),
                            "is in the past: expired stock is not received",
                        );
                    }
                    Some(at)
                }
            };
            if lines
                .iter()
                .any(|l: &ShipmentLineInput| l.medication_id == medication_id && l.lot == lot)
            {
                v.push(&field("lot"), "is given twice for this medication");
            }
            lines.push(ShipmentLineInput {
                medication_id,
                quantity: line.quantity,
                lot,
                expires_at,
            });
        }
        v.finish()?;
        self.app
            .receive_shipment(&caller, &key, &pharmacy_id, lines)
            .await
    }

    pub(crate) async fn adjust_stock(
        &self,
        request: Request<pb::AdjustStockRequest>,
    ) -> Answer<pb::StockLevel> {
        let caller = self.caller_for(&request, Operation::ManageStock).await?;
        let body = request.get_ref();
        let key = key(&caller, "AdjustStock", &body.request_id, body)?;
        let mut v = Violations::default();
        let pharmacy_id = v.take(input::id("pharmacy_id", &body.pharmacy_id));
        let medication_id = v.take(input::id("medication_id", &body.medication_id));
        if body.delta == 0 || body.delta.abs() > MAX_UNITS {
            v.push(
                "delta",
                format!("must be non-zero and at most {MAX_UNITS} either way"),
            );
        }
        let reason = pb::AdjustmentReason::try_from(body.reason).unwrap_or_default();
        if reason == pb::AdjustmentReason::Unspecified {
            v.push(
                "reason",
                "is required: breakage, count correction, expired or returned",
            );
        }
        let note = v.take(input::text("note", &body.note, 500, false));
        let lot = v.take(lot_name("lot", &body.lot, false));
        v.finish()?;
        self.app
            .adjust_stock(
                &caller,
                &key,
                Adjustment {
                    pharmacy_id,
                    medication_id,
                    delta: body.delta,
                    reason,
                    note,
                    lot: (!lot.is_empty()).then_some(lot),
                },
            )
            .await
    }

    pub(crate) async fn set_critical_threshold(
        &self,
        request: Request<pb::SetCriticalThresholdRequest>,
    ) -> Answer<pb::StockLevel> {
        let caller = self.caller_for(&request, Operation::SetThreshold).await?;
        let body = request.get_ref();
        let key = key(&caller, "SetCriticalThreshold", &body.request_id, body)?;
        let mut v = Violations::default();
        let pharmacy_id = v.take(input::id("pharmacy_id", &body.pharmacy_id));
        let medication_id = v.take(input::id("medication_id", &body.medication_id));
        if !(0..=MAX_UNITS).contains(&body.critical_threshold) {
            v.push(
                "critical_threshold",
                format!("must be between 0 and {MAX_UNITS}"),
            );
        }
        v.finish()?;
        self.app
            .set_critical_threshold(
                &caller,
                &key,
                &pharmacy_id,
                &medication_id,
                body.critical_threshold,
            )
            .await
    }

    pub(crate) async fn list_low_stock(
        &self,
        request: Request<pb::ListLowStockRequest>,
    ) -> Answer<pb::ListLowStockResponse> {
        let caller = self.caller_for(&request, Operation::ReadStock).await?;
        let pharmacy_id = input::id("pharmacy_id", &request.get_ref().pharmacy_id)?;
        self.app.list_low_stock(&caller, &pharmacy_id).await
    }

    pub(crate) async fn list_expiring_lots(
        &self,
        request: Request<pb::ListExpiringLotsRequest>,
    ) -> Answer<pb::ListExpiringLotsResponse> {
        let caller = self.caller_for(&request, Operation::ReadStock).await?;
        let body = request.get_ref();
        let pharmacy_id = input::id("pharmacy_id", &body.pharmacy_id)?;
        let before = match &body.before {
            None => None,
            Some(at) => Some(input::instant("before", Some(at))?),
        };
        self.app
            .list_expiring_lots(&caller, &pharmacy_id, before)
            .await
    }

    pub(crate) async fn list_stock_movements(
        &self,
        request: Request<pb::ListStockMovementsRequest>,
    ) -> Answer<pb::ListStockMovementsResponse> {
        let caller = self.caller_for(&request, Operation::ReadStock).await?;
        let body = request.get_ref();
        let pharmacy_id = input::id("pharmacy_id", &body.pharmacy_id)?;
        let medication_id = input::optional_id("medication_id", &body.medication_id)?;
        let limit = page_size(body.page_size)?;
        let before = decode_token(&body.page_token)?;
        if let Some(before) = &before {
            input::id("page_token", before).map_err(|_| bad_page_token())?;
        }
        self.app
            .list_stock_movements(&caller, &pharmacy_id, medication_id, limit, before)
            .await
    }
}
