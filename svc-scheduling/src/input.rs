//! Request parsing: the kit's parsers ([`svc_kit::input`]) and scheduling's own.

use svc_kit::error::FieldViolation;
pub(crate) use svc_kit::input::{
    Parsed, Violations, date, id, instant, optional_date, optional_id, text, time_of_day,
    time_zone, weekday,
};

/// A visit length: 5 minutes to 8 hours.
pub(crate) fn visit_minutes(field: &str, raw: i32) -> Parsed<u32> {
    if (5..=480).contains(&raw) {
        Ok(raw as u32)
    } else {
        Err(FieldViolation::new(
            field,
            "must be between 5 and 480 minutes",
        ))
    }
}
