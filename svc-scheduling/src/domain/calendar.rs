//! Slot computation: a doctor's weekly templates and dated exceptions, read as civil times in the
//! clinic's zone, become instants; minus what is booked or held, they are the free slots.
//!
//! Daylight-saving changes are handled where civil time meets the clock: a slot whose start does
//! not exist (spring forward) is skipped, an ambiguous start (fall back) takes the earlier
//! instant, every slot lasts the visit length in real time, and a slot that would overrun its
//! window or the previous slot is dropped. So slots never overlap and never leave their window,
//! whatever the zone does that night (the property tests check exactly this).

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;

/// A repeating weekly window of visits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub template_id: String,
    pub weekday: Weekday,
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub visit_minutes: u32,
    pub cabinet_id: String,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

impl Template {
    pub fn applies_on(&self, date: NaiveDate) -> bool {
        date.weekday() == self.weekday
            && date >= self.valid_from
            && self.valid_to.is_none_or(|to| date <= to)
    }

    /// Whether two templates could ever put the same doctor in two places at once: the same
    /// weekday, validity periods that meet, and hours that overlap.
    pub fn overlaps(&self, other: &Template) -> bool {
        let dates_meet = self.valid_to.is_none_or(|to| other.valid_from <= to)
            && other.valid_to.is_none_or(|to| self.valid_from <= to);
        self.weekday == other.weekday
            && dates_meet
            && self.start < other.end
            && other.start < self.end
    }
}

/// What differs on one date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExceptionKind {
    DayOff,
    /// These hours replace the templates' that day.
    Hours {
        start: NaiveTime,
        end: NaiveTime,
        visit_minutes: u32,
        cabinet_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub exception_id: String,
    pub date: NaiveDate,
    pub kind: ExceptionKind,
}

/// One bookable visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub cabinet_id: String,
}

/// Time already taken (a live appointment or an unexpired hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Slot {
    pub fn overlaps(&self, busy: &Busy) -> bool {
        self.start < busy.end && busy.start < self.end
    }
}

/// A window of visits on one civil date, before it is cut into slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub date: NaiveDate,
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub visit_minutes: u32,
    pub cabinet_id: String,
}

impl Window {
    /// The window as instants: its start moved forward out of a gap, its end moved back.
    pub fn instants(&self, tz: Tz) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let start = resolve_forward(tz, self.date.and_time(self.start))?;
        let end = resolve_backward(tz, self.date.and_time(self.end))?;
        (start < end).then_some((start, end))
    }
}

/// The windows of `date`: the exception's if there is one, else every template that applies.
pub fn windows_on(
    date: NaiveDate,
    templates: &[Template],
    exceptions: &[Exception],
) -> Vec<Window> {
    if let Some(exception) = exceptions.iter().find(|e| e.date == date) {
        return match &exception.kind {
            ExceptionKind::DayOff => Vec::new(),
            ExceptionKind::Hours {
                start,
                end,
                visit_minutes,
                cabinet_id,
            } => vec![Window {
                date,
                start: *start,
                end: *end,
                visit_minutes: *visit_minutes,
                cabinet_id: cabinet_id.clone(),
            }],
        };
    }
    templates
        .iter()
        .filter(|t| t.applies_on(date))
        .map(|t| Window {
            date,
            start: t.start,
            end: t.end,
            visit_minutes: t.visit_minutes,
            cabinet_id: t.cabinet_id.clone(),
        })
        .collect()
}

