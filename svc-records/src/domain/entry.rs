//! An entry's life and what its content must hold. A draft is edited, then signed by a doctor;
//! a signed entry never changes again: a correction is a new signed entry that amends it, and
//! an entry is amended at most once (a further correction amends the amendment), so the
//! corrections of an entry form one line.

use medmesh_proto::records::v1::{self as pb, entry_content::Body};
use svc_kit::input::Violations;

/// The most text one field of an entry holds.
pub const MAX_TEXT: usize = 20_000;
/// The largest document an entry holds.
pub const MAX_DOCUMENT_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Encounter,
    Diagnosis,
    Allergy,
    Observation,
    LabResult,
    Document,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Encounter,
        Kind::Diagnosis,
        Kind::Allergy,
        Kind::Observation,
        Kind::LabResult,
        Kind::Document,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Encounter => "encounter",
            Kind::Diagnosis => "diagnosis",
            Kind::Allergy => "allergy",
            Kind::Observation => "observation",
            Kind::LabResult => "lab_result",
            Kind::Document => "document",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn of(body: &Body) -> Kind {
        match body {
            Body::Encounter(_) => Kind::Encounter,
            Body::Diagnosis(_) => Kind::Diagnosis,
            Body::Allergy(_) => Kind::Allergy,
            Body::Observation(_) => Kind::Observation,
            Body::LabResult(_) => Kind::LabResult,
            Body::Document(_) => Kind::Document,
        }
    }

    pub fn to_pb(self) -> pb::EntryKind {
        match self {
            Kind::Encounter => pb::EntryKind::Encounter,
            Kind::Diagnosis => pb::EntryKind::Diagnosis,
            Kind::Allergy => pb::EntryKind::Allergy,
            Kind::Observation => pb::EntryKind::Observation,
            Kind::LabResult => pb::EntryKind::LabResult,
            Kind::Document => pb::EntryKind::Document,
        }
    }

    pub fn from_pb(kind: pb::EntryKind) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.to_pb() == kind)
    }

    /// What a nurse may write: vitals, observations and lab results, for the doctor's visit.
    pub fn nurse_may_write(self) -> bool {
        matches!(self, Kind::Observation | Kind::LabResult)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Draft,
    Signed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Signed => "signed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "draft" => Some(Status::Draft),
            "signed" => Some(Status::Signed),
            _ => None,
        }
    }
}

/// Why an entry cannot change the way asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the entry is signed; a signed entry only changes by amendment")]
    Signed,
    #[error("only a signed entry can be amended")]
    NotSigned,
    #[error("the entry was already amended by {0}; amend that amendment instead")]
    AlreadyAmended(String),
    #[error("an amendment keeps the entry's kind ({0})")]
    KindChanged(&'static str),
    #[error("the entry was changed since it was read (version {current} now)")]
    Stale { current: i64 },
}

/// The checks of `content` (field names under `field`), and its kind when it holds.
pub fn check_content(
    field: &str,
    content: Option<&pb::EntryContent>,
    v: &mut Violations,
) -> Option<Kind> {
    let Some(body) = content.and_then(|c| c.body.as_ref()) else {
        v.push(
            field,
            "is required: one of encounter, diagnosis, allergy, observation, lab_result, document",
        );
        return None;
    };
    let text = |v: &mut Violations, name: &str, value: &str, required: bool| {
        v.take(svc_kit::input::text(
            &format!("{field}.{name}"),
            value,
            MAX_TEXT,
            required,
        ));
    };
    match body {
        Body::Encounter(e) => {
            text(v, "encounter.complaint", &e.complaint, false);
            text(v, "encounter.findings", &e.findings, false);
            text(v, "encounter.plan", &e.plan, false);
            if [&e.complaint, &e.findings, &e.plan]
                .iter()
                .all(|s| s.trim().is_empty())
            {
                v.push(
                    &format!("{field}.encounter"),
                    "needs a complaint, findings or a plan",
                );
            }
        }
        Body::Diagnosis(d) => {
            if !is_icd10(&d.icd10_code) {
                v.push(
                    &format!("{field}.diagnosis.icd10_code"),
                    "is not an ICD-10 code (a letter, two digits, optionally a dot and up to 4 more, e.g. J06.9)",
                );
            }
            text(v, "diagnosis.text", &d.text, true);
            if !matches!(
                d.status(),
                pb::DiagnosisStatus::Active | pb::DiagnosisStatus::Resolved
            ) {
                v.push(
                    &format!("{field}.diagnosis.status"),
                    "must be ACTIVE or RESOLVED",
                );
            }
        }
        Body::Allergy(a) => {
            text(v, "allergy.substance", &a.substance, true);
            text(v, "allergy.reaction", &a.reaction, false);
            text(v, "allergy.notes", &a.notes, false);
            if a.severity() == pb::Severity::Unspecified {
                v.push(
                    &format!("{field}.allergy.severity"),
                    "is required: MILD, MODERATE, SEVERE or LIFE_THREATENING",
                );
            }
        }
        Body::Observation(o) | Body::LabResult(o) => {
            let name = if matches!(body, Body::Observation(_)) {
                "observation"
            } else {
                "lab_result"
            };
            v.take(svc_kit::input::text(
                &format!("{field}.{name}.code"),
                &o.code,
                64,
                true,
            ));
            text(v, &format!("{name}.name"), &o.name, false);
            v.take(svc_kit::input::text(
                &format!("{field}.{name}.value"),
                &o.value,
                256,
                true,
            ));
            v.take(svc_kit::input::text(
                &format!("{field}.{name}.unit"),
                &o.unit,
                32,
                false,
            ));
            v.take(svc_kit::input::text(
                &format!("{field}.{name}.reference_range"),
                &o.reference_range,
                64,
                false,
            ));
            text(v, &format!("{name}.comment"), &o.comment, false);
            if o.observed_at.is_none() {
                v.push(&format!("{field}.{name}.observed_at"), "is required");
            }
        }
        Body::Document(d) => {
            v.take(svc_kit::input::text(
                &format!("{field}.document.title"),
                &d.title,
                200,
                true,
            ));
            text(v, "document.description", &d.description, false);
            let media = &d.media_type;
            if media.len() > 100
                || !media.contains('/')
                || !media
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/.+-".contains(c))
            {
                v.push(
                    &format!("{field}.document.media_type"),
                    "is not a media type (e.g. application/pdf)",
                );
            }
            if d.content.is_empty() {
                v.push(&format!("{field}.document.content"), "is required");
            } else if d.content.len() > MAX_DOCUMENT_BYTES {
                v.push(
                    &format!("{field}.document.content"),
                    format!("is larger than {MAX_DOCUMENT_BYTES} bytes"),
                );
            }
        }
    }
    Some(Kind::of(body))
}

