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
pub mod config;
mod convert;
pub mod documents;
pub mod domain;
mod erasure;
mod error;
mod events;
mod input;
mod offers;
mod slots;
pub mod store;
pub mod sweeper;
#[cfg(feature = "testing")]
pub mod testing;

use std::time::Duration;

pub use app::Rules;
pub use config::SchedulingConfig;
use medmesh_proto::scheduling::v1::scheduling_service_server::SchedulingServiceServer;
use svc_kit::{
    MeshService, ServiceContext, ServiceName, Settings, config::ConfigError, db::Migration,
    grpc::GrpcServer, people::People, runtime::KitError,
};
use tokio_util::sync::CancellationToken;

/// The confidential client svc-scheduling acts as on the platform's behalf.
pub const CLIENT_ID: &str = "svc-scheduling";

/// The service, as svc-kit starts it.
#[derive(Debug)]
pub struct Scheduling;

impl MeshService for Scheduling {
    const NAME: ServiceName = ServiceName::Scheduling;
    const MIGRATIONS: &'static [Migration] = store::MIGRATIONS;
    const CLIENT_ID: Option<&'static str> = Some(CLIENT_ID);
    type Config = SchedulingConfig;

    fn check(settings: &Settings, config: &SchedulingConfig) -> Result<(), ConfigError> {
        if let Some(issuer) = settings.auth.issuer.as_deref().filter(|i| !i.is_empty()) {
            People::for_service(settings, Self::NAME, CLIENT_ID, issuer)?;
        }
        config.document_store(settings).map(|_| ())
    }

    fn register(
        context: &ServiceContext,
        config: &SchedulingConfig,
        server: GrpcServer,
    ) -> Result<GrpcServer, KitError> {
        zero_metrics();
        let settings = &context.settings;
        // svc-accounts, read with the caller's token or with scheduling's own client tokens.
        let people = People::for_service(settings, Self::NAME, CLIENT_ID, context.auth.issuer())?;
        Ok(
            server.add_service(context.require_auth(SchedulingServiceServer::new(
                api::SchedulingApi {
                    app: app::App {
                        db: context.db.clone(),
                        outbox: context.outbox.clone(),
                        people,
                        cache: context.cache.clone(),
                        rules: config.rules(),
                        documents: config.document_store(settings)?,
                    },
                },
            ))),
        )
    }

    fn spawn_workers(
        context: &ServiceContext,
        config: &SchedulingConfig,
        shutdown: CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let documents = match config.document_store(&context.settings) {
            Ok(documents) => documents,
            Err(error) => {
                // `check` refused this configuration before start-up.
                tracing::error!(%error, "no document store: scheduling's workers do not run");
                return Vec::new();
            }
        };
        let eraser = erasure::Eraser {
            db: context.db.clone(),
            outbox: context.outbox.clone(),
            cache: context.cache.clone(),
            documents,
            rules: config.rules(),
        };
        vec![
            tokio::spawn(sweeper::run(
                eraser,
                Duration::from_millis(config.sweep_interval_ms),
                config.idempotency_retention_hours,
                shutdown.clone(),
            )),
            tokio::spawn(erasure::follow(context.clone(), shutdown)),
        ]
    }
}

/// Every counter scheduling reports exists from the start, at zero: a rate over it is defined
/// (and an alert on it can fire) before the first event.
fn zero_metrics() {
    metrics::counter!("medmesh_scheduling_conflicts_total").increment(0);
    metrics::counter!("medmesh_scheduling_caps_refused_total").increment(0);
    metrics::counter!("medmesh_scheduling_confirmations_rendered_total").increment(0);
    metrics::counter!("medmesh_scheduling_erasures_total").increment(0);
    for result in ["hit", "miss"] {
        metrics::counter!("medmesh_scheduling_slot_cache_total", "result" => result).increment(0);
    }
}
