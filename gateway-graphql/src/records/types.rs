//! The records part of the graph's types: the card, its entries and what they say, and their
//! conversions from svc-records' messages. Grants, emergency accesses, the access log and
//! exports are in `access_types`.
//!
//! Counts and versions are `Int`, carried as the service sends them (the way pharmacy's are).
//! Bytes are base64 text (standard alphabet, padded).

use async_graphql::{ID, SimpleObject};
use base64::Engine;
use chrono::{DateTime, Utc};
use medmesh_proto::records::v1::{self as pb, entry_content::Body};

use super::enums::{AccessBasis, DiagnosisStatus, EntryKind, EntryStatus, Severity};
use crate::convert::{non_empty, time};

/// One entry of a patient's card: a draft being written, or what a doctor signed.
#[derive(SimpleObject, Debug, Clone)]
pub struct RecordEntry {
    pub id: ID,
    pub patient_id: ID,
    /// Who wrote it (a doctor or a nurse).
    pub author_id: ID,
    pub kind: Option<EntryKind>,
    pub status: Option<EntryStatus>,
    /// What it says: the field of its kind is set, the others are null.
    pub content: EntryContent,
    /// The appointment it belongs to, if any (one of the patient's).
    pub appointment_id: Option<ID>,
    /// The entry this one corrects, and why.
    pub amends_entry_id: Option<ID>,
    pub amendment_reason: Option<String>,
    /// The amendment that corrects this one, when it was corrected.
    pub amended_by_entry_id: Option<ID>,
    /// The doctor who signed it.
    pub signed_by: Option<ID>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub signed_at: Option<DateTime<Utc>>,
    pub version: i64,
}

impl From<pb::Entry> for RecordEntry {
    fn from(e: pb::Entry) -> RecordEntry {
        RecordEntry {
            id: ID(e.entry_id),
            patient_id: ID(e.patient_id),
            author_id: ID(e.author_id),
            kind: EntryKind::from_proto(e.kind),
            status: EntryStatus::from_proto(e.status),
            content: e.content.unwrap_or_default().into(),
            appointment_id: non_empty(e.appointment_id).map(ID),
            amends_entry_id: non_empty(e.amends_entry_id).map(ID),
            amendment_reason: non_empty(e.amendment_reason),
            amended_by_entry_id: non_empty(e.amended_by_entry_id).map(ID),
            signed_by: non_empty(e.signed_by).map(ID),
            created_at: time(e.created_at),
            updated_at: time(e.updated_at),
            signed_at: time(e.signed_at),
            version: e.version,
        }
    }
}

/// What an entry says: exactly one field is set, the one of the entry's `kind` (all are null
/// for a kind this gateway does not know).
#[derive(SimpleObject, Debug, Clone, Default)]
pub struct EntryContent {
    pub encounter: Option<Encounter>,
    pub diagnosis: Option<Diagnosis>,
    pub allergy: Option<Allergy>,
    pub observation: Option<Observation>,
    pub lab_result: Option<Observation>,
    pub document: Option<RecordDocument>,
}

impl From<pb::EntryContent> for EntryContent {
    fn from(c: pb::EntryContent) -> EntryContent {
        let mut content = EntryContent::default();
        match c.body {
            Some(Body::Encounter(e)) => content.encounter = Some(e.into()),
            Some(Body::Diagnosis(d)) => content.diagnosis = Some(d.into()),
            Some(Body::Allergy(a)) => content.allergy = Some(a.into()),
            Some(Body::Observation(o)) => content.observation = Some(o.into()),
            Some(Body::LabResult(o)) => content.lab_result = Some(o.into()),
            Some(Body::Document(d)) => content.document = Some(d.into()),
            None => {}
        }
        content
    }
}

/// A visit: what the patient came with, what was found, what is to be done.
#[derive(SimpleObject, Debug, Clone)]
pub struct Encounter {
    pub complaint: Option<String>,
    pub findings: Option<String>,
    pub plan: Option<String>,
}

