//! What records mutations take. An entry's content is one of six kinds, exactly one given
//! (a oneof input, as the contract's `EntryContent` is a oneof); a document's file comes as
//! base64 text, decoded here before any service is asked. Everything else is svc-records' to
//! judge.

use async_graphql::{ID, InputObject, OneofObject, Result};
use chrono::{DateTime, Utc};
use medmesh_proto::records::v1::{self as pb, entry_content::Body};

use super::enums::{DiagnosisStatus, Severity};
use crate::{convert::timestamp, input::base64_bytes};

/// What an entry says: exactly one of its kinds. An edit or an amendment keeps the entry's
/// kind.
#[derive(OneofObject, Debug)]
pub enum EntryContentInput {
    Encounter(EncounterInput),
    Diagnosis(DiagnosisInput),
    Allergy(AllergyInput),
    Observation(ObservationInput),
    LabResult(ObservationInput),
    Document(RecordDocumentInput),
}

impl EntryContentInput {
    /// The contract's content; a document that is not base64 is refused, naming the field.
    pub(super) fn into_proto(self) -> Result<pb::EntryContent> {
        let body = match self {
            EntryContentInput::Encounter(e) => Body::Encounter(pb::Encounter {
                complaint: e.complaint.unwrap_or_default(),
                findings: e.findings.unwrap_or_default(),
                plan: e.plan.unwrap_or_default(),
            }),
            EntryContentInput::Diagnosis(d) => Body::Diagnosis(pb::Diagnosis {
                icd10_code: d.icd10_code,
                text: d.text,
                status: d.status.to_proto().into(),
            }),
            EntryContentInput::Allergy(a) => Body::Allergy(pb::Allergy {
                substance: a.substance,
                reaction: a.reaction.unwrap_or_default(),
                severity: a.severity.to_proto().into(),
                notes: a.notes.unwrap_or_default(),
            }),
            EntryContentInput::Observation(o) => Body::Observation(o.into()),
            EntryContentInput::LabResult(o) => Body::LabResult(o.into()),
            EntryContentInput::Document(d) => {
                let content = base64_bytes("input", "content.document.content", &d.content)?;
                Body::Document(pb::Document {
                    title: d.title,
                    media_type: d.media_type,
                    size_bytes: i64::try_from(content.len()).unwrap_or(i64::MAX),
                    content,
                    description: d.description.unwrap_or_default(),
                })
            }
        };
        Ok(pb::EntryContent { body: Some(body) })
    }
}

/// A visit: at least one of complaint, findings and plan.
#[derive(InputObject, Debug)]
pub struct EncounterInput {
    pub complaint: Option<String>,
    pub findings: Option<String>,
    pub plan: Option<String>,
}

#[derive(InputObject, Debug)]
pub struct DiagnosisInput {
    /// ICD-10 code, e.g. "J06.9".
    pub icd10_code: String,
    pub text: String,
    pub status: DiagnosisStatus,
}

#[derive(InputObject, Debug)]
pub struct AllergyInput {
    pub substance: String,
    pub reaction: Option<String>,
    pub severity: Severity,
    pub notes: Option<String>,
}

/// A vital sign, an observation or a lab result.
#[derive(InputObject, Debug)]
pub struct ObservationInput {
    /// What was measured: a LOINC code or a clinic's own, e.g. "8480-6" or "pulse".
    pub code: String,
    /// Its name as shown, e.g. "Systolic blood pressure".
    pub name: Option<String>,
    pub value: String,
    pub unit: Option<String>,
    /// e.g. "90-120".
    pub reference_range: Option<String>,
    pub observed_at: DateTime<Utc>,
    pub comment: Option<String>,
}

impl From<ObservationInput> for pb::Observation {
    fn from(o: ObservationInput) -> pb::Observation {
        pb::Observation {
            code: o.code,
            name: o.name.unwrap_or_default(),
            value: o.value,
            unit: o.unit.unwrap_or_default(),
            reference_range: o.reference_range.unwrap_or_default(),
            observed_at: Some(timestamp(o.observed_at)),
            comment: o.comment.unwrap_or_default(),
        }
    }
}

