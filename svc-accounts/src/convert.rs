//! Stored accounts ⇄ `medmesh.accounts.v1` messages.

use chrono::{DateTime, Utc};
use medmesh_proto::accounts::v1 as pb;

use crate::{
    domain::Role,
    store::{AffiliationRecord, AuditRecord, UserRecord},
};

pub(crate) fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

fn affiliation(a: &AffiliationRecord) -> pb::Affiliation {
    let kind = match Role::parse(&a.kind) {
        Some(Role::Doctor) => pb::AffiliationKind::Doctor,
        Some(Role::Nurse) => pb::AffiliationKind::Nurse,
        Some(Role::Pharmacist) => pb::AffiliationKind::Pharmacist,
        Some(Role::Admin | Role::Patient) | None => pb::AffiliationKind::Unspecified,
    };
    pb::Affiliation {
        affiliation_id: a.affiliation_id.clone(),
        kind: kind as i32,
        clinic_id: a.clinic_id.clone(),
        specialization: a.specialization.clone(),
        pharmacy_id: a.pharmacy_id.clone(),
        created_at: Some(timestamp(a.created_at)),
    }
}

pub(crate) fn profile(user: &UserRecord) -> pb::Profile {
    pb::Profile {
        user_id: user.user_id.clone(),
        subject: user.subject.clone(),
        username: user.username.clone(),
        email: user.email.clone(),
        phone: user.phone.clone(),
        given_name: user.given_name.clone(),
        family_name: user.family_name.clone(),
        preferred_language: user.preferred_language.clone(),
        time_zone: user.time_zone.clone(),
        roles: user.roles.iter().map(|r| r.to_proto() as i32).collect(),
        active: user.active,
        created_at: Some(timestamp(user.created_at)),
        updated_at: Some(timestamp(user.updated_at)),
        version: user.version,
        affiliations: user.affiliations.iter().map(affiliation).collect(),
        deactivation_reason: user.deactivation_reason.clone(),
    }
}

pub(crate) fn audit_event(entry: &AuditRecord) -> pb::AuditEvent {
    pb::AuditEvent {
        audit_id: entry.audit_id.clone(),
        at: Some(timestamp(entry.at)),
        actor_subject: entry.actor_subject.clone(),
        actor_username: entry.actor_username.clone(),
        action: entry.action.clone(),
        user_id: entry.user_id.clone(),
        before_json: entry.before.clone().unwrap_or_default(),
        after_json: entry.after.clone().unwrap_or_default(),
        reason: entry.reason.clone(),
    }
}

pub(crate) fn user_event(user: &UserRecord, previous: Option<&UserRecord>) -> pb::UserEvent {
    pb::UserEvent {
        user_id: user.user_id.clone(),
        subject: user.subject.clone(),
        roles: user.roles.iter().map(|r| r.to_proto() as i32).collect(),
        active: user.active,
        previous_roles: previous
            .map(|p| p.roles.iter().map(|r| r.to_proto() as i32).collect())
            .unwrap_or_default(),
        affiliations: user.affiliations.iter().map(affiliation).collect(),
    }
}

/// What a caller who may read only names gets of a profile: who the person is called and how
/// to write to them (language, zone), and nothing that reaches them or says what they do.
pub(crate) fn names_only(profile: pb::Profile) -> pb::Profile {
    pb::Profile {
        user_id: profile.user_id,
        username: profile.username,
        given_name: profile.given_name,
        family_name: profile.family_name,
        preferred_language: profile.preferred_language,
        time_zone: profile.time_zone,
        active: profile.active,
        ..Default::default()
    }
}
