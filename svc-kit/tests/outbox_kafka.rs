//! The outbox against a real Kafka-protocol broker (tansu): every committed change's event
//! arrives; with the broker down changes still commit and the outbox grows; when it is back
//! the outbox drains and nothing is lost or handled twice. An event Kafka refuses for good is
//! set aside and the next one goes out.

mod common;

use std::{sync::Arc, time::Duration};

use common::{
    Arrivals, Recorder, change, create_tables, enqueue_sized, metric_value, outbox_dead_letter,
    wait_until,
};
use medmesh_proto::events::v1::EventEnvelope;
use prost::Message as _;
use sea_orm::ConnectionTrait;
use svc_kit::testing::count;
use svc_kit::{
    config::KafkaSettings,
    events::{Consumer, EventSource, KafkaPublisher, Outbox, Relay, RelayOptions, pending_count},
    testing::{Broker, TestDb},
};
use tokio_util::sync::CancellationToken;

async fn received(db: &sea_orm::DatabaseConnection) -> i64 {
    count(db, "SELECT COUNT(*) FROM received").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outbox_survives_a_broker_outage_without_loss_or_duplicates() {
    svc_kit::telemetry::init_tracing(&svc_kit::config::LogSettings {
        format: svc_kit::config::LogFormat::Pretty,
        filter: "warn,svc_kit=info,outbox_kafka=info".into(),
    });
    let mut broker = Broker::start();
    let test = TestDb::postgres().await;
    create_tables(&test.db).await;
    let topic = format!("medmesh.test-{}.v1", uuid::Uuid::new_v4().simple());
    let settings = KafkaSettings {
        partitions: 3,
        replication_factor: 1,
        message_timeout_ms: 3000,
        ..KafkaSettings::plaintext(broker.brokers())
    };
    let token = CancellationToken::new();
    let publisher = Arc::new(KafkaPublisher::new(&broker.brokers(), &settings).unwrap());
    let relay = Relay::new(
        test.db.clone(),
        publisher,
        "test",
        RelayOptions {
            batch_size: 64,
            interval: Duration::from_millis(50),
            ..RelayOptions::default()
        },
    );
    tokio::spawn(relay.run(token.clone()));
    let consumer_db = test.connect_again().await;
    let consumer = Consumer::new(consumer_db, "test-group", vec![topic.clone()], Recorder, 5);
    let source = EventSource::Kafka {
        brokers: broker.brokers(),
        settings: settings.clone(),
    };
    {
        let token = token.clone();
        tokio::spawn(async move { consumer.run(source, token).await.unwrap() });
    }
    let outbox = Outbox::new("medmesh/test", topic);
    let db = test.db.clone();

    // 1. Broker up: every committed change's event arrives, once.
    for _ in 0..50 {
        change(&db, &outbox, "widget.created", true).await;
    }
    wait_until(
        "50 events through Kafka",
        Duration::from_secs(90),
        || async { received(&db).await == 50 },
    )
    .await;
    assert_eq!(pending_count(&db).await.unwrap(), 0);

    // 2. A relay that published but crashed before marking publishes again: consumers must
    //    drop the duplicates.
    let duplicates_before = metric_value("events_consumed_total", "result=\"duplicate\"");
    db.execute_unprepared("UPDATE outbox SET published_at = NULL WHERE seq <= 10")
        .await
        .unwrap();
    wait_until(
        "10 republished events seen as duplicates",
        Duration::from_secs(60),
        || async {
            metric_value("events_consumed_total", "result=\"duplicate\"") - duplicates_before
                >= 10.0
        },
    )
    .await;
    assert_eq!(received(&db).await, 50);

    // 3. Broker down (unreachable: connections cut, new ones refused): changes still commit,
    //    and their events wait in the outbox.
    broker.disconnect();
    for _ in 0..30 {
        change(&db, &outbox, "widget.created", true).await;
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM widgets").await, 80);
    // Longer than the producer's message timeout: failed deliveries must not mark anything.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(pending_count(&db).await.unwrap(), 30);
    assert_eq!(received(&db).await, 50);

    // 4. Broker back: the outbox drains and the consumer gets every event exactly once.
    broker.reconnect();
    wait_until(
        "the outbox drained and 80 events handled",
        Duration::from_secs(120),
        || async { received(&db).await == 80 && pending_count(&db).await.unwrap() == 0 },
    )
    .await;
    assert_eq!(
        count(&db, "SELECT COUNT(DISTINCT event_id) FROM received").await,
        80
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM received").await, 80);
    let unmatched = count(
        &db,
        "SELECT COUNT(*) FROM outbox o WHERE NOT EXISTS (SELECT 1 FROM received r WHERE r.event_id = o.event_id)",
    )
    .await;
    assert_eq!(unmatched, 0, "every outbox event was received");
    token.cancel();
}

/// A (normal), B (1.2 MB), C (normal) for one aggregate, with the relay's own limit set far
/// above B. Kafka refuses B: the producer's `message.max.bytes` (librdkafka's default,
/// 1,000,000 bytes) stops it before the broker, as a broker with the same limit would (tansu
/// sets none of its own). The relay sets B aside and C follows A to the consumer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_kafka_refuses_is_dead_lettered_and_the_next_one_is_published() {
    svc_kit::telemetry::metrics_handle();
    let broker = Broker::start();
    let test = TestDb::postgres().await;
    let topic = format!("medmesh.test-{}.v1", uuid::Uuid::new_v4().simple());
    let settings = KafkaSettings {
        partitions: 3,
        replication_factor: 1,
        message_timeout_ms: 5000,
        ..KafkaSettings::plaintext(broker.brokers())
    };
    let outbox = Outbox::new("medmesh/test", topic.clone());
    let aggregate = uuid::Uuid::now_v7().to_string();
    let oversized_type = format!("widget.oversized.{}", uuid::Uuid::new_v4().simple());
    let a = enqueue_sized(&test.db, &outbox, &aggregate, "widget.created", 100).await;
    let b = enqueue_sized(&test.db, &outbox, &aggregate, &oversized_type, 1_200_000).await;
    let c = enqueue_sized(&test.db, &outbox, &aggregate, "widget.updated", 100).await;

    let token = CancellationToken::new();
    let publisher = Arc::new(KafkaPublisher::new(&broker.brokers(), &settings).unwrap());
    let relay = Relay::new(
        test.db.clone(),
        publisher,
        "test",
        RelayOptions {
            batch_size: 64,
            interval: Duration::from_millis(50),
            max_event_bytes: 8 * 1024 * 1024,
            ..RelayOptions::default()
        },
    );
    tokio::spawn(relay.run(token.clone()));
    let arrivals = Arrivals::default();
    let consumer = Consumer::new(
        test.connect_again().await,
        "test-group",
        vec![topic.clone()],
        arrivals.clone(),
        5,
    );
    let source = EventSource::Kafka {
        brokers: broker.brokers(),
        settings,
    };
    {
        let token = token.clone();
        tokio::spawn(async move { consumer.run(source, token).await.unwrap() });
    }

    let db = test.db.clone();
    wait_until(
        "the outbox drained and two events handled",
        Duration::from_secs(90),
        || async { arrivals.ids().len() >= 2 && pending_count(&db).await.unwrap() == 0 },
    )
    .await;
    // Anything that would follow late (B, a duplicate) has a moment to show up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(arrivals.ids(), [a, c], "A then C, never B");
    let dead = outbox_dead_letter(&db, &b)
        .await
        .expect("B is in outbox_dead_letters");
    assert!(dead.error.contains("MessageSizeTooLarge"), "{}", dead.error);
    assert_eq!(
        EventEnvelope::decode(dead.envelope.as_slice()).unwrap().id,
        b
    );
    assert_eq!(
        count(
            &db,
            &format!("SELECT COUNT(*) FROM outbox WHERE event_id = '{b}'")
        )
        .await,
        0
    );
    assert_eq!(
        metric_value(
            "outbox_dead_lettered_total",
            &format!("type=\"{oversized_type}\"")
        ),
        1.0
    );
    token.cancel();
}
