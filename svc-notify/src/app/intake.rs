//! What notify makes of the other services' events, in one consumer group (`notify`): for each
//! event, the notifications it means (one per recipient and channel their preferences name,
//! each made once by its dedupe key), the appointments it keeps for reminders and agendas, the
//! reminders it schedules, moves or cancels, the pharmacies' staff, and erasures.
//!
//! A new event kind needs a line in [`Intake::handle`] and templates; nothing else. Events
//! notify does not know are handled as nothing (and counted).

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use medmesh_proto::{
    accounts::v1::UserEvent,
    events::v1::EventEnvelope,
    pharmacy::v1::{PrescriptionEvent, StockExpiringEvent, StockLowEvent},
    records::v1::RecordEvent,
    scheduling::v1::AppointmentEvent,
};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use svc_kit::{
    ServiceContext, ServiceName,
    events::{Consumer, EventHandler, HandlerError, topic_for},
};
use tokio_util::sync::CancellationToken;

use super::{App, Values, appointment_place, context_place};
use crate::{
    domain::{
        Kind,
        locale::CalendarChange,
        preferences::{Prefs, reminder_due},
    },
    error::NotifyError,
    store::{
        notifications::{self, NewNotification},
        schedule, settings,
    },
};

/// Events older than this make no notifications.
pub const STALE_HOURS: i64 = 24;

/// The consumer group notify reads other services' topics under.
pub const GROUP: &str = "notify";

/// The handler of every event notify learns from.
#[derive(Debug, Clone)]
pub struct Intake {
    pub app: App,
}

#[derive(Debug, thiserror::Error)]
#[error("{0} cannot be read")]
struct Malformed(String);