/// A file for the card.
#[derive(InputObject, Debug)]
pub struct RecordDocumentInput {
    pub title: String,
    /// e.g. "application/pdf", "image/jpeg", "text/plain".
    pub media_type: String,
    /// The file, base64-encoded (standard alphabet, padded); at most 2 MiB once decoded.
    pub content: String,
    pub description: Option<String>,
}

/// A new draft on a patient's card.
#[derive(InputObject, Debug)]
pub struct CreateRecordEntryInput {
    /// Idempotency key: the same key on a retry returns the first answer.
    pub request_id: String,
    pub patient_id: ID,
    pub content: EntryContentInput,
    /// The appointment it belongs to (one of the patient's).
    pub appointment_id: Option<ID>,
}

/// A draft's new content (of the same kind) and appointment.
#[derive(InputObject, Debug)]
pub struct UpdateDraftInput {
    pub request_id: String,
    pub entry_id: ID,
    /// The draft's version as read; another one is refused with CONFLICT (someone else
    /// edited it).
    pub version: i64,
    pub content: EntryContentInput,
    pub appointment_id: Option<ID>,
}

#[derive(InputObject, Debug)]
pub struct DiscardDraftInput {
    pub request_id: String,
    pub entry_id: ID,
    /// The draft's version as read; another one is refused with CONFLICT (so nobody signs
    /// or discards what someone else changed since they read it).
    pub version: i64,
}

#[derive(InputObject, Debug)]
pub struct SignRecordEntryInput {
    pub request_id: String,
    pub entry_id: ID,
    /// The draft's version as read; another one is refused with CONFLICT (so nobody signs
    /// or discards what someone else changed since they read it).
    pub version: i64,
}

/// A correction of a signed entry.
#[derive(InputObject, Debug)]
pub struct AmendRecordEntryInput {
    pub request_id: String,
    /// A signed entry not yet amended (amend its latest amendment otherwise).
    pub entry_id: ID,
    /// The corrected content, of the same kind.
    pub content: EntryContentInput,
    pub reason: String,
}

/// A doctor the patient lets open their card, for a period.
#[derive(InputObject, Debug)]
pub struct GrantRecordAccessInput {
    pub request_id: String,
    pub doctor_id: ID,
    /// Absent: now.
    pub starts_at: Option<DateTime<Utc>>,
    /// At most a year after it starts.
    pub ends_at: DateTime<Utc>,
}

#[derive(InputObject, Debug)]
pub struct RevokeRecordAccessInput {
    pub request_id: String,
    pub grant_id: ID,
}

/// An emergency access to a patient's card.
#[derive(InputObject, Debug)]
pub struct BreakGlassInput {
    pub request_id: String,
    pub patient_id: ID,
    /// Why, in words the patient will read; at least 10 characters.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(content: &str) -> EntryContentInput {
        EntryContentInput::Document(RecordDocumentInput {
            title: "Discharge letter".into(),
            media_type: "application/pdf".into(),
            content: content.into(),
            description: None,
        })
    }

    #[test]
    fn a_document_is_decoded_and_sized_here() {
        let content = document("JVBERi0=").into_proto().unwrap();
        let Some(Body::Document(d)) = content.body else {
            panic!("a document: {content:?}");
        };
        assert_eq!(d.content, b"%PDF-");
        assert_eq!(d.size_bytes, 5);
    }

    #[test]
    fn a_document_that_is_not_base64_is_refused_naming_the_field() {
        let error = document("%PDF-1.7")
            .into_proto()
            .unwrap_err()
            .into_server_error(async_graphql::Pos::default());
        let ext = serde_json::to_value(&error.extensions).unwrap();
        assert_eq!(ext["code"], "BAD_USER_INPUT");
        assert_eq!(ext["fields"][0]["field"], "content.document.content");
    }

    #[test]
    fn a_lab_result_keeps_its_kind() {
        let input = EntryContentInput::LabResult(ObservationInput {
            code: "2345-7".into(),
            name: None,
            value: "5.4".into(),
            unit: Some("mmol/L".into()),
            reference_range: None,
            observed_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            comment: None,
        });
        let content = input.into_proto().unwrap();
        assert!(
            matches!(content.body, Some(Body::LabResult(ref o)) if o.unit == "mmol/L" && o.observed_at.is_some()),
            "{content:?}"
        );
    }
}
