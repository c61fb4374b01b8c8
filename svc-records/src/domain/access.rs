//! Who may do what, in two steps. First the table: an operation a caller's roles don't name is
//! refused before anything is read (deny by default). Then, for a patient's record, the
//! caller's standing towards that patient: their own record, a doctor in whose care the
//! patient is or whom the patient granted access, a nurse of a clinic the patient visits, a
//! doctor who broke the glass. Without standing the record does not exist for the caller.

use std::collections::BTreeSet;

use svc_kit::auth::{ClientRole, Role};

/// The caller as records sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The OIDC subject (a user, or a client's service account).
    pub subject: String,
    /// `None` for clients acting with client credentials.
    pub user_id: Option<String>,
    pub roles: BTreeSet<Role>,
    pub clients: BTreeSet<ClientRole>,
    /// Clinics the caller works at (doctors, nurses).
    pub clinics: BTreeSet<String>,
    /// The request's trace id, written to the access log.
    pub trace_id: String,
}

impl Caller {
    pub fn holds(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is(&self, user_id: &str) -> bool {
        self.user_id.as_deref() == Some(user_id)
    }

    /// The id the access log names the caller by.
    pub fn actor_id(&self) -> &str {
        self.user_id.as_deref().unwrap_or(&self.subject)
    }

    fn holds_holder(&self, holder: Holder) -> bool {
        match holder {
            Holder::Person(role) => self.roles.contains(&role),
            Holder::Client(role) => self.clients.contains(&role),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// The card, its entries, one entry.
    ReadRecord,
    /// Create, edit and discard drafts.
    WriteDraft,
    /// Sign drafts and amend signed entries.
    Sign,
    /// Grant and revoke a doctor's access.
    Grant,
    ReadGrants,
    BreakGlass,
    /// A patient's access log.
    ReadAccessLog,
    /// Emergency accesses across patients.
    ReadBreakGlass,
    /// The access log's integrity report.
    VerifyLog,
    /// Download one's own card.
    Export,
}

/// Who a rule names: a person's role or a client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    Person(Role),
    #[allow(dead_code)] // no client reaches a record; kept so the table says so in its terms
    Client(ClientRole),
}

const ADMIN: Holder = Holder::Person(Role::Admin);
const DOCTOR: Holder = Holder::Person(Role::Doctor);
const NURSE: Holder = Holder::Person(Role::Nurse);
const PATIENT: Holder = Holder::Person(Role::Patient);

/// Every operation and who may call it (docs/api/records.md is this table in prose; a test
/// checks every RPC against it). Partners, services and pharmacists reach nothing; admins
/// reach the log and its integrity, never clinical content.
const RULES: &[(Operation, &[Holder])] = &[
    (Operation::ReadRecord, &[DOCTOR, NURSE, PATIENT]),
    (Operation::WriteDraft, &[DOCTOR, NURSE]),
    (Operation::Sign, &[DOCTOR]),
    (Operation::Grant, &[PATIENT]),
    (Operation::ReadGrants, &[DOCTOR, PATIENT]),
    (Operation::BreakGlass, &[DOCTOR]),
    (Operation::ReadAccessLog, &[ADMIN, PATIENT]),
    (Operation::ReadBreakGlass, &[ADMIN]),
    (Operation::VerifyLog, &[ADMIN]),
    (Operation::Export, &[PATIENT]),
];

/// Whether the caller's roles name `operation`.
pub fn allows(operation: Operation, caller: &Caller) -> bool {
    RULES
        .iter()
        .find(|(op, _)| *op == operation)
        .is_some_and(|(_, holders)| holders.iter().any(|h| caller.holds_holder(*h)))
}

/// What the service knows of a clinician's ties to one patient.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ties {
    /// The patient has or had an appointment with the caller (a doctor).
    pub care: bool,
    /// The patient has or had an appointment at a clinic the caller works at.
    pub clinic: bool,
    /// The patient granted the caller access, for now.
    pub grant: bool,
    /// The caller broke the glass for this patient, and it has not run out.
    pub emergency: bool,
}

/// Why a caller may open a patient's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    Own,
    Care,
    Clinic,
    Grant,
    Emergency,
    /// Log and integrity only.
    Admin,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Own => "own",
            Basis::Care => "care",
            Basis::Clinic => "clinic",
            Basis::Grant => "grant",
            Basis::Emergency => "emergency",
            Basis::Admin => "admin",
        }
    }

    /// Clinicians see drafts; a patient sees what was signed.
    pub fn sees_drafts(self) -> bool {
        matches!(
            self,
            Basis::Care | Basis::Clinic | Basis::Grant | Basis::Emergency
        )
    }
}

