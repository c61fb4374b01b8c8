//! Background work: open prescriptions past their validity are expired, their stock released,
//! and old idempotency keys are pruned.
//! Every replica sweeps; each expiry is its own transaction on the locked row, so two replicas
//! never expire one prescription twice.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{app::App, store::prescriptions as rx};

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
