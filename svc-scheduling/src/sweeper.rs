//! The periodic work of a scheduling replica: expire holds whose time ran out (which hands
//! waitlist offers on) and prune old idempotency keys. Every replica runs it; each hold is
//! expired by one conditional update, so two replicas never act twice.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use svc_kit::{cache::Cache, events::Outbox};
use tokio_util::sync::CancellationToken;

use crate::{app::Rules, clock, erasure::Eraser, error::SchedulingError, offers, slots, store};

/// Expires every hold past its time at `clock::now()`; returns how many it expired.
pub async fn release_expired_holds(
    db: &DatabaseConnection,
    outbox: &Outbox,
    cache: &Cache,
    rules: &Rules,
) -> Result<usize, sea_orm::DbErr> {
    let now = clock::now();
    let due = store::appointments::expired_holds(db, now, 200).await?;
    let mut expired = 0;
    for hold in due {
        let hold = &hold;
        let result = svc_kit::write::retrying(db, |txn| async move {
            let txn = &*txn;
            let expired =
                offers::expire_hold(txn, outbox, &hold.appointment_id, now, rules.offer, true)
                    .await?;
            Ok::<_, SchedulingError>(expired)
        })
        .await;
        match result {
            Ok(true) => {
                expired += 1;
                slots::invalidate(cache, &hold.doctor_id).await;
            }
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "could not expire a hold; will retry"),
        }
    }
    Ok(expired)
}

/// Runs the sweep every `interval` until `shutdown`: expired holds, pending erasures and, about hourly, old idempotency keys.
pub(crate) async fn run(
    eraser: Eraser,
    interval: Duration,
    idempotency_retention_hours: u32,
    shutdown: CancellationToken,
) {
    let Eraser {
        db,
        outbox,
        cache,
        rules,
        ..
    } = eraser.clone();
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        match release_expired_holds(&db, &outbox, &cache, &rules).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "holds expired"),
            Err(error) => tracing::warn!(%error, "hold sweep failed; will retry"),
        }
        if let Err(error) = eraser.carry_out_pending(clock::now()).await {
            tracing::warn!(%error, "carrying out erasures failed; will retry");
        }
        ticks += 1;
        // About hourly at the default interval.
        if ticks % 3600 == 1
            && let Err(error) = svc_kit::idempotency::prune(&db, idempotency_retention_hours).await
        {
            tracing::warn!(%error, "pruning idempotency keys failed");
        }
    }
}
