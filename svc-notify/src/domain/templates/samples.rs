//! Sample values for previews and tests, in each language.

use super::super::{
    Kind, Lang,
    locale::{self, CalendarChange},
};
use super::RECIPIENT_NAME;

/// One preview value. Instants are fixed so previews and tests are stable: an appointment on
/// Tuesday 1 December 2026 at 14:30 in the sample zone, and the other times around it.
pub(super) fn sample_value(kind: Kind, name: &str, lang: Lang) -> String {
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
            Kind::StockLow | Kind::StockExpiring => {
                pick("Irina Lungu", "Irina Lungu", "Ирина Лунгу", "Ірина Лунгу")
            }
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
        "lot" => "L2406-17".to_owned(),
        "quantity" => "12".to_owned(),
        "expires" => locale::format_date(instant(12, 28, 12, 0), zone, lang),
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