/// Every slot the schedule offers that lies within `[from, to)`, ordered, none overlapping.
pub fn grid(
    tz: Tz,
    templates: &[Template],
    exceptions: &[Exception],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Slot> {
    if from >= to {
        return Vec::new();
    }
    // A civil date can start up to a day before `from` in UTC terms; take one more on each side.
    let first = from
        .with_timezone(&tz)
        .date_naive()
        .pred_opt()
        .unwrap_or(NaiveDate::MIN);
    let last = to
        .with_timezone(&tz)
        .date_naive()
        .succ_opt()
        .unwrap_or(NaiveDate::MAX);
    let mut slots = Vec::new();
    let mut date = first;
    while date <= last {
        for window in windows_on(date, templates, exceptions) {
            cut(tz, &window, &mut slots);
        }
        date = match date.succ_opt() {
            Some(next) => next,
            None => break,
        };
    }
    slots.retain(|s| s.start >= from && s.end <= to);
    slots.sort_by_key(|s| s.start);
    // Two templates are refused if they overlap, but a DST night can still fold two windows
    // together; the earlier slot wins.
    let mut kept: Vec<Slot> = Vec::with_capacity(slots.len());
    for slot in slots {
        if kept.last().is_none_or(|last| last.end <= slot.start) {
            kept.push(slot);
        }
    }
    kept
}

/// Cuts one window into visits of its length.
fn cut(tz: Tz, window: &Window, out: &mut Vec<Slot>) {
    let Some((window_start, window_end)) = window.instants(tz) else {
        return;
    };
    if window.visit_minutes == 0 {
        return;
    }
    let visit = Duration::minutes(i64::from(window.visit_minutes));
    let mut civil = window.date.and_time(window.start);
    let civil_end = window.date.and_time(window.end);
    while civil + visit <= civil_end {
        if let Some(start) = resolve_earliest(tz, civil) {
            let end = start + visit;
            if start >= window_start && end <= window_end {
                out.push(Slot {
                    start,
                    end,
                    cabinet_id: window.cabinet_id.clone(),
                });
            }
        }
        civil += visit;
    }
}

/// The free slots: the grid minus everything busy.
pub fn free(grid: Vec<Slot>, busy: &[Busy]) -> Vec<Slot> {
    grid.into_iter()
        .filter(|slot| !busy.iter().any(|b| slot.overlaps(b)))
        .collect()
}

/// The slot of the grid that starts at `start`, if the schedule offers one.
pub fn slot_at(
    tz: Tz,
    templates: &[Template],
    exceptions: &[Exception],
    start: DateTime<Utc>,
) -> Option<Slot> {
    grid(
        tz,
        templates,
        exceptions,
        start - Duration::days(1),
        start + Duration::days(1),
    )
    .into_iter()
    .find(|s| s.start == start)
}

/// A civil time as an instant; `None` in a gap, the earlier instant when it is ambiguous.
pub fn resolve_earliest(tz: Tz, civil: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&civil) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(earlier, _) => Some(earlier.with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

/// A civil time as an instant, moved forward minute by minute out of a gap.
pub fn resolve_forward(tz: Tz, civil: NaiveDateTime) -> Option<DateTime<Utc>> {
    (0..=24 * 60).find_map(|m| resolve_earliest(tz, civil + Duration::minutes(m)))
}

/// A civil time as an instant, moved back minute by minute out of a gap; when ambiguous, the
/// later instant (the window really lasts until then).
pub fn resolve_backward(tz: Tz, civil: NaiveDateTime) -> Option<DateTime<Utc>> {
    (0..=24 * 60).find_map(
        |m| match tz.from_local_datetime(&(civil - Duration::minutes(m))) {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(_, later) => Some(later.with_timezone(&Utc)),
            LocalResult::None => None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(weekday: Weekday, start: (u32, u32), end: (u32, u32), visit: u32) -> Template {
        Template {
            template_id: "t".into(),
            weekday,
            start: NaiveTime::from_hms_opt(start.0, start.1, 0).unwrap(),
            end: NaiveTime::from_hms_opt(end.0, end.1, 0).unwrap(),
            visit_minutes: visit,
            cabinet_id: "c".into(),
            valid_from: NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
            valid_to: None,
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_morning_is_cut_into_visits_in_the_clinics_zone() {
        let tz: Tz = "Europe/Kyiv".parse().unwrap();
        // 2026-11-23 is a Monday; Kyiv is UTC+2 in winter.
        let slots = grid(
            tz,
            &[template(Weekday::Mon, (9, 0), (11, 0), 30)],
            &[],
            utc("2026-11-23T00:00:00Z"),
            utc("2026-11-24T00:00:00Z"),
        );
        let starts: Vec<String> = slots.iter().map(|s| s.start.to_rfc3339()).collect();
        assert_eq!(
            starts,
            [
                "2026-11-23T07:00:00+00:00",
                "2026-11-23T07:30:00+00:00",
                "2026-11-23T08:00:00+00:00",
                "2026-11-23T08:30:00+00:00"
            ]
        );
    }

    #[test]
    fn spring_forward_skips_the_missing_hour_and_fall_back_does_not_overlap() {
        let tz: Tz = "America/New_York".parse().unwrap();
        // 2026-03-08 (Sunday): 02:00 -> 03:00. 2026-11-01 (Sunday): 02:00 -> 01:00.
        let night = [template(Weekday::Sun, (0, 0), (4, 0), 45)];
        let spring = grid(
            tz,
            &night,
            &[],
            utc("2026-03-08T00:00:00Z"),
            utc("2026-03-09T12:00:00Z"),
        );
        // Civil 00:00, 00:45, 01:30 (lasts until 03:15 EDT), 02:15 does not exist, and 03:00 EDT
        // would overlap the 01:30 visit in real time, so it is dropped.
        let spring_starts: Vec<String> = spring
            .iter()
            .map(|s| s.start.with_timezone(&tz).format("%H:%M %Z").to_string())
            .collect();
        assert_eq!(spring_starts, ["00:00 EST", "00:45 EST", "01:30 EST"]);
        let fall = grid(
            tz,
            &night,
            &[],
            utc("2026-11-01T00:00:00Z"),
            utc("2026-11-02T12:00:00Z"),
        );
        for pair in fall.windows(2) {
            assert!(pair[0].end <= pair[1].start, "{pair:?}");
        }
        assert!(
            fall.iter()
                .all(|s| s.end - s.start == Duration::minutes(45))
        );
    }

    #[test]
    fn an_exception_replaces_the_day() {
        let tz: Tz = "UTC".parse().unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let templates = [template(Weekday::Mon, (9, 0), (12, 0), 60)];
        let off = [Exception {
            exception_id: "e".into(),
            date,
            kind: ExceptionKind::DayOff,
        }];
        let day = (utc("2026-11-23T00:00:00Z"), utc("2026-11-24T00:00:00Z"));
        assert!(grid(tz, &templates, &off, day.0, day.1).is_empty());
        let short = [Exception {
            exception_id: "e".into(),
            date,
            kind: ExceptionKind::Hours {
                start: NaiveTime::from_hms_opt(14, 0, 0).unwrap(),
                end: NaiveTime::from_hms_opt(15, 0, 0).unwrap(),
                visit_minutes: 20,
                cabinet_id: "other".into(),
            },
        }];
        let slots = grid(tz, &templates, &short, day.0, day.1);
        assert_eq!(slots.len(), 3);
        assert_eq!(slots[0].start, utc("2026-11-23T14:00:00Z"));
        assert_eq!(slots[0].cabinet_id, "other");
    }

    #[test]
    fn templates_overlap_only_on_a_shared_weekday_period_and_hours() {
        let a = template(Weekday::Mon, (9, 0), (12, 0), 30);
        let mut b = template(Weekday::Mon, (11, 30), (13, 0), 30);
        assert!(a.overlaps(&b));
        b.start = NaiveTime::from_hms_opt(12, 0, 0).unwrap();
        assert!(!a.overlaps(&b), "back to back is fine");
        let mut c = template(Weekday::Tue, (9, 0), (12, 0), 30);
        assert!(!a.overlaps(&c));
        c.weekday = Weekday::Mon;
        c.valid_from = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        let mut earlier = a.clone();
        earlier.valid_to = NaiveDate::from_ymd_opt(2026, 12, 31);
        assert!(!earlier.overlaps(&c), "successive validity periods");
        assert!(a.overlaps(&c), "an open-ended one meets a later one");
    }
}
