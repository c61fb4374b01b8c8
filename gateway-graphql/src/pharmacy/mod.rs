//! Pharmacy in the graph: pharmacies, the medication catalog, stock and its ledger,
//! availability, preferred pharmacies, prescriptions and dispensing, and a prescription's
//! status live. Every resolver forwards the caller's bearer token; svc-pharmacy decides whose
//! prescriptions and which pharmacies' stock a caller reaches.

mod client;
mod directory_mutation;
mod enums;
mod inputs;
mod live;
mod prescription;
mod prescription_mutation;
mod prescription_types;
mod query;
mod stock_mutation;
mod subscription;
mod types;

pub use enums::{AdjustmentReason, Availability, MovementKind, PrescriptionStatus};
pub use inputs::{
    DispenseLineInput, IssuePrescriptionInput, MedicationInput, OpeningHoursInput, PharmacyInput,
    PrescriptionFilter, PrescriptionItemInput, ShipmentLineInput,
};
pub use live::PrescriptionFeed;
pub use prescription_types::{Prescription, PrescriptionItem, PrescriptionPage};
pub use query::PharmacyQuery;
pub use subscription::PharmacySubscription;
pub use types::{
    Actor, ExpiringLot, Lot, Medication, MedicationPage, OpeningHours, Pharmacy,
    PharmacyAvailability, PharmacyPage, PreferredPharmacies, Shipment, StockLevel, StockMovement,
    StockMovementPage,
};

/// Every pharmacy mutation, in the schema's order: pharmacies and the catalog, stock, then
/// prescriptions.
#[derive(async_graphql::MergedObject, Debug, Default)]
pub struct PharmacyMutation(
    directory_mutation::PharmacyDirectoryMutation,
    stock_mutation::StockMutation,
    prescription_mutation::PrescriptionMutation,
);
