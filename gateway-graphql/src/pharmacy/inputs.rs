//! What pharmacy mutations and the prescription listing take. Quantities are checked here,
//! before any service is asked (`crate::input`); everything else is svc-pharmacy's to judge.

use async_graphql::{ID, InputObject};
use chrono::{DateTime, Utc};

use super::enums::PrescriptionStatus;
use crate::input::QUANTITY;

/// A pharmacy's fields; an update replaces every one.
#[derive(InputObject, Debug)]
pub struct PharmacyInput {
    /// Idempotency key: the same key on a retry returns the first answer.
    pub request_id: String,
    pub name: String,
    pub address: Option<String>,
    /// IANA zone the opening hours are read in.
    pub time_zone: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    #[graphql(default)]
    pub opening_hours: Vec<OpeningHoursInput>,
    #[graphql(default = false)]
    pub archived: bool,
}

#[derive(InputObject, Debug)]
pub struct OpeningHoursInput {
    /// 1 = Monday ... 7 = Sunday.
    pub weekday: i32,
    /// "HH:MM", the pharmacy's zone.
    pub opens: String,
    pub closes: String,
}

/// A medication's fields; an update replaces every one.
#[derive(InputObject, Debug)]
pub struct MedicationInput {
    pub request_id: String,
    pub name: String,
    /// International non-proprietary name, e.g. "paracetamol".
    pub active_substance: Option<String>,
    pub form: Option<String>,
    pub strength: Option<String>,
    /// Units per pack.
    pub pack_size: Option<i32>,
    /// ATC classification code, e.g. "N02BE01".
    pub atc_code: Option<String>,
    pub prescription_only: bool,
    #[graphql(default = false)]
    pub archived: bool,
}

/// One line of a received shipment.
#[derive(InputObject, Debug)]
pub struct ShipmentLineInput {
    pub medication_id: ID,
    #[graphql(validator(custom = "QUANTITY"))]
    pub quantity: i64,
    pub lot: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(InputObject, Debug)]
pub struct IssuePrescriptionInput {
    pub request_id: String,
    pub patient_id: ID,
    /// Where its stock is reserved; one of `allowedPharmacyIds` when those are given.
    pub pharmacy_id: ID,
    pub items: Vec<PrescriptionItemInput>,
    /// Absent: 30 days from now; at most a year.
    pub valid_until: Option<DateTime<Utc>>,
    /// Further pharmacies it may be filled at (the chosen one is always allowed).
    #[graphql(default)]
    pub allowed_pharmacy_ids: Vec<ID>,
    /// Whether a pharmacy may give part of it and owe the rest.
    #[graphql(default = false)]
    pub allow_partial: bool,
    pub notes: Option<String>,
}

#[derive(InputObject, Debug)]
pub struct PrescriptionItemInput {
    pub medication_id: ID,
    /// Units (tablets, ml ...) to give.
    #[graphql(validator(custom = "QUANTITY"))]
    pub quantity: i64,
    /// e.g. "1 tablet".
    pub dose: Option<String>,
    /// e.g. "3 times a day".
    pub frequency: Option<String>,
    pub duration_days: Option<i32>,
    /// Free text, for clients that do not split it into dose, frequency and duration.
    pub dosage_instructions: Option<String>,
    pub notes: Option<String>,
}

/// What a pharmacist gives now of one item.
#[derive(InputObject, Debug)]
pub struct DispenseLineInput {
    pub item_id: ID,
    /// The whole owed quantity, unless the prescription allows partial dispensing.
    #[graphql(validator(custom = "QUANTITY"))]
    pub quantity: i64,
    /// A generic given instead: same active substance, strength and form.
    pub substitute_medication_id: Option<ID>,
}

/// Which prescriptions to list; every condition given must hold.
#[derive(InputObject, Debug, Default)]
pub struct PrescriptionFilter {
    pub pharmacy_id: Option<ID>,
    pub patient_id: Option<ID>,
    pub doctor_id: Option<ID>,
    pub statuses: Option<Vec<PrescriptionStatus>>,
    /// Written at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Written before.
    pub created_to: Option<DateTime<Utc>>,
}
