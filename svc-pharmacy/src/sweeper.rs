//! Background work: open prescriptions past their validity are expired, their stock released;
//! lots entering the expiring-soon window are announced (`stock.expiring`, once per lot, so
//! pharmacists hear of them); old idempotency keys are pruned.
//! Every replica sweeps; each expiry is its own transaction on the locked row, so two replicas
//! never expire one prescription twice.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use medmesh_proto::pharmacy::v1 as pb;

use crate::{
    app::App,
    events,
    store::{prescriptions as rx, stock},
};

/// How many prescriptions one sweep looks at.
const BATCH: u64 = 100;

pub(crate) async fn run(
    app: App,
    every: Duration,
    retention_hours: u32,
    shutdown: CancellationToken,
) {
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        ticks += 1;
        // About hourly at the default interval.
        if ticks % 720 == 1
            && let Err(error) = svc_kit::idempotency::prune(&app.db, retention_hours).await
        {
            tracing::warn!(%error, "pruning idempotency keys failed");
        }
        if let Err(error) = announce_expiring(&app).await {
            tracing::warn!(%error, "could not announce expiring lots");
        }
        let due = match rx::due_to_expire(&app.db, svc_kit::write::now(), BATCH).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "could not read prescriptions due to expire");
                continue;
            }
        };
        for id in due {
            match app.expire(&id).await {
                Ok(true) => metrics::counter!("medmesh_pharmacy_expired_total").increment(1),
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, prescription = %id, "could not expire"),
            }
        }
    }
}

/// Announces lots that entered the expiring-soon window: each in its own transaction with its
/// event, marked so that no replica announces it again.
async fn announce_expiring(app: &App) -> Result<(), String> {
    let now = svc_kit::write::now();
    let lots = stock::unannounced_expiring(&app.db, now + app.rules.expiring_soon, BATCH)
        .await
        .map_err(|e| e.to_string())?;
    for lot in lots {
        let txn = svc_kit::write::begin_write(&app.db)
            .await
            .map_err(|e| e.to_string())?;
        if stock::announce_expiry(&txn, &lot, now)
            .await
            .map_err(|e| e.to_string())?
        {
            let event = events::stock_expiring(pb::StockExpiringEvent {
                pharmacy_id: lot.pharmacy_id.clone(),
                pharmacy_name: lot.pharmacy_name.clone(),
                medication_id: lot.medication_id.clone(),
                medication_name: lot.medication_name.clone(),
                lot: lot.lot.clone(),
                quantity: lot.quantity,
                expires_at: Some(crate::convert::timestamp(lot.expires_at)),
            });
            app.outbox
                .enqueue(&txn, event)
                .await
                .map_err(|e| e.to_string())?;
            metrics::counter!("medmesh_pharmacy_expiry_alerts_total").increment(1);
        }
        txn.commit().await.map_err(|e| e.to_string())?;
    }
    Ok(())
}
