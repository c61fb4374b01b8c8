//! The outbox, relay and consumer over the in-process bus, on PostgreSQL and on SQLite; what
//! the relay sets aside when the bus refuses an event, and how it prunes the event tables.

mod common;

use std::{sync::Arc, time::Duration};

use common::{
    Recorder, change, create_tables, enqueue_sized, metric_value, outbox_dead_letter, wait_until,
};
use medmesh_proto::events::v1::EventEnvelope;
use prost::Message as _;
use sea_orm::DbBackend;
use svc_kit::testing::{count, execute};
use svc_kit::{
    backend_test,
    events::{Consumer, EventSource, MemoryBus, Outbox, Relay, RelayOptions, pending_count},
    testing::TestDb,
};
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "medmesh.test.v1";

const KIB: usize = 1024;

fn start(test: &TestDb, bus: &MemoryBus, token: &CancellationToken, max_attempts: u32) {
    let relay = Relay::new(
        test.db.clone(),
        Arc::new(bus.clone()),
        "test",
        RelayOptions {
            batch_size: 16,
            interval: Duration::from_millis(20),
            ..RelayOptions::default()
        },
    );
    tokio::spawn(relay.run(token.clone()));
    let consumer = Consumer::new(
        test.db.clone(),
        "test-group",
        vec![TOPIC.to_string()],
        Recorder,
        max_attempts,
    );
    let source = EventSource::Memory(bus.clone());
    let token = token.clone();
    tokio::spawn(async move { consumer.run(source, token).await });
}

async fn every_committed_change_arrives_once(test: TestDb) {
    create_tables(&test.db).await;
    let (bus, token) = (MemoryBus::new(), CancellationToken::new());
    let outbox = Outbox::new("medmesh/test", TOPIC);
    start(&test, &bus, &token, 3);

    let mut committed = Vec::new();
    for i in 0..40 {
        committed.push(change(&test.db, &outbox, "widget.created", true).await);
        if i % 10 == 0 {
            // Rolled back together with its state change: the event must never appear.
            change(&test.db, &outbox, "widget.rolled_back", false).await;
        }
    }
    let db = test.db.clone();
    // The relay marks a batch published after the bus took it, which can be after the consumer
    // already handled it: wait for both.
    wait_until(
        "40 events received and marked published",
        Duration::from_secs(30),
        || {
            let db = db.clone();
            async move {
                count(&db, "SELECT COUNT(*) FROM received").await == 40
                    && pending_count(&db).await.unwrap() == 0
            }
        },
    )
    .await;
    assert_eq!(
        count(
            &test.db,
            "SELECT COUNT(*) FROM received WHERE event_type = 'widget.rolled_back'"
        )
        .await,
        0
    );
    assert_eq!(count(&test.db, "SELECT COUNT(*) FROM widgets").await, 40);

    // A relay that crashed after publishing but before marking would publish again:
    // simulate it; the consumer must act once per event.
    test.db
        .execute_unprepared("UPDATE outbox SET published_at = NULL")
        .await
        .unwrap();
    let marker = change(&test.db, &outbox, "widget.created", true).await;
    let db = test.db.clone();
    wait_until(
        "the marker after the republished batch",
        Duration::from_secs(30),
        || {
            let db = db.clone();
            async move { count(&db, "SELECT COUNT(*) FROM received").await >= 41 }
        },
    )
    .await;
    assert!(!marker.is_empty());
    assert_eq!(count(&test.db, "SELECT COUNT(*) FROM received").await, 41);
    assert_eq!(
        count(&test.db, "SELECT COUNT(DISTINCT event_id) FROM received").await,
        41
    );
    token.cancel();
}
backend_test!(
    every_committed_change_arrives_once_on,
    every_committed_change_arrives_once
);

async fn a_failing_event_is_dead_lettered_and_does_not_block(test: TestDb) {
    create_tables(&test.db).await;
    let (bus, token) = (MemoryBus::new(), CancellationToken::new());
    let outbox = Outbox::new("medmesh/test", TOPIC);
    start(&test, &bus, &token, 2);

    let poison = change(&test.db, &outbox, "poison", true).await;
    change(&test.db, &outbox, "widget.created", true).await;
    let db = test.db.clone();
    wait_until(
        "the event after the poison one",
        Duration::from_secs(30),
        || {
            let db = db.clone();
            async move { count(&db, "SELECT COUNT(*) FROM received").await == 1 }
        },
    )
    .await;
    let backend = test.db.get_database_backend();
    let row = test
        .db
        .query_one_raw(svc_kit::db::stmt(
            backend,
            "SELECT event_id, attempts FROM dead_letters",
            [],
        ))
        .await
        .unwrap()
        .expect("one dead letter");
    let poison_event: String = row.try_get("", "event_id").unwrap();
    let attempts: i32 = row.try_get("", "attempts").unwrap();
    // The dead letter names the event and its row in the outbox names the same event.
    let expected = count(
        &test.db,
        &format!("SELECT COUNT(*) FROM outbox WHERE event_id = '{poison_event}' AND aggregate_id = '{poison}'"),
    )
    .await;
    assert_eq!(expected, 1);
    assert_eq!(attempts, 2);
    token.cancel();
}
backend_test!(
    a_failing_event_is_dead_lettered_on,
    a_failing_event_is_dead_lettered_and_does_not_block
);

