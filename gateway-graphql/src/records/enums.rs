//! The records contract's enums as the graph names them. An UNSPECIFIED value, or one this
//! build does not know, reads as `null`.

use async_graphql::Enum;
use medmesh_proto::records::v1 as pb;

/// What an entry of the card is.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A visit: complaint, findings, plan.
    Encounter,
    Diagnosis,
    Allergy,
    /// A vital sign or an observation.
    Observation,
    LabResult,
    /// A file: a scan, a letter, a report.
    Document,
}

impl EntryKind {
    pub(super) fn to_proto(self) -> pb::EntryKind {
        match self {
            EntryKind::Encounter => pb::EntryKind::Encounter,
            EntryKind::Diagnosis => pb::EntryKind::Diagnosis,
            EntryKind::Allergy => pb::EntryKind::Allergy,
            EntryKind::Observation => pb::EntryKind::Observation,
            EntryKind::LabResult => pb::EntryKind::LabResult,
            EntryKind::Document => pb::EntryKind::Document,
        }
    }

    pub(super) fn from_proto(raw: i32) -> Option<EntryKind> {
        Some(match pb::EntryKind::try_from(raw).ok()? {
            pb::EntryKind::Unspecified => return None,
            pb::EntryKind::Encounter => EntryKind::Encounter,
            pb::EntryKind::Diagnosis => EntryKind::Diagnosis,
            pb::EntryKind::Allergy => EntryKind::Allergy,
            pb::EntryKind::Observation => EntryKind::Observation,
            pb::EntryKind::LabResult => EntryKind::LabResult,
            pb::EntryKind::Document => EntryKind::Document,
        })
    }
}

/// Where an entry is in its life.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    /// Being written; seen by clinicians who may open the card, never by the patient.
    Draft,
    /// Signed by a doctor; it only changes by amendment.
    Signed,
    /// Signed, and corrected since by the amendment `amendedByEntryId`.
    Amended,
}

impl EntryStatus {
    pub(super) fn from_proto(raw: i32) -> Option<EntryStatus> {
        Some(match pb::EntryStatus::try_from(raw).ok()? {
            pb::EntryStatus::Unspecified => return None,
            pb::EntryStatus::Draft => EntryStatus::Draft,
            pb::EntryStatus::Signed => EntryStatus::Signed,
            pb::EntryStatus::Amended => EntryStatus::Amended,
        })
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiagnosisStatus {
    Active,
    Resolved,
}

impl DiagnosisStatus {
    pub(super) fn to_proto(self) -> pb::DiagnosisStatus {
        match self {
            DiagnosisStatus::Active => pb::DiagnosisStatus::Active,
            DiagnosisStatus::Resolved => pb::DiagnosisStatus::Resolved,
        }
    }

    pub(super) fn from_proto(raw: i32) -> Option<DiagnosisStatus> {
        Some(match pb::DiagnosisStatus::try_from(raw).ok()? {
            pb::DiagnosisStatus::Unspecified => return None,
            pb::DiagnosisStatus::Active => DiagnosisStatus::Active,
            pb::DiagnosisStatus::Resolved => DiagnosisStatus::Resolved,
        })
    }
}

/// How bad an allergic reaction is.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Mild,
    Moderate,
    Severe,
    LifeThreatening,
}

impl Severity {
    pub(super) fn to_proto(self) -> pb::Severity {
        match self {
            Severity::Mild => pb::Severity::Mild,
            Severity::Moderate => pb::Severity::Moderate,
            Severity::Severe => pb::Severity::Severe,
            Severity::LifeThreatening => pb::Severity::LifeThreatening,
        }
    }

    pub(super) fn from_proto(raw: i32) -> Option<Severity> {
        Some(match pb::Severity::try_from(raw).ok()? {
            pb::Severity::Unspecified => return None,
            pb::Severity::Mild => Severity::Mild,
            pb::Severity::Moderate => Severity::Moderate,
            pb::Severity::Severe => Severity::Severe,
            pb::Severity::LifeThreatening => Severity::LifeThreatening,
        })
    }
}

/// Why a caller could open a card (or, `NONE`, could not).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessBasis {
    /// The patient themselves.
    Own,
    /// A doctor the patient has or had an appointment with.
    Care,
    /// A nurse of a clinic the patient has or had appointments at.
    Clinic,
    /// A doctor the patient granted access to.
    Grant,
    /// A doctor who broke the glass.
    Emergency,
    /// An admin, for the access log and its integrity (never clinical content).
    Admin,
    /// None: the attempt was refused.
    None,
}

impl AccessBasis {
    pub(super) fn from_proto(raw: i32) -> Option<AccessBasis> {
        Some(match pb::AccessBasis::try_from(raw).ok()? {
            pb::AccessBasis::Unspecified => return Option::None,
            pb::AccessBasis::Own => AccessBasis::Own,
            pb::AccessBasis::Care => AccessBasis::Care,
            pb::AccessBasis::Clinic => AccessBasis::Clinic,
            pb::AccessBasis::Grant => AccessBasis::Grant,
            pb::AccessBasis::Emergency => AccessBasis::Emergency,
            pb::AccessBasis::Admin => AccessBasis::Admin,
            pb::AccessBasis::None => AccessBasis::None,
        })
    }
}

/// What an access to a record did.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessAction {
    Read,
    Write,
}

impl AccessAction {
    pub(super) fn from_proto(raw: i32) -> Option<AccessAction> {
        Some(match pb::AccessAction::try_from(raw).ok()? {
            pb::AccessAction::Unspecified => return None,
            pb::AccessAction::Read => AccessAction::Read,
            pb::AccessAction::Write => AccessAction::Write,
        })
    }
}

/// The file a patient's card is exported as.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Pdf,
}

impl ExportFormat {
    pub(super) fn to_proto(self) -> pb::ExportFormat {
        match self {
            ExportFormat::Json => pb::ExportFormat::Json,
            ExportFormat::Pdf => pb::ExportFormat::Pdf,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_cross_the_wire_both_ways() {
        for kind in [
            EntryKind::Encounter,
            EntryKind::Diagnosis,
            EntryKind::Allergy,
            EntryKind::Observation,
            EntryKind::LabResult,
            EntryKind::Document,
        ] {
            assert_eq!(EntryKind::from_proto(kind.to_proto() as i32), Some(kind));
        }
        assert_eq!(EntryKind::from_proto(0), None);
        assert_eq!(EntryKind::from_proto(99), None);
    }

    #[test]
    fn severities_and_diagnosis_statuses_cross_the_wire_both_ways() {
        for severity in [
            Severity::Mild,
            Severity::Moderate,
            Severity::Severe,
            Severity::LifeThreatening,
        ] {
            assert_eq!(
                Severity::from_proto(severity.to_proto() as i32),
                Some(severity)
            );
        }
        for status in [DiagnosisStatus::Active, DiagnosisStatus::Resolved] {
            assert_eq!(
                DiagnosisStatus::from_proto(status.to_proto() as i32),
                Some(status)
            );
        }
        assert_eq!(Severity::from_proto(0), None);
        assert_eq!(DiagnosisStatus::from_proto(7), None);
    }

    #[test]
    fn unknown_values_read_as_null() {
        assert_eq!(EntryStatus::from_proto(0), None);
        assert_eq!(EntryStatus::from_proto(42), None);
        assert_eq!(AccessBasis::from_proto(0), None);
        assert_eq!(
            AccessBasis::from_proto(pb::AccessBasis::None as i32),
            Some(AccessBasis::None),
            "a refused attempt is NONE, not null"
        );
        assert_eq!(AccessAction::from_proto(3), None);
    }
}
