//! The distributed mode's code path against the real parts: each service on its own
//! PostgreSQL database, Redis as the cache, Kafka (tansu) as the bus.

mod common;

use std::time::{Duration, Instant};

use medmesh::Platform;
use medmesh_proto::common::v1::Actor;
use rdkafka::consumer::Consumer as _;
use sea_orm::TransactionTrait;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use svc_kit::{
    ServiceName, Settings,
    events::{NewEvent, pending_count},
    testing::{Broker, fresh_postgres_database, redis_url, unique_prefix},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn production_mode_runs_on_postgres_redis_and_kafka() {
    // The test command's shared broker when there is one, else one of our own.
    let own_broker;
    let brokers = match std::env::var("MEDMESH_TEST_KAFKA_BROKERS") {
        Ok(brokers) => brokers,
        Err(_) => {
            own_broker = Broker::start();
            own_broker.brokers()
        }
    };
    // The OIDC issuer production trusts (Keycloak); the dev issuer stands in for it here.
    let sso = svc_kit::auth::dev_issuer::DevIssuerServer::bind(
        svc_kit::config::Mode::Dev,
        "127.0.0.1:0".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let issuer_url = sso.issuer.issuer();
    let sso_stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(sso.serve(sso_stop.clone()));
    let brokers_for_check = brokers.clone();
    let topic_prefix = format!("medmesh-test-{}", uuid::Uuid::new_v4().simple());
    let mut figment = Settings::figment(None)
        .merge(("mode", "production"))
        .merge(("auth.issuer", issuer_url))
        .merge(("admin.port", 0))
        .merge(("gateway.port", 0))
        .merge(("cache.backend", "redis"))
        .merge(("cache.redis.url", redis_url()))
        .merge(("cache.key_prefix", unique_prefix()))
        .merge(("events.backend", "kafka"))
        .merge(("events.kafka.brokers", brokers))
        .merge(("events.topic_prefix", topic_prefix.clone()))
        .merge(("log.format", "json"))
        // The dev issuer standing in for Keycloak knows every client by the dev secret.
        .merge(("services.accounts.client_secret", "dev-secret"))
        .merge(("services.scheduling.client_secret", "dev-secret"))
        .merge(("services.pharmacy.client_secret", "dev-secret"))
        .merge(("services.records.client_secret", "dev-secret"))
        .merge(("services.notify.client_secret", "dev-secret"))
        .merge(("notify.active_key", "n1"))
        .merge((
            "notify.keys.n1",
            "bm90aWZ5IGtleSBmb3IgdGhlIGRpc3RyaWJ1dGVkIHQ=",
        ))
        // Plain SMTP to a relay on loopback (production takes nothing else without TLS).
        .merge(("notify.smtp.url", "smtp://127.0.0.1:25"))
        .merge(("records.active_key", "k1"))
        .merge((
            "records.keys.k1",
            "a2V5IGZvciB0aGUgZGlzdHJpYnV0ZWQgdGVzdCBvayE=",
        ))
        .merge(("gateway.client_secret", "dev-secret"));
    for service in ServiceName::ALL {
        let url = fresh_postgres_database().await;
        figment = figment
            .merge((format!("services.{service}.port"), 0))
            .merge((
                format!("services.{service}.database_url"),
                url.expose_secret().to_string(),
            ));
    }
    let settings = Settings::from_figment(figment).unwrap();
    let platform = Platform::start(settings, &Platform::all_components())
        .await
        .unwrap();

    let url = format!("http://{}/graphql", platform.gateway_addr.unwrap());
    let health = common::graphql(&url, "{ meshHealth { healthy services { name status } } }").await;
    assert_eq!(
        health["data"]["meshHealth"]["healthy"],
        json!(true),
        "{health}"
    );

    // Readiness settles once every pool has its first connection (a busy machine can take a
    // moment to open one); it must get there.
    let mut ready = Value::Null;
    for _ in 0..50 {
        ready = reqwest::get(format!("http://{}/ready", platform.admin_addr))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ready["status"] == "ready" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(
        ready["checks"]["pharmacy.cache"], "ok",
        "Redis answers: {ready}"
    );

    // Each service created its topic at start-up, before writing any event.
    let topic = format!("{topic_prefix}.scheduling.v1");
    let consumer: rdkafka::consumer::BaseConsumer = svc_kit::events::kafka_client_config(
        &brokers_for_check,
        &svc_kit::config::KafkaSettings::plaintext(&brokers_for_check),
    )
    .create()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metadata = tokio::task::block_in_place(|| {
            consumer.fetch_metadata(Some(&topic), Duration::from_secs(5))
        })
        .unwrap();
        let found = metadata.topics().iter().find(|t| t.name() == topic);
        if let Some(t) = found.filter(|t| t.error().is_none()) {
            assert_eq!(t.partitions().len(), 3, "partitions as configured");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "topic {topic} was not created at start-up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // An event written by a service reaches Kafka: the outbox drains.
    let scheduling = platform
        .services
        .iter()
        .find(|s| s.service == ServiceName::Scheduling)
        .unwrap();
    let ctx = &scheduling.context;
    let txn = ctx.db.begin().await.unwrap();
    let event = NewEvent::new(
        "medmesh.test.v1.ping",
        "test",
        "agg-1",
        "medmesh.common.v1.Actor",
        &Actor::default(),
    );
    ctx.outbox.enqueue(&txn, event).await.unwrap();
    txn.commit().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while pending_count(&ctx.db).await.unwrap() > 0 {
        assert!(
            Instant::now() < deadline,
            "the outbox did not drain into Kafka"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    platform.stop().await;
    sso_stop.cancel();
}
