//! Pharmacies and the medication catalog.

use medmesh_proto::pharmacy::v1 as pb;
use svc_kit::{
    input::{self, Violations},
    paging::{bad_page_token, decode_token, page_size},
};
use tonic::Request;

use super::{Answer, PharmacyApi, key};
use crate::{
    app::{MedicationInput, PharmacyInput},
    convert,
    domain::Operation,
    error::PharmacyError,
    store::catalog::MedicationSearch,
};

fn pharmacy_input(p: Option<&pb::Pharmacy>) -> Answer<PharmacyInput> {
    let Some(p) = p else {
        return Err(PharmacyError::field("pharmacy", "is required"));
    };
    let mut v = Violations::default();
    let name = v.take(input::text("pharmacy.name", &p.name, 200, true));
    let address = v.take(input::text("pharmacy.address", &p.address, 500, true));
    let time_zone = v.take(input::time_zone("pharmacy.time_zone", &p.time_zone));
    let phone = v.take(input::text("pharmacy.phone", &p.phone, 40, false));
    let email = v.take(input::text("pharmacy.email", &p.email, 254, false));
    if !email.is_empty() && !email.contains('@') {
        v.push("pharmacy.email", "is not an email address");
    }
    if p.opening_hours.len() > 21 {
        v.push("pharmacy.opening_hours", "at most 21 entries");
    }
    for (n, h) in p.opening_hours.iter().enumerate() {
        let field = |f: &str| format!("pharmacy.opening_hours[{n}].{f}");
        v.take(input::weekday(&field("weekday"), h.weekday).map(|_| ()));
        let opens = v.take(input::time_of_day(&field("opens"), h.opens.as_ref()));
        let closes = v.take(input::time_of_day(&field("closes"), h.closes.as_ref()));
        if closes <= opens && h.opens.is_some() && h.closes.is_some() {
            v.push(&field("closes"), "must be after opens");
        }
    }
    v.finish()?;
    Ok(PharmacyInput {
        name,
        address,
        time_zone: time_zone.name().to_string(),
        phone,
        email,
        opening_hours: convert::hours_text(&p.opening_hours),
        archived: p.archived,
        version: p.version,
    })
}

fn medication_input(m: Option<&pb::Medication>) -> Answer<MedicationInput> {
    let Some(m) = m else {
        return Err(PharmacyError::field("medication", "is required"));
    };
    let mut v = Violations::default();
    let name = v.take(input::text("medication.name", &m.name, 200, true));
    let active_substance = v.take(input::text(
        "medication.active_substance",
        &m.active_substance,
        200,
        true,
    ));
    let form = v.take(input::text("medication.form", &m.form, 60, true));
    let strength = v.take(input::text("medication.strength", &m.strength, 60, true));
    let atc_code = v
        .take(input::text("medication.atc_code", &m.atc_code, 7, false))
        .to_uppercase();
    if !atc_code.is_empty() && !atc_code.chars().all(|c| c.is_ascii_alphanumeric()) {
        v.push("medication.atc_code", "is not an ATC code (e.g. N02BE01)");
    }
    if !(1..=10_000).contains(&m.pack_size) {
        v.push("medication.pack_size", "must be between 1 and 10000");
    }
    v.finish()?;
    Ok(MedicationInput {
        name,
        active_substance,
        form,
        strength,
        pack_size: m.pack_size,
        atc_code,
        prescription_only: m.prescription_only,
        archived: m.archived,
        version: m.version,
    })
}

impl PharmacyApi {
    pub(crate) async fn create_pharmacy(
        &self,
        request: Request<pb::CreatePharmacyRequest>,
    ) -> Answer<pb::Pharmacy> {
        let caller = self
            .caller_for(&request, Operation::ManagePharmacies)
            .await?;
        let body = request.get_ref();
        let key = key(&caller, "CreatePharmacy", &body.request_id, body)?;
        let given = pharmacy_input(body.pharmacy.as_ref())?;
        self.app.create_pharmacy(&caller, &key, given).await
    }

