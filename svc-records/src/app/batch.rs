//! Reads are logged in batches: a read's log entry goes to a writer task, which appends every
//! entry waiting at that moment in one transaction, and the read is answered once the batch it
//! went in has committed. One transaction (and one flush to disk) then carries many reads,
//! and each read is still answered only after its entry is durable (fail closed).
//!
//! A batch locks the chain heads it appends to in patient order, so two replicas' batches never
//! wait on each other in a circle; one patient's entries keep the order they came in and are
//! appended with three statements however many there are. A replica runs [`WRITERS`] writers,
//! each for its share of the patients, so one patient's entries always go through one writer
//! and batches of different patients commit side by side.

use sea_orm::DatabaseConnection;
use svc_kit::write::{self, Txn};
use tokio::sync::{mpsc, oneshot};

use crate::{domain::chain::Link, error::RecordsError, store::log as store};

/// The most entries one transaction appends.
const MAX_BATCH: usize = 128;
/// Writers per replica (each holds one connection while it commits).
pub(crate) const WRITERS: usize = 4;

type Reply = oneshot::Sender<Result<(), String>>;

/// The handle reads log through.
#[derive(Debug, Clone)]
pub(crate) struct LogWriter {
    queues: Vec<mpsc::Sender<(Link, Reply)>>,
}

impl LogWriter {
    /// [`WRITERS`] writers appending to `db`'s log, running until every handle is gone.
    pub(crate) fn start(db: DatabaseConnection) -> LogWriter {
        LogWriter {
            queues: (0..WRITERS).map(|_| writer(db.clone())).collect(),
        }
    }

    /// Appends `link` and waits until it is committed.
    pub(crate) async fn append(&self, link: Link) -> Result<(), String> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        link.patient_id.hash(&mut hasher);
        let queue = &self.queues[(hasher.finish() % self.queues.len() as u64) as usize];
        let (reply, committed) = oneshot::channel();
        queue
            .send((link, reply))
            .await
            .map_err(|_| "the log writer has stopped".to_string())?;
        committed
            .await
            .map_err(|_| "the log writer has stopped".to_string())?
    }
}

/// One writer: a task taking what is waiting, appending it in one transaction, answering.
fn writer(db: DatabaseConnection) -> mpsc::Sender<(Link, Reply)> {
    let (queue, mut waiting) = mpsc::channel::<(Link, Reply)>(4 * MAX_BATCH);
    tokio::spawn(async move {
        while let Some(first) = waiting.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match waiting.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            // Stable: one patient's entries stay in arrival order.
            batch.sort_by(|a, b| a.0.patient_id.cmp(&b.0.patient_id));
            let links: Vec<Link> = batch.iter().map(|(link, _)| link.clone()).collect();
            let appended = write::retrying(&db, |txn: Txn| {
                let links = links.clone();
                async move {
                    for chain in links.chunk_by(|a, b| a.patient_id == b.patient_id) {
                        store::append_all(&*txn, chain.to_vec()).await?;
                    }
                    Ok::<_, RecordsError>(())
                }
            })
            .await
            .map_err(|e| e.to_string());
            metrics::histogram!("medmesh_records_log_batch_size").record(batch.len() as f64);
            for (_, reply) in batch {
                // A reader that gave up waiting is gone; nothing to tell it.
                let _ = reply.send(appended.clone());
            }
        }
    });
    queue
}