/// The ids of the events on `topic`, in the bus's order.
async fn on_the_bus(bus: &MemoryBus, topic: &str) -> Vec<String> {
    let group = format!("probe-{}", uuid::Uuid::new_v4().simple());
    let mut subscription = bus.subscribe(&group, &[topic.to_string()]);
    let mut ids = Vec::new();
    while let Ok((_, _, payload)) =
        tokio::time::timeout(Duration::from_millis(300), subscription.next()).await
    {
        ids.push(EventEnvelope::decode(payload.as_ref()).unwrap().id);
    }
    ids
}

/// What one oversized event should come to: the limit that refuses it and how that reads.
struct Refusal {
    bus: MemoryBus,
    options: RelayOptions,
    /// Part of the error kept with the dead letter.
    error: &'static str,
    /// Publishes tried: none when the relay's own limit stops the event before it is sent.
    attempts: i32,
}

/// A (normal), B (100 KiB), C (normal) for one aggregate, with `refusal`'s limits. The relay
/// pauses a minute between rounds that find nothing more to do, so C going out within seconds
/// shows that it moved on at once after setting B aside.
async fn an_oversized_event_is_set_aside(test: TestDb, refusal: Refusal) {
    svc_kit::telemetry::metrics_handle();
    let topic = format!("medmesh.test-{}.v1", uuid::Uuid::new_v4().simple());
    let outbox = Outbox::new("medmesh/test", topic.clone());
    let aggregate = uuid::Uuid::now_v7().to_string();
    // Its own type, so that the counter read below is this test's alone.
    let oversized_type = format!("widget.oversized.{}", uuid::Uuid::new_v4().simple());
    let a = enqueue_sized(&test.db, &outbox, &aggregate, "widget.created", 100).await;
    let b = enqueue_sized(&test.db, &outbox, &aggregate, &oversized_type, 100 * KIB).await;
    let c = enqueue_sized(&test.db, &outbox, &aggregate, "widget.updated", 100).await;

    let token = CancellationToken::new();
    let relay = Relay::new(
        test.db.clone(),
        Arc::new(refusal.bus.clone()),
        "test",
        RelayOptions {
            interval: Duration::from_secs(60),
            ..refusal.options
        },
    );
    tokio::spawn(relay.run(token.clone()));
    let db = test.db.clone();
    wait_until("the outbox drained", Duration::from_secs(10), || {
        let db = db.clone();
        async move { pending_count(&db).await.unwrap() == 0 }
    })
    .await;
    token.cancel();

    assert_eq!(
        on_the_bus(&refusal.bus, &topic).await,
        [a, c],
        "A then C, never B"
    );
    let dead = outbox_dead_letter(&test.db, &b)
        .await
        .expect("B is in outbox_dead_letters");
    assert!(dead.error.contains(refusal.error), "{}", dead.error);
    assert_eq!(dead.attempts, refusal.attempts);
    let envelope = EventEnvelope::decode(dead.envelope.as_slice()).unwrap();
    assert_eq!(
        (envelope.id.as_str(), envelope.r#type.as_str()),
        (b.as_str(), oversized_type.as_str())
    );
    assert_eq!(
        count(&test.db, "SELECT COUNT(*) FROM outbox_dead_letters").await,
        1
    );
    assert_eq!(
        count(
            &test.db,
            &format!("SELECT COUNT(*) FROM outbox WHERE event_id = '{b}'")
        )
        .await,
        0,
        "B left the outbox"
    );
    assert_eq!(
        metric_value(
            "outbox_dead_lettered_total",
            &format!("type=\"{oversized_type}\"")
        ),
        1.0
    );
}

async fn an_event_over_max_event_bytes_is_dead_lettered_and_the_next_one_is_published(
    test: TestDb,
) {
    // The relay's own limit: B is never sent.
    let refusal = Refusal {
        bus: MemoryBus::new(),
        options: RelayOptions {
            max_event_bytes: 64 * KIB,
            ..RelayOptions::default()
        },
        error: "events.max_event_bytes",
        attempts: 0,
    };
    an_oversized_event_is_set_aside(test, refusal).await;
}
backend_test!(
    an_event_over_max_event_bytes_is_dead_lettered_on,
    an_event_over_max_event_bytes_is_dead_lettered_and_the_next_one_is_published
);

async fn an_event_the_bus_refuses_is_dead_lettered_and_the_next_one_is_published(test: TestDb) {
    // Under the relay's limit (1 MiB), over the bus's: the bus refuses B for good.
    let refusal = Refusal {
        bus: MemoryBus::with_max_message_bytes(64 * KIB),
        options: RelayOptions::default(),
        error: "more than the bus takes",
        attempts: 1,
    };
    an_oversized_event_is_set_aside(test, refusal).await;
}
backend_test!(
    an_event_the_bus_refuses_is_dead_lettered_on,
    an_event_the_bus_refuses_is_dead_lettered_and_the_next_one_is_published
);

async fn pruning_removes_rows_past_their_retention_and_keeps_the_rest(test: TestDb) {
    // Published rows kept 7 days, remembered event ids 30, dead letters 90.
    let relay = Relay::new(
        test.db.clone(),
        Arc::new(MemoryBus::new()),
        "test",
        RelayOptions::default(),
    );
    let ago = |days: u32| match test.db.get_database_backend() {
        DbBackend::Postgres => format!("now() - interval '{days} days'"),
        _ => format!("strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-{days} days')"),
    };
    // More than one prune batch (1,000 rows) of expired event ids.
    execute(
        &test.db,
        &format!(
            "WITH RECURSIVE numbers(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers WHERE n < 2500)
             INSERT INTO processed_events (consumer, event_id, processed_at)
             SELECT 'old', 'e' || n, {} FROM numbers",
            ago(31)
        ),
    )
    .await;
    execute(
        &test.db,
        &format!(
            "INSERT INTO processed_events (consumer, event_id, processed_at) VALUES ('recent', 'e1', {})",
            ago(29)
        ),
    )
    .await;
    for (event_id, days) in [("old", 91), ("past-processed-retention", 40), ("recent", 1)] {
        execute(
            &test.db,
            &format!(
                "INSERT INTO dead_letters (consumer, topic, event_id, envelope, error, attempts, created_at)
                 VALUES ('test-group', 't', '{event_id}', '', 'failed', 5, {})",
                ago(days)
            ),
        )
        .await;
    }
    for (seq, event_id, days) in [(1, "old", 91), (2, "recent", 89)] {
        execute(
            &test.db,
            &format!(
                "INSERT INTO outbox_dead_letters
                    (seq, event_id, topic, event_type, aggregate_id, envelope, error, attempts, created_at, dead_at)
                 VALUES ({seq}, '{event_id}', 't', 'widget.created', 'w', '', 'too large', 1, {at}, {at})",
                at = ago(days)
            ),
        )
        .await;
    }
    for (event_id, created, published) in [
        ("published-long-ago", ago(9), Some(ago(8))),
        ("published-lately", ago(6), Some(ago(6))),
        // Never published, however old: it still has to go out.
        ("pending", ago(40), None),
    ] {
        execute(
            &test.db,
            &format!(
                "INSERT INTO outbox (event_id, topic, event_type, aggregate_id, envelope, created_at, published_at)
                 VALUES ('{event_id}', 't', 'widget.created', 'w', '', {created}, {})",
                published.unwrap_or_else(|| "NULL".to_string())
            ),
        )
        .await;
    }

    assert_eq!(relay.prune().await.unwrap(), 2500 + 1 + 1 + 1);
    let rows_in = |table: &str| format!("SELECT COUNT(*) FROM {table}");
    assert_eq!(count(&test.db, &rows_in("processed_events")).await, 1);
    assert_eq!(
        count(
            &test.db,
            "SELECT COUNT(*) FROM processed_events WHERE consumer = 'recent'"
        )
        .await,
        1
    );
    assert_eq!(count(&test.db, &rows_in("dead_letters")).await, 2);
    assert_eq!(
        count(
            &test.db,
            "SELECT COUNT(*) FROM dead_letters WHERE event_id = 'old'"
        )
        .await,
        0
    );
    assert_eq!(count(&test.db, &rows_in("outbox_dead_letters")).await, 1);
    assert_eq!(
        count(
            &test.db,
            "SELECT COUNT(*) FROM outbox_dead_letters WHERE seq = 2"
        )
        .await,
        1
    );
    assert_eq!(count(&test.db, &rows_in("outbox")).await, 2);
    assert_eq!(
        count(
            &test.db,
            "SELECT COUNT(*) FROM outbox WHERE event_id IN ('published-lately', 'pending')"
        )
        .await,
        2
    );
    // Nothing left to prune: a second run deletes nothing.
    assert_eq!(relay.prune().await.unwrap(), 0);
}
backend_test!(
    pruning_removes_rows_past_their_retention_on,
    pruning_removes_rows_past_their_retention_and_keeps_the_rest
);

use sea_orm::ConnectionTrait as _;
