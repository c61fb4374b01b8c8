//! Prescriptions: writing, reading, moving, dispensing, rejecting, cancelling.

use medmesh_proto::pharmacy::v1 as pb;
use svc_kit::{
    input::{self, Violations},
    paging::{bad_page_token, decode_token, page_size},
};
use tonic::Request;

use super::{Answer, PharmacyApi, key};
use crate::{
    app::{ItemInput, NewPrescription, PrescriptionFilter},
    convert,
    domain::{Operation, prescription::RequestedLine},
};

/// The most items one prescription may have.
const MAX_ITEMS: usize = 20;
/// The most units of one item.
const MAX_QUANTITY: i64 = 10_000;

impl PharmacyApi {
    pub(crate) async fn create_prescription(
        &self,
        request: Request<pb::CreatePrescriptionRequest>,
    ) -> Answer<pb::Prescription> {
        let caller = self.caller_for(&request, Operation::Prescribe).await?;
        let body = request.get_ref();
        let key = key(&caller, "CreatePrescription", &body.request_id, body)?;
        let mut v = Violations::default();
        let patient_id = v.take(input::id("patient_id", &body.patient_id));
        let pharmacy_id = v.take(input::id("pharmacy_id", &body.pharmacy_id));
        if body.allowed_pharmacy_ids.len() > 10 {
            v.push("allowed_pharmacy_ids", "at most 10");
        }
        let allowed_pharmacy_ids: Vec<String> = body
            .allowed_pharmacy_ids
            .iter()
            .enumerate()
            .map(|(n, id)| v.take(input::id(&format!("allowed_pharmacy_ids[{n}]"), id)))
            .collect();
        if body.items.is_empty() || body.items.len() > MAX_ITEMS {
            v.push("items", format!("between 1 and {MAX_ITEMS} items"));
        }
        let mut items = Vec::new();
        for (n, item) in body.items.iter().enumerate() {
            let field = |f: &str| format!("items[{n}].{f}");
            let medication_id = v.take(input::id(&field("medication_id"), &item.medication_id));
            if !(1..=MAX_QUANTITY).contains(&item.quantity) {
                v.push(
                    &field("quantity"),
                    format!("must be between 1 and {MAX_QUANTITY}"),
                );
            }
            if !(0..=365).contains(&item.duration_days) {
                v.push(&field("duration_days"), "must be between 0 and 365");
            }
            items.push(ItemInput {
                medication_id,
                quantity: item.quantity,
                dosage_instructions: v.take(input::text(
                    &field("dosage_instructions"),
                    &item.dosage_instructions,
                    500,
                    false,
                )),
                dose: v.take(input::text(&field("dose"), &item.dose, 100, false)),
                frequency: v.take(input::text(
                    &field("frequency"),
                    &item.frequency,
                    100,
                    false,
                )),
                duration_days: item.duration_days,
                notes: v.take(input::text(&field("notes"), &item.notes, 500, false)),
            });
        }
        let valid_until = body
            .valid_until
            .as_ref()
            .map(|at| v.take(input::instant("valid_until", Some(at))));
        let notes = v.take(input::text("notes", &body.notes, 1000, false));
        v.finish()?;
        self.app
            .create_prescription(
                &caller,
                &key,
                NewPrescription {
                    patient_id,
                    pharmacy_id,
                    allowed_pharmacy_ids,
                    items,
                    valid_until,
                    allow_partial: body.allow_partial,
                    notes,
                },
            )
            .await
    }

    pub(crate) async fn get_prescription(
        &self,
        request: Request<pb::GetPrescriptionRequest>,
    ) -> Answer<pb::Prescription> {
        let caller = self
            .caller_for(&request, Operation::ReadPrescriptions)
            .await?;
        let id = input::id("prescription_id", &request.get_ref().prescription_id)?;
        self.app.get_prescription(&caller, &id).await
    }

