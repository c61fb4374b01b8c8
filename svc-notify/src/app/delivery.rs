//! The delivery worker, on every replica: fires due reminders (each once: the transaction
//! that claims a reminder makes its notifications), writes doctors' daily agendas, and sends
//! due notifications — claimed for a lease, rendered in the recipient's language and time
//! zone, held for quiet hours and per-recipient rates, retried with backoff and jitter, and
//! dead-lettered after the last attempt. A replica that dies mid-send loses its claims when
//! their lease runs out; another replica sends them, with the same idempotency key.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, NaiveTime, TimeZone, Timelike, Utc};
use futures::StreamExt;
use medmesh_proto::accounts::v1::Profile;
use svc_kit::{ApiError, people::People, write::retrying};
use tokio_util::sync::CancellationToken;

use super::{
    App, Content, Values, appointment_place, content_place, context_place,
    intake::{make, preferences},
    mask,
    transport::{Outcome, Outgoing, Transports},
};
use crate::{
    domain::{
        Channel, Kind, Lang,
        locale::{self, CalendarChange},
        preferences::{quiet_wait, retry_delay},
        templates,
    },
    error::NotifyError,
    store::{
        notifications::{self, Finish, NotificationRow},
        schedule, settings,
    },
};

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct Tuning {
    pub max_attempts: u32,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub batch: u32,
    pub concurrency: usize,
    pub lease: chrono::Duration,
    pub per_recipient_per_hour: i64,
    pub poll_interval: Duration,
    /// The longest one send may take (SMTP or a webhook).
    pub send_timeout: chrono::Duration,
}

