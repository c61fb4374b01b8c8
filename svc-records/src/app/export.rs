//! The patient's own card as a file: JSON (every signed entry, the medication history) or a
//! PDF a person reads, in whatever script the entries were written (svc-kit's Unicode renderer).

use chrono::{DateTime, Utc};
use medmesh_proto::records::v1::{self as pb, entry_content::Body};
use serde_json::{Value, json};

use super::App;
use crate::{
    domain::{Basis, Caller},
    error::RecordsError,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Pdf,
}

impl App {
    pub(crate) async fn export_card(
        &self,
        caller: &Caller,
        format: Format,
        patient_name: &str,
    ) -> Result<pb::CardExport, RecordsError> {
        let patient_id = super::person(caller)?.to_string();
        let basis = self
            .admit(caller, &patient_id, super::Action::Read, "export")
            .await?;
        if basis != Basis::Own {
            return Err(RecordsError::NoSuch("patient record"));
        }
        let entries = self.all_entries(&patient_id, basis).await?;
        let medications = self.medications(&patient_id).await?;
        let now = svc_kit::write::now();
        let (resource, export) = match format {
            Format::Json => {
                let body = json!({
                    "patientId": patient_id,
                    "patientName": patient_name,
                    "exportedAt": now.to_rfc3339(),
                    "entries": entries.iter().map(entry_json).collect::<Vec<_>>(),
                    "medications": medications.iter().map(course_json).collect::<Vec<_>>(),
                });
                (
                    "export:json",
                    pb::CardExport {
                        file_name: "medical-record.json".into(),
                        media_type: "application/json".into(),
                        content: serde_json::to_vec_pretty(&body)
                            .map_err(|e| svc_kit::ApiError::internal(e.to_string()))?,
                    },
                )
            }
            Format::Pdf => (
                "export:pdf",
                pb::CardExport {
                    file_name: "medical-record.pdf".into(),
                    media_type: "application/pdf".into(),
                    content: pdf(&patient_id, patient_name, &entries, &medications, now)?,
                },
            ),
        };
        self.log_read(caller, &patient_id, basis, resource).await?;
        Ok(export)
    }
}

fn time(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

fn status(e: &pb::Entry) -> &'static str {
    match e.status() {
        pb::EntryStatus::Amended => "amended",
        pb::EntryStatus::Draft => "draft",
        _ => "signed",
    }
}

fn entry_json(e: &pb::Entry) -> Value {
    let content = match e.content.as_ref().and_then(|c| c.body.as_ref()) {
        Some(Body::Encounter(x)) => {
            json!({"complaint": x.complaint, "findings": x.findings, "plan": x.plan})
        }
        Some(Body::Diagnosis(x)) => json!({
            "icd10Code": x.icd10_code, "text": x.text,
            "status": x.status().as_str_name().trim_start_matches("DIAGNOSIS_STATUS_"),
        }),
        Some(Body::Allergy(x)) => json!({
            "substance": x.substance, "reaction": x.reaction, "notes": x.notes,
            "severity": x.severity().as_str_name().trim_start_matches("SEVERITY_"),
        }),
        Some(Body::Observation(x) | Body::LabResult(x)) => json!({
            "code": x.code, "name": x.name, "value": x.value, "unit": x.unit,
            "referenceRange": x.reference_range, "observedAt": time(x.observed_at.as_ref()),
            "comment": x.comment,
        }),
        Some(Body::Document(x)) => json!({
            "title": x.title, "mediaType": x.media_type, "description": x.description,
            "contentBase64": base64_encode(&x.content),
        }),
        None => Value::Null,
    };
    json!({
        "entryId": e.entry_id,
        "kind": e.kind().as_str_name().trim_start_matches("ENTRY_KIND_"),
        "status": status(e),
        "authorId": e.author_id,
        "signedBy": e.signed_by,
        "signedAt": time(e.signed_at.as_ref()),
        "appointmentId": e.appointment_id,
        "amendsEntryId": e.amends_entry_id,
        "amendmentReason": e.amendment_reason,
        "amendedByEntryId": e.amended_by_entry_id,
        "content": content,
    })
}