/// Why `caller` may read `patient_id`'s clinical record, if they may: the strongest tie
/// first, so an emergency access is only recorded when nothing else would let them in.
pub fn clinical_basis(caller: &Caller, patient_id: &str, ties: Ties) -> Option<Basis> {
    if caller.holds(Role::Patient) && caller.is(patient_id) {
        return Some(Basis::Own);
    }
    if caller.holds(Role::Doctor) {
        if ties.care {
            return Some(Basis::Care);
        }
        if ties.grant {
            return Some(Basis::Grant);
        }
        if ties.emergency {
            return Some(Basis::Emergency);
        }
    }
    if caller.holds(Role::Nurse) && ties.clinic {
        return Some(Basis::Clinic);
    }
    None
}

/// Why `caller` may read `patient_id`'s access log: the patient, or an admin.
pub fn log_basis(caller: &Caller, patient_id: &str) -> Option<Basis> {
    if caller.holds(Role::Patient) && caller.is(patient_id) {
        Some(Basis::Own)
    } else if caller.holds(Role::Admin) {
        Some(Basis::Admin)
    } else {
        None
    }
}

/// The role an access was decided on, as the log names it.
pub fn acting_role(caller: &Caller, basis: Option<Basis>) -> &'static str {
    let role = match basis {
        Some(Basis::Own) => Some(Role::Patient),
        Some(Basis::Admin) => Some(Role::Admin),
        Some(Basis::Clinic) => Some(Role::Nurse),
        Some(Basis::Care | Basis::Grant | Basis::Emergency) => Some(Role::Doctor),
        None => [Role::Doctor, Role::Nurse, Role::Patient, Role::Admin]
            .into_iter()
            .find(|r| caller.holds(*r)),
    };
    role.map_or("client", Role::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[Role], user: &str) -> Caller {
        Caller {
            subject: format!("sub-{user}"),
            user_id: Some(user.into()),
            roles: roles.iter().copied().collect(),
            clients: BTreeSet::new(),
            clinics: BTreeSet::new(),
            trace_id: String::new(),
        }
    }

    #[test]
    fn nobody_without_a_role_and_no_client_may_do_anything() {
        let nobody = caller(&[], "u");
        let mut partner = caller(&[], "u");
        partner.clients = ClientRole::ALL.into();
        for (op, _) in RULES {
            assert!(!allows(*op, &nobody), "{op:?}");
            assert!(!allows(*op, &partner), "{op:?}");
        }
    }

    #[test]
    fn admins_reach_the_log_and_never_the_clinical_record() {
        let admin = caller(&[Role::Admin], "a");
        assert!(!allows(Operation::ReadRecord, &admin));
        assert!(!allows(Operation::WriteDraft, &admin));
        assert!(allows(Operation::ReadAccessLog, &admin));
        assert!(allows(Operation::VerifyLog, &admin));
        let all = Ties {
            care: true,
            clinic: true,
            grant: true,
            emergency: true,
        };
        assert_eq!(clinical_basis(&admin, "p", all), None);
    }

    #[test]
    fn a_doctor_needs_a_tie_and_the_strongest_one_is_named() {
        let doctor = caller(&[Role::Doctor], "d");
        assert_eq!(clinical_basis(&doctor, "p", Ties::default()), None);
        let emergency = Ties {
            emergency: true,
            ..Ties::default()
        };
        assert_eq!(
            clinical_basis(&doctor, "p", emergency),
            Some(Basis::Emergency)
        );
        let both = Ties {
            care: true,
            ..emergency
        };
        assert_eq!(clinical_basis(&doctor, "p", both), Some(Basis::Care));
        // A clinic tie is a nurse's, not a doctor's.
        let clinic = Ties {
            clinic: true,
            ..Ties::default()
        };
        assert_eq!(clinical_basis(&doctor, "p", clinic), None);
        let nurse = caller(&[Role::Nurse], "n");
        assert_eq!(clinical_basis(&nurse, "p", clinic), Some(Basis::Clinic));
        assert_eq!(clinical_basis(&nurse, "p", emergency), None);
    }

    #[test]
    fn a_patient_reaches_their_own_record_only() {
        let patient = caller(&[Role::Patient], "p");
        assert_eq!(
            clinical_basis(&patient, "p", Ties::default()),
            Some(Basis::Own)
        );
        assert_eq!(clinical_basis(&patient, "q", Ties::default()), None);
        assert_eq!(log_basis(&patient, "p"), Some(Basis::Own));
        assert_eq!(log_basis(&patient, "q"), None);
    }
}
