//! A patient's erasure reaches the pharmacy: accounts' `user.erased`, read by the consumer group
//! `pharmacy-intake` and carried out in the event's own transaction (a redelivery changes
//! nothing).
//!
//! Prescriptions are the pharmacy's record of what was prescribed and dispensed, which pharmacy
//! law keeps: they stay, with their medications, quantities, doses and statuses, and lose every
//! text a person wrote — the doctor's and pharmacist's notes, dosage instructions written out,
//! rejection and cancellation reasons. The patient's pharmacy preferences, the stored answers to
//! requests naming their prescriptions and the events about them (sent or still to be sent)
//! are deleted. A
//! prescription still live runs out at its validity like any other (its reservation released
//! then); no new one is written for them (`erasures`).

use futures::future::BoxFuture;
use medmesh_proto::accounts::v1::UserEvent;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};
use svc_kit::{ServiceContext, db::stmt, erasures::OnErasure, events::HandlerError};
use tokio_util::sync::CancellationToken;

use crate::store::ts;

/// The consumer group the pharmacy reads accounts' topic under.
pub(crate) const GROUP: &str = "pharmacy-intake";

/// Erasure requests, and what each did (prescriptions anonymised).
pub(crate) const MIGRATION: svc_kit::db::Migration = svc_kit::db::Migration {
    version: 3,
    name: "erasures",
    postgres: &["CREATE TABLE erasures (
            patient_id TEXT PRIMARY KEY,
            erased_at TIMESTAMPTZ NOT NULL,
            prescriptions_anonymised BIGINT NOT NULL,
            preferences_removed BIGINT NOT NULL)"],
    sqlite: &["CREATE TABLE erasures (
            patient_id TEXT PRIMARY KEY,
            erased_at TEXT NOT NULL,
            prescriptions_anonymised INTEGER NOT NULL,
            preferences_removed INTEGER NOT NULL)"],
};

/// The pharmacy's part of accounts' erasures.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Intake;

impl OnErasure for Intake {
    fn erase<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        user: &'a UserEvent,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move { Ok(erase(txn, &user.user_id, &user.subject).await?) })
    }
}

/// Reads accounts' topic until `shutdown`.
pub(crate) async fn follow(context: ServiceContext, shutdown: CancellationToken) {
    svc_kit::erasures::follow(context, GROUP, Intake, shutdown).await;
}

/// Whether `patient_id`'s data was erased here: nothing more is prescribed for them.
pub(crate) async fn is_erased<C: ConnectionTrait>(
    conn: &C,
    patient_id: &str,
) -> Result<bool, DbErr> {
    Ok(conn
        .query_one_raw(stmt(
            conn.get_database_backend(),
            "SELECT 1 AS one FROM erasures WHERE patient_id = $1",
            [patient_id.into()],
        ))
        .await?
        .is_some())
}

async fn erase(txn: &DatabaseTransaction, patient: &str, subject: &str) -> Result<(), DbErr> {
    let b = txn.get_database_backend();
    let theirs = "SELECT prescription_id FROM prescriptions WHERE patient_id = $1";
    let ids: Vec<String> = txn
        .query_all_raw(stmt(b, theirs, [patient.into()]))
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "prescription_id"))
        .collect::<Result<_, _>>()?;
    txn.execute_raw(stmt(
        b,
        "UPDATE prescriptions SET notes = '', rejection_reason = '', cancellation_reason = ''
         WHERE patient_id = $1",
        [patient.into()],
    ))
    .await?;
    txn.execute_raw(stmt(
        b,
        &format!(
            "UPDATE prescription_items SET notes = '', dosage_instructions = ''
             WHERE prescription_id IN ({theirs})"
        ),
        [patient.into()],
    ))
    .await?;
    let preferences = txn
        .execute_raw(stmt(
            b,
            "DELETE FROM preferred_pharmacies WHERE patient_id = $1",
            [patient.into()],
        ))
        .await?
        .rows_affected();
    // Their prescriptions' events, published or not: they carry dosage instructions, and
    // every consumer drops what concerns an erased patient anyway.
    for table in ["outbox", "outbox_dead_letters"] {
        txn.execute_raw(stmt(
            b,
            &format!("DELETE FROM {table} WHERE aggregate_id IN ({theirs})"),
            [patient.into()],
        ))
        .await?;
    }
    for id in &ids {
        svc_kit::idempotency::forget_answers_naming(txn, id).await?;
    }
    if !subject.is_empty() {
        svc_kit::idempotency::forget_scope(txn, subject).await?;
    }
    txn.execute_raw(stmt(
        b,
        "INSERT INTO erasures (patient_id, erased_at, prescriptions_anonymised, preferences_removed)
         VALUES ($1, $2, $3, $4) ON CONFLICT (patient_id) DO NOTHING",
        [
            patient.into(),
            ts(b, svc_kit::write::now()),
            (ids.len() as i64).into(),
            (preferences as i64).into(),
        ],
    ))
    .await?;
    metrics::counter!("medmesh_pharmacy_erasures_total").increment(1);
    tracing::info!(
        prescriptions = ids.len(),
        "an erasure request was carried out"
    );
    Ok(())
}
