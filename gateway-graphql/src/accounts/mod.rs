//! Accounts in the graph: the caller's profile, registration, and the admin's user management.
//! Every resolver forwards the caller's own bearer token, so svc-accounts decides ownership
//! itself; registration (open to visitors) goes with the gateway's client-credentials token,
//! naming the visitor's address so that their `requestId`s are theirs alone.

use std::net::IpAddr;

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

/// The address a GraphQL request came from, as the server saw its connection (the address the
/// anonymous rate is charged to). The server puts it in each request's data; registration names
/// it to svc-accounts, which scopes a visitor's `requestId`s by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);
