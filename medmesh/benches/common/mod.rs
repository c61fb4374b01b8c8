//! What the benchmarks share: an authorised gRPC request, percentiles, and a load of `CLIENTS`
//! loops calling at once.

#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

use futures::future::join_all;
use tonic::Request;

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
