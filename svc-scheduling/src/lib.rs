//! svc-scheduling: clinics, cabinets, specializations, the doctor directory, weekly schedules,
//! free slots, holds, appointments and waitlists — and never a double booking.
//!
//! Reads top-down: [`domain`] holds the rules (slot computation, the appointment state machine,
//! who may do what) and no I/O; [`store`] the SQL, including the database constraints that make
//! a double booking impossible; `offers` hands freed time to the waitlist; `api` the gRPC
//! handlers; [`sweeper`] the background work (expiring holds).

mod api;
pub mod clock;
mod convert;
pub mod domain;
mod events;
mod input;
mod offers;
mod people;
mod slots;
pub mod store;
pub mod sweeper;

use std::time::Duration;

pub use api::Rules;
use medmesh_proto::scheduling::v1::scheduling_service_server::SchedulingServiceServer;
use svc_kit::{MeshService, ServiceContext, ServiceName, db::Migration, grpc::GrpcServer};
use tokio_util::sync::CancellationToken;

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
        let accounts = context.settings.services.accounts.endpoint();
        let people = people::People::new(&accounts)
            .expect("the accounts endpoint was validated before start");
        server.add_service(
            context.require_auth(SchedulingServiceServer::new(api::SchedulingApi {
                db: context.db.clone(),
                outbox: context.outbox.clone(),
                people,
                cache: context.cache.clone(),
                rules: Scheduling::rules(context),
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
