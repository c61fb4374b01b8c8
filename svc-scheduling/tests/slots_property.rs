//! Property tests for slot computation: random templates, exceptions and bookings around
//! daylight-saving changes in zones with 1-hour, 30-minute and southern-hemisphere shifts.
//! Slots never overlap, never leave their window, never include booked or held time, and
//! always last the visit length in real time.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use proptest::prelude::*;
use svc_scheduling::domain::calendar::{
    Busy, Exception, ExceptionKind, Template, free, grid, windows_on,
};

/// Zones with the days they change their clocks in 2026 (1-hour shifts both ways, Lord Howe's
/// 30 minutes, southern-hemisphere zones), and UTC for contrast.
const CHANGES: [(&str, (i32, u32, u32)); 11] = [
    ("America/New_York", (2026, 3, 8)),
    ("America/New_York", (2026, 11, 1)),
    ("Europe/Kyiv", (2026, 3, 29)),
    ("Europe/London", (2026, 10, 25)),
    ("Australia/Lord_Howe", (2026, 4, 5)),
    ("Australia/Lord_Howe", (2026, 10, 4)),
    ("America/Santiago", (2026, 4, 5)),
    ("America/Santiago", (2026, 9, 6)),
    ("Pacific/Chatham", (2026, 4, 5)),
    ("Pacific/Chatham", (2026, 9, 27)),
    ("UTC", (2026, 6, 1)),
];

fn weekday(n: u32) -> Weekday {
    [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ][n as usize % 7]
}

fn time(minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(minute / 60, minute % 60, 0).unwrap()
}

prop_compose! {
    fn template()(day in 0u32..7, start in prop_oneof![0u32..(5 * 4), 0u32..(23 * 4)], length in prop_oneof![1u32..(4 * 4), 1u32..(12 * 4)], visit in prop::sample::select(vec![10u32, 15, 20, 25, 30, 45, 60, 90])) -> Template {
        let start_minute = start * 15;
        let end_minute = (start_minute + length * 15).min(23 * 60 + 59);
        Template {
            template_id: format!("t{day}-{start}"),
            weekday: weekday(day),
            start: time(start_minute),
            end: time(end_minute.max(start_minute + 1)),
            visit_minutes: visit,
            cabinet_id: "c".into(),
            valid_from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            valid_to: None,
        }
    }
}

#[derive(Debug, Clone)]
struct Case {
    tz: Tz,
    templates: Vec<Template>,
    exceptions: Vec<Exception>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    busy: Vec<Busy>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(CHANGES.to_vec()),
        0i64..3,
        2i64..7,
        prop::collection::vec(template(), 2..8),
        prop::collection::vec((0i64..8, any::<bool>(), 0u32..(20 * 4), 1u32..16), 0..3),
        prop::collection::vec((0i64..(8 * 24 * 4), 1i64..12), 0..12),
    )
        .prop_map(
            |((zone, (y, m, d)), before, days, templates, exceptions, busy)| {
                let tz: Tz = zone.parse().unwrap();
                let first = NaiveDate::from_ymd_opt(y, m, d).unwrap() - Duration::days(before);
                let from = first.and_hms_opt(0, 0, 0).unwrap().and_utc();
                let to = from + Duration::days(days);
                let exceptions = exceptions
                    .into_iter()
                    .map(|(offset, off, start, length)| Exception {
                        exception_id: format!("e{offset}"),
                        date: first + Duration::days(offset),
                        kind: if off {
                            ExceptionKind::DayOff
                        } else {
                            ExceptionKind::Hours {
                                start: time(start * 15),
                                end: time(start * 15 + length * 15),
                                visit_minutes: 20,
                                cabinet_id: "x".into(),
                            }
                        },
                    })
                    .collect();
                let busy = busy
                    .into_iter()
                    .map(|(quarter, length)| {
                        let start = from + Duration::minutes(quarter * 15);
                        Busy {
                            start,
                            end: start + Duration::minutes(length * 15),
                        }
                    })
                    .collect();
                Case {
                    tz,
                    templates,
                    exceptions,
                    from,
                    to,
                    busy,
                }
            },
        )
}

/// Which window of the slot's civil date it came from, if any: it must lie inside that
/// window's instants and last its visit length.
fn in_some_window(case: &Case, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    let date = start.with_timezone(&case.tz).date_naive();
    [date, date - Duration::days(1)].into_iter().any(|d| {
        windows_on(d, &case.templates, &case.exceptions)
            .iter()
            .any(|w| {
                w.instants(case.tz).is_some_and(|(ws, we)| {
                    ws <= start
                        && end <= we
                        && end - start == Duration::minutes(i64::from(w.visit_minutes))
                })
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn slots_never_overlap_never_leave_their_window_and_never_include_busy_time(case in case()) {
        let all = grid(case.tz, &case.templates, &case.exceptions, case.from, case.to);
        for pair in all.windows(2) {
            prop_assert!(pair[0].end <= pair[1].start, "overlap: {:?}", pair);
        }
        for slot in &all {
            prop_assert!(slot.start >= case.from && slot.end <= case.to);
            prop_assert!(slot.start < slot.end);
            prop_assert!(in_some_window(&case, slot.start, slot.end), "outside every window: {:?} in {}", slot, case.tz);
        }
        let open = free(all.clone(), &case.busy);
        for slot in &open {
            for b in &case.busy {
                prop_assert!(!(slot.start < b.end && b.start < slot.end), "{:?} includes busy {:?}", slot, b);
            }
        }
        // Nothing free was lost: a grid slot missing from the free list overlaps something busy.
        for slot in all.iter().filter(|s| !open.contains(s)) {
            prop_assert!(case.busy.iter().any(|b| slot.start < b.end && b.start < slot.end));
        }
    }

    #[test]
    fn a_day_off_has_no_slots(case in case()) {
        let mut exceptions = case.exceptions.clone();
        let date = case.from.with_timezone(&case.tz).date_naive() + Duration::days(1);
        exceptions.retain(|e| e.date != date);
        exceptions.push(Exception { exception_id: "off".into(), date, kind: ExceptionKind::DayOff });
        let slots = grid(case.tz, &case.templates, &exceptions, case.from, case.to);
        prop_assert!(slots.iter().all(|s| s.start.with_timezone(&case.tz).date_naive() != date));
    }
}
