//! The access log as the patient and admins read it, and its verification.

use medmesh_proto::records::v1 as pb;

use super::App;
use crate::{
    convert,
    domain::{Caller, access, chain},
    error::RecordsError,
    store::log as store,
};

/// How many chains one verification reads at a time.
const CHAIN_BATCH: u64 = 500;

impl App {
    pub(crate) async fn access_log(
        &self,
        caller: &Caller,
        patient_id: &str,
        flagged_only: bool,
        page_size: u64,
        before: Option<i64>,
    ) -> Result<pb::ListAccessLogResponse, RecordsError> {
        let Some(basis) = access::log_basis(caller, patient_id) else {
            return Err(self
                .refuse(caller, patient_id, super::Action::Read, "access-log")
                .await);
        };
        let mut rows =
            store::page(&self.db, patient_id, flagged_only, before, page_size + 1).await?;
        let next_page_token =
            svc_kit::paging::next_page(&mut rows, page_size, |s| s.link.sequence.to_string());
        let entries = rows.iter().map(convert::log_entry).collect();
        self.log_read(caller, patient_id, basis, "access-log")
            .await?;
        Ok(pb::ListAccessLogResponse {
            entries,
            next_page_token,
        })
    }

    /// Walks every chain (or one patient's) and names the first broken link.
    pub(crate) async fn verify_log(
        &self,
        patient_id: Option<&str>,
    ) -> Result<pb::IntegrityReport, RecordsError> {
        verify(&self.db, patient_id).await
    }
}

/// Walks every chain of the access log in `db` (or one patient's) and names the first broken
/// link; for the service's RPC and for `medmesh verify-access-log`.
pub(crate) async fn verify(
    db: &sea_orm::DatabaseConnection,
    patient_id: Option<&str>,
) -> Result<pb::IntegrityReport, RecordsError> {
    {
        let mut report = pb::IntegrityReport {
            intact: true,
            ..Default::default()
        };
        let mut after = String::new();
        'chains: loop {
            let chains = match patient_id {
                Some(p) => vec![(p.to_string(), store::head(db, p).await?)],
                None => store::chains(db, &after, CHAIN_BATCH).await?,
            };
            let done = patient_id.is_some() || (chains.len() as u64) < CHAIN_BATCH;
            for (patient, head) in chains {
                let entries = store::whole(db, &patient, head.as_ref().map(|(s, _)| *s)).await?;
                report.chains_checked += 1;
                report.entries_checked += i64::try_from(entries.len()).unwrap_or(i64::MAX);
                let head = head.as_ref().map(|(s, h)| (*s, h.as_str()));
                if let Some(broken) = chain::verify(&patient, entries, head) {
                    report.intact = false;
                    report.first_broken = Some(pb::BrokenLink {
                        patient_id: broken.patient_id,
                        sequence: broken.sequence,
                        problem: broken.problem,
                    });
                    break 'chains;
                }
                after = patient;
            }
            if done {
                break;
            }
        }
        report.checked_at = Some(convert::timestamp(svc_kit::write::now()));
        // Only a walk of every chain says the whole log is intact; any broken chain says it
        // is not.
        if !report.intact {
            metrics::gauge!("medmesh_records_access_log_intact").set(0.0);
        } else if patient_id.is_none() {
            metrics::gauge!("medmesh_records_access_log_intact").set(1.0);
        }
        if !report.intact {
            tracing::error!(
                broken = ?report.first_broken.as_ref().map(|b| (&b.patient_id, b.sequence)),
                "the access log's hash chain is broken"
            );
        }
        Ok(report)
    }
}

/// Walks the whole access log now and every `interval` (the gauge
/// `medmesh_records_access_log_intact` reports the last walk), until shut down.
pub(crate) async fn keep_verifying(
    db: sea_orm::DatabaseConnection,
    interval: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        if let Err(error) = verify(&db, None).await {
            tracing::warn!(%error, "could not verify the access log");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
