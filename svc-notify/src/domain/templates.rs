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

use super::locale::{self, CalendarChange};
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
        Kind::Manual => &["subject", "body"],
    }
}

/// Sample values for previews (names with ș/ț for ro, Cyrillic for ru/uk), every placeholder of
/// the kind plus recipient_name. Times are formatted by [`locale`] exactly as real messages are,
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

/// Every text of one kind in one language.
struct Texts {
    email_subject: &'static str,
    email_body: &'static str,
    push_title: &'static str,
    push_body: &'static str,
    sms: &'static str,
}

/// The built-in texts. Email bodies greet by name and end with the service's name; push and SMS
/// are one sentence without a greeting, since the recipient's name adds length and nothing else.
fn texts(kind: Kind, lang: Lang) -> Texts {
    use Kind::*;
    use Lang::*;
    match (kind, lang) {
        (AppointmentBooked, En) => Texts {
            email_subject: "Appointment confirmed: {start}",
            email_body: "Hello {recipient_name},\n\n\
                Your appointment is booked.\n\n\
                Doctor: {doctor_name}\n\
                Clinic: {clinic_name}\n\
                When: {start}\n\n\
                To see the details, reschedule or cancel, open {link}\n\
                If you cannot come, please cancel so that someone else can have the time.\n\n\
                MedMesh",
            push_title: "Appointment confirmed",
            push_body: "Your appointment with {doctor_name} at {clinic_name} is booked for {start}.",
            sms: "MedMesh: your appointment with {doctor_name} at {clinic_name} is booked for \
                {start}. {link}",
        },
        (AppointmentBooked, Ro) => Texts {
            email_subject: "Programare confirmată: {start}",
            email_body: "Bună ziua, {recipient_name},\n\n\
                Programarea dumneavoastră a fost înregistrată.\n\n\
                Medic: {doctor_name}\n\
                Clinica: {clinic_name}\n\
                Data și ora: {start}\n\n\
                Detalii, reprogramare sau anulare: {link}\n\
                Dacă nu puteți veni, vă rugăm să anulați programarea, ca altcineva să poată \
                folosi ora.\n\n\
                MedMesh",
            push_title: "Programare confirmată",
            push_body: "Programarea la {doctor_name}, {clinic_name}, este confirmată: {start}.",
            sms: "MedMesh: programarea la {doctor_name}, {clinic_name}, este confirmată: \
                {start}. {link}",
        },
        (AppointmentBooked, Ru) => Texts {
            email_subject: "Запись подтверждена: {start}",
            email_body: "Здравствуйте, {recipient_name}!\n\n\
                Вы записаны на приём.\n\n\
                Врач: {doctor_name}\n\
                Клиника: {clinic_name}\n\
                Время приёма: {start}\n\n\
                Подробности, перенос и отмена записи: {link}\n\
                Если Вы не сможете прийти, пожалуйста, отмените запись, чтобы это время мог \
                занять другой пациент.\n\n\
                MedMesh",
            push_title: "Запись подтверждена",
            push_body: "Вы записаны на приём: {doctor_name}, {clinic_name}, {start}.",
            sms: "MedMesh: Вы записаны на приём — {doctor_name}, {clinic_name}, {start}. {link}",
        },
        (AppointmentBooked, Uk) => Texts {
            email_subject: "Запис підтверджено: {start}",
            email_body: "Доброго дня, {recipient_name}!\n\n\
                Вас записано на прийом.\n\n\
                Лікар: {doctor_name}\n\
                Клініка: {clinic_name}\n\
                Час прийому: {start}\n\n\
                Подробиці, перенесення та скасування запису: {link}\n\
                Якщо Ви не зможете прийти, будь ласка, скасуйте запис, щоб цей час міг \
                отримати інший пацієнт.\n\n\
                MedMesh",
            push_title: "Запис підтверджено",
            push_body: "Вас записано на прийом: {doctor_name}, {clinic_name}, {start}.",
            sms: "MedMesh: Вас записано на прийом — {doctor_name}, {clinic_name}, {start}. {link}",
        },

        (AppointmentRescheduled, En) => Texts {
            email_subject: "Appointment moved to {start}",
            email_body: "Hello {recipient_name},\n\n\
                Your appointment has been moved.\n\n\
                Doctor: {doctor_name}\n\
                Clinic: {clinic_name}\n\
                New time: {start}\n\
                Previous time: {previous_start}\n\n\
                If the new time does not suit you, you can choose another or cancel at {link}\n\n\
                MedMesh",
            push_title: "Appointment moved",
            push_body: "Your appointment with {doctor_name} is now on {start}.",
            sms: "MedMesh: your appointment with {doctor_name} has moved to {start}. Details: \
                {link}",
        },
        (AppointmentRescheduled, Ro) => Texts {
            email_subject: "Programare mutată: {start}",
            email_body: "Bună ziua, {recipient_name},\n\n\
                Programarea dumneavoastră a fost mutată.\n\n\
                Medic: {doctor_name}\n\
                Clinica: {clinic_name}\n\
                Data și ora noi: {start}\n\
                Data și ora anterioare: {previous_start}\n\n\
                Dacă noua oră nu vă convine, puteți alege alta sau anula programarea: {link}\n\n\
                MedMesh",
            push_title: "Programare mutată",
            push_body: "Programarea la {doctor_name} a fost mutată: {start}.",
            sms: "MedMesh: programarea la {doctor_name} a fost mutată: {start}. Detalii: {link}",
        },
        (AppointmentRescheduled, Ru) => Texts {
            email_subject: "Запись перенесена: {start}",
            email_body: "Здравствуйте, {recipient_name}!\n\n\
                Ваша запись на приём перенесена.\n\n\
                Врач: {doctor_name}\n\
                Клиника: {clinic_name}\n\
                Новое время: {start}\n\
                Прежнее время: {previous_start}\n\n\
                Если новое время Вам не подходит, выберите другое или отмените запись: {link}\n\n\
                MedMesh",
            push_title: "Запись перенесена",
            push_body: "Ваша запись перенесена: {doctor_name}, новое время: {start}.",
            sms: "MedMesh: Ваша запись перенесена — {doctor_name}, новое время: {start}. {link}",
        },
        (AppointmentRescheduled, Uk) => Texts {
            email_subject: "Запис перенесено: {start}",
            email_body: "Доброго дня, {recipient_name}!\n\n\
                Ваш запис на прийом перенесено.\n\n\
                Лікар: {doctor_name}\n\
                Клініка: {clinic_name}\n\
                Новий час: {start}\n\
                Попередній час: {previous_start}\n\n\
                Якщо новий час Вам не підходить, оберіть інший або скасуйте запис: {link}\n\n\
                MedMesh",
            push_title: "Запис перенесено",
            push_body: "Ваш запис перенесено: {doctor_name}, новий час: {start}.",
            sms: "MedMesh: Ваш запис перенесено — {doctor_name}, новий час: {start}. {link}",
        },

        (AppointmentCancelled, En) => Texts {
            email_subject: "Appointment cancelled: {start}",
            email_body: "Hello {recipient_name},\n\n\
                Your appointment has been cancelled.\n\n\
                Doctor: {doctor_name}\n\
                Clinic: {clinic_name}\n\
                Time: {start}\n\n\
                If you did not expect this, please contact the clinic. You can book a new \
                appointment in MedMesh whenever it suits you.\n\n\
                MedMesh",
            push_title: "Appointment cancelled",
            push_body: "Your appointment with {doctor_name} on {start} has been cancelled.",
            sms: "MedMesh: your appointment with {doctor_name} at {clinic_name} on {start} has \
                been cancelled.",
        },
        (AppointmentCancelled, Ro) => Texts {
            email_subject: "Programare anulată: {start}",
            email_body: "Bună ziua, {recipient_name},\n\n\
                Programarea dumneavoastră a fost anulată.\n\n\
                Medic: {doctor_name}\n\
                Clinica: {clinic_name}\n\
                Data și ora: {start}\n\n\
                Dacă nu vă așteptați la această anulare, vă rugăm să contactați clinica. Puteți \
                face oricând o nouă programare în MedMesh.\n\n\
                MedMesh",
            push_title: "Programare anulată",
            push_body: "Programarea la {doctor_name} ({start}) a fost anulată.",
            sms: "MedMesh: programarea la {doctor_name}, {clinic_name}, {start}, a fost anulată.",
        },
        (AppointmentCancelled, Ru) => Texts {
            email_subject: "Запись отменена: {start}",
            email_body: "Здравствуйте, {recipient_name}!\n\n\
                Ваша запись на приём отменена.\n\n\
                Врач: {doctor_name}\n\
                Клиника: {clinic_name}\n\
                Время приёма: {start}\n\n\
                Если Вы не ожидали отмены, пожалуйста, свяжитесь с клиникой. Записаться снова \
                можно в MedMesh в любое удобное время.\n\n\
                MedMesh",
            push_title: "Запись отменена",
            push_body: "Ваша запись отменена: {doctor_name}, {start}.",
            sms: "MedMesh: Ваша запись отменена — {doctor_name}, {clinic_name}, {start}.",
        },
        (AppointmentCancelled, Uk) => Texts {
            email_subject: "Запис скасовано: {start}",
            email_body: "Доброго дня, {recipient_name}!\n\n\
                Ваш запис на прийом скасовано.\n\n\
                Лікар: {doctor_name}\n\
                Клініка: {clinic_name}\n\
                Час прийому: {start}\n\n\
                Якщо Ви не очікували скасування, будь ласка, зверніться до клініки. Записатися \
                знову можна в MedMesh у будь-який зручний час.\n\n\
                MedMesh",
            push_title: "Запис скасовано",
            push_body: "Ваш запис скасовано: {doctor_name}, {start}.",
            sms: "MedMesh: Ваш запис скасовано — {doctor_name}, {clinic_name}, {start}.",
        },

        (AppointmentReminder, En) => Texts {
            email_subject: "Reminder: appointment on {start}",
            email_body: "Hello {recipient_name},\n\n\
                This is a reminder of your upcoming appointment.\n\n\
                Doctor: {doctor_name}\n\
                Clinic: {clinic_name}\n\
                When: {start}\n\n\
                If your plans have changed, please reschedule or cancel at {link}\n\n\
                MedMesh",
            push_title: "Appointment reminder",
            push_body: "Your appointment with {doctor_name} at {clinic_name} is on {start}.",
            sms: "MedMesh reminder: your appointment with {doctor_name} at {clinic_name} is on \
                {start}. {link}",
        },
        (AppointmentReminder, Ro) => Texts {
            email_subject: "Reamintire programare: {start}",
            email_body: "Bună ziua, {recipient_name},\n\n\
                Vă reamintim de programarea dumneavoastră.\n\n\
                Medic: {doctor_name}\n\
                Clinica: {clinic_name}\n\
                Data și ora: {start}\n\n\
                Dacă planurile s-au schimbat, vă rugăm să reprogramați sau să anulați: {link}\n\n\
                MedMesh",
            push_title: "Reamintire programare",
            push_body: "Aveți programare la {doctor_name}, {clinic_name}: {start}.",
            sms: "MedMesh: vă reamintim de programarea la {doctor_name}, {clinic_name}, \
                {start}. {link}",
        },
        (AppointmentReminder, Ru) => Texts {
            email_subject: "Напоминание о приёме: {start}",
            email_body: "Здравствуйте, {recipient_name}!\n\n\
                Напоминаем о Вашей записи на приём.\n\n\
                Врач: {doctor_name}\n\
                Клиника: {clinic_name}\n\
                Время приёма: {start}\n\n\
                Если Ваши планы изменились, пожалуйста, перенесите или отмените запись: {link}\n\n\
                MedMesh",
            push_title: "Напоминание о приёме",
            push_body: "Ваш приём: {doctor_name}, {clinic_name}, {start}.",
            sms: "MedMesh: напоминаем о приёме — {doctor_name}, {clinic_name}, {start}. {link}",
        },
        (AppointmentReminder, Uk) => Texts {
            email_subject: "Нагадування про прийом: {start}",
            email_body: "Доброго дня, {recipient_name}!\n\n\
                Нагадуємо про Ваш запис на прийом.\n\n\
                Лікар: {doctor_name}\n\
                Клініка: {clinic_name}\n\
                Час прийому: {start}\n\n\
                Якщо Ваші плани змінилися, будь ласка, перенесіть або скасуйте запис: {link}\n\n\
                MedMesh",
            push_title: "Нагадування про прийом",
            push_body: "Ваш прийом: {doctor_name}, {clinic_name}, {start}.",
            sms: "MedMesh: нагадуємо про прийом — {doctor_name}, {clinic_name}, {start}. {link}",
        },

        (WaitlistOffer, En) => Texts {
            email_subject: "A time has opened up: {start}",
            email_body: "Hello {recipient_name},\n\n\
                A time has become free with a doctor whose waiting list you joined.\n\n\
                Doctor: {doctor_name}\n\
                Clinic: {clinic_name}\n\
                When: {start}\n\
                Held for you until: {deadline}\n\n\
                To take it, confirm at {link}\n\
                If you do not confirm by then, the time will be offered to the next person on \
                the list.\n\n\
                MedMesh",
            push_title: "A time has opened up",
            push_body: "A time with {doctor_name} is free on {start}; please confirm by \
                {deadline}.",
            sms: "MedMesh: a time with {doctor_name} is free on {start}. Confirm by {deadline}: \
                {link}",
        },
        (WaitlistOffer, Ro) => Texts {
            email_subject: "S-a eliberat un loc: {start}",
            email_body: "Bună ziua, {recipient_name},\n\n\
                S-a eliberat un loc la un medic pe a cărui listă de așteptare v-ați înscris.\n\n\
                Medic: {doctor_name}\n\
                Clinica: {clinic_name}\n\
                Data și ora: {start}\n\
                Rezervat pentru dumneavoastră până la: {deadline}\n\n\
                Pentru a-l ocupa, confirmați aici: {link}\n\
                Dacă nu confirmați până atunci, locul va fi oferit următoarei persoane de pe \
                listă.\n\n\
                MedMesh",
            push_title: "S-a eliberat un loc",
            push_body: "Loc liber la {doctor_name}: {start}; confirmați până la {deadline}.",
            sms: "MedMesh: loc liber la {doctor_name}, {start}. Confirmați până la {deadline}: \
                {link}",
        },
        (WaitlistOffer, Ru) => Texts {
            email_subject: "Освободилось время приёма: {start}",
            email_body: "Здравствуйте, {recipient_name}!\n\n\
                Вы в листе ожидания, и для Вас освободилось время приёма.\n\n\
                Врач: {doctor_name}\n\
                Клиника: {clinic_name}\n\
                Время приёма: {start}\n\
                Срок подтверждения: {deadline}\n\n\
                Чтобы занять это время, подтвердите запись: {link}\n\
                Если до этого срока подтверждения не будет, время предложат следующему в \
                очереди.\n\n\
                MedMesh",
            push_title: "Освободилось время приёма",
            push_body: "Свободное время: {doctor_name}, {start}; срок подтверждения: {deadline}.",
            sms: "MedMesh: освободилось время — {doctor_name}, {start}. Срок подтверждения: \
                {deadline}. {link}",
        },
        (WaitlistOffer, Uk) => Texts {
            email_subject: "Звільнився час прийому: {start}",
            email_body: "Доброго дня, {recipient_name}!\n\n\
                Ви в списку очікування, і для Вас звільнився час прийому.\n\n\
                Лікар: {doctor_name}\n\
                Клініка: {clinic_name}\n\
                Час прийому: {start}\n\
                Термін підтвердження: {deadline}\n\n\
                Щоб зайняти цей час, підтвердіть запис: {link}\n\
                Якщо до цього терміну підтвердження не надійде, час запропонують наступному в \
                черзі.\n\n\
                MedMesh",
            push_title: "Звільнився час прийому",
            push_body: "Вільний час: {doctor_name}, {start}; термін підтвердження: {deadline}.",
            sms: "MedMesh: звільнився час — {doctor_name}, {start}. Термін підтвердження: \
                {deadline}. {link}",
        },

        (PrescriptionReady, En) => Texts {
            email_subject: "Your prescription is ready at {pharmacy_name}",
            email_body: "Hello {recipient_name},\n\n\
                Your prescription is ready for collection.\n\n\
                Pharmacy: {pharmacy_name}\n\
                Medications: {medications}\n\n\
                Details: {link}\n\n\
                MedMesh",
            push_title: "Prescription ready",
            push_body: "Your prescription is ready for collection at {pharmacy_name}.",
            sms: "MedMesh: your prescription is ready for collection at {pharmacy_name}. \
                Details: {link}",
        },
        (PrescriptionReady, Ro) => Texts {
            email_subject: "Rețeta este gata: {pharmacy_name}",
            email_body: "Bună ziua, {recipient_name},\n\n\
                Medicamentele din rețeta dumneavoastră pot fi ridicate.\n\n\
                Farmacia: {pharmacy_name}\n\
                Medicamente: {medications}\n\n\
                Detalii: {link}\n\n\
                MedMesh",
            push_title: "Rețeta este gata",
            push_body: "Medicamentele din rețeta dumneavoastră pot fi ridicate de la \
                {pharmacy_name}.",
            sms: "MedMesh: rețeta dumneavoastră poate fi ridicată de la {pharmacy_name}. \
                Detalii: {link}",
        },
        (PrescriptionReady, Ru) => Texts {
            email_subject: "Рецепт готов к выдаче: {pharmacy_name}",
            email_body: "Здравствуйте, {recipient_name}!\n\n\
                Лекарства по Вашему рецепту готовы к выдаче.\n\n\
                Аптека: {pharmacy_name}\n\
                Лекарства: {medications}\n\n\
                Подробности: {link}\n\n\
                MedMesh",
            push_title: "Рецепт готов",
            push_body: "Лекарства по Вашему рецепту готовы к выдаче: {pharmacy_name}.",
            sms: "MedMesh: лекарства по Вашему рецепту готовы к выдаче — {pharmacy_name}. {link}",
        },
        (PrescriptionReady, Uk) => Texts {
            email_subject: "Рецепт готовий до видачі: {pharmacy_name}",
            email_body: "Доброго дня, {recipient_name}!\n\n\
                Ліки за Вашим рецептом готові до видачі.\n\n\
                Аптека: {pharmacy_name}\n\
                Ліки: {medications}\n\n\
                Подробиці: {link}\n\n\
                MedMesh",
            push_title: "Рецепт готовий",
            push_body: "Ліки за Вашим рецептом готові до видачі: {pharmacy_name}.",
            sms: "MedMesh: ліки за Вашим рецептом готові до видачі — {pharmacy_name}. {link}",
        },

        (PrescriptionRejected, En) => Texts {
            email_subject: "Your prescription could not be filled",
            email_body: "Hello {recipient_name},\n\n\
                Unfortunately, your prescription could not be filled.\n\n\
                Pharmacy: {pharmacy_name}\n\
                Medications: {medications}\n\
                Reason: {reason}\n\n\
                Please contact the pharmacy, or the doctor who wrote the prescription, to decide \
                what to do next.\n\n\
                MedMesh",
            push_title: "Prescription not filled",
            push_body: "{pharmacy_name} could not fill your prescription: {reason}.",
            sms: "MedMesh: {pharmacy_name} could not fill your prescription. Reason: {reason}.",
        },
        (PrescriptionRejected, Ro) => Texts {
            email_subject: "Rețeta nu a putut fi onorată",
            email_body: "Bună ziua, {recipient_name},\n\n\
                Din păcate, rețeta dumneavoastră nu a putut fi onorată.\n\n\
                Farmacia: {pharmacy_name}\n\
                Medicamente: {medications}\n\
                Motivul: {reason}\n\n\
                Vă rugăm să contactați farmacia sau medicul care a emis rețeta, pentru a afla \
                ce puteți face în continuare.\n\n\
                MedMesh",
            push_title: "Rețeta nu a fost onorată",
            push_body: "Rețeta nu a putut fi onorată la {pharmacy_name}: {reason}.",
            sms: "MedMesh: rețeta nu a putut fi onorată la {pharmacy_name}. Motivul: {reason}.",
        },
        (PrescriptionRejected, Ru) => Texts {
            email_subject: "Рецепт не выполнен: {pharmacy_name}",
            email_body: "Здравствуйте, {recipient_name}!\n\n\
                К сожалению, аптека не смогла выдать лекарства по Вашему рецепту.\n\n\
                Аптека: {pharmacy_name}\n\
                Лекарства: {medications}\n\
                Причина: {reason}\n\n\
                Пожалуйста, свяжитесь с аптекой или с врачом, выписавшим рецепт, чтобы решить, \
                что делать дальше.\n\n\
                MedMesh",
            push_title: "Рецепт не выполнен",
            push_body: "Рецепт не выполнен ({pharmacy_name}): {reason}.",
            sms: "MedMesh: рецепт не выполнен — {pharmacy_name}. Причина: {reason}.",
        },
        (PrescriptionRejected, Uk) => Texts {
            email_subject: "Рецепт не виконано: {pharmacy_name}",
            email_body: "Доброго дня, {recipient_name}!\n\n\
                На жаль, аптека не змогла видати ліки за Вашим рецептом.\n\n\
                Аптека: {pharmacy_name}\n\
                Ліки: {medications}\n\
                Причина: {reason}\n\n\
                Будь ласка, зверніться до аптеки або до лікаря, який виписав рецепт, щоб \
                вирішити, що робити далі.\n\n\
                MedMesh",
            push_title: "Рецепт не виконано",
            push_body: "Рецепт не виконано ({pharmacy_name}): {reason}.",
            sms: "MedMesh: рецепт не виконано — {pharmacy_name}. Причина: {reason}.",
        },

        (EmergencyAccess, En) => Texts {
            email_subject: "Your medical record was opened with emergency access",
            email_body: "Hello {recipient_name},\n\n\
                A doctor opened your medical record using emergency access.\n\n\
                Doctor: {doctor_name}\n\
                When: {at}\n\n\
                Emergency access lets a doctor see a record without your prior permission when \
                urgent care may be needed. Every such access is recorded, and you can see this \
                one in your access log: {link}\n\n\
                If you have questions about this access, please contact your clinic.\n\n\
                MedMesh",
            push_title: "Emergency access to your record",
            push_body: "{doctor_name} opened your medical record with emergency access on {at}.",
            sms: "MedMesh: {doctor_name} opened your medical record with emergency access on \
                {at}. Access log: {link}",
        },
        (EmergencyAccess, Ro) => Texts {
            email_subject: "Fișa dumneavoastră medicală a fost deschisă în regim de urgență",
            email_body: "Bună ziua, {recipient_name},\n\n\
                Un medic v-a deschis fișa medicală prin accesul de urgență.\n\n\
                Medic: {doctor_name}\n\
                Data și ora: {at}\n\n\
                Accesul de urgență îi permite unui medic să vadă fișa fără acordul \
                dumneavoastră prealabil atunci când poate fi nevoie de îngrijiri urgente. Fiecare \
                astfel de acces este înregistrat și îl puteți vedea în jurnalul de acces: \
                {link}\n\n\
                Dacă aveți întrebări despre acest acces, vă rugăm să contactați clinica.\n\n\
                MedMesh",
            push_title: "Acces de urgență la fișa medicală",
            push_body: "{doctor_name} v-a deschis fișa medicală în regim de urgență: {at}.",
            sms: "MedMesh: {doctor_name} v-a deschis fișa medicală în regim de urgență: {at}. \
                Jurnal: {link}",
        },
        (EmergencyAccess, Ru) => Texts {
            email_subject: "Вашу медицинскую карту открыли в экстренном порядке",
            email_body: "Здравствуйте, {recipient_name}!\n\n\
                Вашу медицинскую карту открыли через экстренный доступ.\n\n\
                Врач: {doctor_name}\n\
                Время: {at}\n\n\
                Экстренный доступ позволяет врачу открыть карту без Вашего предварительного \
                согласия, когда может понадобиться срочная помощь. Каждый такой доступ \
                записывается, и этот Вы можете увидеть в журнале доступа: {link}\n\n\
                Если у Вас есть вопросы об этом доступе, пожалуйста, свяжитесь с клиникой.\n\n\
                MedMesh",
            push_title: "Экстренный доступ к карте",
            push_body: "Вашу медицинскую карту открыли через экстренный доступ: {doctor_name}, \
                {at}.",
            sms: "MedMesh: Вашу медицинскую карту открыли через экстренный доступ — \
                {doctor_name}, {at}. Журнал доступа: {link}",
        },
        (EmergencyAccess, Uk) => Texts {
            email_subject: "Вашу медичну картку відкрито в екстреному порядку",
            email_body: "Доброго дня, {recipient_name}!\n\n\
                Вашу медичну картку відкрито через екстрений доступ.\n\n\
                Лікар: {doctor_name}\n\
                Час: {at}\n\n\
                Екстрений доступ дозволяє лікарю відкрити картку без Вашої попередньої згоди, \
                коли може знадобитися невідкладна допомога. Кожен такий доступ записується, і \
                цей Ви можете побачити в журналі доступу: {link}\n\n\
                Якщо у Вас є запитання щодо цього доступу, будь ласка, зверніться до клініки.\n\n\
                MedMesh",
            push_title: "Екстрений доступ до картки",
            push_body: "Вашу медичну картку відкрито через екстрений доступ: {doctor_name}, {at}.",
            sms: "MedMesh: Вашу медичну картку відкрито через екстрений доступ — {doctor_name}, \
                {at}. Журнал доступу: {link}",
        },

        (CalendarChanged, En) => Texts {
            email_subject: "Calendar: {change}, {start}",
            email_body: "Hello {recipient_name},\n\n\
                There is a change in your calendar: {change}.\n\n\
                Patient: {patient_name}\n\
                Clinic: {clinic_name}\n\
                Time: {start}\n\n\
                MedMesh",
            push_title: "Calendar: {change}",
            push_body: "Patient: {patient_name}; {clinic_name}, {start}.",
            sms: "MedMesh calendar, {change}: {patient_name}, {clinic_name}, {start}.",
        },
        (CalendarChanged, Ro) => Texts {
            email_subject: "Calendar: {change}, {start}",
            email_body: "Bună ziua, {recipient_name},\n\n\
                În calendarul dumneavoastră a apărut o schimbare: {change}.\n\n\
                Pacient: {patient_name}\n\
                Clinica: {clinic_name}\n\
                Data și ora: {start}\n\n\
                MedMesh",
            push_title: "Calendar: {change}",
            push_body: "Pacient: {patient_name}; {clinic_name}, {start}.",
            sms: "MedMesh, calendar — {change}: {patient_name}, {clinic_name}, {start}.",
        },
        (CalendarChanged, Ru) => Texts {
            email_subject: "Календарь: {change}, {start}",
            email_body: "Здравствуйте, {recipient_name}!\n\n\
                В Вашем календаре изменение: {change}.\n\n\
                Пациент: {patient_name}\n\
                Клиника: {clinic_name}\n\
                Время приёма: {start}\n\n\
                MedMesh",
            push_title: "Календарь: {change}",
            push_body: "Пациент: {patient_name}; {clinic_name}, {start}.",
            sms: "MedMesh, календарь — {change}: {patient_name}, {clinic_name}, {start}.",
        },
        (CalendarChanged, Uk) => Texts {
            email_subject: "Календар: {change}, {start}",
            email_body: "Доброго дня, {recipient_name}!\n\n\
                У Вашому календарі зміна: {change}.\n\n\
                Пацієнт: {patient_name}\n\
                Клініка: {clinic_name}\n\
                Час прийому: {start}\n\n\
                MedMesh",
            push_title: "Календар: {change}",
            push_body: "Пацієнт: {patient_name}; {clinic_name}, {start}.",
            sms: "MedMesh, календар — {change}: {patient_name}, {clinic_name}, {start}.",
        },

        // The count stands after a label: "3 appointments" would need plural forms, and
        // Russian and Ukrainian have three. A Russian or Ukrainian date ends in "г."/"р.", so
        // no text puts a full stop straight after {date} or {until} in those languages.
        (DailyAgenda, En) => Texts {
            email_subject: "Your appointments for {date}",
            email_body: "Hello {recipient_name},\n\n\
                Here is your agenda for {date}.\n\
                Appointments: {count}\n\n\
                {agenda}\n\n\
                MedMesh",
            push_title: "Agenda for {date}",
            push_body: "Appointments on {date}: {count}.",
            sms: "MedMesh: agenda for {date}, appointments: {count}.",
        },
        (DailyAgenda, Ro) => Texts {
            email_subject: "Programările pentru {date}",
            email_body: "Bună ziua, {recipient_name},\n\n\
                Iată agenda dumneavoastră pentru {date}.\n\
                Număr de programări: {count}\n\n\
                {agenda}\n\n\
                MedMesh",
            push_title: "Agenda pentru {date}",
            push_body: "Număr de programări: {count}.",
            sms: "MedMesh: agenda pentru {date}, număr de programări: {count}.",
        },
        (DailyAgenda, Ru) => Texts {
            email_subject: "Расписание приёма: {date}",
            email_body: "Здравствуйте, {recipient_name}!\n\n\
                Ваше расписание приёма.\n\
                Дата: {date}\n\
                Количество записей: {count}\n\n\
                {agenda}\n\n\
                MedMesh",
            push_title: "Расписание: {date}",
            push_body: "Количество записей: {count}.",
            sms: "MedMesh: расписание ({date}), количество записей: {count}.",
        },
        (DailyAgenda, Uk) => Texts {
            email_subject: "Розклад прийому: {date}",
            email_body: "Доброго дня, {recipient_name}!\n\n\
                Ваш розклад прийому.\n\
                Дата: {date}\n\
                Кількість записів: {count}\n\n\
                {agenda}\n\n\
                MedMesh",
            push_title: "Розклад: {date}",
            push_body: "Кількість записів: {count}.",
            sms: "MedMesh: розклад ({date}), кількість записів: {count}.",
        },

        (AccessGranted, En) => Texts {
            email_subject: "{patient_name} has given you access to their record",
            email_body: "Hello {recipient_name},\n\n\
                {patient_name} has given you access to their medical record until {until}.\n\n\
                You can open the record in MedMesh until then; after that the access ends by \
                itself unless the patient extends it.\n\n\
                MedMesh",
            push_title: "Access to a medical record",
            push_body: "{patient_name} has given you access to their medical record until \
                {until}.",
            sms: "MedMesh: {patient_name} has given you access to their medical record until \
                {until}.",
        },
        (AccessGranted, Ro) => Texts {
            email_subject: "Acces la fișa medicală: {patient_name}",
            email_body: "Bună ziua, {recipient_name},\n\n\
                {patient_name} v-a acordat acces la fișa sa medicală până la {until}.\n\n\
                Puteți deschide fișa în MedMesh până atunci; după această dată accesul se \
                încheie automat, dacă pacientul nu îl prelungește.\n\n\
                MedMesh",
            push_title: "Acces la fișa medicală",
            push_body: "{patient_name} v-a acordat acces la fișa sa medicală până la {until}.",
            sms: "MedMesh: {patient_name} v-a acordat acces la fișa sa medicală până la \
                {until}.",
        },
        (AccessGranted, Ru) => Texts {
            email_subject: "Доступ к медицинской карте: {patient_name}",
            email_body: "Здравствуйте, {recipient_name}!\n\n\
                Вам предоставлен доступ к медицинской карте пациента.\n\n\
                Пациент: {patient_name}\n\
                Окончание доступа: {until}\n\n\
                До этого срока карту можно открыть в MedMesh; затем доступ закончится \
                автоматически, если пациент его не продлит.\n\n\
                MedMesh",
            push_title: "Доступ к медицинской карте",
            push_body: "Вам предоставлен доступ к карте пациента: {patient_name} (окончание \
                доступа: {until}).",
            sms: "MedMesh: Вам предоставлен доступ к медицинской карте пациента: \
                {patient_name} (окончание доступа: {until}).",
        },
        (AccessGranted, Uk) => Texts {
            email_subject: "Доступ до медичної картки: {patient_name}",
            email_body: "Доброго дня, {recipient_name}!\n\n\
                Вам надано доступ до медичної картки пацієнта.\n\n\
                Пацієнт: {patient_name}\n\
                Кінець доступу: {until}\n\n\
                До цього терміну картку можна відкрити в MedMesh; потім доступ завершиться \
                автоматично, якщо пацієнт його не продовжить.\n\n\
                MedMesh",
            push_title: "Доступ до медичної картки",
            push_body: "Вам надано доступ до картки пацієнта: {patient_name} (кінець доступу: \
                {until}).",
            sms: "MedMesh: Вам надано доступ до медичної картки пацієнта: {patient_name} \
                (кінець доступу: {until}).",
        },

        (StockLow, En) => Texts {
            email_subject: "Low stock: {medication_name} at {pharmacy_name}",
            email_body: "Hello {recipient_name},\n\n\
                The stock of a medication has fallen below its threshold.\n\n\
                Pharmacy: {pharmacy_name}\n\
                Medication: {medication_name}\n\
                Available: {available}\n\
                Threshold: {threshold}\n\n\
                Please consider placing an order.\n\n\
                MedMesh",
            push_title: "Low stock: {medication_name}",
            push_body: "{pharmacy_name}: {available} available, threshold {threshold}.",
            sms: "MedMesh: low stock of {medication_name} at {pharmacy_name}: {available} \
                available, threshold {threshold}.",
        },
        (StockLow, Ro) => Texts {
            email_subject: "Stoc redus: {medication_name}, {pharmacy_name}",
            email_body: "Bună ziua, {recipient_name},\n\n\
                Stocul unui medicament a scăzut sub pragul stabilit.\n\n\
                Farmacia: {pharmacy_name}\n\
                Medicament: {medication_name}\n\
                Disponibil: {available}\n\
                Prag: {threshold}\n\n\
                Vă rugăm să luați în considerare o nouă comandă.\n\n\
                MedMesh",
            push_title: "Stoc redus: {medication_name}",
            push_body: "{pharmacy_name}: disponibil {available}, prag {threshold}.",
            sms: "MedMesh: stoc redus de {medication_name} la {pharmacy_name}: disponibil \
                {available}, prag {threshold}.",
        },
        (StockLow, Ru) => Texts {
            email_subject: "Низкий остаток: {medication_name}, {pharmacy_name}",
            email_body: "Здравствуйте, {recipient_name}!\n\n\
                Остаток препарата опустился ниже установленного порога.\n\n\
                Аптека: {pharmacy_name}\n\
                Препарат: {medication_name}\n\
                В наличии: {available}\n\
                Порог: {threshold}\n\n\
                Пожалуйста, рассмотрите возможность заказа.\n\n\
                MedMesh",
            push_title: "Низкий остаток: {medication_name}",
            push_body: "{pharmacy_name}: в наличии {available}, порог {threshold}.",
            sms: "MedMesh: низкий остаток — {medication_name}, {pharmacy_name}: в наличии \
                {available}, порог {threshold}.",
        },
        (StockLow, Uk) => Texts {
            email_subject: "Низький залишок: {medication_name}, {pharmacy_name}",
            email_body: "Доброго дня, {recipient_name}!\n\n\
                Залишок препарату опустився нижче встановленого порогу.\n\n\
                Аптека: {pharmacy_name}\n\
                Препарат: {medication_name}\n\
                У наявності: {available}\n\
                Поріг: {threshold}\n\n\
                Будь ласка, розгляньте можливість замовлення.\n\n\
                MedMesh",
            push_title: "Низький залишок: {medication_name}",
            push_body: "{pharmacy_name}: у наявності {available}, поріг {threshold}.",
            sms: "MedMesh: низький залишок — {medication_name}, {pharmacy_name}: у наявності \
                {available}, поріг {threshold}.",
        },

        // The operator writes the whole message; the built-in text only carries it through.
        (Manual, _) => Texts {
            email_subject: "{subject}",
            email_body: "{body}",
            push_title: "{subject}",
            push_body: "{body}",
            sms: "{body}",
        },
    }
}

