//! Who may do what. Deny by default: an operation a caller's roles don't name is refused, and
//! the reach says whose data the allowed ones touch.

use std::collections::BTreeSet;

/// The caller as scheduling sees them: their MedMesh user id (a person) and the clinics they
/// work at, next to the roles of their token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The OIDC subject (a user, or a client's service account).
    pub subject: String,
    /// `None` for clients acting with client credentials (partners, services).
    pub user_id: Option<String>,
    pub roles: BTreeSet<String>,
    /// Clinics the caller is affiliated with (doctors, nurses).
    pub clinics: BTreeSet<String>,
}

impl Caller {
    fn has(&self, role: &str) -> bool {
        self.roles.contains(role)
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
    let table: &[(&str, Reach)] = match operation {
        ManageDirectory => &[("admin", Reach::Any)],
        ReadDirectory => &[
            ("admin", Reach::Any),
            ("doctor", Reach::Any),
            ("nurse", Reach::Any),
            ("pharmacist", Reach::Any),
            ("patient", Reach::Any),
            ("partner", Reach::Any),
            ("service", Reach::Any),
        ],
        ManageSchedule => &[("admin", Reach::Any), ("doctor", Reach::Own)],
        ReadSchedule => &[
            ("admin", Reach::Any),
            ("nurse", Reach::Clinic),
            ("doctor", Reach::Clinic),
        ],
        Book => &[
            ("admin", Reach::Any),
            ("nurse", Reach::Clinic),
            ("doctor", Reach::Clinic),
            ("patient", Reach::Own),
        ],
        Override => &[("admin", Reach::Any), ("doctor", Reach::Own)],
        ChangeStatus => &[
            ("admin", Reach::Any),
            ("nurse", Reach::Clinic),
            ("doctor", Reach::Clinic),
        ],
        ReadAppointments => &[
            ("admin", Reach::Any),
            ("service", Reach::Any),
            ("nurse", Reach::Clinic),
            ("doctor", Reach::Clinic),
            ("patient", Reach::Own),
        ],
    };
    table
        .iter()
        .filter(|(role, _)| caller.has(role))
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
            roles: roles.iter().map(|r| r.to_string()).collect(),
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
}
