//! The cached free-slot lists. A list is cached under the doctor's current generation (the
//! kit's [`Cache::generations`]); every change to the doctor's time moves the generation on, so
//! the old lists are never read again (and expire on their own). Writes never read this cache.

use svc_kit::cache::Cache;

fn scope(doctor_id: &str) -> Vec<String> {
    vec![format!("slots:{doctor_id}")]
}

/// The doctor's current generation ("0" before the first change; `None` when the cache is down).
pub(crate) async fn generation(cache: &Cache, doctor_id: &str) -> Option<String> {
    cache.generations(&scope(doctor_id)).await?.pop()
}

/// Moves the doctor's generation on: every list cached before is stale.
pub(crate) async fn invalidate(cache: &Cache, doctor_id: &str) {
    cache.advance(&scope(doctor_id)).await;
}

pub(crate) fn list_key(
    doctor_id: &str,
    generation: &str,
    from_micros: i64,
    to_micros: i64,
) -> String {
    format!("slots:{doctor_id}:{generation}:{from_micros}:{to_micros}")
}
