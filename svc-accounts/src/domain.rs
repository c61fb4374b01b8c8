//! Accounts' rules, with no I/O: the values a profile may hold (parsed, so a bad one cannot be
//! built), roles, and who may do what.

use std::collections::BTreeSet;

pub use svc_kit::auth::Role;
use svc_kit::{
    auth::{ClientRole, Principal},
    error::FieldViolation,
};

/// Roles as one column: `,doctor,patient,` (sorted; the commas make `LIKE '%,doctor,%'` exact).
pub fn roles_column(roles: &BTreeSet<Role>) -> String {
    if roles.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    format!(",{},", names.join(","))
}

pub fn roles_from_column(column: &str) -> BTreeSet<Role> {
    column.split(',').filter_map(Role::parse).collect()
}

fn violation(field: &str, description: impl Into<String>) -> FieldViolation {
    FieldViolation::new(field, description)
}

fn has_control(value: &str) -> bool {
    value.chars().any(char::is_control)
}

/// An email address, trimmed, with its domain lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Email, FieldViolation> {
        let value = raw.trim();
        let bad = || violation(field, "is not an email address");
        if value.len() > 254 || has_control(value) || value.contains(char::is_whitespace) {
            return Err(bad());
        }
        let (local, domain) = value.rsplit_once('@').ok_or_else(bad)?;
        let labels_ok = domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain.contains('.') {
            return Err(bad());
        }
        if !labels_ok {
            return Err(bad());
        }
        Ok(Email(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number in E.164 (`+` and 8 to 15 digits); spaces, dashes, dots and parentheses are
/// dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(field: &str, raw: &str) -> Result<Phone, FieldViolation> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let digits = compact.strip_prefix('+').unwrap_or("");
        let ok = digits.len() >= 8
            && digits.len() <= 15
            && digits.chars().all(|c| c.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Phone(compact))
        } else {
            Err(violation(
                field,
                "must be an international number: + and 8 to 15 digits, e.g. +380441234567",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A BCP 47 language tag (language, optional script and region), normalized: `uk-UA`, `en`,
/// `zh-Hant-TW`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguageTag(String);

impl LanguageTag {
    pub fn parse(field: &str, raw: &str) -> Result<LanguageTag, FieldViolation> {
        let bad = || violation(field, "must be a BCP 47 language tag, e.g. en or uk-UA");
        let value = raw.trim();
        if value.is_empty() || value.len() > 35 {
            return Err(bad());
        }
        let mut parts = value.split(['-', '_']);
        let language = parts.next().ok_or_else(bad)?;
        if !(2..=3).contains(&language.len()) || !language.chars().all(|c| c.is_ascii_alphabetic())
        {
            return Err(bad());
        }
        let mut normalized = language.to_ascii_lowercase();
        for part in parts {
            let piece = match part.len() {
                4 if part.chars().all(|c| c.is_ascii_alphabetic()) => {
                    let mut chars = part.chars();
                    let first = chars.next().expect("four letters").to_ascii_uppercase();
                    format!("{first}{}", chars.as_str().to_ascii_lowercase())
                }
                2 if part.chars().all(|c| c.is_ascii_alphabetic()) => part.to_ascii_uppercase(),
                3 if part.chars().all(|c| c.is_ascii_digit()) => part.to_string(),
                _ => return Err(bad()),
            };
            normalized.push('-');
            normalized.push_str(&piece);
        }
        Ok(LanguageTag(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IANA time zone the platform knows, e.g. `Europe/Kyiv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZone(String);

impl TimeZone {
    pub fn parse(field: &str, raw: &str) -> Result<TimeZone, FieldViolation> {
        raw.trim()
            .parse::<chrono_tz::Tz>()
            .map(|tz| TimeZone(tz.name().to_string()))
            .map_err(|_| violation(field, "must be an IANA time zone, e.g. Europe/Kyiv"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's given or family name: 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

pub const MAX_NAME_CHARS: usize = 100;

impl Name {
    pub fn parse(field: &str, raw: &str) -> Result<Name, FieldViolation> {
        let value = raw.trim();
        let chars = value.chars().count();
        if chars == 0 {
            return Err(violation(field, "must not be empty"));
        }
        if chars > MAX_NAME_CHARS {
            return Err(violation(
                field,
                format!("must be at most {MAX_NAME_CHARS} characters"),
            ));
        }
        if has_control(value) {
            return Err(violation(field, "must not contain control characters"));
        }
        Ok(Name(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A username: 3 to 64 of `a-z 0-9 . _ -`, starting with a letter or digit (lower-cased, as
/// Keycloak stores it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(field: &str, raw: &str) -> Result<Username, FieldViolation> {
        let value = raw.trim().to_lowercase();
        let ok = (3..=64).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            && value.starts_with(|c: char| c.is_ascii_alphanumeric());
        if ok {
            Ok(Username(value))
        } else {
            Err(violation(
                field,
                "must be 3 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password, as the realm's policy wants it: 12 to 128 characters, not the username.
pub fn check_password(field: &str, password: &str, username: &str) -> Result<(), FieldViolation> {
    let chars = password.chars().count();
    if !(12..=128).contains(&chars) {
        return Err(violation(field, "must be 12 to 128 characters"));
    }
    if password.eq_ignore_ascii_case(username) {
        return Err(violation(field, "must not be the username"));
    }
    Ok(())
}

/// Free text an admin gives as a reason: at most 500 characters.
pub fn check_reason(field: &str, reason: &str, required: bool) -> Result<String, FieldViolation> {
    let value = reason.trim();
    if required && value.is_empty() {
        return Err(violation(field, "is required"));
    }
    if value.chars().count() > 500 {
        return Err(violation(field, "must be at most 500 characters"));
    }
    if has_control(value) {
        return Err(violation(field, "must not contain control characters"));
    }
    Ok(value.to_string())
}

/// An id of an entity another service owns (clinic, pharmacy): 1 to 64 of `A-Za-z0-9-_`.
pub fn check_reference(field: &str, value: &str) -> Result<String, FieldViolation> {
    let value = value.trim();
    let ok = (1..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(value.to_string())
    } else {
        Err(violation(
            field,
            "must be 1 to 64 letters, digits, '-' or '_'",
        ))
    }
}

/// A MedMesh user id (a UUID).
pub fn check_user_id(field: &str, value: &str) -> Result<String, FieldViolation> {
    uuid::Uuid::parse_str(value.trim())
        .map(|id| id.to_string())
        .map_err(|_| violation(field, "must be a user id (UUID)"))
}

/// A staff member's place of work, as the kind of affiliation says it must be given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Affiliation {
    Doctor {
        clinic_id: String,
        specialization: String,
    },
    Nurse {
        clinic_id: String,
    },
    Pharmacist {
        pharmacy_id: String,
    },
}

impl Affiliation {
    /// The role a user must hold to be affiliated this way.
    pub fn role(&self) -> Role {
        match self {
            Affiliation::Doctor { .. } => Role::Doctor,
            Affiliation::Nurse { .. } => Role::Nurse,
            Affiliation::Pharmacist { .. } => Role::Pharmacist,
        }
    }

    /// The stored kind.
    pub fn kind_name(&self) -> &'static str {
        self.role().as_str()
    }

    pub fn clinic_id(&self) -> &str {
        match self {
            Affiliation::Doctor { clinic_id, .. } | Affiliation::Nurse { clinic_id } => clinic_id,
            Affiliation::Pharmacist { .. } => "",
        }
    }

    pub fn pharmacy_id(&self) -> &str {
        match self {
            Affiliation::Pharmacist { pharmacy_id } => pharmacy_id,
            Affiliation::Doctor { .. } | Affiliation::Nurse { .. } => "",
        }
    }

    pub fn specialization(&self) -> &str {
        match self {
            Affiliation::Doctor { specialization, .. } => specialization,
            Affiliation::Nurse { .. } | Affiliation::Pharmacist { .. } => "",
        }
    }
}

/// Whether an admin may give `target` these roles: an admin cannot take the admin role from
/// themselves (the last admin would lock everyone out).
pub fn may_set_roles(actor_subject: &str, target_subject: &str, roles: &BTreeSet<Role>) -> bool {
    actor_subject != target_subject || roles.contains(&Role::Admin)
}

/// What an accounts operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    GetMyProfile,
    GetProfile,
    UpdateProfile,
    RegisterPatient,
    ListUsers,
    SetRoles,
    AddAffiliation,
    RemoveAffiliation,
    DeactivateUser,
    ListAuditEvents,
    ExportMyData,
    EraseMyAccount,
}

/// Whom an allowed caller may act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Any user.
    Anyone,
    /// Only the caller's own account; anyone else's is NOT_FOUND.
    OwnOnly,
    /// Any user's name (and language and zone, to write it), nothing else: no contact data,
    /// roles or affiliations.
    NamesOnly,
}

/// Who may call `operation`, and on whom; `None` is PERMISSION_DENIED. The table is
/// docs/api/accounts.md.
pub fn reach(operation: Operation, caller: &Principal) -> Option<Reach> {
    let admin = caller.holds(Role::Admin);
    let person = caller.is_person();
    let client = |role| caller.is_client(role);
    let partner = client(ClientRole::Partner);
    match operation {
        Operation::GetMyProfile | Operation::ExportMyData | Operation::EraseMyAccount => {
            person.then_some(Reach::OwnOnly)
        }
        // Notify reads contact data (it sends the reminders); scheduling a patient's name for
        // a confirmation. No other service reads profiles.
        Operation::GetProfile if admin || client(ClientRole::Notify) => Some(Reach::Anyone),
        Operation::GetProfile if client(ClientRole::Scheduling) => Some(Reach::NamesOnly),
        Operation::GetProfile | Operation::UpdateProfile if person && !admin => {
            Some(Reach::OwnOnly)
        }
        Operation::UpdateProfile if admin => Some(Reach::Anyone),
        Operation::GetProfile | Operation::UpdateProfile => None,
        // The gateway registers for anonymous visitors; partners for their patients.
        Operation::RegisterPatient => {
            (admin || client(ClientRole::Gateway) || partner).then_some(Reach::Anyone)
        }
        Operation::ListUsers
        | Operation::SetRoles
        | Operation::AddAffiliation
        | Operation::RemoveAffiliation
        | Operation::DeactivateUser
        | Operation::ListAuditEvents => admin.then_some(Reach::Anyone),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("email", " Ann@Example.ORG ").unwrap().as_str(),
            "Ann@example.org"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.org",
            "ann@x",
            "a b@x.org",
            "ann@-x.org",
            "ann@x..org",
        ] {
            assert!(Email::parse("email", bad).is_err(), "{bad:?}");
        }
        assert!(Email::parse("email", &format!("{}@x.org", "a".repeat(65))).is_err());
    }

    #[test]
    fn phones_languages_zones() {
        assert_eq!(
            Phone::parse("phone", "+38 (044) 123-45-67")
                .unwrap()
                .as_str(),
            "+380441234567"
        );
        assert!(Phone::parse("phone", "0441234567").is_err());
        assert!(Phone::parse("phone", "+1234").is_err());
        assert_eq!(LanguageTag::parse("l", "uk_ua").unwrap().as_str(), "uk-UA");
        assert_eq!(
            LanguageTag::parse("l", "zh-hant-tw").unwrap().as_str(),
            "zh-Hant-TW"
        );
        assert!(LanguageTag::parse("l", "english").is_err());
        assert_eq!(
            TimeZone::parse("tz", "Europe/Kyiv").unwrap().as_str(),
            "Europe/Kyiv"
        );
        assert!(TimeZone::parse("tz", "Mars/Olympus").is_err());
    }

    #[test]
    fn names_usernames_passwords() {
        assert!(Name::parse("given_name", &"x".repeat(101)).is_err());
        assert!(Name::parse("given_name", "  ").is_err());
        assert!(Name::parse("given_name", "Ann\u{0}").is_err());
        assert_eq!(
            Username::parse("username", "Ann.Smith").unwrap().as_str(),
            "ann.smith"
        );
        assert!(Username::parse("username", "_ann").is_err());
        assert!(Username::parse("username", "an").is_err());
        assert!(check_password("password", "short", "ann").is_err());
        assert!(check_password("password", "annsmith1234", "annsmith1234").is_err());
        assert!(check_password("password", "correct horse battery", "ann").is_ok());
    }

    #[test]
    fn roles_round_trip_through_their_column() {
        let roles: BTreeSet<Role> = [Role::Patient, Role::Doctor].into();
        let column = roles_column(&roles);
        assert_eq!(column, ",doctor,patient,");
        assert_eq!(roles_from_column(&column), roles);
        assert_eq!(roles_column(&BTreeSet::new()), "");
    }

    #[test]
    fn who_may_do_what() {
        let p = |roles: &[&str]| Principal::for_roles("s", roles, "medmesh-web");
        let (admin, patient, doctor) = (p(&["admin"]), p(&["patient"]), p(&["doctor"]));
        let (service, partner) = (p(&["svc-notify"]), p(&["partner"]));
        assert_eq!(reach(Operation::GetProfile, &admin), Some(Reach::Anyone));
        assert_eq!(reach(Operation::GetProfile, &patient), Some(Reach::OwnOnly));
        assert_eq!(reach(Operation::GetProfile, &service), Some(Reach::Anyone));
        assert_eq!(
            reach(Operation::GetProfile, &p(&["svc-scheduling"])),
            Some(Reach::NamesOnly)
        );
        for other in [
            "svc-gateway",
            "svc-pharmacy",
            "svc-records",
            "svc-accounts",
            "service",
        ] {
            assert_eq!(reach(Operation::GetProfile, &p(&[other])), None, "{other}");
            assert_eq!(
                reach(Operation::RegisterPatient, &p(&[other])).is_some(),
                other == "svc-gateway",
                "{other}"
            );
        }
        assert_eq!(reach(Operation::GetProfile, &partner), None);
        assert_eq!(
            reach(Operation::UpdateProfile, &doctor),
            Some(Reach::OwnOnly)
        );
        assert_eq!(reach(Operation::UpdateProfile, &service), None);
        assert_eq!(
            reach(Operation::RegisterPatient, &partner),
            Some(Reach::Anyone)
        );
        assert_eq!(reach(Operation::RegisterPatient, &patient), None);
        assert_eq!(reach(Operation::SetRoles, &doctor), None);
        assert_eq!(reach(Operation::GetMyProfile, &service), None);
        assert_eq!(reach(Operation::ListAuditEvents, &p(&[])), None);
    }
}