#[derive(Clone)]
pub struct Delivery {
    pub app: App,
    pub transports: Transports,
    pub people: People,
    pub tuning: Tuning,
    /// This replica's name on its claims.
    pub worker: String,
    profiles: moka::future::Cache<String, Arc<Profile>>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    pub fn new(app: App, transports: Transports, people: People, tuning: Tuning) -> Delivery {
        Delivery {
            app,
            transports,
            people,
            tuning,
            worker: uuid::Uuid::new_v4().to_string(),
            profiles: moka::future::Cache::builder()
                .max_capacity(50_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
        }
    }

    /// Runs until shut down.
    pub async fn run(self, shutdown: CancellationToken) {
        // Agendas and gauges every sixty polls (30 s at the default interval).
        let every = self.tuning.poll_interval * 60;
        let mut last_agenda = std::time::Instant::now() - every;
        loop {
            let mut busy = false;
            match self.fire_reminders().await {
                Ok(n) => busy |= n > 0,
                Err(error) => tracing::warn!(%error, "could not fire reminders"),
            }
            match self.send_due().await {
                Ok(n) => busy |= n > 0,
                Err(error) => tracing::warn!(%error, "could not claim notifications"),
            }
            if last_agenda.elapsed() >= every {
                last_agenda = std::time::Instant::now();
                if let Err(error) = self.agendas().await {
                    tracing::warn!(%error, "could not write agendas");
                }
                if let Ok(n) = schedule::pending_reminders(&self.app.db).await {
                    metrics::gauge!("medmesh_notify_pending_reminders").set(n as f64);
                }
            }
            let pause = if busy {
                Duration::ZERO
            } else {
                self.tuning.poll_interval
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Fires one batch of due reminders; how many.
    pub async fn fire_reminders(&self) -> Result<usize, NotifyError> {
        let app = &self.app;
        let batch = self.tuning.batch;
        let fired = retrying(&app.db, |txn| async move {
            let txn = &*txn;
                        let now = app.now();
            let due = schedule::fire_due(txn, now, batch).await?;
            for reminder in &due {
                let Some(appointment) = schedule::appointment(txn, &reminder.appointment_id).await? else {
                    continue;
                };
                // Cancelled, over, or already begun (notify was down): nothing to remind of.
                if !appointment.live || appointment.starts_at <= now {
                    continue;
                }
                // A value that does not open (its key retired too early) costs this reminder,
                // not every one after it: it is fired without a message, and counted.
                let values: Values = match app.open(
                    &appointment_place(&appointment.appointment_id),
                    &appointment.context_key,
                    &appointment.context,
                ) {
                    Ok(values) => values,
                    Err(error) => {
                        tracing::error!(%error, reminder = %reminder.reminder_id, "a reminder's appointment cannot be read; fired without a message");
                        metrics::counter!("medmesh_notify_reminder_errors_total").increment(1);
                        continue;
                    }
                };
                make(
                    txn,
                    app,
                    &reminder.patient_id,
                    Kind::AppointmentReminder,
                    &values,
                    &format!("reminder/{}/{}", reminder.reminder_id, reminder.due_at.timestamp()),
                    "",
                    "",
                )
                .await?;
            }
            Ok::<_, NotifyError>(due.len())
        })
        .await?;
        if fired > 0 {
            metrics::counter!("medmesh_notify_reminders_fired_total").increment(fired as u64);
        }
        Ok(fired)
    }

    /// Claims due notifications, as many as it sends at a time (so a claim never waits
    /// behind others long enough for its lease to run out), and sends them; how many.
    pub async fn send_due(&self) -> Result<usize, NotifyError> {
        let now = self.app.now();
        let claimed = notifications::claim(
            &self.app.db,
            &self.worker,
            now,
            now + self.tuning.lease,
            self.tuning.batch.min(self.tuning.concurrency as u32),
        )
        .await?;
        let n = claimed.len();
        futures::stream::iter(claimed)
            .for_each_concurrent(self.tuning.concurrency, |row| async move {
                self.deliver(row).await;
            })
            .await;
        Ok(n)
    }

    async fn deliver(&self, row: NotificationRow) {
        let finish = match self.attempt(&row).await {
            Ok(finish) => finish,
            Err(error) => self.failed(&row, error.to_string(), true),
        };
        let now = self.app.now();
        let result = match &finish {
            Finish::Sent { .. } => "sent",
            Finish::Failed {
                retry_at: Some(_), ..
            } => "retry",
            Finish::Failed { retry_at: None, .. } => "dead",
            Finish::Skipped { .. } => "skipped",
            Finish::Deferred { .. } => "deferred",
        };
        metrics::counter!("medmesh_notify_deliveries_total", "channel" => row.channel.clone(), "result" => result).increment(1);
        if matches!(finish, Finish::Sent { .. }) {
            let lag = (now - row.created_at).num_milliseconds().max(0) as f64 / 1000.0;
            metrics::histogram!("medmesh_notify_lag_seconds", "channel" => row.channel.clone())
                .record(lag);
        }
        match notifications::finish(
            &self.app.db,
            &row.notification_id,
            &self.worker,
            now,
            &finish,
        )
        .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(notification = %row.notification_id, "claim was taken over before the attempt was recorded")
            }
            Err(error) => {
                tracing::warn!(notification = %row.notification_id, %error, "could not record an attempt; the claim runs out and it is tried again")
            }
        }
    }

    /// A failed attempt: another one later, or a dead letter after the last.
    fn failed(&self, row: &NotificationRow, error: String, transient: bool) -> Finish {
        let attempts = u32::try_from(row.attempts).unwrap_or(u32::MAX);
        let retry_at = (transient && attempts < self.tuning.max_attempts).then(|| {
            self.app.now()
                + retry_delay(
                    attempts,
                    self.tuning.retry_base_ms,
                    self.tuning.retry_max_ms,
                    rand::random::<f64>(),
                )
        });
        Finish::Failed { error, retry_at }
    }

    async fn profile(&self, user_id: &str) -> Result<Arc<Profile>, ApiError> {
        if let Some(known) = self.profiles.get(user_id).await {
            return Ok(known);
        }
        let profile = Arc::new(self.people.profile_as_service(user_id).await?);
        self.profiles
            .insert(user_id.to_string(), profile.clone())
            .await;
        Ok(profile)
    }

    async fn attempt(&self, row: &NotificationRow) -> Result<Finish, NotifyError> {
        let (Some(kind), Some(channel)) = (Kind::parse(&row.kind), Channel::parse(&row.channel))
        else {
            return Ok(Finish::Skipped {
                reason: "unknown kind or channel".into(),
            });
        };
        if !self.transports.offers(channel) {
            return Ok(Finish::Skipped {
                reason: format!("no {} provider is configured", channel.as_str()),
            });
        }
        let profile = match self.profile(&row.user_id).await {
            Ok(profile) => profile,
            Err(ApiError::NotFound(_)) => {
                return Ok(Finish::Skipped {
                    reason: "the account is gone".into(),
                });
            }
            Err(error) => return Ok(self.failed(row, format!("svc-accounts: {error}"), true)),
        };
        if !profile.active {
            return Ok(Finish::Skipped {
                reason: "the account is deactivated".into(),
            });
        }
        let now = self.app.now();
        let prefs = preferences(&self.app.db, &row.user_id).await?;
        let mut values: Values = self.app.open(
            &context_place(&row.notification_id),
            &row.context_key,
            &row.context,
        )?;
        // An appointment is written in its clinic's time (where the patient must be then);
        // anything else in the recipient's zone; with neither, in UTC, labelled so.
        let zone = [
            values.get("time_zone").map_or("", String::as_str),
            profile.time_zone.as_str(),
        ]
        .into_iter()
        .find(|z| z.parse::<chrono_tz::Tz>().is_ok())
        .unwrap_or("")
        .to_string();
        // Past attempts, however they ended, count: a row whose claims kept running out (a
        // replica dying on it) is a dead letter, not an endless loop.
        if u32::try_from(row.attempts).unwrap_or(u32::MAX) > self.tuning.max_attempts {
            return Ok(self.failed(
                row,
                "out of attempts: every claim ran out before it was recorded".into(),
                false,
            ));
        }
        if channel.intrusive() && !row.urgent {
            let local = local_time(now, &zone);
            if let Some(wait) = quiet_wait(prefs.quiet, local) {
                return Ok(Finish::Deferred { until: now + wait });
            }
            let recent = notifications::sent_since(
                &self.app.db,
                &row.user_id,
                channel.as_str(),
                now - chrono::Duration::hours(1),
            )
            .await?;
            if recent >= self.tuning.per_recipient_per_hour {
                return Ok(Finish::Deferred {
                    until: now + chrono::Duration::minutes(10),
                });
            }
        }
        let address = match channel {
            Channel::Email => profile.email.clone(),
            Channel::Sms => profile.phone.clone(),
            Channel::Push => profile.user_id.clone(),
        };
        if address.trim().is_empty() {
            return Ok(Finish::Skipped {
                reason: format!("no {} address on the account", channel.as_str()),
            });
        }
        let lang = prefs
            .language()
            .unwrap_or_else(|| Lang::from_tag(&profile.preferred_language));
        values.insert("recipient_name".into(), full_name(&profile));
        self.resolve_names(&mut values).await;
        localise(&mut values, &zone, lang);
        let (subject, body) = self.template(kind, channel, lang).await?;
        let content = Content {
            subject: templates::render(&subject, &values),
            body: templates::render(&body, &values),
            language: lang.as_str().to_string(),
            to: mask(&address),
        };
        let (key, sealed) = self
            .app
            .seal(&content_place(&row.notification_id), &content);
        if !notifications::set_content(
            &self.app.db,
            &row.notification_id,
            &self.worker,
            &key,
            sealed,
            now + self.tuning.send_timeout * 2,
        )
        .await?
        {
            // Taken over, or too little lease left to send safely: the claim runs out and the
            // next claim sends it.
            return Err(NotifyError::Refused(
                "the claim was taken over or runs out".into(),
            ));
        }
        let outgoing = Outgoing {
            id: &row.notification_id,
            kind: kind.as_str(),
            to: &address,
            subject: &content.subject,
            body: &content.body,
            language: lang.as_str(),
        };
        // Servers and providers echo the address in their answers; the history keeps it masked.
        let masked = |text: String| text.replace(&address, &mask(&address));
        Ok(match self.transports.send(channel, &outgoing).await {
            Outcome::Sent(answer) => Finish::Sent {
                answer: masked(answer),
            },
            Outcome::Transient(error) => self.failed(row, masked(error), true),
            Outcome::Permanent(error) => self.failed(row, masked(error), false),
        })
    }

    /// Names the values refer to by id, read from accounts with notify's own token.
    async fn resolve_names(&self, values: &mut Values) {
        for (id_key, name_key) in [("patient_id", "patient_name"), ("doctor_id", "doctor_name")] {
            let missing = values.get(name_key).is_none_or(String::is_empty);
            if let (true, Some(id)) = (missing, values.get(id_key).cloned())
                && !id.is_empty()
                && let Ok(profile) = self.profile(&id).await
            {
                values.insert(name_key.into(), full_name(&profile));
            }
        }
    }

    /// The template's text: an admin's override, else the built-in one.
    async fn template(
        &self,
        kind: Kind,
        channel: Channel,
        lang: Lang,
    ) -> Result<(String, String), NotifyError> {
        if let Some(t) =
            settings::template(&self.app.db, kind.as_str(), channel.as_str(), lang.as_str()).await?
        {
            return Ok((t.subject, t.body));
        }
        let t = templates::built_in(kind, channel, lang);
        Ok((t.subject.to_string(), t.body.to_string()))
    }

    /// Doctors' agendas whose time has come today (in their zone), each once a day.
    pub async fn agendas(&self) -> Result<(), NotifyError> {
        for (doctor, minute) in settings::agenda_users(&self.app.db).await? {
            let Ok(profile) = self.profile(&doctor).await else {
                continue;
            };
            let zone: chrono_tz::Tz = profile.time_zone.parse().unwrap_or(chrono_tz::UTC);
            let now = self.app.now();
            let local = now.with_timezone(&zone);
            let minute_now =
                i32::try_from(local.time().num_seconds_from_midnight() / 60).unwrap_or(0);
            if minute_now < minute {
                continue;
            }
            let day = local.date_naive();
            let Some(from) = zone
                .from_local_datetime(&day.and_time(NaiveTime::MIN))
                .earliest()
            else {
                continue;
            };
            let from = from.with_timezone(&Utc);
            // The next local midnight (a day of 23 or 25 hours where the clocks change).
            let Some(to) = day.succ_opt().and_then(|next| {
                zone.from_local_datetime(&next.and_time(NaiveTime::MIN))
                    .earliest()
            }) else {
                continue;
            };
            let to = to.with_timezone(&Utc);
            let app = &self.app;
            let doctor = &doctor;
            let day_text = day.to_string();
            let written = retrying(&app.db, |txn| {
                let day_text = day_text.clone();
                async move {
                    let txn = &*txn;
                    if !schedule::claim_agenda(txn, doctor, &day_text).await? {
                        return Ok::<_, NotifyError>(());
                    }
                    let appointments = schedule::doctors_day(txn, doctor, from, to).await?;
                    let mut lines = Vec::new();
                    for a in &appointments {
                        let values: Values = app.open(
                            &appointment_place(&a.appointment_id),
                            &a.context_key,
                            &a.context,
                        )?;
                        lines.push(format!(
                            "{{{}}} — {}",
                            a.starts_at.to_rfc3339(),
                            values.get("clinic_name").cloned().unwrap_or_default()
                        ));
                    }
                    let values = Values::from([
                        ("date".into(), from.to_rfc3339()),
                        ("count".into(), appointments.len().to_string()),
                        ("agenda".into(), lines.join("\n")),
                        ("time_zone".into(), zone.name().to_string()),
                    ]);
                    make(
                        txn,
                        app,
                        doctor,
                        Kind::DailyAgenda,
                        &values,
                        &format!("agenda/{doctor}/{day_text}"),
                        "",
                        "",
                    )
                    .await
                }
            })
            .await;
            if let Err(error) = written {
                tracing::warn!(%error, doctor = %doctor, "could not write an agenda; tried again next round");
            }
        }
        Ok(())
    }
}

fn full_name(p: &Profile) -> String {
    let name = format!("{} {}", p.given_name.trim(), p.family_name.trim());
    let name = name.trim();
    if name.is_empty() {
        p.username.clone()
    } else {
        name.to_string()
    }
}

fn local_time(now: DateTime<Utc>, zone: &str) -> NaiveTime {
    let tz: chrono_tz::Tz = zone.parse().unwrap_or(chrono_tz::UTC);
    now.with_timezone(&tz).time()
}

/// Instants written in the recipient's zone and language; the calendar change as a phrase.
fn localise(values: &mut Values, zone: &str, lang: Lang) {
    for key in ["start", "previous_start", "deadline", "at", "until"] {
        if let Some(at) = values
            .get(key)
            .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
        {
            values.insert(
                key.into(),
                locale::format_datetime(at.with_timezone(&Utc), zone, lang),
            );
        }
    }
    if let Some(at) = values
        .get("expires")
        .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
    {
        values.insert(
            "expires".into(),
            locale::format_date(at.with_timezone(&Utc), zone, lang),
        );
    }
    if let Some(at) = values
        .get("date")
        .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
    {
        values.insert(
            "date".into(),
            locale::format_date(at.with_timezone(&Utc), zone, lang),
        );
    }
    if let Some(agenda) = values.get("agenda").cloned() {
        // Agenda lines start with "{<instant>}": the time in the doctor's zone.
        let lines: Vec<String> = agenda
            .lines()
            .map(
                |line| match line.strip_prefix('{').and_then(|l| l.split_once('}')) {
                    Some((at, rest)) => match DateTime::parse_from_rfc3339(at) {
                        Ok(at) => format!(
                            "{}{rest}",
                            locale::format_time(at.with_timezone(&Utc), zone, lang)
                        ),
                        Err(_) => line.to_string(),
                    },
                    None => line.to_string(),
                },
            )
            .collect();
        values.insert("agenda".into(), lines.join("\n"));
    }
    let change = match values.get("change").map(String::as_str) {
        Some("new") => Some(CalendarChange::New),
        Some("moved") => Some(CalendarChange::Moved),
        Some("cancelled") => Some(CalendarChange::Cancelled),
        _ => None,
    };
    if let Some(change) = change {
        values.insert(
            "change".into(),
            locale::calendar_change(change, lang).to_string(),
        );
    }
}
