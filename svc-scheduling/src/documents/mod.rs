//! Documents scheduling produces: the appointment confirmation (a PDF), rendered on first
//! request and kept in the document store under the appointment's version, so a later change
//! (a reschedule) gets a fresh one and an unchanged appointment is never rendered twice.

pub mod pdf;
pub mod store;

use chrono_tz::Tz;

pub use store::{DocumentStore, S3Bucket, StoreError};

use crate::store::{
    appointments::AppointmentRecord,
    directory::{CabinetRecord, ClinicRecord, DoctorRecord},
};
use pdf::Line;

pub const PDF: &str = "application/pdf";

/// Where an appointment's confirmation is kept.
pub fn confirmation_key(a: &AppointmentRecord) -> String {
    format!(
        "appointments/{}/confirmation-v{}.pdf",
        a.appointment_id, a.version
    )
}

/// Everything the confirmation shows.
#[derive(Debug)]
pub struct Confirmation<'a> {
    pub appointment: &'a AppointmentRecord,
    pub patient_name: &'a str,
    pub doctor: &'a DoctorRecord,
    pub clinic: &'a ClinicRecord,
    pub cabinet: Option<&'a CabinetRecord>,
}

impl Confirmation<'_> {
    pub fn render(&self) -> Vec<u8> {
        let a = self.appointment;
        let tz: Tz = self.clinic.time_zone.parse().unwrap_or(Tz::UTC);
        let start = a.starts_at.with_timezone(&tz);
        let end = a.ends_at.with_timezone(&tz);
        let mut lines = vec![
            Line::title("Appointment confirmation"),
            Line::gap(),
            Line::label("Patient"),
            Line::body(self.patient_name),
            Line::label("Doctor"),
            Line::body(format!(
                "{} ({})",
                self.doctor.display_name, self.doctor.specialization_name
            )),
            Line::label("When"),
            Line::body(format!(
                "{} {}-{} ({})",
                start.format("%A, %-d %B %Y"),
                start.format("%H:%M"),
                end.format("%H:%M"),
                self.clinic.time_zone
            )),
            Line::label("Where"),
            Line::body(self.clinic.name.clone()),
        ];
        if !self.clinic.address.is_empty() {
            lines.push(Line::body(self.clinic.address.clone()));
        }
        if let Some(cabinet) = self.cabinet {
            let floor = if cabinet.floor.is_empty() {
                String::new()
            } else {
                format!(", floor {}", cabinet.floor)
            };
            lines.push(Line::body(format!("Room {}{floor}", cabinet.room)));
        }
        lines.push(Line::gap());
        lines.push(Line::label("Reference"));
        lines.push(Line::body(a.appointment_id.clone()));
        lines.push(Line::label("Status"));
        lines.push(Line::body(a.status.as_str().replace('_', " ")));
        if self.clinic.cancellation_cutoff_minutes > 0 {
            lines.push(Line::gap());
            lines.push(Line::body(format!(
                "Cancel or reschedule at least {} minutes before the start.",
                self.clinic.cancellation_cutoff_minutes
            )));
        }
        pdf::render(&lines)
    }
}
