//! svc-pharmacy: pharmacies, the medication catalog, per-pharmacy stock (lots, a ledger,
//! critical thresholds, Redis-cached reads), prescriptions with their stock reserved at the
//! pharmacy they are written to, and dispensing that never takes stock below zero.
//!
//! Reads top-down: [`domain`] holds the rules (who may do what, a prescription's states, how a
//! dispense is planned, how stock reads) and no I/O; `app` the use cases, one function per
//! operation, each write one transaction through `svc_kit::write` (stock lines change through
//! its `ledger`); [`store`] the SQL, including the `CHECK` constraints that keep stock whole;
//! `api` the thin gRPC adapters; `sweeper` the background expiry.
//!
//! `api` → `app` → (`domain`, `store`, `events`, `convert`); `sweeper` → (`app`, `store`);
//! `store` → `domain`. Only `api` (and the error's one `From` into a `tonic::Status`) knows
//! tonic.

mod api;
mod app;
pub mod config;
mod convert;
pub mod domain;
mod erasure;
mod error;
mod events;
pub mod store;
mod sweeper;
#[cfg(feature = "testing")]
pub mod testing;

use std::time::Duration;

pub use app::Rules;
pub use config::PharmacyConfig;
use medmesh_proto::pharmacy::v1::pharmacy_service_server::PharmacyServiceServer;
use svc_kit::{
    MeshService, ServiceContext, ServiceName, Settings, config::ConfigError, db::Migration,
    grpc::GrpcServer, people::People, runtime::KitError,
};
use tokio_util::sync::CancellationToken;

/// The confidential client svc-pharmacy acts as on the platform's behalf.
pub const CLIENT_ID: &str = "svc-pharmacy";

/// The service, as svc-kit starts it.
#[derive(Debug)]
pub struct Pharmacy;

impl MeshService for Pharmacy {
    const NAME: ServiceName = ServiceName::Pharmacy;
    const MIGRATIONS: &'static [Migration] = store::MIGRATIONS;
    const CLIENT_ID: Option<&'static str> = Some(CLIENT_ID);
    type Config = PharmacyConfig;

    fn check(settings: &Settings, _config: &PharmacyConfig) -> Result<(), ConfigError> {
        if let Some(issuer) = settings.auth.issuer.as_deref().filter(|i| !i.is_empty()) {
            People::for_service(settings, ServiceName::Pharmacy, CLIENT_ID, issuer)?;
        }
        Ok(())
    }

    fn register(
        context: &ServiceContext,
        config: &PharmacyConfig,
        server: GrpcServer,
    ) -> Result<GrpcServer, KitError> {
        zero_metrics();
        let people = People::for_service(
            &context.settings,
            ServiceName::Pharmacy,
            CLIENT_ID,
            context.auth.issuer(),
        )?;
        Ok(server.add_service(
            context.require_auth(PharmacyServiceServer::new(api::PharmacyApi {
                app: app(context, config),
                people,
            })),
        ))
    }

    fn spawn_workers(
        context: &ServiceContext,
        config: &PharmacyConfig,
        shutdown: CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        vec![
            tokio::spawn(sweeper::run(
                app(context, config),
                Duration::from_millis(config.sweep_interval_ms),
                config.idempotency_retention_hours,
                shutdown.clone(),
            )),
            tokio::spawn(svc_kit::care::follow(context.clone(), shutdown.clone())),
            tokio::spawn(erasure::follow(context.clone(), shutdown)),
        ]
    }
}

fn app(context: &ServiceContext, config: &PharmacyConfig) -> app::App {
    app::App {
        db: context.db.clone(),
        outbox: context.outbox.clone(),
        cache: context.cache.clone(),
        rules: config.rules(),
        pharmacies: app::pharmacy_cache(),
    }
}

/// Every counter pharmacy reports exists from the start, at zero: a rate over it is defined
/// (and an alert on it can fire) before the first event.
fn zero_metrics() {
    for name in [
        "medmesh_pharmacy_reservations_total",
        "medmesh_pharmacy_rejections_total",
        "medmesh_pharmacy_low_stock_crossings_total",
        "medmesh_pharmacy_expiry_alerts_total",
        "medmesh_pharmacy_expired_total",
        "medmesh_pharmacy_erasures_total",
    ] {
        metrics::counter!(name).increment(0);
    }
    for result in ["hit", "miss"] {
        metrics::counter!("medmesh_pharmacy_stock_reads_total", "result" => result).increment(0);
    }
    for outcome in [
        "dispensed",
        "partially_dispensed",
        "insufficient",
        "refused",
    ] {
        metrics::counter!("medmesh_pharmacy_dispenses_total", "outcome" => outcome).increment(0);
    }
}
