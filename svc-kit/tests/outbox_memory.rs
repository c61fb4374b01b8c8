//! The outbox, relay and consumer over the in-process bus, on PostgreSQL and on SQLite.

mod common;

use std::{sync::Arc, time::Duration};

use common::{Recorder, change, create_tables, wait_until};
use svc_kit::testing::count;
use svc_kit::{
    backend_test,
    events::{Consumer, EventSource, MemoryBus, Outbox, Relay, pending_count},
    testing::TestDb,
};
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "medmesh.test.v1";

fn start(test: &TestDb, bus: &MemoryBus, token: &CancellationToken, max_attempts: u32) {
    let relay = Relay::new(
        test.db.clone(),
        Arc::new(bus.clone()),
        "test",
        16,
        Duration::from_millis(20),
        Duration::from_secs(3600),
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

use sea_orm::ConnectionTrait as _;
