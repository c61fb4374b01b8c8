//! The built-in message texts of every kind in every language and channel, and the small
//! `{placeholder}` language that operators' own texts are written in.
//!
//! Texts avoid putting a value where the grammar would have to inflect it: names, dates and
//! places follow a label and a colon ("Врач: {doctor_name}", "Срок подтверждения: {deadline}")
//! rather than a preposition, because Russian, Ukrainian and Romanian would need the value in
//! another case ("к врачу Иванову", "до вторника") and the values arrive in the nominative.
//! Verbs that would agree with a person's gender are avoided the same way ("Вам предоставлен
//! доступ", not "пациент предоставил"). Patients are addressed formally in every language.
//!
//! The placeholder language is `format!`'s without the formatting: `{name}` is a value, `{{` and
//! `}}` are literal braces, and values are inserted as they are, never read as template text, so a
//! name containing braces cannot inject a placeholder.

use std::collections::BTreeMap;

mod samples;
mod texts;

use samples::sample_value;
use texts::texts;

use super::{Channel, Kind, Lang};

/// A message before its placeholders are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    pub subject: &'static str,
    pub body: &'static str,
}

/// Longest text `check` accepts, in characters. Far above any real message; it bounds what an
/// operator can store and what one render can cost.
const MAX_CHARS: usize = 10_000;

/// The placeholder every kind knows: the greeting's name.
const RECIPIENT_NAME: &str = "recipient_name";

/// Email: subject and a body of a few lines. Push: a short title (subject) and one sentence.
/// SMS: subject "" and one short sentence (≤ 160 chars rendered with typical values in Latin
/// languages; Cyrillic may be longer).
pub fn built_in(kind: Kind, channel: Channel, lang: Lang) -> Text {
    let texts = texts(kind, lang);
    match channel {
        Channel::Email => Text {
            subject: texts.email_subject,
            body: texts.email_body,
        },
        Channel::Push => Text {
            subject: texts.push_title,
            body: texts.push_body,
        },
        Channel::Sms => Text {
            subject: "",
            body: texts.sms,
        },
    }
}

/// The placeholders a kind knows, besides the common `recipient_name`.
pub fn placeholders(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::AppointmentBooked | Kind::AppointmentReminder => {
            &["doctor_name", "clinic_name", "start", "link"]
        }
        Kind::AppointmentRescheduled => &[
            "doctor_name",
            "clinic_name",
            "start",
            "previous_start",
            "link",
        ],
        Kind::AppointmentCancelled => &["doctor_name", "clinic_name", "start"],
        Kind::WaitlistOffer => &["doctor_name", "clinic_name", "start", "deadline", "link"],
        Kind::PrescriptionReady => &["pharmacy_name", "medications", "link"],
        Kind::PrescriptionRejected => &["pharmacy_name", "medications", "reason"],
        Kind::EmergencyAccess => &["doctor_name", "at", "link"],
        // previous_start is empty for a new or cancelled appointment, so the built-in texts leave
        // it out; an operator's text for moves alone may use it.
        Kind::CalendarChanged => &[
            "change",
            "patient_name",
            "clinic_name",
            "start",
            "previous_start",
        ],
        Kind::DailyAgenda => &["date", "count", "agenda"],
        Kind::AccessGranted => &["patient_name", "until"],
        Kind::StockLow => &["pharmacy_name", "medication_name", "available", "threshold"],
        Kind::StockExpiring => &[
            "pharmacy_name",
            "medication_name",
            "lot",
            "quantity",
            "expires",
        ],
        Kind::Manual => &["subject", "body"],
    }
}

/// Sample values for previews (names with ș/ț for ro, Cyrillic for ru/uk), every placeholder of
/// the kind plus recipient_name. Times are formatted by [`super::locale`] exactly as real messages are,
/// so a preview shows real lengths.
pub fn sample(kind: Kind, lang: Lang) -> BTreeMap<String, String> {
    std::iter::once(RECIPIENT_NAME)
        .chain(placeholders(kind).iter().copied())
        .map(|name| (name.to_owned(), sample_value(kind, name, lang)))
        .collect()
}