    pub(crate) async fn update_pharmacy(
        &self,
        request: Request<pb::UpdatePharmacyRequest>,
    ) -> Answer<pb::Pharmacy> {
        let caller = self
            .caller_for(&request, Operation::ManagePharmacies)
            .await?;
        let body = request.get_ref();
        let key = key(&caller, "UpdatePharmacy", &body.request_id, body)?;
        let id = input::id(
            "pharmacy.pharmacy_id",
            body.pharmacy
                .as_ref()
                .map_or("", |p| p.pharmacy_id.as_str()),
        )?;
        let given = pharmacy_input(body.pharmacy.as_ref())?;
        self.app.update_pharmacy(&caller, &key, &id, given).await
    }

    pub(crate) async fn get_pharmacy(
        &self,
        request: Request<pb::GetPharmacyRequest>,
    ) -> Answer<pb::Pharmacy> {
        let caller = self.caller_for(&request, Operation::ReadPharmacies).await?;
        let id = input::id("pharmacy_id", &request.get_ref().pharmacy_id)?;
        self.app.get_pharmacy(&caller, &id).await
    }

    pub(crate) async fn list_pharmacies(
        &self,
        request: Request<pb::ListPharmaciesRequest>,
    ) -> Answer<pb::ListPharmaciesResponse> {
        let caller = self.caller_for(&request, Operation::ReadPharmacies).await?;
        let body = request.get_ref();
        let limit = page_size(body.page_size)?;
        let after = decode_token(&body.page_token)?;
        if let Some(after) = &after {
            input::id("page_token", after).map_err(|_| bad_page_token())?;
        }
        self.app
            .list_pharmacies(&caller, limit, after, body.include_archived)
            .await
    }

    pub(crate) async fn create_medication(
        &self,
        request: Request<pb::CreateMedicationRequest>,
    ) -> Answer<pb::Medication> {
        let caller = self.caller_for(&request, Operation::ManageCatalog).await?;
        let body = request.get_ref();
        let key = key(&caller, "CreateMedication", &body.request_id, body)?;
        let given = medication_input(body.medication.as_ref())?;
        self.app.create_medication(&caller, &key, given).await
    }

    pub(crate) async fn update_medication(
        &self,
        request: Request<pb::UpdateMedicationRequest>,
    ) -> Answer<pb::Medication> {
        let caller = self.caller_for(&request, Operation::ManageCatalog).await?;
        let body = request.get_ref();
        let key = key(&caller, "UpdateMedication", &body.request_id, body)?;
        let id = input::id(
            "medication.medication_id",
            body.medication
                .as_ref()
                .map_or("", |m| m.medication_id.as_str()),
        )?;
        let given = medication_input(body.medication.as_ref())?;
        self.app.update_medication(&caller, &key, &id, given).await
    }

    pub(crate) async fn get_medication(
        &self,
        request: Request<pb::GetMedicationRequest>,
    ) -> Answer<pb::Medication> {
        let caller = self.caller_for(&request, Operation::ReadCatalog).await?;
        let id = input::id("medication_id", &request.get_ref().medication_id)?;
        self.app.get_medication(&caller, &id).await
    }

    pub(crate) async fn search_medications(
        &self,
        request: Request<pb::SearchMedicationsRequest>,
    ) -> Answer<pb::SearchMedicationsResponse> {
        let caller = self.caller_for(&request, Operation::ReadCatalog).await?;
        let body = request.get_ref();
        let mut v = Violations::default();
        let query = v.take(input::text("query", &body.query, 100, false));
        let active_substance = v.take(input::text(
            "active_substance",
            &body.active_substance,
            200,
            false,
        ));
        v.finish()?;
        let limit = page_size(body.page_size)?;
        let after = match decode_token(&body.page_token)? {
            None => None,
            Some(token) => {
                let (key, id) = token.split_once('\u{1f}').ok_or_else(bad_page_token)?;
                input::id("page_token", id).map_err(|_| bad_page_token())?;
                Some((key.to_string(), id.to_string()))
            }
        };
        self.app
            .search_medications(
                &caller,
                MedicationSearch {
                    query,
                    active_substance,
                    after,
                    limit,
                },
            )
            .await
    }
}