impl From<pb::Encounter> for Encounter {
    fn from(e: pb::Encounter) -> Encounter {
        Encounter {
            complaint: non_empty(e.complaint),
            findings: non_empty(e.findings),
            plan: non_empty(e.plan),
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct Diagnosis {
    /// ICD-10 code, e.g. "J06.9".
    pub icd10_code: String,
    pub text: String,
    pub status: Option<DiagnosisStatus>,
}

impl From<pb::Diagnosis> for Diagnosis {
    fn from(d: pb::Diagnosis) -> Diagnosis {
        Diagnosis {
            icd10_code: d.icd10_code,
            text: d.text,
            status: DiagnosisStatus::from_proto(d.status),
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct Allergy {
    pub substance: String,
    pub reaction: Option<String>,
    pub severity: Option<Severity>,
    pub notes: Option<String>,
}

impl From<pb::Allergy> for Allergy {
    fn from(a: pb::Allergy) -> Allergy {
        Allergy {
            substance: a.substance,
            reaction: non_empty(a.reaction),
            severity: Severity::from_proto(a.severity),
            notes: non_empty(a.notes),
        }
    }
}

/// A vital sign, an observation or a lab result.
#[derive(SimpleObject, Debug, Clone)]
pub struct Observation {
    /// What was measured: a LOINC code or a clinic's own, e.g. "8480-6" or "pulse".
    pub code: String,
    /// Its name as shown, e.g. "Systolic blood pressure".
    pub name: Option<String>,
    pub value: String,
    pub unit: Option<String>,
    /// e.g. "90-120".
    pub reference_range: Option<String>,
    pub observed_at: Option<DateTime<Utc>>,
    pub comment: Option<String>,
}

impl From<pb::Observation> for Observation {
    fn from(o: pb::Observation) -> Observation {
        Observation {
            code: o.code,
            name: non_empty(o.name),
            value: o.value,
            unit: non_empty(o.unit),
            reference_range: non_empty(o.reference_range),
            observed_at: time(o.observed_at),
            comment: non_empty(o.comment),
        }
    }
}

/// A file of the card: a scan, a letter, a report.
#[derive(SimpleObject, Debug, Clone)]
pub struct RecordDocument {
    pub title: String,
    /// e.g. "application/pdf", "image/jpeg", "text/plain".
    pub media_type: String,
    /// The file, base64-encoded (standard alphabet, padded): on `recordEntry` and in
    /// mutations' answers; null in the card and in lists (read the entry for it).
    pub content: Option<String>,
    pub size_bytes: i64,
    pub description: Option<String>,
}

impl From<pb::Document> for RecordDocument {
    fn from(d: pb::Document) -> RecordDocument {
        RecordDocument {
            title: d.title,
            media_type: d.media_type,
            content: (!d.content.is_empty())
                .then(|| base64::engine::general_purpose::STANDARD.encode(&d.content)),
            size_bytes: d.size_bytes,
            description: non_empty(d.description),
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct RecordEntryPage {
    pub entries: Vec<RecordEntry>,
    pub next_page_token: Option<String>,
}

/// A patient's card: what is true of them now, at a glance.
#[derive(SimpleObject, Debug, Clone)]
pub struct PatientCard {
    pub patient_id: ID,
    /// Why this caller may read it.
    pub basis: Option<AccessBasis>,
    /// Diagnoses as last signed or amended: active ones first, then resolved.
    pub diagnoses: Vec<RecordEntry>,
    pub allergies: Vec<RecordEntry>,
    /// The latest observation and lab result per code.
    pub latest_observations: Vec<RecordEntry>,
    /// The last 20 encounters, newest first.
    pub recent_encounters: Vec<RecordEntry>,
    /// Documents without their content (`recordEntry` reads it).
    pub documents: Vec<RecordEntry>,
    /// Prescriptions, as the pharmacy reported them.
    pub medications: Vec<MedicationCourse>,
    /// Drafts the caller may see (clinicians only; always empty for the patient).
    pub drafts: Vec<RecordEntry>,
    pub signed_entries: i32,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<pb::PatientCard> for PatientCard {
    fn from(c: pb::PatientCard) -> PatientCard {
        let entries = |list: Vec<pb::Entry>| list.into_iter().map(RecordEntry::from).collect();
        PatientCard {
            patient_id: ID(c.patient_id),
            basis: AccessBasis::from_proto(c.basis),
            diagnoses: entries(c.diagnoses),
            allergies: entries(c.allergies),
            latest_observations: entries(c.latest_observations),
            recent_encounters: entries(c.recent_encounters),
            documents: entries(c.documents),
            medications: c
                .medications
                .into_iter()
                .map(MedicationCourse::from)
                .collect(),
            drafts: entries(c.drafts),
            signed_entries: c.signed_entries,
            updated_at: time(c.updated_at),
        }
    }
}

/// One prescription, as the pharmacy reported it.
#[derive(SimpleObject, Debug, Clone)]
pub struct MedicationCourse {
    pub prescription_id: ID,
    pub doctor_id: ID,
    /// The pharmacy's last word on it, as its event named it: "issued", "dispensed",
    /// "rejected" ... (text, not an enum: the card keeps whatever the pharmacy said).
    pub status: Option<String>,
    pub pharmacy_name: Option<String>,
    pub lines: Vec<MedicationLine>,
    pub prescribed_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<pb::MedicationCourse> for MedicationCourse {
    fn from(m: pb::MedicationCourse) -> MedicationCourse {
        MedicationCourse {
            prescription_id: ID(m.prescription_id),
            doctor_id: ID(m.doctor_id),
            status: non_empty(m.status),
            pharmacy_name: non_empty(m.pharmacy_name),
            lines: m.lines.into_iter().map(MedicationLine::from).collect(),
            prescribed_at: time(m.prescribed_at),
            updated_at: time(m.updated_at),
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct MedicationLine {
    pub medication_id: ID,
    pub medication_name: Option<String>,
    pub quantity: i64,
    pub dispensed: i64,
    pub dose: Option<String>,
    pub frequency: Option<String>,
    pub duration_days: Option<i32>,
    pub instructions: Option<String>,
}

impl From<pb::MedicationLine> for MedicationLine {
    fn from(l: pb::MedicationLine) -> MedicationLine {
        MedicationLine {
            medication_id: ID(l.medication_id),
            medication_name: non_empty(l.medication_name),
            quantity: l.quantity,
            dispensed: l.dispensed,
            dose: non_empty(l.dose),
            frequency: non_empty(l.frequency),
            duration_days: (l.duration_days != 0).then_some(l.duration_days),
            instructions: non_empty(l.instructions),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_field_of_the_entrys_kind_is_set() {
        let entry = RecordEntry::from(pb::Entry {
            entry_id: "e1".into(),
            kind: pb::EntryKind::LabResult as i32,
            status: pb::EntryStatus::Signed as i32,
            content: Some(pb::EntryContent {
                body: Some(Body::LabResult(pb::Observation {
                    code: "2345-7".into(),
                    value: "5.4".into(),
                    ..Default::default()
                })),
            }),
            ..Default::default()
        });
        assert_eq!(entry.kind, Some(EntryKind::LabResult));
        let content = &entry.content;
        assert_eq!(content.lab_result.as_ref().unwrap().code, "2345-7");
        assert!(content.observation.is_none() && content.encounter.is_none());
        assert!(content.diagnosis.is_none() && content.allergy.is_none());
        assert!(content.document.is_none());
        assert_eq!(entry.appointment_id, None, "empty is absent");
    }

    #[test]
    fn a_document_without_its_content_reads_as_null_content() {
        let listed = RecordDocument::from(pb::Document {
            title: "Scan".into(),
            media_type: "application/pdf".into(),
            size_bytes: 3,
            ..Default::default()
        });
        assert_eq!(listed.content, None);
        assert_eq!(listed.size_bytes, 3);
        let read = RecordDocument::from(pb::Document {
            content: b"%PD".to_vec(),
            ..Default::default()
        });
        assert_eq!(read.content.as_deref(), Some("JVBE"));
    }
}
