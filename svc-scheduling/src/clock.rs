//! The service's clock. Holds and waitlist offers expire by it; tests move it forward instead of
//! sleeping (feature `test-clock`), and the hold sweeper, which reads it, does the rest.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

static OFFSET_MICROS: AtomicI64 = AtomicI64::new(0);

/// Now, at microsecond precision, as the service sees it.
pub fn now() -> DateTime<Utc> {
    crate::store::now() + Duration::microseconds(OFFSET_MICROS.load(Ordering::Relaxed))
}

/// Moves this process's clock forward by `by`. For tests: each test runs in its own process.
#[cfg(feature = "test-clock")]
pub fn advance(by: Duration) {
    OFFSET_MICROS.fetch_add(by.num_microseconds().unwrap_or(i64::MAX), Ordering::Relaxed);
}