/// Why a text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder {{{0}}}; this kind knows: {1}")]
    Unknown(String, String),
    #[error("unbalanced brace at character {0}; write {{{{ or }}}} for a literal brace")]
    Unbalanced(usize),
    #[error("the text is empty")]
    Empty,
    #[error("the text is longer than {0} characters")]
    TooLong(usize),
}

/// Checks that `text` is well formed and names only `kind`'s placeholders (and recipient_name).
/// Empty text is Empty; more than 10_000 chars TooLong(10_000).
///
/// Text of only whitespace is Empty too: it would send a blank message. Lengths and the position
/// in `Unbalanced` count characters (the first is 1), not bytes, because that is what the person
/// editing the text sees. The first problem in reading order is the one reported.
pub fn check(kind: Kind, text: &str) -> Result<(), TemplateError> {
    if text.trim().is_empty() {
        return Err(TemplateError::Empty);
    }
    if text.chars().count() > MAX_CHARS {
        return Err(TemplateError::TooLong(MAX_CHARS));
    }
    let known = placeholders(kind);
    for piece in Pieces::new(text) {
        match piece {
            Piece::Literal(_) => {}
            Piece::Placeholder(name) => {
                if name != RECIPIENT_NAME && !known.contains(&name) {
                    let listed: Vec<String> = std::iter::once(RECIPIENT_NAME)
                        .chain(known.iter().copied())
                        .map(|known| format!("{{{known}}}"))
                        .collect();
                    return Err(TemplateError::Unknown(name.to_owned(), listed.join(", ")));
                }
            }
            Piece::Stray { at_byte, .. } => {
                return Err(TemplateError::Unbalanced(
                    text[..at_byte].chars().count() + 1,
                ));
            }
        }
    }
    Ok(())
}

/// Fills placeholders from `values`; `{{` and `}}` are literal braces; a placeholder with no
/// value renders as an empty string. Never panics, whatever the input (malformed text renders the
/// braces as they are).
///
/// Rendering does not refuse what `check` would: a stored text was checked when it was saved, and
/// a message that goes out with a stray brace is better than one that does not go out.
pub fn render(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in Pieces::new(text) {
        match piece {
            Piece::Literal(literal) => out.push_str(literal),
            Piece::Placeholder(name) => {
                if let Some(value) = values.get(name) {
                    out.push_str(value);
                }
            }
            Piece::Stray { brace, .. } => out.push(brace),
        }
    }
    out
}

