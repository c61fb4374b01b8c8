//! Records into their proto messages.

use chrono::{DateTime, Utc};
use medmesh_proto::{
    common::v1::{Actor, TimeOfDay},
    pharmacy::v1 as pb,
};

use crate::{
    domain::{Caller, Status, stock::Availability},
    store::{
        catalog::{MedicationRecord, PharmacyRecord},
        prescriptions::{ItemRecord, PrescriptionRecord},
        stock::{LotRecord, MovementRecord, StockRecord},
    },
};

pub(crate) fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// Opening hours as stored: `weekday HH:MM-HH:MM` entries separated by `;`.
pub(crate) fn hours_text(hours: &[pb::OpeningHours]) -> String {
    let hm = |t: &Option<TimeOfDay>| {
        let t = t.unwrap_or_default();
        format!("{:02}:{:02}", t.hours, t.minutes)
    };
    hours
        .iter()
        .map(|h| format!("{} {}-{}", h.weekday, hm(&h.opens), hm(&h.closes)))
        .collect::<Vec<_>>()
        .join(";")
}

fn hours(text: &str) -> Vec<pb::OpeningHours> {
    let time = |raw: &str| {
        let (h, m) = raw.split_once(':')?;
        Some(TimeOfDay {
            hours: h.parse().ok()?,
            minutes: m.parse().ok()?,
        })
    };
    text.split(';')
        .filter_map(|entry| {
            let (day, span) = entry.split_once(' ')?;
            let (opens, closes) = span.split_once('-')?;
            Some(pb::OpeningHours {
                weekday: day.parse().ok()?,
                opens: Some(time(opens)?),
                closes: Some(time(closes)?),
            })
        })
        .collect()
}

pub(crate) fn pharmacy(p: &PharmacyRecord) -> pb::Pharmacy {
    pb::Pharmacy {
        pharmacy_id: p.pharmacy_id.clone(),
        name: p.name.clone(),
        address: p.address.clone(),
        time_zone: p.time_zone.clone(),
        phone: p.phone.clone(),
        email: p.email.clone(),
        opening_hours: hours(&p.opening_hours),
        archived: p.archived,
        version: p.version,
    }
}

pub(crate) fn medication(m: &MedicationRecord) -> pb::Medication {
    pb::Medication {
        medication_id: m.medication_id.clone(),
        name: m.name.clone(),
        active_substance: m.active_substance.clone(),
        form: m.form.clone(),
        strength: m.strength.clone(),
        pack_size: m.pack_size,
        atc_code: m.atc_code.clone(),
        prescription_only: m.prescription_only,
        archived: m.archived,
        version: m.version,
    }
}

pub(crate) fn lot(l: &LotRecord) -> pb::Lot {
    pb::Lot {
        lot: l.lot.clone(),
        quantity: l.quantity,
        expires_at: l.expires_at.map(timestamp),
        received_at: Some(timestamp(l.received_at)),
    }
}

pub(crate) fn level(
    s: &StockRecord,
    lots: &[LotRecord],
    name: &str,
    as_of: DateTime<Utc>,
) -> pb::StockLevel {
    pb::StockLevel {
        pharmacy_id: s.pharmacy_id.clone(),
        medication_id: s.medication_id.clone(),
        on_hand: s.on_hand,
        reserved: s.reserved,
        available: s.line().available(),
        critical_threshold: s.critical_threshold,
        as_of: Some(timestamp(as_of)),
        lots: lots.iter().map(lot).collect(),
        medication_name: name.to_string(),
    }
}

pub(crate) fn availability(a: Availability) -> pb::Availability {
    match a {
        Availability::InStock => pb::Availability::InStock,
        Availability::Low => pb::Availability::Low,
        Availability::Out => pb::Availability::OutOfStock,
    }
}

pub(crate) fn status(s: Status) -> pb::PrescriptionStatus {
    match s {
        Status::Issued => pb::PrescriptionStatus::Issued,
        Status::InProgress => pb::PrescriptionStatus::InProgress,
        Status::PartiallyDispensed => pb::PrescriptionStatus::PartiallyDispensed,
        Status::Dispensed => pb::PrescriptionStatus::Dispensed,
        Status::Rejected => pb::PrescriptionStatus::Rejected,
        Status::Cancelled => pb::PrescriptionStatus::Cancelled,
        Status::Expired => pb::PrescriptionStatus::Expired,
    }
}

