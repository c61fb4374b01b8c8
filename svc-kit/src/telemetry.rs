//! Logs through `tracing` (pretty for people, JSON for pipelines) and metrics through one
//! process-wide Prometheus recorder with real histogram buckets.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::{LogFormat, LogSettings};

/// Latency buckets in seconds: 1 ms to 10 s, dense where a healthy request lands.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Lag buckets in seconds, for how late something happens (an event handled, a message sent):
/// 10 ms to an hour, so an alert at minutes has buckets to read.
pub const LAG_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
    3600.0,
];

/// The histograms measured in [`LAG_BUCKETS`]; every other `*_seconds` one in
/// [`LATENCY_BUCKETS`].
pub const LAG_HISTOGRAMS: &[&str] = &["events_consumer_lag_seconds", "medmesh_notify_lag_seconds"];

/// Installs the global subscriber once; later calls (several apps in one test) are no-ops.
pub fn init_tracing(settings: &LogSettings) {
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match settings.format {
        LogFormat::Pretty => registry.with(fmt::layer().with_target(false)).try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false),
            )
            .try_init(),
    };
}

/// The process-wide metrics handle; installs the recorder on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let mut builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .expect("the bucket list is not empty");
            for name in LAG_HISTOGRAMS {
                // A full match wins over the suffix.
                builder = builder
                    .set_buckets_for_metric(Matcher::Full((*name).into()), LAG_BUCKETS)
                    .expect("the bucket list is not empty");
            }
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (a test harness); ours still renders
            // what is recorded through it, so failure here is not fatal.
            let _ = metrics::set_global_recorder(recorder);
            describe_metrics();
            metrics::counter!("medmesh_write_retries_total").increment(0);
            handle
        })
        .clone()
}

fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "grpc_server_handled_total",
        "gRPC calls completed, by service, method and status code"
    );
    describe_histogram!(
        "grpc_server_handling_seconds",
        metrics::Unit::Seconds,
        "gRPC call latency, by service, method and status code"
    );
    describe_gauge!("grpc_server_in_flight", "gRPC calls in progress");
    describe_counter!("cache_requests_total", "Cache reads, by cache and result");
    describe_counter!(
        "cache_fallback_total",
        "Cache reads answered from the source of truth because the cache failed, by reason"
    );
    describe_gauge!(
        "outbox_pending",
        "Outbox events not yet published, by service"
    );
    describe_gauge!(
        "outbox_oldest_pending_age_seconds",
        "How long the oldest unpublished outbox event has waited, by service"
    );
    describe_counter!(
        "outbox_published_total",
        "Outbox events published, by service and event type"
    );
    describe_histogram!(
        "events_consumer_lag_seconds",
        metrics::Unit::Seconds,
        "From an event's commit to its handling by a consumer group, by group"
    );
    describe_counter!(
        "outbox_publish_failures_total",
        "Failed attempts to publish an outbox batch, by service"
    );
    describe_counter!(
        "outbox_dead_lettered_total",
        "Outbox events refused for good and moved to outbox_dead_letters, by service and event type"
    );
    describe_gauge!(
        "outbox_dead_letters",
        "Outbox events waiting in outbox_dead_letters for an operator, by service"
    );
    describe_counter!(
        "events_consumed_total",
        "Events handled by a consumer group, by group and result"
    );
    describe_histogram!(
        "graphql_request_duration_seconds",
        metrics::Unit::Seconds,
        "GraphQL request latency at the gateway, by outcome"
    );
    describe_histogram!(
        "graphql_operation_duration_seconds",
        metrics::Unit::Seconds,
        "GraphQL request latency at the gateway, by operation (root field) and outcome"
    );
}