    pub(crate) async fn list_prescriptions(
        &self,
        request: Request<pb::ListPrescriptionsRequest>,
    ) -> Answer<pb::ListPrescriptionsResponse> {
        let caller = self
            .caller_for(&request, Operation::ReadPrescriptions)
            .await?;
        let body = request.get_ref();
        let mut v = Violations::default();
        let pharmacy_id = v.take(input::optional_id("pharmacy_id", &body.pharmacy_id));
        let patient_id = v.take(input::optional_id("patient_id", &body.patient_id));
        let doctor_id = v.take(input::optional_id("doctor_id", &body.doctor_id));
        let mut statuses = Vec::new();
        for (n, raw) in body.statuses.iter().enumerate() {
            match pb::PrescriptionStatus::try_from(*raw)
                .ok()
                .and_then(convert::status_from)
            {
                Some(s) => statuses.push(s),
                None => v.push(&format!("statuses[{n}]"), "is not a prescription status"),
            }
        }
        let created_from = body
            .created_from
            .as_ref()
            .map(|t| v.take(input::instant("created_from", Some(t))));
        let created_to = body
            .created_to
            .as_ref()
            .map(|t| v.take(input::instant("created_to", Some(t))));
        v.finish()?;
        let limit = page_size(body.page_size)?;
        let before = decode_token(&body.page_token)?;
        if let Some(before) = &before {
            input::id("page_token", before).map_err(|_| bad_page_token())?;
        }
        self.app
            .list_prescriptions(
                &caller,
                PrescriptionFilter {
                    patient_id,
                    doctor_id,
                    pharmacy_id,
                    statuses,
                    created_from,
                    created_to,
                    before,
                    limit,
                },
            )
            .await
    }

    pub(crate) async fn change_prescription_pharmacy(
        &self,
        request: Request<pb::ChangePrescriptionPharmacyRequest>,
    ) -> Answer<pb::Prescription> {
        let caller = self
            .caller_for(&request, Operation::MovePrescription)
            .await?;
        let body = request.get_ref();
        let key = key(
            &caller,
            "ChangePrescriptionPharmacy",
            &body.request_id,
            body,
        )?;
        let mut v = Violations::default();
        let id = v.take(input::id("prescription_id", &body.prescription_id));
        let pharmacy_id = v.take(input::id("pharmacy_id", &body.pharmacy_id));
        v.finish()?;
        self.app
            .change_pharmacy(&caller, &key, &id, &pharmacy_id)
            .await
    }

    pub(crate) async fn start_dispensing(
        &self,
        request: Request<pb::StartDispensingRequest>,
    ) -> Answer<pb::Prescription> {
        let caller = self.caller_for(&request, Operation::Dispense).await?;
        let body = request.get_ref();
        let key = key(&caller, "StartDispensing", &body.request_id, body)?;
        let id = input::id("prescription_id", &body.prescription_id)?;
        self.app.start_dispensing(&caller, &key, &id).await
    }

    pub(crate) async fn dispense_prescription(
        &self,
        request: Request<pb::DispensePrescriptionRequest>,
    ) -> Answer<pb::Prescription> {
        let caller = self.caller_for(&request, Operation::Dispense).await?;
        let body = request.get_ref();
        let key = key(&caller, "DispensePrescription", &body.request_id, body)?;
        let mut v = Violations::default();
        let id = v.take(input::id("prescription_id", &body.prescription_id));
        if body.lines.len() > MAX_ITEMS {
            v.push("lines", format!("at most {MAX_ITEMS}"));
        }
        let mut lines = Vec::new();
        for (n, line) in body.lines.iter().enumerate() {
            let field = |f: &str| format!("lines[{n}].{f}");
            let item_id = v.take(input::id(&field("item_id"), &line.item_id));
            if !(0..=MAX_QUANTITY).contains(&line.quantity) {
                v.push(
                    &field("quantity"),
                    format!("must be between 1 and {MAX_QUANTITY} (0: all owed)"),
                );
            }
            let substitute = v.take(input::optional_id(
                &field("substitute_medication_id"),
                &line.substitute_medication_id,
            ));
            lines.push(RequestedLine {
                item_id,
                quantity: line.quantity,
                substitute,
            });
        }
        v.finish()?;
        self.app.dispense(&caller, &key, &id, lines).await
    }

    pub(crate) async fn reject_prescription(
        &self,
        request: Request<pb::RejectPrescriptionRequest>,
    ) -> Answer<pb::Prescription> {
        let caller = self.caller_for(&request, Operation::Dispense).await?;
        let body = request.get_ref();
        let key = key(&caller, "RejectPrescription", &body.request_id, body)?;
        let mut v = Violations::default();
        let id = v.take(input::id("prescription_id", &body.prescription_id));
        let reason = v.take(input::text("reason", &body.reason, 500, true));
        v.finish()?;
        self.app.reject(&caller, &key, &id, reason).await
    }

    pub(crate) async fn cancel_prescription(
        &self,
        request: Request<pb::CancelPrescriptionRequest>,
    ) -> Answer<pb::Prescription> {
        let caller = self
            .caller_for(&request, Operation::CancelPrescription)
            .await?;
        let body = request.get_ref();
        let key = key(&caller, "CancelPrescription", &body.request_id, body)?;
        let mut v = Violations::default();
        let id = v.take(input::id("prescription_id", &body.prescription_id));
        let reason = v.take(input::text("reason", &body.reason, 500, false));
        v.finish()?;
        self.app.cancel(&caller, &key, &id, reason).await
    }
}