pub(crate) fn status_from(s: pb::PrescriptionStatus) -> Option<Status> {
    Some(match s {
        pb::PrescriptionStatus::Unspecified => return None,
        pb::PrescriptionStatus::Issued => Status::Issued,
        pb::PrescriptionStatus::InProgress => Status::InProgress,
        pb::PrescriptionStatus::PartiallyDispensed => Status::PartiallyDispensed,
        pb::PrescriptionStatus::Dispensed => Status::Dispensed,
        pb::PrescriptionStatus::Rejected => Status::Rejected,
        pb::PrescriptionStatus::Cancelled => Status::Cancelled,
        pb::PrescriptionStatus::Expired => Status::Expired,
    })
}

fn item(i: &ItemRecord, name: &str) -> pb::PrescriptionItem {
    pb::PrescriptionItem {
        medication_id: i.medication_id.clone(),
        quantity: i.quantity,
        dosage_instructions: i.dosage_instructions.clone(),
        dose: i.dose.clone(),
        frequency: i.frequency.clone(),
        duration_days: i.duration_days,
        notes: i.notes.clone(),
        item_id: i.item_id.clone(),
        medication_name: name.to_string(),
        reserved: i.reserved,
        dispensed: i.dispensed,
        owed: i.owed(),
        shortfall: i.shortfall,
        substituted_medication_id: i.substituted_medication_id.clone(),
        available_now: 0,
    }
}

/// `names` gives a medication's name by id (empty when unknown).
pub(crate) fn prescription(
    p: &PrescriptionRecord,
    names: &dyn Fn(&str) -> String,
) -> pb::Prescription {
    pb::Prescription {
        prescription_id: p.prescription_id.clone(),
        patient_id: p.patient_id.clone(),
        doctor_id: p.doctor_id.clone(),
        pharmacy_id: p.pharmacy_id.clone(),
        items: p
            .items
            .iter()
            .map(|i| item(i, &names(&i.medication_id)))
            .collect(),
        status: status(p.status) as i32,
        rejection_reason: p.rejection_reason.clone(),
        created_at: Some(timestamp(p.created_at)),
        updated_at: Some(timestamp(p.updated_at)),
        valid_until: Some(timestamp(p.valid_until)),
        version: p.version,
        allowed_pharmacy_ids: p.allowed_pharmacy_ids.clone(),
        allow_partial: p.allow_partial,
        notes: p.notes.clone(),
        cancellation_reason: p.cancellation_reason.clone(),
        pharmacist_id: p.pharmacist_id.clone(),
    }
}

pub(crate) fn movement_kind(kind: &str) -> pb::MovementKind {
    match kind {
        "received" => pb::MovementKind::Received,
        "adjusted" => pb::MovementKind::Adjusted,
        "dispensed" => pb::MovementKind::Dispensed,
        _ => pb::MovementKind::Unspecified,
    }
}

pub(crate) fn reason_text(reason: pb::AdjustmentReason) -> &'static str {
    match reason {
        pb::AdjustmentReason::Unspecified => "",
        pb::AdjustmentReason::Breakage => "breakage",
        pb::AdjustmentReason::CountCorrection => "count_correction",
        pb::AdjustmentReason::Expired => "expired",
        pb::AdjustmentReason::Returned => "returned",
    }
}

fn reason_from(raw: &str) -> pb::AdjustmentReason {
    match raw {
        "breakage" => pb::AdjustmentReason::Breakage,
        "count_correction" => pb::AdjustmentReason::CountCorrection,
        "expired" => pb::AdjustmentReason::Expired,
        "returned" => pb::AdjustmentReason::Returned,
        _ => pb::AdjustmentReason::Unspecified,
    }
}

pub(crate) fn movement(m: &MovementRecord) -> pb::StockMovement {
    pb::StockMovement {
        movement_id: m.movement_id.clone(),
        pharmacy_id: m.pharmacy_id.clone(),
        medication_id: m.medication_id.clone(),
        kind: movement_kind(&m.kind) as i32,
        delta: m.delta,
        reason: reason_from(&m.reason) as i32,
        note: m.note.clone(),
        lot: m.lot.clone(),
        reference: m.reference.clone(),
        actor: Some(Actor {
            subject: m.actor_subject.clone(),
            roles: m
                .actor_roles
                .split_whitespace()
                .map(str::to_string)
                .collect(),
        }),
        at: Some(timestamp(m.at)),
    }
}

pub(crate) fn actor(c: &Caller) -> Actor {
    svc_kit::auth::actor(&c.subject, &c.roles, &c.clients)
}