fn payload<M: prost::Message + Default>(event: &EventEnvelope) -> Result<M, Malformed> {
    let any = event
        .payload
        .as_ref()
        .ok_or_else(|| Malformed(event.r#type.clone()))?;
    M::decode(any.value.as_slice()).map_err(|_| Malformed(event.r#type.clone()))
}

fn time(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Runs the intake until shut down, on the bus the platform runs on.
pub async fn follow(context: ServiceContext, intake: Intake, shutdown: CancellationToken) {
    let prefix = &context.settings.events.topic_prefix;
    let attempts = context.settings.events.consumer_max_attempts;
    let topics = [
        ServiceName::Scheduling,
        ServiceName::Pharmacy,
        ServiceName::Records,
        ServiceName::Accounts,
    ]
    .into_iter()
    .map(|s| topic_for(prefix, s))
    .collect();
    let consumer = Consumer::new(context.db.clone(), GROUP, topics, intake, attempts);
    if let Err(error) = consumer.run(context.bus.source.clone(), shutdown).await {
        tracing::error!(%error, "notify's intake stopped");
    }
}

impl EventHandler for Intake {
    fn handle<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        event: &'a EventEnvelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let kind = event.r#type.as_str();
            if kind == "medmesh.accounts.v1.user.erased" {
                return self.erase(txn, event).await;
            }
            // An event about someone erased arrives late: it must not bring them back.
            if !event.subject.is_empty() && schedule::erased(txn, &event.subject).await? {
                return Ok(());
            }
            let handled = match kind.strip_prefix("medmesh.") {
                Some(k)
                    if k.starts_with("scheduling.v1.appointment.")
                        || k == "scheduling.v1.waitlist.offered" =>
                {
                    self.appointment(txn, event).await?;
                    true
                }
                Some(
                    "pharmacy.v1.prescription.issued"
                    | "pharmacy.v1.prescription.pharmacy_changed"
                    | "pharmacy.v1.prescription.rejected",
                ) => {
                    self.prescription(txn, event).await?;
                    true
                }
                Some("pharmacy.v1.stock.low") => {
                    self.stock_low(txn, event).await?;
                    true
                }
                Some("pharmacy.v1.stock.expiring") => {
                    self.stock_expiring(txn, event).await?;
                    true
                }
                Some("records.v1.record.break_glass" | "records.v1.record.access_granted") => {
                    self.record(txn, event).await?;
                    true
                }
                Some(k) if k.starts_with("accounts.v1.user.") => {
                    self.staff(txn, event).await?;
                    true
                }
                _ => false,
            };
            metrics::counter!(
                "medmesh_notify_events_total",
                "result" => if handled { "handled" } else { "ignored" }
            )
            .increment(1);
            Ok(())
        })
    }
}

impl Intake {
    /// Makes `kind` for `user_id` on each channel their preferences name.
    async fn notify(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
        user_id: &str,
        kind: Kind,
        values: &Values,
    ) -> Result<(), HandlerError> {
        // An event from long ago (notify was down, or joins a platform with history) is
        // recorded but told to no one: a confirmation days late helps nobody.
        let at = time(event.time.as_ref()).unwrap_or_else(|| self.app.now());
        if self.app.now() - at > chrono::Duration::hours(STALE_HOURS) {
            metrics::counter!("medmesh_notify_stale_events_total").increment(1);
            return Ok(());
        }
        let source = format!("{}/{user_id}/{}", event.id, kind.as_str());
        Ok(make(
            txn,
            &self.app,
            user_id,
            kind,
            values,
            &source,
            &event.r#type,
            &event.id,
        )
        .await?)
    }

    async fn appointment(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let body: AppointmentEvent = payload(event)?;
        let Some(appointment) = body.appointment else {
            return Ok(()); // schedule.changed: nothing to tell anyone
        };
        let slot = appointment.slot.clone().unwrap_or_default();
        let Some(start) = time(slot.start.as_ref()) else {
            return Err(Malformed(event.r#type.clone()).into());
        };
        let at = time(event.time.as_ref()).unwrap_or_else(|| self.app.now());
        let id = &appointment.appointment_id;
        let patient = &appointment.patient_id;
        let doctor = &slot.doctor_id;
        let mut values = Values::from([
            ("doctor_name".into(), body.doctor_display_name.clone()),
            ("clinic_name".into(), body.clinic_name.clone()),
            ("time_zone".into(), body.clinic_time_zone.clone()),
            ("start".into(), rfc3339(start)),
            (
                "link".into(),
                format!("{}/appointments/{id}", self.app.app_url),
            ),
            ("patient_id".into(), patient.clone()),
            ("doctor_id".into(), doctor.clone()),
        ]);
        let what = event.r#type.rsplit_once("v1.").map_or("", |(_, k)| k);
        // What each state change means for the appointment kept here; other kinds (holds,
        // offers, kinds added later) leave it as it is.
        let live = match what {
            "appointment.booked"
            | "appointment.confirmed"
            | "appointment.checked_in"
            | "appointment.rescheduled" => Some(true),
            "appointment.cancelled" | "appointment.completed" | "appointment.no_show" => {
                Some(false)
            }
            _ => None,
        };
        if let Some(live) = live {
            let (key, context) = self.app.seal(&appointment_place(id), &values);
            schedule::upsert_appointment(txn, id, patient, doctor, start, live, &key, context, at)
                .await?;
        }
        match what {
            "appointment.booked" | "appointment.confirmed" => {
                self.schedule_reminders(txn, id, patient, start, at).await?;
            }
            "appointment.rescheduled" => {
                schedule::rearm_reminders(txn, id).await?;
                self.schedule_reminders(txn, id, patient, start, at).await?;
            }
            "appointment.cancelled" | "appointment.completed" | "appointment.no_show" => {
                schedule::cancel_reminders(txn, id).await?;
            }
            _ => {}
        }
        let previous = body.previous_slot.unwrap_or_default();
        if let Some(previous_start) = time(previous.start.as_ref()) {
            values.insert("previous_start".into(), rfc3339(previous_start));
        }
        let to_doctor = |change: CalendarChange| {
            let mut v = values.clone();
            v.insert("change".into(), format!("{change:?}").to_lowercase());
            v
        };
        match what {
            "appointment.booked" => {
                self.notify(txn, event, patient, Kind::AppointmentBooked, &values)
                    .await?;
                self.notify(
                    txn,
                    event,
                    doctor,
                    Kind::CalendarChanged,
                    &to_doctor(CalendarChange::New),
                )
                .await?;
            }
            "appointment.rescheduled" => {
                self.notify(txn, event, patient, Kind::AppointmentRescheduled, &values)
                    .await?;
                let moved_here = previous.doctor_id.is_empty() || previous.doctor_id == *doctor;
                self.notify(
                    txn,
                    event,
                    doctor,
                    Kind::CalendarChanged,
                    &to_doctor(if moved_here {
                        CalendarChange::Moved
                    } else {
                        CalendarChange::New
                    }),
                )
                .await?;
                if !previous.doctor_id.is_empty() && previous.doctor_id != *doctor {
                    // Moved to another doctor: new for them, gone for the first.
                    self.notify(
                        txn,
                        event,
                        &previous.doctor_id,
                        Kind::CalendarChanged,
                        &to_doctor(CalendarChange::Cancelled),
                    )
                    .await?;
                }
            }
            "appointment.cancelled" => {
                self.notify(txn, event, patient, Kind::AppointmentCancelled, &values)
                    .await?;
                self.notify(
                    txn,
                    event,
                    doctor,
                    Kind::CalendarChanged,
                    &to_doctor(CalendarChange::Cancelled),
                )
                .await?;
            }
            "waitlist.offered" => {
                if let Some(deadline) = time(appointment.hold_expires_at.as_ref()) {
                    values.insert("deadline".into(), rfc3339(deadline));
                }
                self.notify(txn, event, patient, Kind::WaitlistOffer, &values)
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }

    async fn schedule_reminders(
        &self,
        txn: &DatabaseTransaction,
        appointment_id: &str,
        patient_id: &str,
        start: DateTime<Utc>,
        booked_at: DateTime<Utc>,
    ) -> Result<(), HandlerError> {
        let prefs = preferences(txn, patient_id).await?;
        for lead in prefs.leads() {
            if let Some(due) = reminder_due(start, lead, booked_at) {
                schedule::schedule_reminder(txn, appointment_id, patient_id, lead, due).await?;
            }
        }
        Ok(())
    }

    async fn prescription(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let body: PrescriptionEvent = payload(event)?;
        let p = body.prescription.unwrap_or_default();
        let medications = p
            .items
            .iter()
            .map(|i| i.medication_name.clone())
            .filter(|n| !n.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        let mut values = Values::from([
            ("pharmacy_name".into(), body.pharmacy_name),
            ("medications".into(), medications),
            (
                "link".into(),
                format!("{}/prescriptions/{}", self.app.app_url, p.prescription_id),
            ),
        ]);
        let kind = if event.r#type.ends_with(".rejected") {
            values.insert("reason".into(), p.rejection_reason.clone());
            Kind::PrescriptionRejected
        } else {
            Kind::PrescriptionReady
        };
        self.notify(txn, event, &p.patient_id, kind, &values).await
    }

    async fn stock_low(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let body: StockLowEvent = payload(event)?;
        let level = body.level.unwrap_or_default();
        let values = Values::from([
            ("pharmacy_name".into(), body.pharmacy_name),
            ("medication_name".into(), level.medication_name.clone()),
            ("available".into(), level.available.to_string()),
            ("threshold".into(), level.critical_threshold.to_string()),
        ]);
        for user in schedule::pharmacy_staff(txn, &level.pharmacy_id).await? {
            self.notify(txn, event, &user, Kind::StockLow, &values)
                .await?;
        }
        Ok(())
    }

    async fn stock_expiring(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let body: StockExpiringEvent = payload(event)?;
        let mut values = Values::from([
            ("pharmacy_name".into(), body.pharmacy_name.clone()),
            ("medication_name".into(), body.medication_name.clone()),
            ("lot".into(), body.lot.clone()),
            ("quantity".into(), body.quantity.to_string()),
        ]);
        if let Some(expires) = time(body.expires_at.as_ref()) {
            values.insert("expires".into(), rfc3339(expires));
        }
        for user in schedule::pharmacy_staff(txn, &body.pharmacy_id).await? {
            self.notify(txn, event, &user, Kind::StockExpiring, &values)
                .await?;
        }
        Ok(())
    }

    async fn record(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let body: RecordEvent = payload(event)?;
        let at = time(body.at.as_ref())
            .or_else(|| time(event.time.as_ref()))
            .unwrap_or_else(|| self.app.now());
        let values = Values::from([
            ("doctor_id".into(), body.doctor_id.clone()),
            ("patient_id".into(), body.patient_id.clone()),
            ("at".into(), rfc3339(at)),
            (
                "link".into(),
                format!("{}/records/access-log", self.app.app_url),
            ),
        ]);
        let mut values = values;
        if let Some(until) = time(body.ends_at.as_ref()) {
            values.insert("until".into(), rfc3339(until));
        }
        if event.r#type.ends_with(".break_glass") {
            self.notify(txn, event, &body.patient_id, Kind::EmergencyAccess, &values)
                .await
        } else {
            self.notify(txn, event, &body.doctor_id, Kind::AccessGranted, &values)
                .await
        }
    }

    /// Pharmacists' workplaces, from every account event (they carry the affiliations).
    async fn staff(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let body: UserEvent = payload(event)?;
        if schedule::erased(txn, &body.user_id).await? {
            return Ok(());
        }
        let pharmacies: Vec<String> = if body.active {
            body.affiliations
                .iter()
                .map(|a| a.pharmacy_id.clone())
                .filter(|p| !p.is_empty())
                .collect()
        } else {
            Vec::new()
        };
        schedule::set_pharmacies(txn, &body.user_id, &pharmacies).await?;
        Ok(())
    }

    async fn erase(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let body: UserEvent = payload(event)?;
        if body.user_id.is_empty() {
            return Err(Malformed(event.r#type.clone()).into());
        }
        notifications::delete_user(txn, &body.user_id).await?;
        schedule::erase(txn, &body.user_id, self.app.now()).await?;
        Ok(())
    }
}

/// A user's preferences as stored, or the defaults.
pub async fn preferences<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
) -> Result<Prefs, NotifyError> {
    Ok(match settings::preferences(conn, user_id).await? {
        Some(row) => serde_json::from_str(&row.settings).unwrap_or_default(),
        None => Prefs::default(),
    })
}

/// Makes `kind` for `user_id` on each of their channels, once per `source` (what made it).
#[allow(clippy::too_many_arguments)]
pub async fn make<C: ConnectionTrait>(
    conn: &C,
    app: &App,
    user_id: &str,
    kind: Kind,
    values: &Values,
    source: &str,
    event_type: &str,
    event_id: &str,
) -> Result<(), NotifyError> {
    if user_id.is_empty() || schedule::erased(conn, user_id).await? {
        return Ok(());
    }
    // The patient a message to someone else is about: erasing the patient removes it too.
    let about = values
        .get("patient_id")
        .filter(|p| p.as_str() != user_id)
        .cloned()
        .unwrap_or_default();
    let prefs = preferences(conn, user_id).await?;
    for channel in prefs.channels(kind) {
        let id = uuid::Uuid::now_v7().to_string();
        let (context_key, context) = app.seal(&context_place(&id), values);
        notifications::insert(
            conn,
            &NewNotification {
                notification_id: id,
                dedupe_key: format!("{source}/{}", channel.as_str()),
                user_id: user_id.to_string(),
                about_user: about.clone(),
                kind: kind.as_str().to_string(),
                channel: channel.as_str().to_string(),
                event_type: event_type.to_string(),
                event_id: event_id.to_string(),
                urgent: kind.urgent(),
                context_key,
                context,
                at: app.now(),
            },
        )
        .await?;
    }
    Ok(())
}
