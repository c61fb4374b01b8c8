//! Request parsing shared by the services: proto fields into values, each failure naming its
//! field, and [`Violations`] to report every bad field of a request at once.

use crate::error::FieldViolation;
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use medmesh_proto::common::v1::{Date, TimeOfDay};

pub type Parsed<T> = Result<T, FieldViolation>;

/// A required UUID.
pub fn id(field: &str, raw: &str) -> Parsed<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| FieldViolation::new(field, "is not a valid id"))
}

/// A UUID, or `None` when empty.
pub fn optional_id(field: &str, raw: &str) -> Parsed<Option<String>> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        id(field, raw).map(Some)
    }
}

/// Free text of at most `max` characters, trimmed; `required` refuses an empty one.
pub fn text(field: &str, raw: &str, max: usize, required: bool) -> Parsed<String> {
    let value = raw.trim();
    if required && value.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }
    if value.chars().count() > max {
        return Err(FieldViolation::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(FieldViolation::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_string())
}

pub fn time_zone(field: &str, raw: &str) -> Parsed<Tz> {
    raw.trim()
        .parse::<Tz>()
        .map_err(|_| FieldViolation::new(field, "is not an IANA time zone (e.g. Europe/Kyiv)"))
}

pub fn date(field: &str, raw: Option<&Date>) -> Parsed<NaiveDate> {
    let raw = raw.ok_or_else(|| FieldViolation::new(field, "is required"))?;
    u32::try_from(raw.month)
        .ok()
        .zip(u32::try_from(raw.day).ok())
        .and_then(|(m, d)| NaiveDate::from_ymd_opt(raw.year, m, d))
        .filter(|d| (2000..=2200).contains(&d.year()))
        .ok_or_else(|| FieldViolation::new(field, "is not a calendar date between 2000 and 2200"))
}

pub fn optional_date(field: &str, raw: Option<&Date>) -> Parsed<Option<NaiveDate>> {
    match raw {
        None => Ok(None),
        Some(d) if d.year == 0 && d.month == 0 && d.day == 0 => Ok(None),
        Some(d) => date(field, Some(d)).map(Some),
    }
}

pub fn time_of_day(field: &str, raw: Option<&TimeOfDay>) -> Parsed<NaiveTime> {
    let raw = raw.ok_or_else(|| FieldViolation::new(field, "is required"))?;
    u32::try_from(raw.hours)
        .ok()
        .zip(u32::try_from(raw.minutes).ok())
        .and_then(|(h, m)| NaiveTime::from_hms_opt(h, m, 0))
        .ok_or_else(|| {
            FieldViolation::new(field, "is not a time of day (hours 0-23, minutes 0-59)")
        })
}

pub fn weekday(field: &str, raw: i32) -> Parsed<Weekday> {
    match raw {
        1 => Ok(Weekday::Mon),
        2 => Ok(Weekday::Tue),
        3 => Ok(Weekday::Wed),
        4 => Ok(Weekday::Thu),
        5 => Ok(Weekday::Fri),
        6 => Ok(Weekday::Sat),
        7 => Ok(Weekday::Sun),
        _ => Err(FieldViolation::new(
            field,
            "must be 1 (Monday) to 7 (Sunday)",
        )),
    }
}

pub fn instant(field: &str, raw: Option<&prost_types::Timestamp>) -> Parsed<DateTime<Utc>> {
    let raw = raw.ok_or_else(|| FieldViolation::new(field, "is required"))?;
    u32::try_from(raw.nanos)
        .ok()
        .and_then(|n| DateTime::from_timestamp(raw.seconds, n))
        .filter(|t| t.timestamp() > 946_684_800 && t.timestamp() < 7_258_118_400)
        .ok_or_else(|| FieldViolation::new(field, "is not a time between 2000 and 2200"))
}

/// Collects the violations of several parses; the values are taken only when all are fine.
#[derive(Debug, Default)]
pub struct Violations(pub Vec<FieldViolation>);

impl Violations {
    pub fn take<T: Default>(&mut self, parsed: Parsed<T>) -> T {
        match parsed {
            Ok(value) => value,
            Err(violation) => {
                self.0.push(violation);
                T::default()
            }
        }
    }

    pub fn push(&mut self, field: &str, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Every violation at once, or nothing.
    pub fn finish(self) -> Result<(), crate::ApiError> {
        crate::ApiError::check(self.0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
