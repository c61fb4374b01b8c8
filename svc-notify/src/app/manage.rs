//! What people and admins ask of notify: preferences, history, templates (with previews),
//! manual messages, retries, dead letters and replays. Access was decided by the caller's
//! roles before these run; whose data is decided here.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use medmesh_proto::{events::v1::EventEnvelope, notify::v1 as pb};
use prost::Message as _;
use sea_orm::{ConnectionTrait, FromQueryResult};
use svc_kit::{
    ApiError,
    db::stmt,
    events::EventHandler,
    idempotency::IdempotencyKey,
    paging,
    write::{self, retrying},
};

use super::{App, Content, Values, content_place, context_place, intake::Intake};
use crate::{
    domain::{Channel, Kind, Lang, preferences::Prefs, templates},
    error::NotifyError,
    store::{
        notifications::{self, NewNotification, NotificationRow},
        settings,
    },
};

type Answer<T> = Result<T, NotifyError>;

fn ts(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// Preferences as the contract shows them: every kind with its channels.
pub fn preferences_pb(
    user_id: &str,
    prefs: &Prefs,
    version: i64,
    updated_at: Option<DateTime<Utc>>,
) -> pb::Preferences {
    pb::Preferences {
        user_id: user_id.to_string(),
        kinds: Kind::ALL
            .into_iter()
            .map(|kind| pb::KindChannels {
                kind: kind.to_pb() as i32,
                channels: prefs
                    .channels(kind)
                    .into_iter()
                    .map(|c| c.to_pb() as i32)
                    .collect(),
                required: kind.required(),
            })
            .collect(),
        language: prefs.language.clone().unwrap_or_default(),
        reminder_lead_minutes: prefs.leads(),
        quiet_hours: prefs.quiet.map(|(start, end)| pb::QuietHours {
            start_minute: i32::from(start),
            end_minute: i32::from(end),
        }),
        agenda_time: prefs
            .agenda_minute
            .map(|m| format!("{:02}:{:02}", m / 60, m % 60))
            .unwrap_or_default(),
        version,
        updated_at: updated_at.map(ts),
    }
}

impl App {
    pub async fn get_preferences(&self, user_id: &str) -> Answer<pb::Preferences> {
        Ok(match settings::preferences(&self.db, user_id).await? {
            Some(row) => {
                let prefs: Prefs = serde_json::from_str(&row.settings).unwrap_or_default();
                preferences_pb(user_id, &prefs, row.version, Some(row.updated_at))
            }
            None => preferences_pb(user_id, &Prefs::default(), 0, None),
        })
    }

    pub async fn update_preferences(
        &self,
        key: &IdempotencyKey,
        user_id: &str,
        prefs: Prefs,
        expected: i64,
    ) -> Answer<pb::Preferences> {
        let settings_json =
            serde_json::to_string(&prefs).map_err(|e| ApiError::internal(e.to_string()))?;
        let agenda = prefs.agenda_minute.map(i32::from);
        let now = self.now();
        let prefs = &prefs;
        write::write(&self.db, key, |txn| {
            let settings_json = settings_json.clone();
            async move {
                let txn = &*txn;
                if !settings::put_preferences(txn, user_id, &settings_json, agenda, expected, now)
                    .await?
                {
                    return Err(NotifyError::Kit(ApiError::Aborted(
                        "the preferences changed since they were read; read them again".into(),
                    )));
                }
                let row = settings::preferences(txn, user_id)
                    .await?
                    .ok_or(NotifyError::NoSuch("preferences"))?;
                Ok(preferences_pb(
                    user_id,
                    prefs,
                    row.version,
                    Some(row.updated_at),
                ))
            }
        })
        .await
    }

    /// A notification as its reader sees it (with its attempts when `attempts`).
    pub async fn notification_pb(
        &self,
        row: &NotificationRow,
        attempts: bool,
    ) -> Answer<pb::Notification> {
        let content: Content = match &row.content {
            Some(bytes) if !row.content_key.is_empty() => self.open(
                &content_place(&row.notification_id),
                &row.content_key,
                bytes,
            )?,
            _ => Content::default(),
        };
        let status = match row.status.as_str() {
            "queued" => pb::DeliveryStatus::Queued,
            "sending" => pb::DeliveryStatus::Sending,
            "sent" => pb::DeliveryStatus::Sent,
            "failed" => pb::DeliveryStatus::Failed,
            "dead" => pb::DeliveryStatus::Dead,
            "skipped" => pb::DeliveryStatus::Skipped,
            _ => pb::DeliveryStatus::Unspecified,
        };
        let attempt_log = if attempts {
            notifications::attempts(&self.db, &row.notification_id)
                .await?
                .into_iter()
                .map(|a| pb::Attempt {
                    number: a.number,
                    at: Some(ts(a.at)),
                    ok: a.ok,
                    answer: a.answer,
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(pb::Notification {
            notification_id: row.notification_id.clone(),
            user_id: row.user_id.clone(),
            kind: Kind::parse(&row.kind).map_or(pb::Kind::Unspecified, Kind::to_pb) as i32,
            channel: Channel::parse(&row.channel).map_or(pb::Channel::Unspecified, Channel::to_pb)
                as i32,
            event_type: row.event_type.clone(),
            event_id: row.event_id.clone(),
            status: status as i32,
            attempts: row.attempts,
            subject: content.subject,
            body: content.body,
            language: content.language,
            to: content.to,
            last_error: row.last_error.clone(),
            urgent: row.urgent,
            created_at: Some(ts(row.created_at)),
            next_attempt_at: matches!(row.status.as_str(), "queued" | "failed" | "sending")
                .then(|| ts(row.next_attempt_at)),
            sent_at: row.sent_at.map(ts),
            attempt_log,
        })
    }

    pub async fn list_notifications(
        &self,
        user_id: Option<&str>,
        statuses: &[&str],
        page_size: u64,
        page_token: &str,
    ) -> Answer<(Vec<pb::Notification>, String)> {
        let after = match paging::decode_token(page_token)? {
            Some(cursor) => {
                let (at, id) = cursor.split_once('|').ok_or_else(paging::bad_page_token)?;
                let at = DateTime::parse_from_rfc3339(at).map_err(|_| paging::bad_page_token())?;
                Some((at.with_timezone(&Utc), id.to_string()))
            }
            None => None,
        };
        let mut rows = notifications::list(&self.db, user_id, statuses, after, page_size).await?;
        let next = paging::next_page(&mut rows, page_size, |r| {
            format!(
                "{}|{}",
                r.created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                r.notification_id
            )
        });
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(self.notification_pb(row, false).await?);
        }
        Ok((out, next))
    }

    /// One notification, if `reader` (None: an admin) may see it.
    pub async fn get_notification(
        &self,
        id: &str,
        reader: Option<&str>,
    ) -> Answer<pb::Notification> {
        let row = notifications::get(&self.db, id)
            .await?
            .filter(|r| reader.is_none_or(|u| r.user_id == u))
            .ok_or(NotifyError::NoSuch("notification"))?;
        self.notification_pb(&row, true).await
    }

    pub async fn list_templates(
        &self,
        kind: Option<Kind>,
        lang: Option<Lang>,
    ) -> Answer<Vec<pb::Template>> {
        let overrides = settings::templates(&self.db).await?;
        let mut out = Vec::new();
        for k in Kind::ALL
            .into_iter()
            .filter(|k| kind.is_none_or(|x| x == *k))
        {
            for c in Channel::ALL {
                for l in Lang::ALL
                    .into_iter()
                    .filter(|l| lang.is_none_or(|x| x == *l))
                {
                    let stored = overrides.iter().find(|t| {
                        t.kind == k.as_str() && t.channel == c.as_str() && t.language == l.as_str()
                    });
                    out.push(template_pb(k, c, l, stored));
                }
            }
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn put_template(
        &self,
        key: &IdempotencyKey,
        by: &str,
        kind: Kind,
        channel: Channel,
        lang: Lang,
        subject: &str,
        body: &str,
        expected: i64,
    ) -> Answer<pb::Template> {
        let now = self.now();
        write::write(&self.db, key, |txn| async move {
            let txn = &*txn;
            if !settings::put_template(
                txn,
                kind.as_str(),
                channel.as_str(),
                lang.as_str(),
                subject,
                body,
                expected,
                by,
                now,
            )
            .await?
            {
                return Err(NotifyError::Kit(ApiError::Aborted(
                    "the template changed since it was read; read it again".into(),
                )));
            }
            let stored =
                settings::template(txn, kind.as_str(), channel.as_str(), lang.as_str()).await?;
            Ok(template_pb(kind, channel, lang, stored.as_ref()))
        })
        .await
    }

    pub async fn reset_template(
        &self,
        key: &IdempotencyKey,
        kind: Kind,
        channel: Channel,
        lang: Lang,
    ) -> Answer<pb::Template> {
        write::write(&self.db, key, |txn| async move {
            settings::delete_template(&*txn, kind.as_str(), channel.as_str(), lang.as_str())
                .await?;
            Ok(template_pb(kind, channel, lang, None))
        })
        .await
    }

    /// Renders the stored template (or `text`) against the kind's sample values and `values`.
    pub async fn preview(
        &self,
        kind: Kind,
        channel: Channel,
        lang: Lang,
        text: Option<(String, String)>,
        values: Values,
    ) -> Answer<pb::RenderedMessage> {
        let (subject, body) = match text {
            Some(text) => text,
            None => {
                match settings::template(&self.db, kind.as_str(), channel.as_str(), lang.as_str())
                    .await?
                {
                    Some(t) => (t.subject, t.body),
                    None => {
                        let t = templates::built_in(kind, channel, lang);
                        (t.subject.to_string(), t.body.to_string())
                    }
                }
            }
        };
        let mut all = templates::sample(kind, lang);
        all.extend(values);
        Ok(pb::RenderedMessage {
            subject: templates::render(&subject, &all),
            body: templates::render(&body, &all),
        })
    }

    /// An admin's message to `users` on `channels` (their preferences do not apply: an admin
    /// writes on purpose).
    pub async fn send_manual(
        &self,
        key: &IdempotencyKey,
        users: &[String],
        channels: &BTreeSet<Channel>,
        subject: &str,
        body: &str,
        urgent: bool,
    ) -> Answer<pb::SendNotificationResponse> {
        let values = Values::from([
            ("subject".into(), subject.to_string()),
            ("body".into(), body.to_string()),
        ]);
        let batch = uuid::Uuid::now_v7().to_string();
        let app = self;
        write::write(&self.db, key, |txn| {
            let values = values.clone();
            let batch = batch.clone();
            async move {
                let txn = &*txn;
                let mut ids = Vec::new();
                for user in users {
                    // An erased user is written to no more.
                    if crate::store::schedule::erased(txn, user).await? {
                        continue;
                    }
                    for channel in channels {
                        let id = uuid::Uuid::now_v7().to_string();
                        let (context_key, context) = app.seal(&context_place(&id), &values);
                        notifications::insert(
                            txn,
                            &NewNotification {
                                notification_id: id.clone(),
                                dedupe_key: format!("manual/{batch}/{user}/{}", channel.as_str()),
                                user_id: user.clone(),
                                about_user: String::new(),
                                kind: Kind::Manual.as_str().into(),
                                channel: channel.as_str().into(),
                                event_type: String::new(),
                                event_id: String::new(),
                                urgent,
                                context_key,
                                context,
                                at: app.now(),
                            },
                        )
                        .await?;
                        ids.push(id);
                    }
                }
                Ok(pb::SendNotificationResponse {
                    notification_ids: ids,
                })
            }
        })
        .await
    }

    pub async fn retry(&self, key: &IdempotencyKey, id: &str) -> Answer<pb::Notification> {
        let now = self.now();
        write::write(&self.db, key, |txn| async move {
            let txn = &*txn;
            let row = notifications::get(txn, id)
                .await?
                .ok_or(NotifyError::NoSuch("notification"))?;
            if !notifications::requeue(txn, id, now).await? {
                return Err(NotifyError::Refused(format!(
                    "the notification is {}; only failed and dead ones are retried",
                    row.status
                )));
            }
            let row = notifications::get(txn, id)
                .await?
                .ok_or(NotifyError::NoSuch("notification"))?;
            let mut answer = self.notification_pb(&row, false).await?;
            // The answer a retried request replays: ids and state, not the message.
            answer.subject.clear();
            answer.body.clear();
            answer.to.clear();
            Ok(answer)
        })
        .await
    }

    pub async fn event_dead_letters(&self) -> Answer<Vec<pb::EventDeadLetter>> {
        let b = self.db.get_database_backend();
        let rows = self
            .db
            .query_all_raw(stmt(
                b,
                "SELECT id, topic, event_id, envelope, error, attempts, created_at FROM dead_letters
                  WHERE consumer = $1 ORDER BY id DESC LIMIT 200",
                [super::intake::GROUP.into()],
            ))
            .await?;
        rows.iter()
            .map(|r| {
                let row = EventDeadLetterRow::from_query_result(r, "")?;
                let event_type = EventEnvelope::decode(row.envelope.as_slice())
                    .map(|e| e.r#type)
                    .unwrap_or_default();
                Ok(pb::EventDeadLetter {
                    dead_letter_id: row.id,
                    event_id: row.event_id.unwrap_or_default(),
                    event_type,
                    topic: row.topic,
                    error: row.error,
                    attempts: row.attempts,
                    created_at: Some(ts(row.created_at)),
                })
            })
            .collect()
    }

    /// Handles a dead-lettered event again, as the intake would have; removes the dead letter.
    pub async fn replay_event(
        &self,
        key: &IdempotencyKey,
        dead_letter_id: i64,
    ) -> Answer<pb::ReplayEventResponse> {
        let intake = Intake { app: self.clone() };
        let outcome = retrying(&self.db, |txn| {
            let intake = intake.clone();
            async move {
                let txn = &*txn;
                let b = txn.get_database_backend();
                let row = txn
                    .query_one_raw(stmt(
                        b,
                        "SELECT envelope FROM dead_letters WHERE id = $1 AND consumer = $2",
                        [dead_letter_id.into(), super::intake::GROUP.into()],
                    ))
                    .await?
                    .ok_or(NotifyError::NoSuch("dead letter"))?;
                let bytes: Vec<u8> = row.try_get("", "envelope")?;
                let envelope = EventEnvelope::decode(bytes.as_slice())
                    .ok()
                    .filter(|e| !e.id.is_empty())
                    .ok_or_else(|| NotifyError::Refused("the dead letter is not an event envelope; it cannot be replayed".into()))?;
                let fresh = txn
                    .execute_raw(stmt(
                        b,
                        "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        [super::intake::GROUP.into(), envelope.id.clone().into()],
                    ))
                    .await?
                    .rows_affected()
                    == 1;
                if fresh {
                    intake
                        .handle(txn, &envelope)
                        .await
                        .map_err(|e| NotifyError::Refused(format!("the event still fails: {e}")))?;
                }
                txn.execute_raw(stmt(b, "DELETE FROM dead_letters WHERE id = $1", [dead_letter_id.into()]))
                    .await?;
                key.record(txn, &pb::ReplayEventResponse { handled: fresh }).await?;
                Ok::<_, NotifyError>(pb::ReplayEventResponse { handled: fresh })
            }
        })
        .await;
        write::or_replay(&self.db, key, outcome).await
    }
}

#[derive(Debug, FromQueryResult)]
struct EventDeadLetterRow {
    id: i64,
    topic: String,
    event_id: Option<String>,
    envelope: Vec<u8>,
    error: String,
    attempts: i32,
    created_at: DateTime<Utc>,
}

fn template_pb(
    kind: Kind,
    channel: Channel,
    lang: Lang,
    stored: Option<&settings::TemplateRow>,
) -> pb::Template {
    let built_in = templates::built_in(kind, channel, lang);
    let mut placeholders: Vec<String> = vec!["recipient_name".into()];
    placeholders.extend(templates::placeholders(kind).iter().map(|p| p.to_string()));
    pb::Template {
        kind: kind.to_pb() as i32,
        channel: channel.to_pb() as i32,
        language: lang.as_str().into(),
        subject: stored.map_or(built_in.subject.to_string(), |t| t.subject.clone()),
        body: stored.map_or(built_in.body.to_string(), |t| t.body.clone()),
        built_in: stored.is_none(),
        version: stored.map_or(0, |t| t.version),
        updated_at: stored.map(|t| ts(t.updated_at)),
        placeholders,
    }
}
