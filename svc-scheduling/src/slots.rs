//! The cached free-slot lists. A list is cached under the doctor's current generation; every
//! change to the doctor's time moves the generation on, so the old lists are never read again
//! (and expire on their own). Writes never read this cache.

use std::time::Duration;

use bytes::Bytes;
use svc_kit::cache::Cache;

/// How long a doctor's generation marker lives; far longer than any cached list.
const GENERATION_TTL: Duration = Duration::from_secs(24 * 3600);

fn generation_key(doctor_id: &str) -> String {
    format!("slots-generation:{doctor_id}")
}

/// The doctor's current generation ("0" before the first change, or when the cache is down).
pub(crate) async fn generation(cache: &Cache, doctor_id: &str) -> Option<String> {
    match cache.get(&generation_key(doctor_id)).await {
        Ok(Some(bytes)) => String::from_utf8(bytes.to_vec()).ok(),
        Ok(None) => Some("0".to_string()),
        // Without a readable generation, no cached list can be trusted.
        Err(_) => None,
    }
}

/// Moves the doctor's generation on: every list cached before is stale.
pub(crate) async fn invalidate(cache: &Cache, doctor_id: &str) {
    let next = uuid::Uuid::now_v7().to_string();
    if let Err(error) = cache
        .set(
            &generation_key(doctor_id),
            Bytes::from(next),
            GENERATION_TTL,
        )
        .await
    {
        // The cached lists then live out their TTL (seconds); writes never trust them.
        tracing::warn!(%error, "could not invalidate cached free slots");
    }
}

pub(crate) fn list_key(
    doctor_id: &str,
    generation: &str,
    from_micros: i64,
    to_micros: i64,
) -> String {
    format!("slots:{doctor_id}:{generation}:{from_micros}:{to_micros}")
}
