//! svc-scheduling: clinics, cabinets, specializations, the doctor directory, weekly schedules,
//! free slots, holds, appointments and waitlists — and never a double booking.
//!
//! Reads top-down: [`domain`] holds the rules (slot computation, the appointment state machine,
//! who may do what) and no I/O; `app` the use cases, one function per operation, each write one
//! transaction through `svc_kit::write`; [`store`] the SQL, including the database constraints
//! that make a double booking impossible; `offers` hands freed time to the waitlist; `api` the
//! thin gRPC adapters; [`sweeper`] the background work (expiring holds). Every layer answers
//! with the service's one error, `SchedulingError`.
//!
//! `api` → `app` → (`domain`, `store`, `offers`, `events`, `slots`, `convert`); `sweeper` →
//! (`app::Rules`, `offers`, `store`, `slots`); `store` → `domain`. Only `api` (and the error's
//! one `From` into a `tonic::Status`) knows tonic.

mod api;
mod app;
pub mod clock;
mod convert;
pub mod documents;
pub mod domain;
mod error;
mod events;
mod input;
mod offers;
mod people;
mod slots;
pub mod store;
pub mod sweeper;
#[cfg(feature = "testing")]
pub mod testing;

use std::time::Duration;

pub use app::Rules;
use medmesh_proto::scheduling::v1::scheduling_service_server::SchedulingServiceServer;
use svc_kit::{MeshService, ServiceContext, ServiceName, db::Migration, grpc::GrpcServer};
use tokio_util::sync::CancellationToken;

/// The confidential client svc-scheduling acts as on the platform's behalf.
pub const CLIENT_ID: &str = "svc-scheduling";

/// The document store the settings name (validated before start).
fn document_store(settings: &svc_kit::Settings) -> documents::DocumentStore {
    use svc_kit::config::DocumentBackend;
    let d = &settings.scheduling.documents;
    match d.backend {
        DocumentBackend::Filesystem => documents::DocumentStore::Directory(
            d.directory
                .clone()
                .unwrap_or_else(|| settings.data_dir.join("documents")),
        ),
        DocumentBackend::S3 => documents::DocumentStore::S3(documents::S3Bucket::new(
            d.s3.endpoint.as_deref().unwrap_or_default(),
            d.s3.bucket.as_deref().unwrap_or_default(),
            &d.s3.region,
            d.s3.access_key_id.as_deref().unwrap_or_default(),
            d.s3.secret_access_key
                .clone()
                .unwrap_or_else(|| secrecy::SecretString::from(String::new())),
        )),
    }
}

/// The service, as svc-kit starts it.
#[derive(Debug)]
pub struct Scheduling;

impl Scheduling {
    fn rules(context: &ServiceContext) -> Rules {
        let s = &context.settings.scheduling;
        Rules {
            hold: chrono::Duration::minutes(i64::from(s.hold_minutes)),
            offer: chrono::Duration::minutes(i64::from(s.waitlist_offer_minutes)),
            max_range: chrono::Duration::days(i64::from(s.max_slot_range_days)),
            slots_ttl: Duration::from_millis(s.slots_cache_ttl_ms),
        }
    }
}

impl MeshService for Scheduling {
    const NAME: ServiceName = ServiceName::Scheduling;
    const MIGRATIONS: &'static [Migration] = store::MIGRATIONS;

    fn register(context: &ServiceContext, server: GrpcServer) -> GrpcServer {
        let settings = &context.settings;
        // Settings were validated before start: in production the secret is configured; in dev
        // it is the dev issuer's.
        let secret = settings
            .client_secret(
                settings.services.scheduling.client_secret.as_ref(),
                "services.scheduling.client_secret",
            )
            .expect("validated before start");
        let token_url = format!("{}/protocol/openid-connect/token", context.auth.issuer());
        let tokens = svc_kit::auth::ServiceTokens::new(&token_url, CLIENT_ID, &secret)
            .map(std::sync::Arc::new)
            .map_err(|error| tracing::error!(%error, "scheduling cannot get tokens of its own"))
            .ok();
        let accounts = settings.services.accounts.endpoint();
        let people = people::People::new(&accounts, tokens)
            .expect("the accounts endpoint was validated before start");
        server.add_service(
            context.require_auth(SchedulingServiceServer::new(api::SchedulingApi {
                app: app::App {
                    db: context.db.clone(),
                    outbox: context.outbox.clone(),
                    people,
                    cache: context.cache.clone(),
                    rules: Scheduling::rules(context),
                    documents: document_store(settings),
                },
            })),
        )
    }

    fn spawn_workers(
        context: &ServiceContext,
        shutdown: CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let s = &context.settings.scheduling;
        vec![tokio::spawn(sweeper::run(
            context.db.clone(),
            context.outbox.clone(),
            context.cache.clone(),
            Scheduling::rules(context),
            Duration::from_millis(s.sweep_interval_ms),
            s.idempotency_retention_hours,
            shutdown,
        ))]
    }
}
