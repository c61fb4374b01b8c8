//! svc-notify: every event that concerns someone reaches them once — email, SMS, push —
//! in their language and time zone, as their preferences say; reminders before appointments
//! (each sent once however many replicas run); doctors' agendas; pharmacists' stock alerts;
//! templates admins edit and preview; delivery history with every attempt; retries with
//! backoff, and dead letters an admin can send again.
//!
//! Reads top-down: [`domain`] holds the rules (kinds, channels, preferences, quiet hours,
//! backoff, templates and locales) and no I/O; `app` the use cases — the intake of other
//! services' events, the delivery worker and its transports, and what callers ask; [`store`]
//! the SQL; `api` the thin gRPC adapters.

mod api;
pub mod app;
pub mod config;
pub mod domain;
mod error;
pub mod store;

pub use app::intake::{GROUP as INTAKE_GROUP, Intake};
pub use config::NotifyConfig;
use medmesh_proto::notify::v1::notify_service_server::NotifyServiceServer;
use svc_kit::{
    MeshService, ServiceContext, ServiceName, Settings, config::ConfigError, db::Migration,
    grpc::GrpcServer, people::People, runtime::KitError,
};
use tokio_util::sync::CancellationToken;

/// The confidential client svc-notify acts as on the platform's behalf (reading contact data).
pub const CLIENT_ID: &str = "svc-notify";

/// The service, as svc-kit starts it.
#[derive(Debug)]
pub struct Notify;

impl MeshService for Notify {
    const NAME: ServiceName = ServiceName::Notify;
    const MIGRATIONS: &'static [Migration] = store::MIGRATIONS;
    const CLIENT_ID: Option<&'static str> = Some(CLIENT_ID);
    type Config = NotifyConfig;

    fn check(settings: &Settings, config: &NotifyConfig) -> Result<(), ConfigError> {
        if let Some(issuer) = settings.auth.issuer.as_deref().filter(|i| !i.is_empty()) {
            People::for_service(settings, ServiceName::Notify, CLIENT_ID, issuer)?;
        }
        app::transport::Transports::new(config).map_err(ConfigError::new)?;
        Ok(())
    }

    fn register(
        context: &ServiceContext,
        config: &NotifyConfig,
        server: GrpcServer,
    ) -> Result<GrpcServer, KitError> {
        zero_metrics();
        Ok(server.add_service(
            context.require_auth(NotifyServiceServer::new(api::NotifyApi {
                app: app(context, config)?,
                people: people(context)?,
            })),
        ))
    }

    fn spawn_workers(
        context: &ServiceContext,
        config: &NotifyConfig,
        shutdown: CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let (Ok(app), Ok(people), Ok(transports)) = (
            app(context, config),
            people(context),
            app::transport::Transports::new(config),
        ) else {
            // `register` refused to start with this configuration first.
            return Vec::new();
        };
        let delivery = app::delivery::Delivery::new(
            app.clone(),
            transports,
            people,
            app::delivery::Tuning {
                max_attempts: config.max_attempts,
                retry_base_ms: config.retry_base_ms,
                retry_max_ms: config.retry_max_ms,
                batch: config.batch,
                concurrency: config.concurrency as usize,
                lease: chrono::Duration::seconds(i64::from(config.lease_seconds)),
                per_recipient_per_hour: i64::from(config.per_recipient_per_hour),
                poll_interval: config.poll_interval(),
                send_timeout: chrono::Duration::milliseconds(config.send_timeout_ms as i64),
            },
        );
        vec![
            tokio::spawn(delivery.run(shutdown.clone())),
            tokio::spawn(app::intake::follow(
                context.clone(),
                Intake { app },
                shutdown,
            )),
        ]
    }
}

fn people(context: &ServiceContext) -> Result<People, KitError> {
    Ok(People::for_service(
        &context.settings,
        ServiceName::Notify,
        CLIENT_ID,
        context.auth.issuer(),
    )?)
}

fn app(context: &ServiceContext, config: &NotifyConfig) -> Result<app::App, KitError> {
    Ok(app::App {
        db: context.db.clone(),
        keys: config
            .keyring(context.settings.mode)
            .map_err(|e| ConfigError::key("notify.keys", e))?,
        clock_offset: chrono::Duration::seconds(config.clock_offset_seconds),
        app_url: config.app_url.trim_end_matches('/').to_string(),
    })
}

/// Every counter notify reports exists from the start, at zero: a rate over it is defined (and
/// an alert on it can fire) before the first event.
fn zero_metrics() {
    for name in [
        "medmesh_notify_stale_events_total",
        "medmesh_notify_reminders_fired_total",
        "medmesh_notify_reminder_errors_total",
    ] {
        metrics::counter!(name).increment(0);
    }
    for result in ["handled", "ignored"] {
        metrics::counter!("medmesh_notify_events_total", "result" => result).increment(0);
    }
    for channel in ["email", "sms", "push"] {
        for result in ["sent", "retry", "dead", "skipped", "deferred"] {
            metrics::counter!("medmesh_notify_deliveries_total", "channel" => channel, "result" => result)
                .increment(0);
        }
    }
}
