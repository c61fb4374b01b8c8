//! Reading appointments.

use chrono::DateTime;
use svc_kit::paging;

use super::{App, allowed};
use crate::{
    domain::{Caller, Operation, Reach},
    error::SchedulingError,
    store::appointments::{self as appts, AppointmentFilter, AppointmentRecord},
};

impl App {
    /// The appointment `id` names, if the caller reaches it with `reach`; NOT_FOUND alike for
    /// someone else's and for none.
    pub(crate) async fn visible(
        &self,
        caller: &Caller,
        reach: Reach,
        id: &str,
    ) -> Result<AppointmentRecord, SchedulingError> {
        appts::get(&self.db, id)
            .await?
            .filter(|a| caller.reaches(reach, &a.patient_id, &a.doctor_id, &a.clinic_id))
            .ok_or(SchedulingError::NoSuchAppointment)
    }

    pub(crate) async fn get_appointment(
        &self,
        caller: &Caller,
        appointment_id: &str,
    ) -> Result<AppointmentRecord, SchedulingError> {
        let reach = allowed(Operation::ReadAppointments, caller)?;
        self.visible(caller, reach, appointment_id).await
    }

    /// A page of the appointments `filter` selects among those the caller reaches, and the
    /// token of the next page.
    pub(crate) async fn list_appointments(
        &self,
        caller: &Caller,
        mut filter: AppointmentFilter,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<AppointmentRecord>, String), SchedulingError> {
        let reach = allowed(Operation::ReadAppointments, caller)?;
        let limit = paging::page_size(page_size)?;
        if reach != Reach::Any {
            let me = caller.user_id.clone().unwrap_or_default();
            let clinics = if reach == Reach::Clinic {
                caller.clinics.iter().cloned().collect()
            } else {
                Vec::new()
            };
            filter.visible_to = Some((me, clinics));
        }
        let after = match paging::decode_token(page_token)? {
            None => None,
            Some(raw) => {
                let bad = paging::bad_page_token;
                let (micros, id) = raw.split_once('|').ok_or_else(bad)?;
                let at = micros
                    .parse::<i64>()
                    .ok()
                    .and_then(DateTime::from_timestamp_micros)
                    .ok_or_else(bad)?;
                Some((at, id.to_string()))
            }
        };
        let mut found = appts::list(&self.db, &filter, after, limit + 1).await?;
        let next = paging::next_page(&mut found, limit, |a| {
            format!("{}|{}", a.starts_at.timestamp_micros(), a.appointment_id)
        });
        Ok((found, next))
    }
}