fn course_json(c: &pb::MedicationCourse) -> Value {
    json!({
        "prescriptionId": c.prescription_id,
        "doctorId": c.doctor_id,
        "status": c.status,
        "pharmacyName": c.pharmacy_name,
        "prescribedAt": time(c.prescribed_at.as_ref()),
        "lines": c.lines.iter().map(|l| json!({
            "medicationName": l.medication_name, "quantity": l.quantity,
            "dispensed": l.dispensed, "dose": l.dose, "frequency": l.frequency,
            "durationDays": l.duration_days, "instructions": l.instructions,
        })).collect::<Vec<_>>(),
    })
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn pdf(
    patient_id: &str,
    patient_name: &str,
    entries: &[pb::Entry],
    medications: &[pb::MedicationCourse],
    now: DateTime<Utc>,
) -> Result<Vec<u8>, RecordsError> {
    let mut doc = svc_kit::pdf::Document::new("Medical record");
    if !patient_name.is_empty() {
        doc.field("Patient", patient_name);
    }
    doc.field("Patient id", patient_id)
        .field("Exported", now.format("%Y-%m-%d %H:%M UTC").to_string())
        .space();
    let of = |kind: pb::EntryKind| entries.iter().filter(move |e| e.kind() == kind);
    doc.heading("Allergies");
    doc.table(
        ["Substance", "Reaction", "Severity", "Status"],
        of(pb::EntryKind::Allergy).filter_map(|e| match body(e) {
            Some(Body::Allergy(a)) => Some(vec![
                a.substance.clone(),
                a.reaction.clone(),
                a.severity()
                    .as_str_name()
                    .trim_start_matches("SEVERITY_")
                    .to_lowercase(),
                status(e).to_string(),
            ]),
            _ => None,
        }),
    );
    doc.heading("Diagnoses");
    doc.table(
        ["ICD-10", "Diagnosis", "Status", "Signed"],
        of(pb::EntryKind::Diagnosis).filter_map(|e| match body(e) {
            Some(Body::Diagnosis(d)) => Some(vec![
                d.icd10_code.clone(),
                d.text.clone(),
                format!(
                    "{} ({})",
                    d.status()
                        .as_str_name()
                        .trim_start_matches("DIAGNOSIS_STATUS_")
                        .to_lowercase(),
                    status(e)
                ),
                time(e.signed_at.as_ref()),
            ]),
            _ => None,
        }),
    );
    doc.heading("Observations and lab results");
    doc.table(
        ["Observed", "What", "Value", "Range"],
        entries.iter().filter_map(|e| match body(e) {
            Some(Body::Observation(o) | Body::LabResult(o)) => Some(vec![
                time(o.observed_at.as_ref()),
                if o.name.is_empty() {
                    o.code.clone()
                } else {
                    o.name.clone()
                },
                format!("{} {}", o.value, o.unit),
                o.reference_range.clone(),
            ]),
            _ => None,
        }),
    );
    doc.heading("Medication history");
    doc.table(
        ["Prescribed", "Medication", "Dose", "Status"],
        medications.iter().flat_map(|c| {
            c.lines.iter().map(move |l| {
                vec![
                    time(c.prescribed_at.as_ref()),
                    l.medication_name.clone(),
                    format!("{} {}", l.dose, l.frequency),
                    c.status.clone(),
                ]
            })
        }),
    );
    doc.heading("Encounters");
    for e in of(pb::EntryKind::Encounter) {
        if let Some(Body::Encounter(x)) = body(e) {
            doc.field(
                "Signed",
                format!("{} ({})", time(e.signed_at.as_ref()), status(e)),
            );
            if !e.amendment_reason.is_empty() {
                doc.field("Amendment", e.amendment_reason.clone());
            }
            doc.field("Complaint", x.complaint.clone())
                .field("Findings", x.findings.clone())
                .field("Plan", x.plan.clone())
                .space();
        }
    }
    doc.heading("Documents");
    for e in of(pb::EntryKind::Document) {
        if let Some(Body::Document(d)) = body(e) {
            doc.field(
                d.title.clone(),
                format!("{} ({} bytes)", d.media_type, d.content.len()),
            );
        }
    }
    svc_kit::pdf::render(&doc).map_err(|e| svc_kit::ApiError::internal(e.to_string()).into())
}

fn body(e: &pb::Entry) -> Option<&Body> {
    e.content.as_ref().and_then(|c| c.body.as_ref())
}
