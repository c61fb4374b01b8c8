//! Followers (live updates, cache invalidation) each hear every event published after they
//! started, however many follow the same topic: on the in-process bus and on a real
//! Kafka-protocol broker, where each would otherwise share a group's progress.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use svc_kit::{
    config::KafkaSettings,
    events::{EventSource, Follower, KafkaPublisher, MemoryBus, OutgoingEvent, Publisher},
    testing::{Broker, thing_changed},
};
use tokio_util::sync::CancellationToken;

type Heard = Arc<Mutex<Vec<String>>>;

fn follow(source: &EventSource, topic: &str, token: &CancellationToken) -> Heard {
    let heard = Heard::default();
    let sink = heard.clone();
    let follower = Follower::new("test-live", vec![topic.to_string()]);
    let (source, token) = (source.clone(), token.clone());
    tokio::spawn(async move {
        follower
            .run(source, token, move |envelope| {
                sink.lock().unwrap().push(envelope.id)
            })
            .await
    });
    heard
}

async fn wait_for(heard: &Heard, ids: &[&str]) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = heard.lock().unwrap().clone();
        if now.len() >= ids.len() || tokio::time::Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_follower_on_the_bus_hears_every_event_after_it_started() {
    let bus = MemoryBus::new();
    let topic = "medmesh.test.v1";
    bus.publish(&[thing_changed(topic, "before")]).await;
    let token = CancellationToken::new();
    let source = EventSource::Memory(bus.clone());
    let (a, b) = (
        follow(&source, topic, &token),
        follow(&source, topic, &token),
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    bus.publish(&[thing_changed(topic, "one"), thing_changed(topic, "two")])
        .await;
    for heard in [&a, &b] {
        assert_eq!(wait_for(heard, &["one", "two"]).await, ["one", "two"]);
    }
    token.cancel();
}

#[tokio::test]
async fn every_follower_on_kafka_hears_every_event_after_it_started() {
    let broker = Broker::start();
    let topic = format!("medmesh.test-{}.v1", uuid::Uuid::new_v4().simple());
    let settings = KafkaSettings {
        partitions: 3,
        replication_factor: 1,
        message_timeout_ms: 5000,
        ..KafkaSettings::plaintext(broker.brokers())
    };
    let source = EventSource::Kafka {
        brokers: broker.brokers(),
        settings: settings.clone(),
    };
    let token = CancellationToken::new();
    let (a, b) = (
        follow(&source, &topic, &token),
        follow(&source, &topic, &token),
    );
    let publisher = KafkaPublisher::new(&broker.brokers(), &settings).unwrap();
    publisher
        .prepare(std::slice::from_ref(&topic))
        .await
        .unwrap();
    // Joining and being assigned partitions takes a moment; publish until both hear a probe,
    // then the real events.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut probe = 0;
    while [&a, &b].iter().any(|h| h.lock().unwrap().is_empty()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "followers never joined"
        );
        probe += 1;
        let outcome = publisher
            .publish(&[thing_changed(&topic, &format!("probe-{probe}"))])
            .await;
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ids: Vec<String> = (0..20).map(|i| format!("event-{i}")).collect();
    let batch: Vec<OutgoingEvent> = ids.iter().map(|id| thing_changed(&topic, id)).collect();
    let outcome = publisher.publish(&batch).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    for heard in [&a, &b] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let now = heard.lock().unwrap().clone();
            let missing: Vec<&String> = ids.iter().filter(|id| !now.contains(id)).collect();
            if missing.is_empty() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "each follower hears every event; missing {missing:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    token.cancel();
}
