//! Who may do what. Deny by default: an operation a caller's roles don't name is refused, and
//! the reach says whose data the allowed ones touch.

use std::collections::BTreeSet;

use svc_kit::{
    auth::{ClientRole, Principal, Role},
    people::Person,
};

/// The caller as scheduling sees them: their MedMesh user id (a person) and the clinics they
/// work at, next to the roles of their token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The OIDC subject (a user, or a client's service account).
    pub subject: String,
    /// `None` for clients acting with client credentials (partners, services).
    pub user_id: Option<String>,
    /// The platform roles the token carries.
    pub roles: BTreeSet<Role>,
    /// The client roles the token carries (partners, MedMesh's own services).
    pub clients: BTreeSet<ClientRole>,
    /// Clinics the caller is affiliated with (doctors, nurses).
    pub clinics: BTreeSet<String>,
}

/// Who a rule names: a person's role or a client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    Person(Role),
    Client(ClientRole),
}

const ADMIN: Holder = Holder::Person(Role::Admin);
const DOCTOR: Holder = Holder::Person(Role::Doctor);
const NURSE: Holder = Holder::Person(Role::Nurse);
const PHARMACIST: Holder = Holder::Person(Role::Pharmacist);
const PATIENT: Holder = Holder::Person(Role::Patient);
const PARTNER: Holder = Holder::Client(ClientRole::Partner);
/// The gateway's own token, for the live availability that outlives its caller's token.
const GATEWAY: Holder = Holder::Client(ClientRole::Gateway);

/// The roles that act for a clinic.
const CLINIC_STAFF: [Role; 3] = [Role::Admin, Role::Doctor, Role::Nurse];

impl Caller {
    /// The caller of a token: roles from the token (always current), user id and clinics from
    /// svc-accounts' `person` (none for a client acting with client credentials).
    pub fn new(principal: &Principal, person: Option<&Person>) -> Caller {
        Caller {
            subject: principal.subject.clone(),
            user_id: person.map(|p| p.user_id.clone()),
            roles: principal.platform_roles(),
            clients: principal.client_roles(),
            clinics: person.map(|p| p.clinics.clone()).unwrap_or_default(),
        }
    }

    fn holds(&self, holder: Holder) -> bool {
        match holder {
            Holder::Person(role) => self.roles.contains(&role),
            Holder::Client(role) => self.clients.contains(&role),
        }
    }

    pub fn holds_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is(&self, user_id: &str) -> bool {
        self.user_id.as_deref() == Some(user_id)
    }

    /// Whether a record of `patient_id` with `doctor_id` at `clinic_id` is within `reach`.
    pub fn reaches(
        &self,
        reach: Reach,
        patient_id: &str,
        doctor_id: &str,
        clinic_id: &str,
    ) -> bool {
        match reach {
            Reach::Any => true,
            Reach::Clinic => {
                self.is(patient_id) || self.is(doctor_id) || self.clinics.contains(clinic_id)
            }
            Reach::Own => self.is(patient_id) || self.is(doctor_id),
        }
    }

    /// Whether the caller acts for the clinic on an appointment of `patient_id`: they hold a
    /// clinic staff role and are not that appointment's patient. A staff member who is the
    /// patient is, on that appointment, a patient.
    pub fn acts_as_staff_for(&self, patient_id: &str) -> bool {
        CLINIC_STAFF.iter().any(|r| self.holds_role(*r)) && !self.is(patient_id)
    }

    /// Whether the caller may move an appointment of `patient_id` with `doctor_id` at
    /// `clinic_id` through its visit (confirm, check in, complete, no-show), given their reach
    /// for [`Operation::ChangeStatus`]: only as staff, over that doctor's calendar or clinic,
    /// never on their own appointment as its patient.
    pub fn may_change_status(
        &self,
        reach: Reach,
        patient_id: &str,
        doctor_id: &str,
        clinic_id: &str,
    ) -> bool {
        self.acts_as_staff_for(patient_id) && self.reaches(reach, "", doctor_id, clinic_id)
    }
}

/// Whose data an allowed operation may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// The caller's own: their appointments as a patient, their calendar as a doctor.
    Own,
    /// Also everything at the clinics the caller works at.
    Clinic,
    /// Everyone's.
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Clinics, cabinets, specializations, the doctor directory.
    ManageDirectory,
    /// Read the directory and free slots.
    ReadDirectory,
    /// Templates and exceptions.
    ManageSchedule,
    ReadSchedule,
    /// Hold, book, reschedule, cancel, waitlist.
    Book,
    /// Book over a conflict, with a reason.
    Override,
    /// Confirm, check in, complete, no-show.
    ChangeStatus,
    ReadAppointments,
}

