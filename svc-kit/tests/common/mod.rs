//! Shared by the event tests: a change table, a handler that records what it saw, waiting.

#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

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
