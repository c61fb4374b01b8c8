//! The cache against real Redis, and with Redis unreachable or hanging.

#![allow(clippy::print_stdout)] // the fallback latencies are reported, not asserted tightly

mod common;

use std::{
    convert::Infallible,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use bytes::Bytes;
use common::metric_value;
use secrecy::SecretString;
use svc_kit::{
    cache::Cache,
    config::{CacheBackend, CacheSettings, MemoryCacheSettings, RedisSettings},
    testing::{redis_url, unique_prefix},
};

fn settings(backend: CacheBackend, url: &str) -> CacheSettings {
    CacheSettings {
        backend,
        key_prefix: unique_prefix(),
        redis: RedisSettings {
            url: Some(SecretString::from(url.to_string())),
            pool_size: 4,
            timeout_ms: 50,
            retry_after_ms: 1000,
        },
        memory: MemoryCacheSettings { max_entries: 1000 },
    }
}

async fn exercise(cache: &Cache) {
    assert_eq!(cache.get("k").await.unwrap(), None);
    cache
        .set("k", Bytes::from_static(b"v1"), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v1"[..]));
    cache.delete(&["k"]).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap(), None);

    // The loader runs on a miss only; the second read is served from the cache.
    let loads = AtomicUsize::new(0);
    for _ in 0..2 {
        let value: Vec<u32> = cache
            .get_or_load("slots", Duration::from_secs(30), || async {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Infallible>(vec![9, 10, 11])
            })
            .await
            .unwrap();
        assert_eq!(value, vec![9, 10, 11]);
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);

    // Entries expire after their TTL.
    cache
        .set(
            "short",
            Bytes::from_static(b"x"),
            Duration::from_millis(150),
        )
        .await
        .unwrap();
    assert!(cache.get("short").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(cache.get("short").await.unwrap(), None);
}

#[tokio::test]
async fn redis_cache_round_trips_and_expires() {
    let cache = Cache::from_settings(&settings(CacheBackend::Redis, &redis_url()), "test").unwrap();
    cache
        .ping()
        .await
        .expect("Redis must be reachable at MEDMESH_TEST_REDIS_URL");
    exercise(&cache).await;
}

#[tokio::test]
async fn memory_cache_round_trips_and_expires() {
    let cache = Cache::from_settings(&settings(CacheBackend::Memory, ""), "test").unwrap();
    exercise(&cache).await;
}

#[tokio::test]
async fn redis_writes_are_seen_by_another_replica() {
    let s = settings(CacheBackend::Redis, &redis_url());
    let a = Cache::from_settings(&s, "test").unwrap();
    let b = Cache::from_settings(&s, "test").unwrap();
    a.set("shared", Bytes::from_static(b"42"), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(b.get("shared").await.unwrap().as_deref(), Some(&b"42"[..]));
    b.delete(&["shared"]).await.unwrap();
    assert_eq!(a.get("shared").await.unwrap(), None);
}

/// Reads through a cache that cannot answer: the loader's value, quickly, and counted.
async fn falls_back(cache: &Cache, reason: &str) -> Duration {
    let before = metric_value("cache_fallback_total", &format!("reason=\"{reason}\""));
    let start = Instant::now();
    let value: String = cache
        .get_or_load("stock:p1", Duration::from_secs(5), || async {
            Ok::<_, Infallible>("from-db".to_string())
        })
        .await
        .unwrap();
    let elapsed = start.elapsed();
    assert_eq!(value, "from-db");
    let after = metric_value("cache_fallback_total", &format!("reason=\"{reason}\""));
    assert_eq!(
        after - before,
        1.0,
        "cache_fallback_total{{reason={reason}}} counts the fallback"
    );
    elapsed
}

/// A dead Redis costs one bounded failure (counted under `first_reason`); within
/// `retry_after` the next read does not try it at all.
async fn falls_back_twice(url: &str, first_reason: &str) {
    let cache = Cache::from_settings(&settings(CacheBackend::Redis, url), "test").unwrap();
    let first = falls_back(&cache, first_reason).await;
    let second = falls_back(&cache, "unavailable").await;
    println!("{first_reason}: first read {first:?}, second read {second:?}");
    // The budget is 50 ms; a second is far above it and far below any client default.
    assert!(
        first < Duration::from_secs(1),
        "first fallback took {first:?}"
    );
    assert!(
        second < Duration::from_millis(50),
        "skipped cache took {second:?}"
    );
}

#[tokio::test]
async fn refused_redis_falls_back_to_the_source_of_truth() {
    // Nothing listens on this port: connections are refused at once.
    let port = svc_kit::testing::free_port();
    falls_back_twice(&format!("redis://127.0.0.1:{port}"), "pool").await;
}

#[tokio::test]
async fn hanging_redis_costs_one_bounded_timeout() {
    // A server that accepts connections and never answers: the worst case for a client.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    falls_back_twice(&format!("redis://{addr}"), "timeout").await;
}

/// rediss:// against a Redis that speaks TLS only, trusting the authority `[tls] ca_file`
/// names (installed for the process, as a service's start-up does); another authority's trust
/// reaches nothing, and the cache answers as it does without Redis (misses, errors counted).
#[tokio::test]
async fn rediss_trusts_the_platforms_authority_and_no_other() {
    use svc_kit::{
        testing::{RedisServer, TestCa},
        tls::{Tls, TlsSettings},
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("MedMesh test CA");
    let server = RedisServer::start_tls(&ca, dir.path());
    assert!(server.url.starts_with("rediss://"));
    let trusting = |ca: &TestCa, name: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, ca.pem()).unwrap();
        Tls::load(&TlsSettings {
            ca_file: Some(path),
            ..Default::default()
        })
        .unwrap()
    };
    svc_kit::tls::install(&trusting(&ca, "ca.pem"));
    let mut tls_settings = settings(CacheBackend::Redis, &server.url);
    tls_settings.redis.timeout_ms = 2000;
    let cache = Cache::from_settings(&tls_settings, "test").unwrap();
    cache.ping().await.expect("Redis over TLS answers");
    exercise(&cache).await;

    svc_kit::tls::install(&trusting(&TestCa::new("Someone else's CA"), "other.pem"));
    let stranger = Cache::from_settings(&tls_settings, "test").unwrap();
    assert!(stranger.ping().await.is_err(), "another authority's trust");
    assert!(stranger.get("k").await.is_err(), "nothing is read");
}
