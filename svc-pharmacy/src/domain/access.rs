//! Who may do what, in one table. Deny by default: an operation a caller's roles don't name is
//! refused before anything is read. Whose data an allowed call reaches is decided per use case
//! (a patient their own prescriptions, a pharmacist their pharmacy's, a doctor the ones they
//! wrote); anything out of reach answers "not found".

use std::collections::BTreeSet;

use svc_kit::auth::{ClientRole, Role};

/// The caller as the pharmacy sees them: their MedMesh user id (a person) and the pharmacies
/// they work at, next to the roles of their token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The OIDC subject (a user, or a client's service account).
    pub subject: String,
    /// `None` for clients acting with client credentials (partners, services).
    pub user_id: Option<String>,
    pub roles: BTreeSet<Role>,
    pub clients: BTreeSet<ClientRole>,
    /// Pharmacies the caller is affiliated with (pharmacists).
    pub pharmacies: BTreeSet<String>,
}

impl Caller {
    pub fn holds(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is(&self, user_id: &str) -> bool {
        self.user_id.as_deref() == Some(user_id)
    }

    /// A pharmacist of `pharmacy_id`.
    pub fn works_at(&self, pharmacy_id: &str) -> bool {
        self.holds(Role::Pharmacist) && self.pharmacies.contains(pharmacy_id)
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
    /// Create and edit pharmacies.
    ManagePharmacies,
    /// Read pharmacies (name, address, hours, contact).
    ReadPharmacies,
    /// Create and edit the medication catalog.
    ManageCatalog,
    ReadCatalog,
    /// Quantities, lots, the ledger, low-stock and expiring lists of a pharmacy.
    ReadStock,
    /// Receive shipments, adjust stock.
    ManageStock,
    /// Set a line's critical threshold.
    SetThreshold,
    /// In stock / low / out, without quantities.
    ReadAvailability,
    ReadPreferences,
    SetPreferences,
    /// Write a prescription.
    Prescribe,
    ReadPrescriptions,
    /// Move a prescription to another pharmacy.
    MovePrescription,
    /// Start, dispense, reject.
    Dispense,
    /// The prescriber withdraws it.
    CancelPrescription,
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
/// Everyone who signs in, and partner systems. No MedMesh service reads the pharmacy with a
/// token of its own (its events carry what they need).
const EVERYONE: &[Holder] = &[ADMIN, DOCTOR, NURSE, PHARMACIST, PATIENT, PARTNER];

/// Every operation and who may call it (docs/api/pharmacy.md is this table in prose; a test
/// checks every RPC against it).
const RULES: &[(Operation, &[Holder])] = &[
    (Operation::ManagePharmacies, &[ADMIN]),
    (Operation::ReadPharmacies, EVERYONE),
    (Operation::ManageCatalog, &[ADMIN]),
    (Operation::ReadCatalog, EVERYONE),
    (Operation::ReadStock, &[ADMIN, PHARMACIST]),
    (Operation::ManageStock, &[PHARMACIST]),
    (Operation::SetThreshold, &[ADMIN, PHARMACIST]),
    (Operation::ReadAvailability, EVERYONE),
    (Operation::ReadPreferences, &[DOCTOR, PATIENT]),
    (Operation::SetPreferences, &[PATIENT]),
    (Operation::Prescribe, &[DOCTOR]),
    (Operation::ReadPrescriptions, &[DOCTOR, PHARMACIST, PATIENT]),
    (Operation::MovePrescription, &[DOCTOR, PATIENT]),
    (Operation::Dispense, &[PHARMACIST]),
    (Operation::CancelPrescription, &[DOCTOR]),
];

/// Whether the caller's roles name `operation`.
pub fn allows(operation: Operation, caller: &Caller) -> bool {
    RULES
        .iter()
        .find(|(op, _)| *op == operation)
        .is_some_and(|(_, holders)| holders.iter().any(|h| caller.holds_holder(*h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[Role], clients: &[ClientRole]) -> Caller {
        Caller {
            subject: "s".into(),
            user_id: Some("u".into()),
            roles: roles.iter().copied().collect(),
            clients: clients.iter().copied().collect(),
            pharmacies: BTreeSet::new(),
        }
    }

    #[test]
    fn nobody_without_a_role_may_do_anything() {
        let nobody = caller(&[], &[]);
        for (op, _) in RULES {
            assert!(!allows(*op, &nobody), "{op:?}");
        }
    }

    #[test]
    fn partners_read_availability_and_the_catalog_and_nothing_about_patients() {
        let partner = caller(&[], &[ClientRole::Partner]);
        assert!(allows(Operation::ReadAvailability, &partner));
        assert!(allows(Operation::ReadCatalog, &partner));
        for op in [
            Operation::ReadPrescriptions,
            Operation::ReadStock,
            Operation::ReadPreferences,
            Operation::Prescribe,
            Operation::Dispense,
        ] {
            assert!(!allows(op, &partner), "{op:?}");
        }
    }

    #[test]
    fn no_service_client_reaches_the_pharmacy() {
        for client in ClientRole::ALL
            .into_iter()
            .filter(|c| *c != ClientRole::Partner)
        {
            let service = caller(&[], &[client]);
            for (op, _) in RULES {
                assert!(!allows(*op, &service), "{client} {op:?}");
            }
        }
    }

    #[test]
    fn admins_cannot_read_prescriptions() {
        assert!(!allows(
            Operation::ReadPrescriptions,
            &caller(&[Role::Admin], &[])
        ));
    }
}
