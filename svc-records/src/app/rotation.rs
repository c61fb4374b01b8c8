//! Key rotation without downtime: values sealed under a retired key are opened and sealed
//! again under the active one, a batch at a time, each written only if it is still the value
//! read (a draft edited meanwhile was already sealed with the active key). Readers open any
//! configured key throughout, so a retired key may leave the configuration once no value
//! needs it. Only keys listed as retired are re-sealed, so replicas that disagree for a moment
//! on which key is active (a rolling update) never undo each other's work.

use svc_kit::write::{self, Txn};
use tokio_util::sync::CancellationToken;

use super::{App, place};
use crate::{error::RecordsError, store::entries};

impl App {
    /// Re-seals up to `batch` stale values; how many it re-sealed and how many it found.
    pub(crate) async fn rotate_once(&self, batch: u64) -> Result<(usize, usize), RecordsError> {
        let stale = entries::stale(&self.db, &self.retired, batch).await?;
        let mut resealed = 0;
        for value in &stale {
            let here = place(value.table, &value.id, &value.patient_id, value.version);
            let plain = match self.keys.open(&here, &value.sealed) {
                Ok(plain) => plain,
                Err(error) => {
                    // Named for the operator, and passed over: one value that does not open
                    // must not hold up the others.
                    tracing::error!(table = value.table, id = %value.id, %error, "a value could not be opened to re-seal it");
                    metrics::counter!("medmesh_records_unopenable_total").increment(1);
                    continue;
                }
            };
            let fresh = self.keys.seal(&here, &plain);
            let done = write::retrying(&self.db, |txn: Txn| {
                let fresh = &fresh;
                async move { Ok::<_, RecordsError>(entries::reseal(&*txn, value, fresh).await?) }
            })
            .await?;
            resealed += usize::from(done);
        }
        metrics::counter!("medmesh_records_resealed_total").increment(resealed as u64);
        Ok((resealed, stale.len()))
    }
}

impl App {
    /// Erased patients whose kept entries have reached the end of their retention: erased
    /// again, which removes them (and records what, if anything, is still kept).
    pub(crate) async fn finish_erasures(&self) -> Result<usize, RecordsError> {
        let due = entries::kept_past(&self.db, write::now()).await?;
        for patient_id in &due {
            write::retrying(&self.db, |txn: Txn| async move {
                super::intake::erase_patient(&txn, &self.outbox, patient_id, self.rules.retention)
                    .await?;
                Ok::<_, RecordsError>(())
            })
            .await?;
        }
        Ok(due.len())
    }
}

/// Background work every `every`: key rotation and the end of erased patients' retention;
/// idempotency pruning about hourly.
pub(crate) async fn run(
    app: App,
    every: std::time::Duration,
    batch: u64,
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
        if ticks % 720 == 1
            && let Err(error) = svc_kit::idempotency::prune(&app.db, retention_hours).await
        {
            tracing::warn!(%error, "pruning idempotency keys failed");
        }
        if let Err(error) = app.finish_erasures().await {
            tracing::warn!(%error, "removing entries past their retention failed");
        }
        match app.rotate_once(batch).await {
            Ok((_, found)) => {
                metrics::gauge!("medmesh_records_stale_values").set(found as f64);
            }
            Err(error) => tracing::warn!(%error, "re-sealing under the active key failed"),
        }
    }
}
