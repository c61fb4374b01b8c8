//! Idempotency keys: every mutation carries a `request_id`; its first answer is kept with it, so
//! a retry (a lost response, a client that pressed twice) gets the same answer and acts once.
//!
//! The key is recorded in the same transaction as the change it guards. Two concurrent calls with
//! one key both run, but only one can commit its record (primary key); the other rolls back and
//! replays the winner's answer.

use prost::Message;
use sea_orm::{ConnectionTrait, DbErr};
use sha2::{Digest, Sha256};

use crate::{
    db::{Migration, stmt},
    error::FieldViolation,
};

/// The table (component `svc-kit`, version 2).
pub const MIGRATION: Migration = Migration {
    version: 2,
    name: "idempotency keys",
    postgres: &["CREATE TABLE idempotency_keys (
            scope TEXT NOT NULL,
            operation TEXT NOT NULL,
            request_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            response BYTEA NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (scope, operation, request_id))"],
    sqlite: &["CREATE TABLE idempotency_keys (
            scope TEXT NOT NULL,
            operation TEXT NOT NULL,
            request_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            response BLOB NOT NULL,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            PRIMARY KEY (scope, operation, request_id))"],
};

/// The longest `request_id` accepted.
pub const MAX_REQUEST_ID_LEN: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The key was used before for a different request.
    #[error("request_id was already used for a different request")]
    Reused,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// One mutation's idempotency key: who asked (keys are per caller), which operation, the key, and
/// a fingerprint of the request so a reused key with other arguments is caught.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    scope: String,
    operation: &'static str,
    request_id: String,
    fingerprint: String,
}

impl IdempotencyKey {
    /// `request` is what the key guards; leave out what must not be hashed into the database
    /// (a password) by clearing it in the message passed here.
    pub fn new(
        scope: &str,
        operation: &'static str,
        request_id: &str,
        request: &impl Message,
    ) -> Result<IdempotencyKey, FieldViolation> {
        let request_id = request_id.trim();
        if request_id.is_empty() {
            return Err(FieldViolation::new(
                "request_id",
                "is required: a unique key per intended change, reused on retries",
            ));
        }
        if request_id.len() > MAX_REQUEST_ID_LEN
            || !request_id.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(FieldViolation::new(
                "request_id",
                format!("must be at most {MAX_REQUEST_ID_LEN} printable ASCII characters"),
            ));
        }
        let fingerprint = Sha256::digest(request.encode_to_vec())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(IdempotencyKey {
            scope: scope.to_string(),
            operation,
            request_id: request_id.to_string(),
            fingerprint,
        })
    }

    /// The answer recorded for this key, if the request ran before.
    pub async fn replay<C: ConnectionTrait>(
        &self,
        conn: &C,
    ) -> Result<Option<Vec<u8>>, IdempotencyError> {
        let row = conn
            .query_one_raw(stmt(
                conn.get_database_backend(),
                "SELECT fingerprint, response FROM idempotency_keys
                 WHERE scope = $1 AND operation = $2 AND request_id = $3",
                [
                    self.scope.clone().into(),
                    self.operation.into(),
                    self.request_id.clone().into(),
                ],
            ))
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let fingerprint: String = row.try_get("", "fingerprint")?;
        if fingerprint != self.fingerprint {
            return Err(IdempotencyError::Reused);
        }
        Ok(Some(row.try_get("", "response")?))
    }

    /// Records `response` as the answer; call it inside the change's transaction.
    pub async fn record<C: ConnectionTrait>(
        &self,
        conn: &C,
        response: &impl Message,
    ) -> Result<(), DbErr> {
        conn.execute_raw(stmt(
            conn.get_database_backend(),
            "INSERT INTO idempotency_keys (scope, operation, request_id, fingerprint, response)
             VALUES ($1, $2, $3, $4, $5)",
            [
                self.scope.clone().into(),
                self.operation.into(),
                self.request_id.clone().into(),
                self.fingerprint.clone().into(),
                response.encode_to_vec().into(),
            ],
        ))
        .await?;
        Ok(())
    }
}

/// Deletes the stored answers whose response names `id` (an appointment's, a prescription's):
/// staff's requests about a patient are kept under the staff member's scope, and their answers
/// carry what they wrote. For an erasure; the scan is over the keys of the last hours only.
pub async fn forget_answers_naming<C: ConnectionTrait>(conn: &C, id: &str) -> Result<u64, DbErr> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            "DELETE FROM idempotency_keys WHERE position(convert_to($1, 'UTF8') in response) > 0"
        }
        _ => "DELETE FROM idempotency_keys WHERE instr(response, CAST($1 AS BLOB)) > 0",
    };
    Ok(conn
        .execute_raw(stmt(backend, sql, [id.into()]))
        .await?
        .rows_affected())
}

/// Deletes every stored answer of `scope` (a caller's subject): their requests, for an erasure.
pub async fn forget_scope<C: ConnectionTrait>(conn: &C, scope: &str) -> Result<u64, DbErr> {
    let backend = conn.get_database_backend();
    Ok(conn
        .execute_raw(stmt(
            backend,
            "DELETE FROM idempotency_keys WHERE scope = $1",
            [scope.into()],
        ))
        .await?
        .rows_affected())
}

/// Deletes keys older than `hours`; a retry comes within minutes, not days.
pub async fn prune<C: ConnectionTrait>(conn: &C, hours: u32) -> Result<u64, DbErr> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)"
        }
        _ => {
            "DELETE FROM idempotency_keys
             WHERE created_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || $1 || ' hours')"
        }
    };
    let result = conn
        .execute_raw(stmt(
            backend,
            sql,
            [i32::try_from(hours).unwrap_or(i32::MAX).into()],
        ))
        .await?;
    Ok(result.rows_affected())
}
