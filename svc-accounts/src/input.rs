//! Turning requests into domain values: every bad field is collected and reported at once.

use medmesh_proto::accounts::v1 as pb;
use svc_kit::error::FieldViolation;

use crate::{
    domain::{self, Affiliation, Email, LanguageTag, Name, Phone, TimeZone, Username},
    error::AccountsError,
    store::UserRecord,
};

/// The contact fields `UpdateProfile` may change, by their mask path.
const UPDATABLE: [&str; 6] = [
    "email",
    "phone",
    "given_name",
    "family_name",
    "preferred_language",
    "time_zone",
];

/// Applies the masked fields of `changes` to `user`, collecting every bad value.
pub(crate) fn apply_changes(
    user: &mut UserRecord,
    changes: &pb::Profile,
    paths: &[String],
) -> Vec<FieldViolation> {
    let mut violations = Vec::new();
    for path in paths {
        let mut set = |_field: &str, result: Result<String, FieldViolation>, slot: &mut String| {
            match result {
                Ok(value) => *slot = value,
                Err(v) => violations.push(v),
            }
        };
        match path.as_str() {
            "email" => set(
                "email",
                Email::parse("email", &changes.email).map(|e| e.as_str().to_string()),
                &mut user.email,
            ),
            "given_name" => set(
                "given_name",
                Name::parse("given_name", &changes.given_name).map(|n| n.as_str().to_string()),
                &mut user.given_name,
            ),
            "family_name" => set(
                "family_name",
                Name::parse("family_name", &changes.family_name).map(|n| n.as_str().to_string()),
                &mut user.family_name,
            ),
            // The optional ones may be cleared with an empty value.
            "phone" if changes.phone.trim().is_empty() => user.phone.clear(),
            "phone" => set(
                "phone",
                Phone::parse("phone", &changes.phone).map(|p| p.as_str().to_string()),
                &mut user.phone,
            ),
            "preferred_language" if changes.preferred_language.trim().is_empty() => {
                user.preferred_language.clear()
            }
            "preferred_language" => set(
                "preferred_language",
                LanguageTag::parse("preferred_language", &changes.preferred_language)
                    .map(|l| l.as_str().to_string()),
                &mut user.preferred_language,
            ),
            "time_zone" if changes.time_zone.trim().is_empty() => user.time_zone.clear(),
            "time_zone" => set(
                "time_zone",
                TimeZone::parse("time_zone", &changes.time_zone).map(|t| t.as_str().to_string()),
                &mut user.time_zone,
            ),
            other => set(
                "update_mask",
                Err(FieldViolation::new(
                    "update_mask",
                    format!(
                        "{other:?} cannot be updated here; updatable: {}",
                        UPDATABLE.join(", ")
                    ),
                )),
                &mut String::new(),
            ),
        }
    }
    violations
}

/// The validated fields of a registration.
#[derive(Debug)]
pub(crate) struct Registration {
    pub(crate) username: Username,
    pub(crate) email: Email,
    pub(crate) given_name: Name,
    pub(crate) family_name: Name,
    pub(crate) phone: Option<Phone>,
    pub(crate) language: Option<LanguageTag>,
    pub(crate) time_zone: Option<TimeZone>,
}

pub(crate) fn parse_registration(
    request: &pb::RegisterPatientRequest,
) -> Result<Registration, AccountsError> {
    let mut violations = Vec::new();
    let mut keep = |v: FieldViolation| violations.push(v);
    let username = Username::parse("username", &request.username).map_err(&mut keep);
    let email = Email::parse("email", &request.email).map_err(&mut keep);
    let given_name = Name::parse("given_name", &request.given_name).map_err(&mut keep);
    let family_name = Name::parse("family_name", &request.family_name).map_err(&mut keep);
    fn optional(raw: &str) -> Option<&str> {
        (!raw.trim().is_empty()).then_some(raw)
    }
    let phone = optional(&request.phone)
        .map(|p| Phone::parse("phone", p))
        .transpose()
        .map_err(&mut keep);
    let language = optional(&request.preferred_language)
        .map(|l| LanguageTag::parse("preferred_language", l))
        .transpose()
        .map_err(&mut keep);
    let time_zone = optional(&request.time_zone)
        .map(|t| TimeZone::parse("time_zone", t))
        .transpose()
        .map_err(&mut keep);
    let _ =
        domain::check_password("password", &request.password, &request.username).map_err(&mut keep);
    match (
        username,
        email,
        given_name,
        family_name,
        phone,
        language,
        time_zone,
    ) {
        (
            Ok(username),
            Ok(email),
            Ok(given_name),
            Ok(family_name),
            Ok(phone),
            Ok(language),
            Ok(time_zone),
        ) if violations.is_empty() => Ok(Registration {
            username,
            email,
            given_name,
            family_name,
            phone,
            language,
            time_zone,
        }),
        _ => Err(violations.into()),
    }
}

/// The affiliation an `AddAffiliation` names: the fields its kind needs, and none it doesn't.
pub(crate) fn parse_affiliation(
    request: &pb::AddAffiliationRequest,
) -> Result<Affiliation, AccountsError> {
    let mut violations = Vec::new();
    let mut reference = |name: &str, value: &str| {
        domain::check_reference(name, value).unwrap_or_else(|v| {
            violations.push(v);
            String::new()
        })
    };
    let kind = pb::AffiliationKind::try_from(request.kind).unwrap_or_default();
    let affiliation = match kind {
        pb::AffiliationKind::Doctor => Affiliation::Doctor {
            clinic_id: reference("clinic_id", &request.clinic_id),
            specialization: Name::parse("specialization", &request.specialization)
                .map(|n| n.as_str().to_string())
                .unwrap_or_else(|v| {
                    violations.push(v);
                    String::new()
                }),
        },
        pb::AffiliationKind::Nurse => Affiliation::Nurse {
            clinic_id: reference("clinic_id", &request.clinic_id),
        },
        pb::AffiliationKind::Pharmacist => Affiliation::Pharmacist {
            pharmacy_id: reference("pharmacy_id", &request.pharmacy_id),
        },
        pb::AffiliationKind::Unspecified => {
            return Err(FieldViolation::new("kind", "must be DOCTOR, NURSE or PHARMACIST").into());
        }
    };
    let (clinic, pharmacy, specialization) = match &affiliation {
        Affiliation::Doctor { .. } => (true, false, true),
        Affiliation::Nurse { .. } => (true, false, false),
        Affiliation::Pharmacist { .. } => (false, true, false),
    };
    let fields = [
        ("clinic_id", &request.clinic_id, clinic),
        ("pharmacy_id", &request.pharmacy_id, pharmacy),
        ("specialization", &request.specialization, specialization),
    ];
    for (name, raw, applies) in fields {
        if !applies && !raw.trim().is_empty() {
            violations.push(FieldViolation::new(name, "does not apply to this kind"));
        }
    }
    if violations.is_empty() {
        Ok(affiliation)
    } else {
        Err(violations.into())
    }
}
