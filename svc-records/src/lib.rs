//! svc-records: the patient card. Entries (encounters, diagnoses, allergies, observations, lab
//! results, documents) are written as drafts, signed, and from then on only amended; their
//! content is sealed at rest (AES-256-GCM, `svc_kit::seal`). Who may open a card is decided
//! here, per patient (care, grants, clinics, emergency access), and every access — refusals
//! included — is appended to the patient's hash-chained access log, which the patient reads.
//!
//! Reads top-down: [`domain`] holds the rules (access, an entry's life, the chain) and no I/O;
//! `app` the use cases, one function per operation (and the intake of other services' events,
//! and key rotation); [`store`] the SQL; `api` the thin gRPC adapters.
//!
//! `api` → `app` → (`domain`, `store`, `events`, `convert`); `store` → `domain`. Only `api`
//! (and the error's one `From` into a `tonic::Status`) knows tonic.

mod api;
mod app;
pub mod config;
mod convert;
pub mod domain;
mod error;
mod events;
pub mod store;

use std::time::Duration;

pub use app::{
    Rules,
    intake::{GROUP as INTAKE_GROUP, Intake},
};
pub use config::RecordsConfig;
use medmesh_proto::records::v1::records_service_server::RecordsServiceServer;
use svc_kit::{
    MeshService, ServiceContext, ServiceName, Settings, config::ConfigError, db::Migration,
    grpc::GrpcServer, people::People, runtime::KitError,
};
use tokio_util::sync::CancellationToken;

/// The confidential client svc-records acts as on the platform's behalf.
pub const CLIENT_ID: &str = "svc-records";

/// The service, as svc-kit starts it.
#[derive(Debug)]
pub struct Records;

impl MeshService for Records {
    const NAME: ServiceName = ServiceName::Records;
    const MIGRATIONS: &'static [Migration] = store::MIGRATIONS;
    const CLIENT_ID: Option<&'static str> = Some(CLIENT_ID);
    type Config = RecordsConfig;

    fn check(settings: &Settings, _config: &RecordsConfig) -> Result<(), ConfigError> {
        if let Some(issuer) = settings.auth.issuer.as_deref().filter(|i| !i.is_empty()) {
            People::for_service(settings, ServiceName::Records, CLIENT_ID, issuer)?;
        }
        Ok(())
    }

    fn register(
        context: &ServiceContext,
        config: &RecordsConfig,
        server: GrpcServer,
    ) -> Result<GrpcServer, KitError> {
        zero_metrics();
        let people = People::for_service(
            &context.settings,
            ServiceName::Records,
            CLIENT_ID,
            context.auth.issuer(),
        )?;
        Ok(server.add_service(
            context.require_auth(RecordsServiceServer::new(api::RecordsApi {
                app: app(context, config)?,
                people,
            })),
        ))
    }

    fn spawn_workers(
        context: &ServiceContext,
        config: &RecordsConfig,
        shutdown: CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let Ok(app) = app(context, config) else {
            // `register` refused to start with this configuration first.
            return Vec::new();
        };
        let intake = Intake {
            keys: app.keys.clone(),
            outbox: app.outbox.clone(),
            retention: app.rules.retention,
        };
        let mut workers = Vec::new();
        if config.verify_interval_minutes > 0 {
            workers.push(tokio::spawn(app::log::keep_verifying(
                context.db.clone(),
                Duration::from_secs(u64::from(config.verify_interval_minutes) * 60),
                shutdown.clone(),
            )));
        }
        workers.extend([
            tokio::spawn(app::rotation::run(
                app,
                Duration::from_millis(config.sweep_interval_ms),
                config.rotation_batch,
                config.idempotency_retention_hours,
                shutdown.clone(),
            )),
            tokio::spawn(app::intake::follow(context.clone(), intake, shutdown)),
        ]);
        workers
    }
}

/// Walks the access log's hash chains in records' database (every patient's, or one's) and
/// names the first broken link.
pub async fn verify_access_log(
    db: &sea_orm::DatabaseConnection,
    patient_id: Option<&str>,
) -> Result<medmesh_proto::records::v1::IntegrityReport, String> {
    app::log::verify(db, patient_id)
        .await
        .map_err(|e| e.to_string())
}

fn app(context: &ServiceContext, config: &RecordsConfig) -> Result<app::App, KitError> {
    Ok(app::App {
        db: context.db.clone(),
        outbox: context.outbox.clone(),
        keys: config
            .keyring(context.settings.mode)
            .map_err(|e| ConfigError::key("records.keys", e))?,
        rules: config.rules(),
        protect: config.protect(),
        retired: config.retired_keys.clone(),
        reads: app::LogWriter::start(context.db.clone()),
    })
}

/// Every unlabelled counter records reports exists from the start, at zero: a rate over it is
/// defined (and an alert on it can fire) before the first event.
fn zero_metrics() {
    for name in [
        "medmesh_records_break_glass_total",
        "medmesh_records_unopenable_total",
        "medmesh_records_resealed_total",
    ] {
        metrics::counter!(name).increment(0);
    }
}
