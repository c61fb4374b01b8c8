//! Conversions between protobuf values and the graph's: instants, civil dates, times of day,
//! ids, and proto3's empty strings for "absent".

use async_graphql::ID;
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike, Utc};
use medmesh_proto::common::v1 as common;

pub(crate) fn time(ts: Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    ts.and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
}

/// An id as the services write it (a lower-case UUID), so answers and events match however
/// the client spelled it; anything else goes on as given, for the service to refuse.
pub(crate) fn canonical_id(id: ID) -> ID {
    uuid::Uuid::parse_str(&id.0)
        .map(|u| ID(u.to_string()))
        .unwrap_or(id)
}

pub(crate) fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

pub(crate) fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

pub(crate) fn date(d: NaiveDate) -> common::Date {
    common::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

pub(crate) fn from_date(d: Option<common::Date>) -> Option<NaiveDate> {
    d.and_then(|d| NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32))
}

/// "HH:MM"; anything else is passed on as an impossible time, which the service names as the
/// bad field.
pub(crate) fn time_of_day(raw: &str) -> common::TimeOfDay {
    NaiveTime::parse_from_str(raw.trim(), "%H:%M")
        .map(|t| common::TimeOfDay {
            hours: t.hour() as i32,
            minutes: t.minute() as i32,
        })
        .unwrap_or(common::TimeOfDay {
            hours: -1,
            minutes: -1,
        })
}

pub(crate) fn hhmm(t: Option<common::TimeOfDay>) -> Option<String> {
    t.map(|t| format!("{:02}:{:02}", t.hours, t.minutes))
}
