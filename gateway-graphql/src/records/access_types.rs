//! Who reaches a card, and what is known of it: grants, emergency accesses, the access log and
//! its integrity, and the patient's export; their conversions from svc-records' messages.

use async_graphql::{ID, SimpleObject};
use base64::Engine;
use chrono::{DateTime, Utc};
use medmesh_proto::records::v1 as pb;

use super::enums::{AccessAction, AccessBasis};
use crate::convert::{non_empty, time};

/// A patient's leave for one doctor to open their card, for a period.
#[derive(SimpleObject, Debug, Clone)]
pub struct RecordGrant {
    pub id: ID,
    pub patient_id: ID,
    pub doctor_id: ID,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    /// Whether it lets the doctor in right now.
    pub active: bool,
}

impl From<pb::Grant> for RecordGrant {
    fn from(g: pb::Grant) -> RecordGrant {
        RecordGrant {
            id: ID(g.grant_id),
            patient_id: ID(g.patient_id),
            doctor_id: ID(g.doctor_id),
            starts_at: time(g.starts_at),
            ends_at: time(g.ends_at),
            revoked_at: time(g.revoked_at),
            created_at: time(g.created_at),
            active: g.active,
        }
    }
}

/// An emergency access: a doctor outside the patient's care opened the card for a while,
/// saying why.
#[derive(SimpleObject, Debug, Clone)]
pub struct BreakGlassAccess {
    pub id: ID,
    pub patient_id: ID,
    pub doctor_id: ID,
    /// Why, in the doctor's words (the patient reads them).
    pub reason: String,
    pub opened_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<pb::BreakGlassAccess> for BreakGlassAccess {
    fn from(a: pb::BreakGlassAccess) -> BreakGlassAccess {
        BreakGlassAccess {
            id: ID(a.access_id),
            patient_id: ID(a.patient_id),
            doctor_id: ID(a.doctor_id),
            reason: a.reason,
            opened_at: time(a.opened_at),
            expires_at: time(a.expires_at),
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct BreakGlassAccessPage {
    pub accesses: Vec<BreakGlassAccess>,
    pub next_page_token: Option<String>,
}

/// One read or write of a patient's record (or a refused attempt), a link of the patient's
/// hash chain.
#[derive(SimpleObject, Debug, Clone)]
pub struct AccessLogEntry {
    /// Position in the patient's chain, from 1.
    pub sequence: i64,
    pub patient_id: ID,
    /// The caller's user id (or a client's subject).
    pub actor_id: String,
    /// The role the access was decided on, e.g. "doctor".
    pub actor_role: Option<String>,
    pub action: Option<AccessAction>,
    /// What was read or written, e.g. "card", "entry:<id>", "grant:<id>", "export:pdf".
    pub resource: String,
    pub basis: Option<AccessBasis>,
    /// The stated reason (break glass), or why it was refused.
    pub reason: Option<String>,
    /// Whether it was let through; refused attempts are logged too.
    pub allowed: bool,
    /// An emergency access: shown prominently.
    pub flagged: bool,
    pub trace_id: Option<String>,
    pub at: Option<DateTime<Utc>>,
    /// SHA-256 over the previous entry's hash and this entry's fields, hex.
    pub hash: String,
    pub previous_hash: Option<String>,
}

impl From<pb::AccessLogEntry> for AccessLogEntry {
    fn from(e: pb::AccessLogEntry) -> AccessLogEntry {
        AccessLogEntry {
            sequence: e.sequence,
            patient_id: ID(e.patient_id),
            actor_id: e.actor_id,
            actor_role: non_empty(e.actor_role),
            action: AccessAction::from_proto(e.action),
            resource: e.resource,
            basis: AccessBasis::from_proto(e.basis),
            reason: non_empty(e.reason),
            allowed: e.allowed,
            flagged: e.flagged,
            trace_id: non_empty(e.trace_id),
            at: time(e.at),
            hash: e.hash,
            previous_hash: non_empty(e.previous_hash),
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct AccessLogPage {
    pub entries: Vec<AccessLogEntry>,
    pub next_page_token: Option<String>,
}

/// What a walk of the access log's hash chains found.
#[derive(SimpleObject, Debug, Clone)]
pub struct IntegrityReport {
    /// Whether every link holds.
    pub intact: bool,
    pub chains_checked: i64,
    pub entries_checked: i64,
    /// The first link that does not hold, when one does not.
    pub first_broken: Option<BrokenLink>,
    pub checked_at: Option<DateTime<Utc>>,
}

impl From<pb::IntegrityReport> for IntegrityReport {
    fn from(r: pb::IntegrityReport) -> IntegrityReport {
        IntegrityReport {
            intact: r.intact,
            chains_checked: r.chains_checked,
            entries_checked: r.entries_checked,
            first_broken: r.first_broken.map(BrokenLink::from),
            checked_at: time(r.checked_at),
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct BrokenLink {
    pub patient_id: ID,
    pub sequence: i64,
    /// What does not hold, e.g. "hash does not match the entry".
    pub problem: String,
}

impl From<pb::BrokenLink> for BrokenLink {
    fn from(b: pb::BrokenLink) -> BrokenLink {
        BrokenLink {
            patient_id: ID(b.patient_id),
            sequence: b.sequence,
            problem: b.problem,
        }
    }
}

/// The patient's own card as a file, inline.
#[derive(SimpleObject, Debug, Clone)]
pub struct CardExport {
    pub file_name: String,
    /// "application/json" or "application/pdf".
    pub media_type: String,
    /// The file's length in bytes (before encoding).
    pub size_bytes: i32,
    /// The file, base64-encoded (standard alphabet, padded).
    pub content: String,
}

impl From<pb::CardExport> for CardExport {
    fn from(e: pb::CardExport) -> CardExport {
        CardExport {
            file_name: e.file_name,
            media_type: e.media_type,
            size_bytes: i32::try_from(e.content.len()).unwrap_or(i32::MAX),
            content: base64::engine::general_purpose::STANDARD.encode(&e.content),
        }
    }
}
