//! Rows into the contract's messages.

use chrono::{DateTime, Utc};
use medmesh_proto::records::v1 as pb;

use crate::{
    domain::{Basis, Kind, Status, chain::Stored},
    store::{
        entries::EntryRow,
        standing::{EmergencyRow, GrantRow},
    },
};

pub(crate) fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub(crate) fn basis(basis: Option<Basis>) -> pb::AccessBasis {
    match basis {
        Some(Basis::Own) => pb::AccessBasis::Own,
        Some(Basis::Care) => pb::AccessBasis::Care,
        Some(Basis::Clinic) => pb::AccessBasis::Clinic,
        Some(Basis::Grant) => pb::AccessBasis::Grant,
        Some(Basis::Emergency) => pb::AccessBasis::Emergency,
        Some(Basis::Admin) => pb::AccessBasis::Admin,
        None => pb::AccessBasis::None,
    }
}

fn basis_named(name: &str) -> pb::AccessBasis {
    match name {
        "own" => pb::AccessBasis::Own,
        "care" => pb::AccessBasis::Care,
        "clinic" => pb::AccessBasis::Clinic,
        "grant" => pb::AccessBasis::Grant,
        "emergency" => pb::AccessBasis::Emergency,
        "admin" => pb::AccessBasis::Admin,
        _ => pb::AccessBasis::None,
    }
}

/// An entry with its opened content and amendment reason.
pub(crate) fn entry(row: &EntryRow, content: pb::EntryContent, reason: String) -> pb::Entry {
    let kind = Kind::parse(&row.kind).map_or(pb::EntryKind::Unspecified, Kind::to_pb);
    let status = match (Status::parse(&row.status), &row.amended_by) {
        (Some(Status::Draft), _) => pb::EntryStatus::Draft,
        (Some(Status::Signed), Some(_)) => pb::EntryStatus::Amended,
        (Some(Status::Signed), None) => pb::EntryStatus::Signed,
        (None, _) => pb::EntryStatus::Unspecified,
    };
    pb::Entry {
        entry_id: row.entry_id.clone(),
        patient_id: row.patient_id.clone(),
        author_id: row.author_id.clone(),
        kind: kind.into(),
        status: status.into(),
        content: Some(content),
        appointment_id: row.appointment_id.clone(),
        amends_entry_id: row.amends_entry_id.clone().unwrap_or_default(),
        amendment_reason: reason,
        amended_by_entry_id: row.amended_by.clone().unwrap_or_default(),
        signed_by: row.signed_by.clone(),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
        signed_at: row.signed_at.map(timestamp),
        version: row.version,
    }
}

pub(crate) fn grant(row: &GrantRow, now: DateTime<Utc>) -> pb::Grant {
    pb::Grant {
        grant_id: row.grant_id.clone(),
        patient_id: row.patient_id.clone(),
        doctor_id: row.doctor_id.clone(),
        starts_at: Some(timestamp(row.starts_at)),
        ends_at: Some(timestamp(row.ends_at)),
        revoked_at: row.revoked_at.map(timestamp),
        created_at: Some(timestamp(row.created_at)),
        active: row.active(now),
    }
}

pub(crate) fn emergency(row: &EmergencyRow) -> pb::BreakGlassAccess {
    pb::BreakGlassAccess {
        access_id: row.access_id.clone(),
        patient_id: row.patient_id.clone(),
        doctor_id: row.doctor_id.clone(),
        reason: row.reason.clone(),
        opened_at: Some(timestamp(row.opened_at)),
        expires_at: Some(timestamp(row.expires_at)),
    }
}

pub(crate) fn log_entry(s: &Stored) -> pb::AccessLogEntry {
    let l = &s.link;
    let at = DateTime::parse_from_rfc3339(&l.at)
        .map(|t| timestamp(t.with_timezone(&Utc)))
        .ok();
    pb::AccessLogEntry {
        sequence: l.sequence,
        patient_id: l.patient_id.clone(),
        actor_id: l.actor_id.clone(),
        actor_role: l.actor_role.clone(),
        action: match l.action.as_str() {
            "read" => pb::AccessAction::Read,
            "write" => pb::AccessAction::Write,
            _ => pb::AccessAction::Unspecified,
        }
        .into(),
        resource: l.resource.clone(),
        basis: basis_named(&l.basis).into(),
        reason: l.reason.clone(),
        allowed: l.allowed,
        flagged: l.flagged,
        trace_id: l.trace_id.clone(),
        at,
        hash: s.hash.clone(),
        previous_hash: s.previous_hash.clone(),
    }
}