/// `J06.9`, `E11`, `S72.001A`: a letter, two digits (or a digit and a letter), then optionally
/// a dot and one to four letters or digits.
pub fn is_icd10(code: &str) -> bool {
    let b = code.as_bytes();
    let head = b.len() >= 3
        && b[0].is_ascii_uppercase()
        && b[1].is_ascii_digit()
        && (b[2].is_ascii_digit() || b[2].is_ascii_uppercase());
    let tail = match &b[3.min(b.len())..] {
        [] => true,
        [b'.', rest @ ..] => {
            (1..=4).contains(&rest.len())
                && rest
                    .iter()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        }
        _ => false,
    };
    head && tail
}

/// A draft may be edited, signed or discarded when it is a draft at the version read.
pub fn check_draft(status: Status, version: i64, expected: i64) -> Result<(), Refusal> {
    if status != Status::Draft {
        return Err(Refusal::Signed);
    }
    if version != expected {
        return Err(Refusal::Stale { current: version });
    }
    Ok(())
}

/// A signed entry not yet amended may be amended, by content of its own kind.
pub fn check_amendment(
    status: Status,
    amended_by: Option<&str>,
    kind: Kind,
    new_kind: Kind,
) -> Result<(), Refusal> {
    if status != Status::Signed {
        return Err(Refusal::NotSigned);
    }
    if let Some(by) = amended_by {
        return Err(Refusal::AlreadyAmended(by.to_string()));
    }
    if kind != new_kind {
        return Err(Refusal::KindChanged(kind.as_str()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icd10_codes_are_told_from_anything_else() {
        for good in ["J06.9", "E11", "S72.001A", "U07.1", "C4A.0"] {
            assert!(is_icd10(good), "{good}");
        }
        for bad in [
            "",
            "J0",
            "j06.9",
            "J06.",
            "J06.12345",
            "J069",
            "06.9",
            "J06-9",
        ] {
            assert!(!is_icd10(bad), "{bad}");
        }
    }

    #[test]
    fn a_signed_entry_is_never_edited_and_is_amended_once() {
        assert_eq!(check_draft(Status::Signed, 1, 1), Err(Refusal::Signed));
        assert_eq!(
            check_draft(Status::Draft, 3, 2),
            Err(Refusal::Stale { current: 3 })
        );
        assert_eq!(check_draft(Status::Draft, 3, 3), Ok(()));
        assert_eq!(
            check_amendment(Status::Draft, None, Kind::Allergy, Kind::Allergy),
            Err(Refusal::NotSigned)
        );
        assert_eq!(
            check_amendment(Status::Signed, Some("e2"), Kind::Allergy, Kind::Allergy),
            Err(Refusal::AlreadyAmended("e2".into()))
        );
        assert_eq!(
            check_amendment(Status::Signed, None, Kind::Allergy, Kind::Diagnosis),
            Err(Refusal::KindChanged("allergy"))
        );
        assert_eq!(
            check_amendment(Status::Signed, None, Kind::Allergy, Kind::Allergy),
            Ok(())
        );
    }

    #[test]
    fn every_bad_field_of_a_content_is_named() {
        let mut v = Violations::default();
        let content = pb::EntryContent {
            body: Some(Body::Diagnosis(pb::Diagnosis {
                icd10_code: "nope".into(),
                text: String::new(),
                status: 0,
            })),
        };
        assert_eq!(
            check_content("content", Some(&content), &mut v),
            Some(Kind::Diagnosis)
        );
        let fields: Vec<_> = v.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "content.diagnosis.icd10_code",
                "content.diagnosis.text",
                "content.diagnosis.status"
            ]
        );
        let mut v = Violations::default();
        assert_eq!(check_content("content", None, &mut v), None);
        assert_eq!(v.0.len(), 1);
    }
}
