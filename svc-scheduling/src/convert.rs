//! Records into proto messages.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike, Utc};
use medmesh_proto::{
    common::v1::{Date, TimeOfDay},
    scheduling::v1 as pb,
};

use crate::{
    domain::{
        Status,
        calendar::{Exception, ExceptionKind, Slot, Template},
    },
    store::{
        appointments::AppointmentRecord,
        directory::{CabinetRecord, ClinicRecord, DoctorRecord, SpecializationRecord},
        waitlist::{EntryRecord, EntryStatus},
    },
};

pub(crate) fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

pub(crate) fn date(d: NaiveDate) -> Date {
    Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

pub(crate) fn time_of_day(t: NaiveTime) -> TimeOfDay {
    TimeOfDay {
        hours: t.hour() as i32,
        minutes: t.minute() as i32,
    }
}

pub(crate) fn clinic(c: &ClinicRecord) -> pb::Clinic {
    pb::Clinic {
        clinic_id: c.clinic_id.clone(),
        name: c.name.clone(),
        address: c.address.clone(),
        time_zone: c.time_zone.clone(),
        cancellation_cutoff_minutes: c.cancellation_cutoff_minutes,
        archived: c.archived,
        version: c.version,
    }
}

pub(crate) fn cabinet(c: &CabinetRecord) -> pb::Cabinet {
    pb::Cabinet {
        cabinet_id: c.cabinet_id.clone(),
        clinic_id: c.clinic_id.clone(),
        room: c.room.clone(),
        floor: c.floor.clone(),
        archived: c.archived,
    }
}

pub(crate) fn specialization(s: &SpecializationRecord) -> pb::Specialization {
    pb::Specialization {
        specialization_id: s.specialization_id.clone(),
        name: s.name.clone(),
        archived: s.archived,
    }
}

pub(crate) fn doctor(d: &DoctorRecord) -> pb::Doctor {
    pb::Doctor {
        doctor_id: d.doctor_id.clone(),
        display_name: d.display_name.clone(),
        specialization_id: d.specialization_id.clone(),
        specialization_name: d.specialization_name.clone(),
        clinic_id: d.clinic_id.clone(),
        cabinet_id: d.cabinet_id.clone(),
        bio: d.bio.clone(),
        years_of_experience: d.years_of_experience,
        default_visit_minutes: d.default_visit_minutes,
        archived: d.archived,
    }
}

pub(crate) fn template(doctor_id: &str, t: &Template) -> pb::ScheduleTemplate {
    pb::ScheduleTemplate {
        template_id: t.template_id.clone(),
        doctor_id: doctor_id.to_string(),
        weekday: t.weekday.number_from_monday() as i32,
        start: Some(time_of_day(t.start)),
        end: Some(time_of_day(t.end)),
        visit_minutes: t.visit_minutes as i32,
        cabinet_id: t.cabinet_id.clone(),
        valid_from: Some(date(t.valid_from)),
        valid_to: t.valid_to.map(date),
    }
}

pub(crate) fn exception(doctor_id: &str, e: &Exception, reason: &str) -> pb::ScheduleException {
    let mut out = pb::ScheduleException {
        exception_id: e.exception_id.clone(),
        doctor_id: doctor_id.to_string(),
        date: Some(date(e.date)),
        reason: reason.to_string(),
        ..Default::default()
    };
    match &e.kind {
        ExceptionKind::DayOff => out.day_off = true,
        ExceptionKind::Hours {
            start,
            end,
            visit_minutes,
            ..
        } => {
            out.start = Some(time_of_day(*start));
            out.end = Some(time_of_day(*end));
            out.visit_minutes = *visit_minutes as i32;
        }
    }
    out
}

pub(crate) fn slot(doctor_id: &str, time_zone: &str, s: &Slot) -> pb::Slot {
    pb::Slot {
        doctor_id: doctor_id.to_string(),
        start: Some(timestamp(s.start)),
        end: Some(timestamp(s.end)),
        cabinet_id: s.cabinet_id.clone(),
        time_zone: time_zone.to_string(),
    }
}

pub(crate) fn status(s: Status) -> pb::AppointmentStatus {
    match s {
        Status::Held => pb::AppointmentStatus::Held,
        Status::Booked => pb::AppointmentStatus::Booked,
        Status::Confirmed => pb::AppointmentStatus::Confirmed,
        Status::CheckedIn => pb::AppointmentStatus::CheckedIn,
        Status::Completed => pb::AppointmentStatus::Completed,
        Status::Cancelled => pb::AppointmentStatus::Cancelled,
        Status::NoShow => pb::AppointmentStatus::NoShow,
        Status::Expired => pb::AppointmentStatus::Expired,
    }
}

pub(crate) fn status_from(s: pb::AppointmentStatus) -> Option<Status> {
    match s {
        pb::AppointmentStatus::Unspecified => None,
        pb::AppointmentStatus::Held => Some(Status::Held),
        pb::AppointmentStatus::Booked => Some(Status::Booked),
        pb::AppointmentStatus::Confirmed => Some(Status::Confirmed),
        pb::AppointmentStatus::CheckedIn => Some(Status::CheckedIn),
        pb::AppointmentStatus::Completed => Some(Status::Completed),
        pb::AppointmentStatus::Cancelled => Some(Status::Cancelled),
        pb::AppointmentStatus::NoShow => Some(Status::NoShow),
        pb::AppointmentStatus::Expired => Some(Status::Expired),
    }
}

pub(crate) fn appointment_slot(a: &AppointmentRecord) -> pb::Slot {
    pb::Slot {
        doctor_id: a.doctor_id.clone(),
        start: Some(timestamp(a.starts_at)),
        end: Some(timestamp(a.ends_at)),
        cabinet_id: a.cabinet_id.clone(),
        time_zone: a.time_zone.clone(),
    }
}

pub(crate) fn appointment(a: &AppointmentRecord) -> pb::Appointment {
    pb::Appointment {
        appointment_id: a.appointment_id.clone(),
        slot: Some(appointment_slot(a)),
        patient_id: a.patient_id.clone(),
        clinic_id: a.clinic_id.clone(),
        status: status(a.status) as i32,
        reason: a.reason.clone(),
        created_at: Some(timestamp(a.created_at)),
        updated_at: Some(timestamp(a.updated_at)),
        version: a.version,
        hold_expires_at: a
            .hold_expires_at
            .filter(|_| a.status == Status::Held)
            .map(timestamp),
        cancellation_reason: a.cancellation_reason.clone(),
        override_reason: a.override_reason.clone(),
        waitlist_entry_id: a.waitlist_entry_id.clone(),
    }
}

pub(crate) fn entry(e: &EntryRecord) -> pb::WaitlistEntry {
    pb::WaitlistEntry {
        entry_id: e.entry_id.clone(),
        doctor_id: e.doctor_id.clone(),
        patient_id: e.patient_id.clone(),
        from_date: Some(date(e.from_date)),
        to_date: Some(date(e.to_date)),
        status: match e.status {
            EntryStatus::Waiting => pb::WaitlistStatus::Waiting,
            EntryStatus::Offered => pb::WaitlistStatus::Offered,
            EntryStatus::Fulfilled => pb::WaitlistStatus::Fulfilled,
            EntryStatus::Left => pb::WaitlistStatus::Left,
            EntryStatus::Lapsed => pb::WaitlistStatus::Lapsed,
        } as i32,
        offered_appointment_id: e.offered_appointment_id.clone(),
        created_at: Some(timestamp(e.created_at)),
    }
}
