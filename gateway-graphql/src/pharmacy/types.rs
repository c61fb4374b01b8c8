//! The pharmacy part of the graph's types: pharmacies, the catalog, stock and its ledger, and
//! their conversions from svc-pharmacy's messages. Prescriptions are in `prescription_types`.
//!
//! Quantities are `Int`. The contract counts in 64 bits; answers carry the service's value as
//! it is (the way `version` is carried), and arguments are taken within GraphQL's 32-bit `Int`
//! range (`crate::input::QUANTITY` and its neighbours).

use async_graphql::{ID, SimpleObject};
use chrono::{DateTime, Utc};
use medmesh_proto::{common::v1 as common, pharmacy::v1 as pb};

use super::enums::{AdjustmentReason, Availability, MovementKind};
use crate::{
    accounts::Role,
    convert::{hhmm, non_empty, time},
};

/// A pharmacy; its opening hours are read in `timeZone`.
#[derive(SimpleObject, Debug, Clone)]
pub struct Pharmacy {
    pub id: ID,
    pub name: String,
    pub address: Option<String>,
    /// IANA zone, e.g. "Europe/Chisinau".
    pub time_zone: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub opening_hours: Vec<OpeningHours>,
    pub archived: bool,
    pub version: i64,
}

impl From<pb::Pharmacy> for Pharmacy {
    fn from(p: pb::Pharmacy) -> Pharmacy {
        Pharmacy {
            id: ID(p.pharmacy_id),
            name: p.name,
            address: non_empty(p.address),
            time_zone: p.time_zone,
            phone: non_empty(p.phone),
            email: non_empty(p.email),
            opening_hours: p
                .opening_hours
                .into_iter()
                .map(OpeningHours::from)
                .collect(),
            archived: p.archived,
            version: p.version,
        }
    }
}

/// Open on `weekday` (1 = Monday ... 7 = Sunday) from `opens` to `closes` ("HH:MM", the
/// pharmacy's zone).
#[derive(SimpleObject, Debug, Clone)]
pub struct OpeningHours {
    pub weekday: i32,
    pub opens: Option<String>,
    pub closes: Option<String>,
}

