//! What authentication costs. Prints numbers; asserts nothing (machines here are shared).
//!
//!   cargo bench -p gateway-graphql --bench auth
//!
//! 1. Tokens validated per second on one core with a warm JWKS cache: distinct tokens (a full
//!    RS256 check each) and a token presented again (the verified-token cache).
//! 2. The gateway's latency for `{ version }` anonymous versus with a bearer token, measured
//!    in one run, interleaved in blocks so drift hits both alike.

#![allow(clippy::print_stdout, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use svc_kit::{
    Settings,
    auth::{
        Authenticator,
        dev_issuer::{DevIssuerServer, WEB_CLIENT},
    },
    config::Mode,
};
use tokio_util::sync::CancellationToken;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    // One worker thread: "per core" means what it says.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let stop = CancellationToken::new();
    let sso = DevIssuerServer::bind(Mode::Dev, "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let issuer = sso.issuer.clone();
    tokio::spawn(sso.serve(stop.clone()));
    let settings = Settings::from_figment(Settings::figment(None)).unwrap();
    let auth = Arc::new(Authenticator::new(
        settings.auth.settings_for(issuer.issuer()),
    ));
    let token = issuer
        .password_grant("doctor", "doctor", WEB_CLIENT)
        .unwrap();
    auth.authenticate(&token)
        .await
        .expect("warm the JWKS cache");

    // 1. Validation throughput: distinct tokens (each a full RS256 verification), then one
    //    token presented again and again (served by the verified-token cache).
    let distinct: Vec<String> = (0..1000)
        .map(|i| {
            let claims = issuer.claims(&format!("user-{i}"), "doctor", &["doctor"], WEB_CLIENT);
            issuer.sign(&claims)
        })
        .collect();
    let start = Instant::now();
    for token in &distinct {
        auth.authenticate(token).await.unwrap();
    }
    let elapsed = start.elapsed();
    println!(
        "token validation, distinct tokens (RS256 verify, warm JWKS, 1 core): {} in {:.2?} = {:.0} tokens/s, {:.1} µs each",
        distinct.len(),
        elapsed,
        distinct.len() as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / distinct.len() as f64
    );
    let mut validated = 0u64;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        for _ in 0..1000 {
            auth.authenticate(&token).await.unwrap();
        }
        validated += 1000;
    }
    let elapsed = start.elapsed();
    println!(
        "token validation, a token presented again (verified-token cache, 1 core): {:.0} tokens/s, {:.2} µs each",
        validated as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / validated as f64
    );

    // 2. Gateway latency, anonymous versus authenticated.
    let config = settings
        .section::<gateway_graphql::GatewayConfig>()
        .unwrap();
    let server = gateway_graphql::GatewayServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        common::offline_schema(&config),
        auth.clone(),
    )
    .await
    .unwrap();
    let url = common::serve(server, &stop);
    let client = reqwest::Client::new();
    let body = serde_json::json!({ "query": "{ version }" });
    let mut anonymous = Vec::new();
    let mut authenticated = Vec::new();
    for block in 0..40 {
        for _ in 0..50 {
            let mut request = client.post(&url).json(&body);
            let with_token = block % 2 == 1;
            if with_token {
                request = request.bearer_auth(&token);
            }
            let t = Instant::now();
            let response = request.send().await.unwrap();
            assert!(response.status().is_success());
            let _ = response.bytes().await.unwrap();
            if with_token {
                authenticated.push(t.elapsed())
            } else {
                anonymous.push(t.elapsed())
            }
        }
    }
    anonymous.sort();
    authenticated.sort();
    let mean = |v: &[Duration]| v.iter().sum::<Duration>() / v.len() as u32;
    let (a, b) = (mean(&anonymous), mean(&authenticated));
    println!(
        "gateway {{ version }} over HTTP/1.1 keep-alive, {} requests each:\n  anonymous      mean {:.1?}  p50 {:.1?}  p99 {:.1?}\n  authenticated  mean {:.1?}  p50 {:.1?}  p99 {:.1?}\n  added by authentication: {:.1?} per request (authenticated/anonymous = {:.2})",
        anonymous.len(),
        a,
        percentile(&anonymous, 0.5),
        percentile(&anonymous, 0.99),
        b,
        percentile(&authenticated, 0.5),
        percentile(&authenticated, 0.99),
        b.saturating_sub(a),
        b.as_secs_f64() / a.as_secs_f64()
    );
    stop.cancel();
}
