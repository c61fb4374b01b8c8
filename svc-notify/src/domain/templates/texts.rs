//! The built-in texts of every kind in every language.

use super::super::{Kind, Lang};

/// Every text of one kind in one language.
pub(super) struct Texts {
    pub(super) email_subject: &'static str,
    pub(super) email_body: &'static str,
    pub(super) push_title: &'static str,
    pub(super) push_body: &'static str,
    pub(super) sms: &'static str,
}

/// The built-in texts. Email bodies greet by name and end with the service's name; push and SMS
/// are one sentence without a greeting, since the recipient's name adds length and nothing else.
pub(super) fn texts(kind: Kind, lang: Lang) -> Texts {
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

        (StockExpiring, En) => Texts {
            email_subject: "Expiring soon: {medication_name} at {pharmacy_name}",
            email_body: "Hello {recipient_name},\n\n\
                A lot of a medication in stock expires soon.\n\n\
                Pharmacy: {pharmacy_name}\n\
                Medication: {medication_name}\n\
                Lot: {lot}\n\
                Quantity: {quantity}\n\
                Expires: {expires}\n\n\
                Please dispense it first or set it aside before it expires.\n\n\
                MedMesh",
            push_title: "Expiring soon: {medication_name}",
            push_body: "{pharmacy_name}: lot {lot}, {quantity} left, expires: {expires}",
            sms: "MedMesh: {medication_name}, lot {lot} at {pharmacy_name}: {quantity} left, \
                expires: {expires}",
        },
        (StockExpiring, Ro) => Texts {
            email_subject: "Expiră în curând: {medication_name}, {pharmacy_name}",
            email_body: "Bună ziua, {recipient_name},\n\n\
                Un lot de medicament din stoc expiră în curând.\n\n\
                Farmacia: {pharmacy_name}\n\
                Medicament: {medication_name}\n\
                Lot: {lot}\n\
                Cantitate: {quantity}\n\
                Expiră: {expires}\n\n\
                Vă rugăm să îl eliberați cu prioritate sau să îl retrageți înainte de expirare.\n\n\
                MedMesh",
            push_title: "Expiră în curând: {medication_name}",
            push_body: "{pharmacy_name}: lotul {lot}, rămase {quantity}, expiră: {expires}",
            sms: "MedMesh: {medication_name}, lotul {lot}, {pharmacy_name}: rămase {quantity}, \
                expiră: {expires}",
        },
        (StockExpiring, Ru) => Texts {
            email_subject: "Истекает срок годности: {medication_name}, {pharmacy_name}",
            email_body: "Здравствуйте, {recipient_name}!\n\n\
                Скоро истекает срок годности партии препарата.\n\n\
                Аптека: {pharmacy_name}\n\
                Препарат: {medication_name}\n\
                Партия: {lot}\n\
                Количество: {quantity}\n\
                Годен до: {expires}\n\n\
                Пожалуйста, отпустите её в первую очередь или изымите до истечения срока.\n\n\
                MedMesh",
            push_title: "Истекает срок: {medication_name}",
            push_body: "{pharmacy_name}: партия {lot}, осталось {quantity}, годен до: {expires}",
            sms: "MedMesh: {medication_name}, партия {lot}, {pharmacy_name}: осталось \
                {quantity}, годен до: {expires}",
        },
        (StockExpiring, Uk) => Texts {
            email_subject: "Спливає термін придатності: {medication_name}, {pharmacy_name}",
            email_body: "Доброго дня, {recipient_name}!\n\n\
                Незабаром спливає термін придатності партії препарату.\n\n\
                Аптека: {pharmacy_name}\n\
                Препарат: {medication_name}\n\
                Партія: {lot}\n\
                Кількість: {quantity}\n\
                Придатний до: {expires}\n\n\
                Будь ласка, відпустіть її першочергово або вилучіть до закінчення терміну.\n\n\
                MedMesh",
            push_title: "Спливає термін: {medication_name}",
            push_body: "{pharmacy_name}: партія {lot}, залишилось {quantity}, придатний до: {expires}",
            sms: "MedMesh: {medication_name}, партія {lot}, {pharmacy_name}: залишилось \
                {quantity}, придатний до: {expires}",
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
