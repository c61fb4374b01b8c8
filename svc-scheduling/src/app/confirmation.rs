//! The appointment confirmation PDF.

use crate::{
    documents::{self, Confirmation},
    domain::{Caller, Operation, Status},
    error::SchedulingError,
    store::{appointments, directory as dir},
};

use super::{App, allowed};

impl App {
    /// The confirmation PDF of an appointment the caller reaches, once the clinic confirmed it.
    pub(crate) async fn get_appointment_confirmation(
        &self,
        caller: &Caller,
        appointment_id: &str,
    ) -> Result<Vec<u8>, SchedulingError> {
        let reach = allowed(Operation::ReadAppointments, caller)?;
        let a = self.visible(caller, reach, appointment_id).await?;
        if !matches!(
            a.status,
            Status::Confirmed | Status::CheckedIn | Status::Completed
        ) {
            return Err(SchedulingError::NoConfirmationYet(a.status));
        }
        self.confirmation_of(&a.appointment_id).await
    }

    /// The stored confirmation of the appointment as it is now, rendered and stored first if
    /// there is none for this version.
    pub(crate) async fn confirmation_of(
        &self,
        appointment_id: &str,
    ) -> Result<Vec<u8>, SchedulingError> {
        let a = appointments::get(&self.db, appointment_id)
            .await?
            .ok_or(SchedulingError::NoSuchAppointment)?;
        let key = documents::confirmation_key(&a);
        if let Some(existing) = self.documents.get(&key).await? {
            return Ok(existing);
        }
        let doctor = dir::get_doctor(&self.db, &a.doctor_id).await?;
        let clinic = dir::get_clinic(&self.db, &a.clinic_id).await?;
        let (Some(doctor), Some(clinic)) = (doctor, clinic) else {
            return Err(
                svc_kit::ApiError::internal("an appointment's doctor or clinic is gone").into(),
            );
        };
        let cabinet = if a.cabinet_id.is_empty() {
            None
        } else {
            dir::get_cabinet(&self.db, &a.cabinet_id).await?
        };
        let patient = self.people.profile_as_service(&a.patient_id).await?;
        let name = format!("{} {}", patient.given_name, patient.family_name)
            .trim()
            .to_string();
        let name = if name.is_empty() {
            patient.username
        } else {
            name
        };
        let pdf = Confirmation {
            appointment: &a,
            patient_name: &name,
            doctor: &doctor,
            clinic: &clinic,
            cabinet: cabinet.as_ref(),
        }
        .render()
        .map_err(|error| {
            svc_kit::ApiError::internal(format!("confirmation not rendered: {error}"))
        })?;
        self.documents
            .put(&key, pdf.clone(), documents::PDF)
            .await?;
        metrics::counter!("medmesh_scheduling_confirmations_rendered_total").increment(1);
        Ok(pdf)
    }
}
