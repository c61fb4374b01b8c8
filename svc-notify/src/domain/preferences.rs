//! A user's preferences: channels per kind (email by default; a required kind always keeps
//! email), language, reminder lead times, quiet hours and a doctor's agenda time. Stored as
//! one JSON document per user.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::{Channel, Kind, Lang};

/// The reminder lead when a user chose none: 24 hours.
pub const DEFAULT_LEAD_MINUTES: i32 = 24 * 60;
/// Reminders go out at most a week ahead, and at least five minutes.
pub const LEAD_RANGE: std::ops::RangeInclusive<i32> = 5..=7 * 24 * 60;
/// At most this many lead times.
pub const MAX_LEADS: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Prefs {
    /// Channels per kind, for the kinds the user changed; the others are email only.
    #[serde(default)]
    pub kinds: BTreeMap<String, BTreeSet<String>>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub reminder_leads: Vec<i32>,
    /// (start, end) minutes after local midnight.
    #[serde(default)]
    pub quiet: Option<(u16, u16)>,
    /// Minutes after local midnight.
    #[serde(default)]
    pub agenda_minute: Option<u16>,
}

impl Prefs {
    /// The channels `kind` goes out on.
    pub fn channels(&self, kind: Kind) -> BTreeSet<Channel> {
        let mut chosen: BTreeSet<Channel> = match self.kinds.get(kind.as_str()) {
            Some(channels) => channels.iter().filter_map(|c| Channel::parse(c)).collect(),
            None => [Channel::Email].into(),
        };
        if kind.required() {
            chosen.insert(Channel::Email);
        }
        chosen
    }

    pub fn language(&self) -> Option<Lang> {
        self.language.as_deref().and_then(Lang::parse)
    }

    /// Lead times in minutes, longest first.
    pub fn leads(&self) -> Vec<i32> {
        let mut leads = if self.reminder_leads.is_empty() {
            vec![DEFAULT_LEAD_MINUTES]
        } else {
            self.reminder_leads.clone()
        };
        leads.sort_unstable_by(|a, b| b.cmp(a));
        leads.dedup();
        leads
    }

    pub fn agenda_time(&self) -> Option<NaiveTime> {
        self.agenda_minute
            .and_then(|m| NaiveTime::from_hms_opt(u32::from(m / 60), u32::from(m % 60), 0))
    }
}

/// When a message to someone whose local time is `local` may go out under quiet hours
/// `(start, end)`: `None` now, else how long to wait until the window ends.
pub fn quiet_wait(quiet: Option<(u16, u16)>, local: NaiveTime) -> Option<Duration> {
    let (start, end) = quiet?;
    if start == end {
        return None;
    }
    let minute = (local.hour() * 60 + local.minute()) as u16;
    let inside = if start < end {
        (start..end).contains(&minute)
    } else {
        minute >= start || minute < end
    };
    if !inside {
        return None;
    }
    let until_end = (i64::from(end) - i64::from(minute)).rem_euclid(24 * 60);
    Some(Duration::minutes(until_end) - Duration::seconds(i64::from(local.second())))
}

/// The pause before attempt `attempt + 1` after `attempt` failed ones: `base` doubling up to
/// `max`, then spread by `jitter` (0.0..1.0 → -20 %..+20 %) so retries of a failed batch do
/// not all come back at once.
pub fn retry_delay(attempt: u32, base_ms: u64, max_ms: u64, jitter: f64) -> Duration {
    let doubled = base_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(30));
    let capped = doubled.min(max_ms) as f64;
    let spread = capped * (0.8 + 0.4 * jitter.clamp(0.0, 1.0));
    Duration::milliseconds(spread as i64)
}

/// When a reminder `lead_minutes` before `starts_at` is due, if it still makes sense to send
/// it: not for an appointment booked after that moment (the confirmation said it all).
pub fn reminder_due(
    starts_at: DateTime<Utc>,
    lead_minutes: i32,
    booked_at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let due = starts_at - Duration::minutes(i64::from(lead_minutes));
    (due > booked_at).then_some(due)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn email_by_default_and_required_kinds_keep_it() {
        let mut prefs = Prefs::default();
        assert_eq!(
            prefs.channels(Kind::AppointmentBooked),
            [Channel::Email].into()
        );
        prefs
            .kinds
            .insert("emergency_access".into(), ["sms".to_string()].into());
        prefs.kinds.insert("appointment_booked".into(), [].into());
        assert!(prefs.channels(Kind::AppointmentBooked).is_empty());
        assert_eq!(
            prefs.channels(Kind::EmergencyAccess),
            [Channel::Email, Channel::Sms].into()
        );
    }

    #[test]
    fn quiet_hours_cross_midnight() {
        let night = Some((22 * 60, 7 * 60));
        assert_eq!(quiet_wait(night, at(12, 0)), None);
        assert_eq!(quiet_wait(night, at(23, 0)), Some(Duration::hours(8)));
        assert_eq!(quiet_wait(night, at(6, 30)), Some(Duration::minutes(30)));
        assert_eq!(quiet_wait(night, at(7, 0)), None);
        let afternoon = Some((13 * 60, 14 * 60));
        assert_eq!(
            quiet_wait(afternoon, at(13, 59)),
            Some(Duration::minutes(1))
        );
        assert_eq!(quiet_wait(None, at(3, 0)), None);
    }

    #[test]
    fn retries_back_off_up_to_a_cap() {
        let d = |n| retry_delay(n, 1000, 8000, 0.5).num_milliseconds();
        assert_eq!(
            (d(1), d(2), d(3), d(4), d(5), d(40)),
            (1000, 2000, 4000, 8000, 8000, 8000)
        );
        assert_eq!(retry_delay(1, 1000, 8000, 0.0).num_milliseconds(), 800);
        assert_eq!(retry_delay(1, 1000, 8000, 1.0).num_milliseconds(), 1200);
    }

    #[test]
    fn a_reminder_is_not_sent_for_a_late_booking() {
        let start = DateTime::from_timestamp(100_000, 0).unwrap();
        let early = start - Duration::days(3);
        assert_eq!(
            reminder_due(start, 1440, early),
            Some(start - Duration::days(1))
        );
        assert_eq!(reminder_due(start, 1440, start - Duration::hours(2)), None);
    }
}