/// The widest reach `caller` has for `operation`, or `None`: not allowed.
pub fn reach(operation: Operation, caller: &Caller) -> Option<Reach> {
    use Operation::*;
    let table: &[(Holder, Reach)] = match operation {
        ManageDirectory => &[(ADMIN, Reach::Any)],
        ReadDirectory => &[
            (ADMIN, Reach::Any),
            (DOCTOR, Reach::Any),
            (NURSE, Reach::Any),
            (PHARMACIST, Reach::Any),
            (PATIENT, Reach::Any),
            (PARTNER, Reach::Any),
            (GATEWAY, Reach::Any),
        ],
        ManageSchedule => &[(ADMIN, Reach::Any), (DOCTOR, Reach::Own)],
        ReadSchedule => &[
            (ADMIN, Reach::Any),
            (NURSE, Reach::Clinic),
            (DOCTOR, Reach::Clinic),
        ],
        Book => &[
            (ADMIN, Reach::Any),
            (NURSE, Reach::Clinic),
            (DOCTOR, Reach::Clinic),
            (PATIENT, Reach::Own),
        ],
        Override => &[(ADMIN, Reach::Any), (DOCTOR, Reach::Own)],
        ChangeStatus => &[
            (ADMIN, Reach::Any),
            (NURSE, Reach::Clinic),
            (DOCTOR, Reach::Clinic),
        ],
        // No client reads appointments: their events carry what consumers need.
        ReadAppointments => &[
            (ADMIN, Reach::Any),
            (NURSE, Reach::Clinic),
            (DOCTOR, Reach::Clinic),
            (PATIENT, Reach::Own),
        ],
    };
    table
        .iter()
        .filter(|(holder, _)| caller.holds(*holder))
        .map(|(_, reach)| *reach)
        // Own and Clinic need a person to be "own"; a client has none.
        .filter(|reach| *reach == Reach::Any || caller.user_id.is_some())
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[&str], user: Option<&str>) -> Caller {
        Caller {
            subject: "s".into(),
            user_id: user.map(str::to_string),
            roles: roles.iter().filter_map(|r| Role::parse(r)).collect(),
            clients: roles.iter().filter_map(|r| ClientRole::parse(r)).collect(),
            clinics: ["c1".to_string()].into(),
        }
    }

    #[test]
    fn deny_by_default() {
        let nobody = caller(&[], Some("u"));
        for op in [
            Operation::ManageDirectory,
            Operation::ReadDirectory,
            Operation::ManageSchedule,
            Operation::ReadSchedule,
            Operation::Book,
            Operation::Override,
            Operation::ChangeStatus,
            Operation::ReadAppointments,
        ] {
            assert_eq!(reach(op, &nobody), None, "{op:?}");
        }
        let partner = caller(&["partner"], None);
        assert_eq!(reach(Operation::ReadDirectory, &partner), Some(Reach::Any));
        assert_eq!(reach(Operation::Book, &partner), None);
        // Each service's client reaches what it needs here and nothing else: the gateway reads
        // free slots, no service reads appointments.
        for client in ClientRole::ALL {
            let c = caller(&[client.as_str()], None);
            let reads_directory = matches!(client, ClientRole::Partner | ClientRole::Gateway);
            assert_eq!(
                reach(Operation::ReadDirectory, &c).is_some(),
                reads_directory,
                "{client}"
            );
            assert_eq!(reach(Operation::ReadAppointments, &c), None, "{client}");
            assert_eq!(reach(Operation::Book, &c), None, "{client}");
        }
    }

    #[test]
    fn roles_combine_to_the_widest_reach() {
        let both = caller(&["patient", "admin"], Some("u"));
        assert_eq!(reach(Operation::Book, &both), Some(Reach::Any));
        let patient = caller(&["patient"], Some("u"));
        assert_eq!(reach(Operation::Book, &patient), Some(Reach::Own));
        assert_eq!(reach(Operation::ChangeStatus, &patient), None);
        assert_eq!(
            reach(Operation::Override, &caller(&["nurse"], Some("n"))),
            None
        );
    }

    #[test]
    fn clinic_reach_covers_own_and_the_clinics() {
        let nurse = caller(&["nurse"], Some("n"));
        assert!(nurse.reaches(Reach::Clinic, "p", "d", "c1"));
        assert!(!nurse.reaches(Reach::Clinic, "p", "d", "c2"));
        assert!(!nurse.reaches(Reach::Own, "p", "d", "c1"));
        assert!(nurse.reaches(Reach::Own, "n", "d", "c2"));
    }

    #[test]
    fn staff_on_their_own_appointment_are_patients() {
        let nurse = caller(&["nurse", "patient"], Some("n"));
        // Their own appointment, at their own clinic and at another: a patient's, not staff's.
        assert!(!nurse.may_change_status(Reach::Clinic, "n", "d", "c1"));
        assert!(!nurse.may_change_status(Reach::Clinic, "n", "d", "c2"));
        assert!(!nurse.acts_as_staff_for("n"));
        // Someone else's at their clinic: staff; at another clinic: out of reach.
        assert!(nurse.may_change_status(Reach::Clinic, "p", "d", "c1"));
        assert!(!nurse.may_change_status(Reach::Clinic, "p", "d", "c2"));
        let admin = caller(&["admin", "patient"], Some("a"));
        assert!(!admin.may_change_status(Reach::Any, "a", "d", "c2"));
        assert!(admin.may_change_status(Reach::Any, "p", "d", "c2"));
        let doctor = caller(&["doctor"], Some("d"));
        assert!(doctor.may_change_status(Reach::Clinic, "p", "d", "c9"));
    }
}