/// One preview value. Instants are fixed so previews and tests are stable: an appointment on
/// Tuesday 1 December 2026 at 14:30 in the sample zone, and the other times around it.
fn sample_value(kind: Kind, name: &str, lang: Lang) -> String {
    let zone = match lang {
        Lang::Uk => "Europe/Kyiv",
        Lang::En | Lang::Ro | Lang::Ru => "Europe/Chisinau",
    };
    let datetime = |month, day, hour, minute| {
        locale::format_datetime(instant(month, day, hour, minute), zone, lang)
    };
    let pick = |en: &str, ro: &str, ru: &str, uk: &str| {
        match lang {
            Lang::En => en,
            Lang::Ro => ro,
            Lang::Ru => ru,
            Lang::Uk => uk,
        }
        .to_owned()
    };
    match name {
        RECIPIENT_NAME => match kind {
            // Doctors and pharmacists receive these; patients receive the rest.
            Kind::CalendarChanged | Kind::DailyAgenda | Kind::AccessGranted => pick(
                "Victor Cebotari",
                "Ștefan Mureșanu",
                "Ольга Смирнова",
                "Олег Їжакевич",
            ),
            Kind::StockLow => pick("Irina Lungu", "Irina Lungu", "Ирина Лунгу", "Ірина Лунгу"),
            _ => pick("Maria Rusu", "Ana Țurcanu", "Андрей Волков", "Ірина Гнатюк"),
        },
        "doctor_name" => pick(
            "Dr Victor Cebotari",
            "dr. Ștefan Mureșanu",
            "Ольга Смирнова",
            "Олег Їжакевич",
        ),
        "patient_name" => pick(
            "Elena Popa",
            "Mircea Ștefănescu",
            "Наталья Кузнецова",
            "Євген Ґудзь",
        ),
        "clinic_name" => pick(
            "Botanica Clinic",
            "Clinica Botanica",
            "Клиника «Ботаника»",
            "Клініка «Поділ»",
        ),
        "pharmacy_name" => pick(
            "Central Pharmacy",
            "Farmacia Centrală",
            "Аптека «Центральная»",
            "Аптека «Центральна»",
        ),
        "medications" => pick(
            "Amoxicillin 500 mg, Ibuprofen 200 mg",
            "Amoxicilină 500 mg, Ibuprofen 200 mg",
            "Амоксициллин 500 мг, Ибупрофен 200 мг",
            "Амоксицилін 500 мг, Ібупрофен 200 мг",
        ),
        "medication_name" => pick(
            "Amoxicillin 500 mg",
            "Amoxicilină 500 mg",
            "Амоксициллин 500 мг",
            "Амоксицилін 500 мг",
        ),
        "reason" => pick(
            "the medication is out of stock",
            "medicamentul nu este în stoc",
            "препарата нет в наличии",
            "препарату немає в наявності",
        ),
        "agenda" => pick(
            "09:00 Elena Popa\n09:30 Ion Rusu\n10:00 Ana Lungu",
            "09:00 Mircea Ștefănescu\n09:30 Ion Rusu\n10:00 Ana Țurcanu",
            "09:00 Наталья Кузнецова\n09:30 Иван Русу\n10:00 Анна Лунгу",
            "09:00 Євген Ґудзь\n09:30 Іван Русу\n10:00 Ганна Лунгу",
        ),
        "subject" => pick(
            "Clinic closed on 1 December",
            "Clinica este închisă pe 1 decembrie",
            "Клиника закрыта 1 декабря",
            "Клініка зачинена 1 грудня",
        ),
        "body" => pick(
            "The clinic is closed on 1 December; we will contact you about your appointment.",
            "Clinica este închisă pe 1 decembrie; vă vom contacta în legătură cu programarea.",
            "Клиника закрыта 1 декабря; мы свяжемся с Вами по поводу Вашей записи.",
            "Клініка зачинена 1 грудня; ми звʼяжемося з Вами щодо Вашого запису.",
        ),
        "link" => "https://medmesh.md/a/7Q2X".to_owned(),
        "count" => "3".to_owned(),
        "available" => "4".to_owned(),
        "threshold" => "10".to_owned(),
        "change" => locale::calendar_change(CalendarChange::Moved, lang).to_owned(),
        "start" => datetime(12, 1, 12, 30),
        "previous_start" => datetime(11, 27, 7, 0),
        "deadline" => datetime(11, 30, 16, 0),
        "at" => datetime(11, 24, 21, 5),
        "date" => locale::format_date(instant(12, 1, 6, 0), zone, lang),
        "until" => locale::format_date(instant(12, 31, 12, 0), zone, lang),
        _ => String::new(),
    }
}

/// A sample instant in UTC; the arguments are constants, so the fallback is never taken.
fn instant(month: u32, day: u32, hour: u32, minute: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(2026, month, day, hour, minute, 0)
        .single()
        .unwrap_or_default()
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
