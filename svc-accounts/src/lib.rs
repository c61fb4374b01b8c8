//! svc-accounts: user profiles keyed by the OIDC subject, roles, staff affiliations,
//! registration, export and erase, and the audit trail of every change.
//!
//! Reads top-down: [`domain`] holds the rules (values, roles, who may do what) and no I/O;
//! `app` one function per use case (through svc-kit's write helper); [`store`] the SQL;
//! [`identity`] the identity provider's admin API; `fingerprint` what a registration is
//! recognised by on a retry; `api` the thin gRPC adapters; [`error`] the service's one error
//! type.

mod api;
mod app;
mod convert;
pub mod domain;
pub mod error;
mod fingerprint;
pub mod identity;
mod input;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

use medmesh_proto::accounts::v1::accounts_service_server::AccountsServiceServer;
use svc_kit::{
    MeshService, ServiceContext, ServiceName, Settings,
    config::{ConfigError, NoSection},
    db::Migration,
    grpc::GrpcServer,
    runtime::KitError,
};

/// The confidential client svc-accounts acts as towards the identity provider.
pub const CLIENT_ID: &str = "svc-accounts";

/// The client of the identity provider's admin API for `issuer`'s realm.
fn identity_admin(
    issuer: &str,
    secret: &secrecy::SecretString,
) -> Result<identity::IdentityAdmin, ConfigError> {
    identity::IdentityAdmin::for_issuer(issuer, CLIENT_ID, secret)
        .map_err(|reason| ConfigError::new(format!("`auth.issuer`: {reason}")))
}

/// The service, as svc-kit starts it.
#[derive(Debug)]
pub struct Accounts;

impl MeshService for Accounts {
    const NAME: ServiceName = ServiceName::Accounts;
    const MIGRATIONS: &'static [Migration] = store::MIGRATIONS;
    const CLIENT_ID: Option<&'static str> = Some(CLIENT_ID);
    type Config = NoSection;

    fn check(settings: &Settings, _config: &NoSection) -> Result<(), ConfigError> {
        // The issuer is known here when configured; the dev issuer's is right by construction.
        match settings.auth.issuer.as_deref().filter(|i| !i.is_empty()) {
            Some(issuer) => {
                identity_admin(issuer, &settings.service_client_secret(Self::NAME)?).map(|_| ())
            }
            None => Ok(()),
        }
    }

    fn register(
        context: &ServiceContext,
        _config: &NoSection,
        server: GrpcServer,
    ) -> Result<GrpcServer, KitError> {
        // In production the secret is configured (checked before start); in dev it is the dev
        // issuer's. It also keys the hash registrations are fingerprinted with.
        let secret = context.client_secret()?;
        let identity = identity_admin(context.auth.issuer(), &secret)?;
        Ok(server.add_service(
            context.require_auth(AccountsServiceServer::new(api::AccountsApi {
                app: app::AccountsApp {
                    db: context.db.clone(),
                    outbox: context.outbox.clone(),
                    identity,
                    registrations: fingerprint::RegistrationHasher::new(&secret),
                },
            })),
        ))
    }
}
