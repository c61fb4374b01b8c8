//! Accounts in the graph: the caller's profile, registration, and the admin's user management.
//! Every resolver forwards the caller's own bearer token, so svc-accounts decides ownership
//! itself; registration (open to visitors) goes with the gateway's client-credentials token.

mod client;
mod mutation;
mod query;
mod types;

pub use mutation::AccountsMutation;
pub use query::AccountsQuery;
pub use types::{
    AddAffiliationInput, Affiliation, AffiliationKind, AuditEvent, AuditPage, DataExport, Profile,
    RegisterPatientInput, Role, UpdateProfileInput, UserPage,
};
