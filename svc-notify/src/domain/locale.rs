//! Dates and times as a reader in each language writes them, in the recipient's own zone.
//!
//! The names are spelled out here rather than taken from chrono's `unstable-locales` feature:
//! the workspace builds chrono without it, it is marked unstable, and it brings tables for every
//! locale to serve four languages whose names fit on a page. Months are in the genitive in Russian
//! and Ukrainian because a day number precedes them ("1 декабря", never "1 декабрь"); Romanian and
//! English do not decline them.

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;

use super::Lang;

/// "Tuesday, 1 December 2026, 14:30" in `lang`, in the zone `time_zone`.
///
/// An unknown or empty zone is read as UTC and the text ends in " UTC", so a reader is never
/// shown a UTC time that looks like their own.
pub fn format_datetime(at: DateTime<Utc>, time_zone: &str, lang: Lang) -> String {
    let civil = Civil::new(at, time_zone);
    format!(
        "{}, {}{}",
        date_part(civil.when, lang),
        time_part(civil.when),
        civil.suffix()
    )
}

/// "Tuesday, 1 December 2026" in `lang`: the date in the zone, so an instant late in the UTC
/// evening may already be the next day.
pub fn format_date(at: DateTime<Utc>, time_zone: &str, lang: Lang) -> String {
    let civil = Civil::new(at, time_zone);
    format!("{}{}", date_part(civil.when, lang), civil.suffix())
}

/// "14:30": every one of the four languages writes the 24-hour clock the same way.
pub fn format_time(at: DateTime<Utc>, time_zone: &str, _lang: Lang) -> String {
    let civil = Civil::new(at, time_zone);
    format!("{}{}", time_part(civil.when), civil.suffix())
}

/// What happened to an appointment in a doctor's calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarChange {
    New,
    Moved,
    Cancelled,
}

/// A short lower-case phrase for a doctor's notice; templates put it after a colon
/// ("Calendar: appointment moved"), so it carries no capital or full stop of its own.
pub fn calendar_change(change: CalendarChange, lang: Lang) -> &'static str {
    match (lang, change) {
        (Lang::En, CalendarChange::New) => "new appointment",
        (Lang::En, CalendarChange::Moved) => "appointment moved",
        (Lang::En, CalendarChange::Cancelled) => "appointment cancelled",
        (Lang::Ro, CalendarChange::New) => "programare nouă",
        (Lang::Ro, CalendarChange::Moved) => "programare mutată",
        (Lang::Ro, CalendarChange::Cancelled) => "programare anulată",
        (Lang::Ru, CalendarChange::New) => "новая запись",
        (Lang::Ru, CalendarChange::Moved) => "запись перенесена",
        (Lang::Ru, CalendarChange::Cancelled) => "запись отменена",
        (Lang::Uk, CalendarChange::New) => "новий запис",
        (Lang::Uk, CalendarChange::Moved) => "запис перенесено",
        (Lang::Uk, CalendarChange::Cancelled) => "запис скасовано",
    }
}

/// The wall-clock reading of an instant, and whether it is in the zone that was asked for.
struct Civil {
    when: NaiveDateTime,
    zone_known: bool,
}

impl Civil {
    fn new(at: DateTime<Utc>, time_zone: &str) -> Civil {
        match time_zone.parse::<Tz>() {
            Ok(tz) => Civil {
                when: at.with_timezone(&tz).naive_local(),
                zone_known: true,
            },
            Err(_) => Civil {
                when: at.naive_utc(),
                zone_known: false,
            },
        }
    }

    fn suffix(&self) -> &'static str {
        if self.zone_known { "" } else { " UTC" }
    }
}

fn date_part(when: NaiveDateTime, lang: Lang) -> String {
    let weekday = when.weekday().num_days_from_monday() as usize;
    let month = when.month0() as usize;
    let (day, year) = (when.day(), when.year());
    match lang {
        Lang::En => format!(
            "{}, {day} {} {year}",
            EN_WEEKDAYS[weekday], EN_MONTHS[month]
        ),
        Lang::Ro => format!(
            "{}, {day} {} {year}",
            RO_WEEKDAYS[weekday], RO_MONTHS[month]
        ),
        Lang::Ru => format!(
            "{}, {day} {} {year} г.",
            RU_WEEKDAYS[weekday], RU_MONTHS[month]
        ),
        Lang::Uk => format!(
            "{}, {day} {} {year} р.",
            UK_WEEKDAYS[weekday], UK_MONTHS[month]
        ),
    }
}