/// One piece of a text, as read from left to right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'a> {
    /// Text to copy; `{{` and `}}` arrive as a one-brace literal.
    Literal(&'a str),
    /// The name between `{` and the next `}`, which may be anything but a brace.
    Placeholder(&'a str),
    /// A `}` that closes nothing, or a `{` that another `{` or the end of the text cuts off.
    Stray { brace: char, at_byte: usize },
}

/// Reads a text into [`Piece`]s. Every slice boundary is next to an ASCII brace or at an end, so
/// slicing never splits a UTF-8 character and the reader cannot panic.
struct Pieces<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Pieces<'a> {
    fn new(text: &'a str) -> Pieces<'a> {
        Pieces { text, at: 0 }
    }
}

impl<'a> Iterator for Pieces<'a> {
    type Item = Piece<'a>;

    fn next(&mut self) -> Option<Piece<'a>> {
        let rest = &self.text[self.at..];
        let start = self.at;
        let (piece, used) = if rest.is_empty() {
            return None;
        } else if rest.starts_with("{{") {
            (Piece::Literal("{"), 2)
        } else if rest.starts_with("}}") {
            (Piece::Literal("}"), 2)
        } else if let Some(after_open) = rest.strip_prefix('{') {
            match after_open.find(['{', '}']) {
                Some(end) if after_open.as_bytes()[end] == b'}' => {
                    (Piece::Placeholder(&after_open[..end]), end + 2)
                }
                _ => (
                    Piece::Stray {
                        brace: '{',
                        at_byte: start,
                    },
                    1,
                ),
            }
        } else if rest.starts_with('}') {
            (
                Piece::Stray {
                    brace: '}',
                    at_byte: start,
                },
                1,
            )
        } else {
            let end = rest.find(['{', '}']).unwrap_or(rest.len());
            (Piece::Literal(&rest[..end]), end)
        };
        self.at += used;
        Some(piece)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_text() -> impl Iterator<Item = (Kind, Channel, Lang, Text)> {
        Kind::ALL.into_iter().flat_map(|kind| {
            Channel::ALL.into_iter().flat_map(move |channel| {
                Lang::ALL
                    .into_iter()
                    .map(move |lang| (kind, channel, lang, built_in(kind, channel, lang)))
            })
        })
    }

    fn names_in(text: &str) -> Vec<&str> {
        Pieces::new(text)
            .filter_map(|piece| match piece {
                Piece::Placeholder(name) => Some(name),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_built_in_text_passes_check() {
        for (kind, channel, lang, text) in every_text() {
            let context = format!("{kind:?} {channel:?} {lang:?}");
            assert_eq!(check(kind, text.body), Ok(()), "{context} body");
            if channel == Channel::Sms {
                assert_eq!(text.subject, "", "{context}");
            } else {
                assert_eq!(check(kind, text.subject), Ok(()), "{context} subject");
            }
        }
    }

    #[test]
    fn the_english_email_uses_every_placeholder_of_its_kind() {
        for kind in Kind::ALL {
            let email = built_in(kind, Channel::Email, Lang::En);
            let used: Vec<_> = names_in(email.subject)
                .into_iter()
                .chain(names_in(email.body))
                .collect();
            for name in placeholders(kind) {
                if (kind, *name) == (Kind::CalendarChanged, "previous_start") {
                    continue;
                }
                assert!(used.contains(name), "{kind:?} email lacks {{{name}}}");
            }
        }
    }

    /// A translation that drops or adds a value says something different from the others.
    #[test]
    fn every_language_uses_the_same_placeholders_as_english() {
        for kind in Kind::ALL {
            for channel in Channel::ALL {
                let used = |lang| {
                    let text = built_in(kind, channel, lang);
                    let mut names: Vec<_> = names_in(text.subject)
                        .into_iter()
                        .chain(names_in(text.body))
                        .collect();
                    names.sort_unstable();
                    names.dedup();
                    names
                };
                for lang in Lang::ALL {
                    assert_eq!(used(lang), used(Lang::En), "{kind:?} {channel:?} {lang:?}");
                }
            }
        }
    }

    #[test]
    fn emails_greet_by_name_and_give_the_link() {
        for lang in Lang::ALL {
            for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::Manual) {
                let body = built_in(kind, Channel::Email, lang).body;
                assert!(body.contains("{recipient_name}"), "{kind:?} {lang:?}");
                if placeholders(kind).contains(&"link") {
                    assert!(body.contains("{link}"), "{kind:?} {lang:?}");
                }
            }
        }
    }

    #[test]
    fn push_and_sms_are_one_line() {
        for (kind, channel, lang, text) in every_text() {
            if channel != Channel::Email {
                assert!(
                    !text.subject.contains('\n'),
                    "{kind:?} {channel:?} {lang:?}"
                );
                assert!(!text.body.contains('\n'), "{kind:?} {channel:?} {lang:?}");
            }
            if channel == Channel::Push {
                assert!(!text.subject.is_empty(), "{kind:?} {lang:?}");
            }
        }
    }

    #[test]
    fn manual_texts_carry_the_operators_message() {
        for lang in Lang::ALL {
            let email = built_in(Kind::Manual, Channel::Email, lang);
            assert_eq!((email.subject, email.body), ("{subject}", "{body}"));
            let push = built_in(Kind::Manual, Channel::Push, lang);
            assert_eq!((push.subject, push.body), ("{subject}", "{body}"));
            let sms = built_in(Kind::Manual, Channel::Sms, lang);
            assert_eq!((sms.subject, sms.body), ("", "{body}"));
        }
    }

    #[test]
    fn samples_fill_every_placeholder() {
        for kind in Kind::ALL {
            let names = placeholders(kind);
            assert!(!names.contains(&RECIPIENT_NAME), "{kind:?}");
            for lang in Lang::ALL {
                let sample = sample(kind, lang);
                assert_eq!(sample.len(), names.len() + 1, "{kind:?} {lang:?}");
                for name in names.iter().chain([&RECIPIENT_NAME]) {
                    let value = sample.get(*name).map(String::as_str).unwrap_or_default();
                    assert!(!value.is_empty(), "{kind:?} {lang:?} {name}");
                }
            }
        }
    }

    #[test]
    fn samples_look_like_their_language() {
        let ro = sample(Kind::AppointmentBooked, Lang::Ro);
        let comma_below = |s: &str| s.contains(['ș', 'ț', 'Ș', 'Ț']);
        assert!(comma_below(&ro["recipient_name"]) && comma_below(&ro["doctor_name"]));
        for lang in [Lang::Ru, Lang::Uk] {
            let sample = sample(Kind::AppointmentBooked, lang);
            let cyrillic = |s: &str| s.chars().any(|c| ('\u{0400}'..='\u{04FF}').contains(&c));
            assert!(cyrillic(&sample["recipient_name"]) && cyrillic(&sample["doctor_name"]));
        }
    }

    #[test]
    fn rendering_with_the_samples_leaves_no_braces() {
        for (kind, _, lang, text) in every_text() {
            let sample = sample(kind, lang);
            for rendered in [render(text.subject, &sample), render(text.body, &sample)] {
                assert!(
                    !rendered.contains(['{', '}']),
                    "{kind:?} {lang:?}: {rendered}"
                );
            }
        }
    }

    /// "2026 г.." is what a full stop after a Russian or Ukrainian date would give.
    #[test]
    fn rendered_texts_have_no_doubled_full_stops() {
        for (kind, channel, lang, text) in every_text() {
            let sample = sample(kind, lang);
            for rendered in [render(text.subject, &sample), render(text.body, &sample)] {
                assert!(
                    !rendered.contains(".."),
                    "{kind:?} {channel:?} {lang:?}: {rendered}"
                );
            }
        }
    }

    #[test]
    fn sms_in_latin_languages_fit_one_message() {
        for kind in Kind::ALL {
            for lang in [Lang::En, Lang::Ro] {
                let rendered = render(built_in(kind, Channel::Sms, lang).body, &sample(kind, lang));
                let length = rendered.chars().count();
                assert!(length <= 160, "{kind:?} {lang:?} is {length}: {rendered}");
            }
        }
    }

    #[test]
    fn romanian_uses_the_comma_below_never_the_cedilla() {
        let mut all = String::new();
        for (kind, _, lang, text) in every_text() {
            if lang == Lang::Ro {
                all += text.subject;
                all += text.body;
                all.extend(sample(kind, lang).into_values());
            }
        }
        for cedilla in ['\u{015F}', '\u{0163}', '\u{015E}', '\u{0162}'] {
            assert!(!all.contains(cedilla), "{cedilla}");
        }
        assert!(all.contains('\u{0219}') && all.contains('\u{021B}'));
    }

    /// Catches a Russian word pasted into Ukrainian or the other way round.
    #[test]
    fn russian_and_ukrainian_do_not_borrow_each_others_letters() {
        for (kind, channel, lang, text) in every_text() {
            let both = format!("{}{}", text.subject, text.body);
            let foreign: &[char] = match lang {
                Lang::Ru => &['і', 'ї', 'є', 'ґ', 'І', 'Ї', 'Є', 'Ґ'],
                Lang::Uk => &['ы', 'э', 'ъ', 'ё', 'Ы', 'Э', 'Ё'],
                Lang::En | Lang::Ro => continue,
            };
            assert!(
                !both.contains(foreign),
                "{kind:?} {channel:?} {lang:?}: {both}"
            );
        }
    }

    #[test]
    fn double_braces_are_literal_braces() {
        let values = BTreeMap::from([("a".to_owned(), "value".to_owned())]);
        assert_eq!(render("{{x}} {a}", &values), "{x} value");
        assert_eq!(render("{{{a}}}", &values), "{value}");
        assert_eq!(check(Kind::Manual, "{{x}} {body}"), Ok(()));
    }

    #[test]
    fn a_missing_value_renders_empty_and_values_are_not_reread() {
        let values = BTreeMap::from([("a".to_owned(), "{b}".to_owned())]);
        assert_eq!(render("[{missing}]", &values), "[]");
        assert_eq!(render("{a}", &values), "{b}");
    }

    #[test]
    fn check_names_an_unknown_placeholder_and_what_is_known() {
        assert_eq!(
            check(Kind::AccessGranted, "Hello {recipient_name}, {doctor_name}"),
            Err(TemplateError::Unknown(
                "doctor_name".into(),
                "{recipient_name}, {patient_name}, {until}".into()
            ))
        );
        assert!(matches!(
            check(Kind::Manual, "{}"),
            Err(TemplateError::Unknown(name, _)) if name.is_empty()
        ));
        let message = check(Kind::AccessGranted, "{x}").unwrap_err().to_string();
        assert_eq!(
            message,
            "unknown placeholder {x}; this kind knows: {recipient_name}, {patient_name}, {until}"
        );
    }

    #[test]
    fn check_points_at_an_unbalanced_brace_by_character() {
        assert_eq!(
            check(Kind::Manual, "Hi {body"),
            Err(TemplateError::Unbalanced(4))
        );
        assert_eq!(
            check(Kind::Manual, "a } b"),
            Err(TemplateError::Unbalanced(3))
        );
        assert_eq!(
            check(Kind::Manual, "ș {b {body}"),
            Err(TemplateError::Unbalanced(3))
        );
        assert_eq!(
            check(Kind::Manual, "{body}}"),
            Err(TemplateError::Unbalanced(7))
        );
        assert_eq!(
            TemplateError::Unbalanced(3).to_string(),
            "unbalanced brace at character 3; write {{ or }} for a literal brace"
        );
    }

    #[test]
    fn check_refuses_empty_and_overlong_text() {
        assert_eq!(check(Kind::Manual, ""), Err(TemplateError::Empty));
        assert_eq!(check(Kind::Manual, " \n\t"), Err(TemplateError::Empty));
        assert_eq!(check(Kind::Manual, &"a".repeat(10_000)), Ok(()));
        assert_eq!(
            check(Kind::Manual, &"a".repeat(10_001)),
            Err(TemplateError::TooLong(10_000))
        );
        // Characters, not bytes: 10 000 Cyrillic letters are 20 000 bytes.
        assert_eq!(check(Kind::Manual, &"ж".repeat(10_000)), Ok(()));
    }

    #[test]
    fn malformed_text_renders_its_braces_as_they_are() {
        let values = BTreeMap::from([("a".to_owned(), "A".to_owned())]);
        for (text, expected) in [
            ("{", "{"),
            ("}", "}"),
            ("{{{", "{{"),
            ("}}}", "}}"),
            ("{a", "{a"),
            ("a}", "a}"),
            ("{a {a}", "{a A"),
            ("}{a}{", "}A{"),
            ("", ""),
        ] {
            assert_eq!(render(text, &values), expected, "{text:?}");
        }
    }

    /// A small xorshift generator: enough to try tens of thousands of brace-heavy texts, with
    /// multi-byte letters next to braces, without a property-testing crate.
    #[test]
    fn render_and_check_never_panic() {
        const ALPHABET: [&str; 10] = ["{", "}", "{{", "}}", "a", "_", " ", "ș", "ж", "{a}"];
        let values = BTreeMap::from([("a".to_owned(), "{ }".to_owned())]);
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let length = next() % 12;
            let text: String = (0..length)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            let rendered = render(&text, &values);
            let _ = check(Kind::Manual, &text);
            if !text.contains(['{', '}']) {
                assert_eq!(rendered, text);
            }
            // Well-formed text with no placeholders renders its escapes as single braces.
            if check(Kind::Manual, &text).is_ok() && names_in(&text).is_empty() {
                assert_eq!(rendered, text.replace("{{", "{").replace("}}", "}"));
            }
        }
    }
}
