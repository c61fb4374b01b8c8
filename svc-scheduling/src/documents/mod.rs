//! Documents scheduling produces: the appointment confirmation (a PDF, from svc-kit's
//! renderer), rendered on first request and kept in the document store under the
//! appointment's version, so a later change (a reschedule) gets a fresh one and an unchanged
//! appointment is never rendered twice.

pub mod store;

use chrono_tz::Tz;
use svc_kit::pdf::{self, Document, RenderError};

pub use store::{DocumentStore, S3Bucket, StoreError};

use crate::store::{
    appointments::AppointmentRecord,
    directory::{CabinetRecord, ClinicRecord, DoctorRecord},
};

pub const PDF: &str = "application/pdf";

/// Where an appointment's confirmation is kept.
pub fn confirmation_key(a: &AppointmentRecord) -> String {
    confirmation_key_at(&a.appointment_id, a.version)
}

/// Where the confirmation of an appointment's `version` is kept.
pub fn confirmation_key_at(appointment_id: &str, version: i64) -> String {
    format!("appointments/{appointment_id}/confirmation-v{version}.pdf")
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
    pub fn render(&self) -> Result<Vec<u8>, RenderError> {
        let a = self.appointment;
        let tz: Tz = self.clinic.time_zone.parse().unwrap_or(Tz::UTC);
        let start = a.starts_at.with_timezone(&tz);
        let end = a.ends_at.with_timezone(&tz);
        let mut document = Document::new("Appointment confirmation");
        document
            .field("Patient", self.patient_name)
            .field(
                "Doctor",
                format!(
                    "{} ({})",
                    self.doctor.display_name, self.doctor.specialization_name
                ),
            )
            .field(
                "When",
                format!(
                    "{} {}-{} ({})",
                    start.format("%A, %-d %B %Y"),
                    start.format("%H:%M"),
                    end.format("%H:%M"),
                    self.clinic.time_zone
                ),
            )
            .field("Where", self.clinic.name.as_str());
        if !self.clinic.address.is_empty() {
            document.field("Address", self.clinic.address.as_str());
        }
        if let Some(cabinet) = self.cabinet {
            let room = if cabinet.floor.is_empty() {
                cabinet.room.clone()
            } else {
                format!("{}, floor {}", cabinet.room, cabinet.floor)
            };
            document.field("Room", room);
        }
        document
            .space()
            .field("Reference", a.appointment_id.as_str())
            .field("Status", a.status.as_str().replace('_', " "));
        if self.clinic.cancellation_cutoff_minutes > 0 {
            document.space().paragraph(format!(
                "Cancel or reschedule at least {} minutes before the start.",
                self.clinic.cancellation_cutoff_minutes
            ));
        }
        pdf::render(&document)
    }
}