impl From<pb::OpeningHours> for OpeningHours {
    fn from(h: pb::OpeningHours) -> OpeningHours {
        OpeningHours {
            weekday: h.weekday,
            opens: hhmm(h.opens),
            closes: hhmm(h.closes),
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct PharmacyPage {
    pub pharmacies: Vec<Pharmacy>,
    pub next_page_token: Option<String>,
}

/// A medication of the catalog.
#[derive(SimpleObject, Debug, Clone)]
pub struct Medication {
    pub id: ID,
    pub name: String,
    /// International non-proprietary name, e.g. "paracetamol".
    pub active_substance: Option<String>,
    /// e.g. "tablet", "syrup".
    pub form: Option<String>,
    /// e.g. "500 mg".
    pub strength: Option<String>,
    /// Units per pack.
    pub pack_size: i32,
    /// ATC classification code, e.g. "N02BE01".
    pub atc_code: Option<String>,
    pub prescription_only: bool,
    pub archived: bool,
    pub version: i64,
}

impl From<pb::Medication> for Medication {
    fn from(m: pb::Medication) -> Medication {
        Medication {
            id: ID(m.medication_id),
            name: m.name,
            active_substance: non_empty(m.active_substance),
            form: non_empty(m.form),
            strength: non_empty(m.strength),
            pack_size: m.pack_size,
            atc_code: non_empty(m.atc_code),
            prescription_only: m.prescription_only,
            archived: m.archived,
            version: m.version,
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct MedicationPage {
    pub medications: Vec<Medication>,
    pub next_page_token: Option<String>,
}

/// One medication's stock at one pharmacy.
#[derive(SimpleObject, Debug, Clone)]
pub struct StockLevel {
    pub pharmacy_id: ID,
    pub medication_id: ID,
    pub medication_name: Option<String>,
    pub on_hand: i64,
    /// Held for prescriptions written to this pharmacy.
    pub reserved: i64,
    /// `onHand - reserved`.
    pub available: i64,
    /// At or below it, the line is low.
    pub critical_threshold: i64,
    pub as_of: Option<DateTime<Utc>>,
    pub lots: Vec<Lot>,
}

impl From<pb::StockLevel> for StockLevel {
    fn from(l: pb::StockLevel) -> StockLevel {
        StockLevel {
            pharmacy_id: ID(l.pharmacy_id),
            medication_id: ID(l.medication_id),
            medication_name: non_empty(l.medication_name),
            on_hand: l.on_hand,
            reserved: l.reserved,
            available: l.available,
            critical_threshold: l.critical_threshold,
            as_of: time(l.as_of),
            lots: l.lots.into_iter().map(Lot::from).collect(),
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct Lot {
    pub lot: String,
    pub quantity: i64,
    pub expires_at: Option<DateTime<Utc>>,
    pub received_at: Option<DateTime<Utc>>,
}

impl From<pb::Lot> for Lot {
    fn from(l: pb::Lot) -> Lot {
        Lot {
            lot: l.lot,
            quantity: l.quantity,
            expires_at: time(l.expires_at),
            received_at: time(l.received_at),
        }
    }
}

/// A shipment as received, and the stock lines it raised.
#[derive(SimpleObject, Debug, Clone)]
pub struct Shipment {
    pub id: ID,
    pub levels: Vec<StockLevel>,
}

impl From<pb::ReceiveShipmentResponse> for Shipment {
    fn from(r: pb::ReceiveShipmentResponse) -> Shipment {
        Shipment {
            id: ID(r.shipment_id),
            levels: r.levels.into_iter().map(StockLevel::from).collect(),
        }
    }
}

/// Whether a medication can be had at a pharmacy (no quantities).
#[derive(SimpleObject, Debug, Clone)]
pub struct PharmacyAvailability {
    pub pharmacy_id: ID,
    pub medication_id: ID,
    pub availability: Option<Availability>,
}

impl From<pb::PharmacyAvailability> for PharmacyAvailability {
    fn from(a: pb::PharmacyAvailability) -> PharmacyAvailability {
        PharmacyAvailability {
            pharmacy_id: ID(a.pharmacy_id),
            medication_id: ID(a.medication_id),
            availability: Availability::from_proto(a.availability),
        }
    }
}

/// The pharmacies a patient prefers, in order.
#[derive(SimpleObject, Debug, Clone)]
pub struct PreferredPharmacies {
    pub patient_id: ID,
    pub pharmacy_ids: Vec<ID>,
}

impl From<pb::PreferredPharmacies> for PreferredPharmacies {
    fn from(p: pb::PreferredPharmacies) -> PreferredPharmacies {
        PreferredPharmacies {
            patient_id: ID(p.patient_id),
            pharmacy_ids: p.pharmacy_ids.into_iter().map(ID).collect(),
        }
    }
}

/// A lot with stock left that expires soon.
#[derive(SimpleObject, Debug, Clone)]
pub struct ExpiringLot {
    pub medication_id: ID,
    pub medication_name: Option<String>,
    pub lot: Option<Lot>,
}

impl From<pb::ExpiringLot> for ExpiringLot {
    fn from(e: pb::ExpiringLot) -> ExpiringLot {
        ExpiringLot {
            medication_id: ID(e.medication_id),
            medication_name: non_empty(e.medication_name),
            lot: e.lot.map(Lot::from),
        }
    }
}

/// Who acted, as the service saw the caller's token.
#[derive(SimpleObject, Debug, Clone)]
pub struct Actor {
    /// The caller's subject, or the client id of a client-credentials caller.
    pub subject: String,
    /// The platform roles the caller held at the time.
    pub roles: Vec<Role>,
}

impl From<common::Actor> for Actor {
    fn from(a: common::Actor) -> Actor {
        Actor {
            subject: a.subject,
            roles: a
                .roles
                .iter()
                .filter_map(|r| svc_kit::auth::Role::parse(r))
                .map(Role::from)
                .collect(),
        }
    }
}

/// One entry of the stock ledger.
#[derive(SimpleObject, Debug, Clone)]
pub struct StockMovement {
    pub id: ID,
    pub pharmacy_id: ID,
    pub medication_id: ID,
    pub kind: Option<MovementKind>,
    /// Signed change of on-hand stock.
    pub delta: i64,
    /// For adjustments.
    pub reason: Option<AdjustmentReason>,
    pub note: Option<String>,
    pub lot: Option<String>,
    /// The shipment or prescription it belongs to.
    pub reference: Option<String>,
    pub actor: Option<Actor>,
    pub at: Option<DateTime<Utc>>,
}

impl From<pb::StockMovement> for StockMovement {
    fn from(m: pb::StockMovement) -> StockMovement {
        StockMovement {
            id: ID(m.movement_id),
            pharmacy_id: ID(m.pharmacy_id),
            medication_id: ID(m.medication_id),
            kind: MovementKind::from_proto(m.kind),
            delta: m.delta,
            reason: AdjustmentReason::from_proto(m.reason),
            note: non_empty(m.note),
            lot: non_empty(m.lot),
            reference: non_empty(m.reference),
            actor: m.actor.map(Actor::from),
            at: time(m.at),
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct StockMovementPage {
    pub movements: Vec<StockMovement>,
    pub next_page_token: Option<String>,
}
