//! The appointment confirmation PDF.

use medmesh_proto::scheduling::v1 as pb;
use tonic::{Request, Status};

use super::{SchedulingApi, allowed, internal};
use crate::{
    documents::{self, Confirmation},
    domain::{Operation, Status as AppointmentStatus},
    store::{appointments, directory as dir},
};

fn not_rendered(error: svc_kit::pdf::RenderError) -> Status {
    tracing::error!(%error, "confirmation not rendered");
    Status::internal("internal error")
}

fn unavailable(error: documents::StoreError) -> Status {
    tracing::error!(%error, "document store unavailable");
    Status::unavailable("the document store is unavailable; retry")
}

impl SchedulingApi {
    pub(crate) async fn get_appointment_confirmation(
        &self,
        request: Request<pb::GetAppointmentConfirmationRequest>,
    ) -> Result<pb::Document, Status> {
        let caller = self.caller(&request).await?;
        let reach = allowed(Operation::ReadAppointments, &caller)?;
        let a = self
            .visible(
                &caller,
                reach,
                "appointment_id",
                &request.get_ref().appointment_id,
            )
            .await?;
        if !matches!(
            a.status,
            AppointmentStatus::Confirmed
                | AppointmentStatus::CheckedIn
                | AppointmentStatus::Completed
        ) {
            return Err(Status::failed_precondition(format!(
                "a {} appointment has no confirmation yet; it is issued once the clinic confirms",
                a.status.as_str()
            )));
        }
        let content = self.confirmation_of(&a.appointment_id).await?;
        Ok(pb::Document {
            file_name: format!("appointment-{}.pdf", a.appointment_id),
            content_type: documents::PDF.to_string(),
            content,
        })
    }

    /// The stored confirmation of the appointment as it is now, rendered and stored first if
    /// there is none for this version.
    pub(crate) async fn confirmation_of(&self, appointment_id: &str) -> Result<Vec<u8>, Status> {
        let a = appointments::get(&self.db, appointment_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| Status::not_found("no such appointment"))?;
        let key = documents::confirmation_key(&a);
        if let Some(existing) = self.documents.get(&key).await.map_err(unavailable)? {
            return Ok(existing);
        }
        let doctor = dir::get_doctor(&self.db, &a.doctor_id)
            .await
            .map_err(internal)?;
        let clinic = dir::get_clinic(&self.db, &a.clinic_id)
            .await
            .map_err(internal)?;
        let (Some(doctor), Some(clinic)) = (doctor, clinic) else {
            return Err(Status::internal("internal error"));
        };
        let cabinet = if a.cabinet_id.is_empty() {
            None
        } else {
            dir::get_cabinet(&self.db, &a.cabinet_id)
                .await
                .map_err(internal)?
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
        .map_err(not_rendered)?;
        self.documents
            .put(&key, pdf.clone(), documents::PDF)
            .await
            .map_err(unavailable)?;
        metrics::counter!("medmesh_scheduling_confirmations_rendered_total").increment(1);
        Ok(pdf)
    }
}