fn time_part(when: NaiveDateTime) -> String {
    format!("{:02}:{:02}", when.hour(), when.minute())
}

// Weekdays from Monday, months from January, as `num_days_from_monday` and `month0` count.

const EN_WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Romanian writes weekdays and months in lower case; "marți" takes ț with a comma below
/// (U+021B), the correct form, not the cedilla ţ that old fonts substituted.
const RO_WEEKDAYS: [&str; 7] = [
    "luni",
    "marți",
    "miercuri",
    "joi",
    "vineri",
    "sâmbătă",
    "duminică",
];
const RO_MONTHS: [&str; 12] = [
    "ianuarie",
    "februarie",
    "martie",
    "aprilie",
    "mai",
    "iunie",
    "iulie",
    "august",
    "septembrie",
    "octombrie",
    "noiembrie",
    "decembrie",
];

const RU_WEEKDAYS: [&str; 7] = [
    "понедельник",
    "вторник",
    "среда",
    "четверг",
    "пятница",
    "суббота",
    "воскресенье",
];
/// Genitive: "1 декабря".
const RU_MONTHS: [&str; 12] = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
];

/// "пʼятниця" is written with U+02BC, the apostrophe Unicode and CLDR give Ukrainian as a
/// letter, so it is not taken for a closing quote.
const UK_WEEKDAYS: [&str; 7] = [
    "понеділок",
    "вівторок",
    "середа",
    "четвер",
    "пʼятниця",
    "субота",
    "неділя",
];
/// Genitive: "1 грудня".
const UK_MONTHS: [&str; 12] = [
    "січня",
    "лютого",
    "березня",
    "квітня",
    "травня",
    "червня",
    "липня",
    "серпня",
    "вересня",
    "жовтня",
    "листопада",
    "грудня",
];

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    /// 1 December 2026 is a Tuesday; Moldova and Ukraine are on UTC+2 in winter.
    const WINTER: (i32, u32, u32, u32, u32) = (2026, 12, 1, 12, 30);
    /// 14 July 2026 is a Tuesday; both are on UTC+3 in summer.
    const SUMMER: (i32, u32, u32, u32, u32) = (2026, 7, 14, 11, 30);

    fn at((y, mo, d, h, mi): (i32, u32, u32, u32, u32)) -> DateTime<Utc> {
        utc(y, mo, d, h, mi)
    }

    #[test]
    fn winter_in_every_language_and_both_zones() {
        for zone in ["Europe/Chisinau", "Europe/Kyiv"] {
            let at = at(WINTER);
            assert_eq!(
                format_datetime(at, zone, Lang::En),
                "Tuesday, 1 December 2026, 14:30"
            );
            assert_eq!(
                format_datetime(at, zone, Lang::Ro),
                "marți, 1 decembrie 2026, 14:30"
            );
            assert_eq!(
                format_datetime(at, zone, Lang::Ru),
                "вторник, 1 декабря 2026 г., 14:30"
            );
            assert_eq!(
                format_datetime(at, zone, Lang::Uk),
                "вівторок, 1 грудня 2026 р., 14:30"
            );
        }
    }

    #[test]
    fn summer_time_moves_the_clock_an_hour() {
        for zone in ["Europe/Chisinau", "Europe/Kyiv"] {
            let at = at(SUMMER);
            assert_eq!(
                format_datetime(at, zone, Lang::En),
                "Tuesday, 14 July 2026, 14:30"
            );
            assert_eq!(
                format_datetime(at, zone, Lang::Ro),
                "marți, 14 iulie 2026, 14:30"
            );
            assert_eq!(
                format_datetime(at, zone, Lang::Ru),
                "вторник, 14 июля 2026 г., 14:30"
            );
            assert_eq!(
                format_datetime(at, zone, Lang::Uk),
                "вівторок, 14 липня 2026 р., 14:30"
            );
        }
    }

    /// Moldova springs forward at 02:00 local (00:00 UTC), Ukraine at 03:00 local (01:00 UTC),
    /// so for one hour the two zones differ: proof that each zone's own rules are used.
    #[test]
    fn the_two_zones_change_clocks_an_hour_apart() {
        let at = utc(2026, 3, 29, 0, 30);
        assert_eq!(format_time(at, "Europe/Chisinau", Lang::Ro), "03:30");
        assert_eq!(format_time(at, "Europe/Kyiv", Lang::Uk), "02:30");
        let later = at + Duration::hours(1);
        assert_eq!(format_time(later, "Europe/Chisinau", Lang::Ro), "04:30");
        assert_eq!(format_time(later, "Europe/Kyiv", Lang::Uk), "04:30");
    }

    #[test]
    fn the_date_is_the_one_in_the_zone() {
        let late_utc_evening = utc(2026, 12, 1, 22, 30);
        assert_eq!(
            format_date(late_utc_evening, "Europe/Chisinau", Lang::En),
            "Wednesday, 2 December 2026"
        );
        assert_eq!(
            format_date(late_utc_evening, "Europe/Kyiv", Lang::Ru),
            "среда, 2 декабря 2026 г."
        );
        assert_eq!(
            format_date(late_utc_evening, "Europe/Kyiv", Lang::Uk),
            "середа, 2 грудня 2026 р."
        );
        assert_eq!(
            format_date(late_utc_evening, "Europe/Chisinau", Lang::Ro),
            "miercuri, 2 decembrie 2026"
        );
        assert_eq!(
            format_time(late_utc_evening, "Europe/Chisinau", Lang::En),
            "00:30"
        );
    }

    #[test]
    fn an_unknown_or_empty_zone_is_utc_and_says_so() {
        let at = at(WINTER);
        for zone in ["", "Mars/Olympus_Mons", "europe/chisinau", "+02:00"] {
            assert_eq!(
                format_datetime(at, zone, Lang::En),
                "Tuesday, 1 December 2026, 12:30 UTC",
                "{zone:?}"
            );
            assert_eq!(
                format_date(at, zone, Lang::Ru),
                "вторник, 1 декабря 2026 г. UTC"
            );
            assert_eq!(format_time(at, zone, Lang::Uk), "12:30 UTC");
        }
        // A zone that is UTC by name is a known zone: nothing to warn about.
        assert_eq!(format_time(at, "UTC", Lang::En), "12:30");
    }

    #[test]
    fn hours_and_minutes_are_zero_padded() {
        assert_eq!(
            format_time(utc(2026, 1, 5, 22, 5), "Europe/Kyiv", Lang::En),
            "00:05"
        );
    }

    /// Over a year every weekday and month name is used, so no table entry is missing or
    /// repeated.
    #[test]
    fn a_year_uses_seven_weekday_and_twelve_month_names_in_every_language() {
        let start = utc(2026, 1, 1, 12, 0);
        for lang in Lang::ALL {
            let mut weekdays = std::collections::BTreeSet::new();
            let mut months = std::collections::BTreeSet::new();
            for day in 0..365 {
                let text = format_date(start + Duration::days(day), "Europe/Chisinau", lang);
                let mut words = text.split([',', ' ']).filter(|w| !w.is_empty());
                weekdays.insert(words.next().unwrap_or_default().to_owned());
                words.next(); // the day number
                months.insert(words.next().unwrap_or_default().to_owned());
            }
            assert_eq!(weekdays.len(), 7, "{lang:?}");
            assert_eq!(months.len(), 12, "{lang:?}");
        }
    }

    #[test]
    fn romanian_uses_the_comma_below_never_the_cedilla() {
        let tuesday = format_datetime(at(WINTER), "Europe/Chisinau", Lang::Ro);
        assert!(tuesday.contains('\u{021B}'), "{tuesday}");
        let start = utc(2026, 1, 1, 12, 0);
        let mut every_name = String::new();
        for day in 0..365 {
            every_name += &format_date(start + Duration::days(day), "Europe/Chisinau", Lang::Ro);
        }
        for change in [
            CalendarChange::New,
            CalendarChange::Moved,
            CalendarChange::Cancelled,
        ] {
            every_name += calendar_change(change, Lang::Ro);
        }
        for cedilla in ['\u{015F}', '\u{0163}', '\u{015E}', '\u{0162}'] {
            assert!(!every_name.contains(cedilla), "{cedilla}");
        }
    }

    #[test]
    fn calendar_changes_read_differently_in_each_language() {
        let changes = [
            CalendarChange::New,
            CalendarChange::Moved,
            CalendarChange::Cancelled,
        ];
        for lang in Lang::ALL {
            let phrases: Vec<_> = changes.iter().map(|c| calendar_change(*c, lang)).collect();
            assert!(phrases.iter().all(|p| !p.is_empty()));
            assert_ne!(phrases[0], phrases[1]);
            assert_ne!(phrases[1], phrases[2]);
            assert_ne!(phrases[0], phrases[2]);
        }
        assert_eq!(
            calendar_change(CalendarChange::Moved, Lang::En),
            "appointment moved"
        );
    }
}
