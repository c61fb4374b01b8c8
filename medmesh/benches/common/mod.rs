//! What the benchmarks share: an authorised gRPC request, percentiles, and a load of `CLIENTS`
//! loops calling at once.

#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

use std::path::Path;

use futures::future::join_all;
use medmesh::Platform;
use secrecy::ExposeSecret;
use svc_kit::{ServiceName, Settings, testing::fresh_postgres_database};
use tonic::{Request, transport::Channel};

/// The whole platform in this process as in `medmesh dev`, with data under `data_dir`, except
/// that the services `on_postgres` use fresh PostgreSQL databases and the cache is Redis (both
/// on this machine), as in production; `extra` settings on top.
pub async fn start_platform(
    data_dir: &Path,
    on_postgres: &[ServiceName],
    extra: &[(&str, i64)],
) -> Platform {
    let extra: Vec<(String, i64)> = extra.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    start_platform_with(data_dir, on_postgres, move |mut figment| {
        for (key, value) in &extra {
            figment = figment.merge((key.as_str(), *value));
        }
        figment
    })
    .await
}

/// [`start_platform`] with `tune` applied to the settings last.
pub async fn start_platform_with(
    data_dir: &Path,
    on_postgres: &[ServiceName],
    tune: impl FnOnce(figment::Figment) -> figment::Figment,
) -> Platform {
    let mut figment = Settings::figment(None)
        .merge(("mode", "dev"))
        .merge(("data_dir", data_dir.display().to_string()))
        .merge(("admin.port", 0))
        .merge(("gateway.port", 0))
        .merge(("dev_issuer.port", 0))
        .merge(("log.filter", "error"))
        .merge(("cache.backend", "redis"))
        .merge(("cache.redis.url", svc_kit::testing::redis_url()))
        .merge(("cache.key_prefix", svc_kit::testing::unique_prefix()));
    for service in on_postgres {
        let url = fresh_postgres_database().await;
        figment = figment.merge((
            format!("services.{service}.database_url"),
            url.expose_secret().to_string(),
        ));
    }
    for service in ServiceName::ALL {
        figment = figment.merge((format!("services.{service}.port"), 0));
    }
    Platform::start(
        Settings::from_figment(tune(figment)).unwrap(),
        &Platform::all_components(),
    )
    .await
    .unwrap()
}

/// A lazy channel to one of the platform's services.
pub fn channel(platform: &Platform, service: ServiceName) -> Channel {
    Channel::from_shared(format!(
        "http://{}",
        platform.service_addr(service).unwrap()
    ))
    .unwrap()
    .connect_lazy()
}

/// How many clients call at once.
pub const CLIENTS: usize = 32;

pub fn with<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Runs `CLIENTS` loops of `per_client` calls of `call(client, i)` at once; returns the wall
/// time and every call's latency.
pub async fn load<F, Fut>(per_client: usize, call: F) -> (Duration, Vec<Duration>, usize)
where
    F: Fn(usize, usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let start = Instant::now();
    let results = join_all((0..CLIENTS).map(|c| {
        let call = call.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            let mut failures = 0;
            for i in 0..per_client {
                let t = Instant::now();
                if !call(c, i).await {
                    failures += 1;
                }
                latencies.push(t.elapsed());
            }
            (latencies, failures)
        })
    }))
    .await;
    let elapsed = start.elapsed();
    let mut all = Vec::new();
    let mut failures = 0;
    for r in results {
        let (l, f) = r.unwrap();
        all.extend(l);
        failures += f;
    }
    all.sort();
    (elapsed, all, failures)
}
