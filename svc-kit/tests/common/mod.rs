//! Shared by the event tests: a change table, a handler that records what it saw, waiting.

#![allow(dead_code, unreachable_pub)]

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use medmesh_proto::common::v1::Actor;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};
use svc_kit::{
    db::stmt,
    events::{EventHandler, HandlerError, NewEvent, Outbox},
};

pub async fn create_tables(db: &DatabaseConnection) {
    db.execute_unprepared("CREATE TABLE widgets (id TEXT PRIMARY KEY)")
        .await
        .unwrap();
    db.execute_unprepared(
        "CREATE TABLE received (event_id TEXT NOT NULL, event_type TEXT NOT NULL)",
    )
    .await
    .unwrap();
}

/// One state change and its event, in one transaction. `commit = false` rolls both back.
pub async fn change(
    db: &DatabaseConnection,
    outbox: &Outbox,
    event_type: &str,
    commit: bool,
) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    let txn = db.begin().await.unwrap();
    txn.execute_raw(stmt(
        txn.get_database_backend(),
        "INSERT INTO widgets (id) VALUES ($1)",
        [id.clone().into()],
    ))
    .await
    .unwrap();
    let payload = Actor {
        subject: "tester".into(),
        roles: vec!["admin".into()],
    };
    let event = NewEvent::new(
        event_type,
        "widget",
        id.clone(),
        "medmesh.common.v1.Actor",
        &payload,
    );
    outbox.enqueue(&txn, event).await.unwrap();
    if commit {
        txn.commit().await.unwrap();
    } else {
        txn.rollback().await.unwrap();
    }
    id
}

/// Commits, on its own, an event of `event_type` about `aggregate` whose payload is about
/// `payload_bytes` long; returns its id.
pub async fn enqueue_sized(
    db: &DatabaseConnection,
    outbox: &Outbox,
    aggregate: &str,
    event_type: &str,
    payload_bytes: usize,
) -> String {
    let payload = Actor {
        subject: "x".repeat(payload_bytes),
        roles: Vec::new(),
    };
    let event = NewEvent::new(
        event_type,
        "widget",
        aggregate,
        "medmesh.common.v1.Actor",
        &payload,
    );
    outbox.enqueue(db, event).await.unwrap()
}

/// A row of `outbox_dead_letters`.
#[derive(Debug)]
pub struct OutboxDeadLetter {
    pub error: String,
    pub envelope: Vec<u8>,
    pub attempts: i32,
}

/// The relay's dead letter for `event_id`, if there is one.
pub async fn outbox_dead_letter(
    db: &DatabaseConnection,
    event_id: &str,
) -> Option<OutboxDeadLetter> {
    let row = db
        .query_one_raw(stmt(
            db.get_database_backend(),
            "SELECT error, envelope, attempts FROM outbox_dead_letters WHERE event_id = $1",
            [event_id.into()],
        ))
        .await
        .unwrap()?;
    Some(OutboxDeadLetter {
        error: row.try_get("", "error").unwrap(),
        envelope: row.try_get("", "envelope").unwrap(),
        attempts: row.try_get("", "attempts").unwrap(),
    })
}

pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {timeout:?} waiting for: {what}");
}

/// Records every event it handles in `received`; fails on events of type `poison`.
#[derive(Debug)]
pub struct Recorder;

impl EventHandler for Recorder {
    fn handle<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        event: &'a medmesh_proto::events::v1::EventEnvelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            if event.r#type == "poison" {
                return Err("this event always fails".into());
            }
            txn.execute_raw(stmt(
                txn.get_database_backend(),
                "INSERT INTO received (event_id, event_type) VALUES ($1, $2)",
                [event.id.clone().into(), event.r#type.clone().into()],
            ))
            .await?;
            Ok(())
        })
    }
}

/// Remembers the id of every event it handles, in the order handled.
#[derive(Debug, Clone, Default)]
pub struct Arrivals(Arc<Mutex<Vec<String>>>);

impl Arrivals {
    pub fn ids(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl EventHandler for Arrivals {
    fn handle<'a>(
        &'a self,
        _txn: &'a DatabaseTransaction,
        event: &'a medmesh_proto::events::v1::EventEnvelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        self.0.lock().unwrap().push(event.id.clone());
        Box::pin(async { Ok(()) })
    }
}

/// The value of a counter in the process's Prometheus output, summed over matching series.
pub fn metric_value(name: &str, label_filter: &str) -> f64 {
    svc_kit::telemetry::metrics_handle()
        .render()
        .lines()
        .filter(|l| {
            l.starts_with(name) && l[name.len()..].starts_with('{') && l.contains(label_filter)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
