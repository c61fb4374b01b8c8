//! The notify part of the graph's types: notifications and their attempts, preferences,
//! templates and what they render to, dead letters; their conversions from svc-notify's
//! messages.
//!
//! Counts and versions are `Int`, carried as the service sends them (the way records' are).
//! A dead-lettered event's id is an `ID` (the contract's 64-bit number, as text).

use async_graphql::{ID, SimpleObject};
use chrono::{DateTime, Utc};
use medmesh_proto::notify::v1 as pb;

use super::enums::{DeliveryStatus, NotificationChannel, NotificationKind};
use crate::convert::{non_empty, time};

/// One message to one user on one channel, with its delivery.
#[derive(SimpleObject, Debug, Clone)]
pub struct Notification {
    pub id: ID,
    pub user_id: ID,
    pub kind: Option<NotificationKind>,
    pub channel: Option<NotificationChannel>,
    /// The event that caused it, e.g. "medmesh.scheduling.v1.appointment.booked"; null for
    /// reminders and manual messages.
    pub event_type: Option<String>,
    pub event_id: Option<String>,
    pub status: Option<DeliveryStatus>,
    /// How many times it was tried.
    pub attempts: i32,
    /// What was sent, in `language`, once rendered (at the first attempt).
    pub subject: Option<String>,
    pub body: Option<String>,
    pub language: Option<String>,
    /// The address, partly masked (e.g. "a***@example.com").
    pub to: Option<String>,
    pub last_error: Option<String>,
    /// Sent on SMS and push even in quiet hours.
    pub urgent: bool,
    pub created_at: Option<DateTime<Utc>>,
    /// When the next attempt is due, while one is.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    /// Every attempt, oldest first: on `notification` and `retryNotification`; empty in lists
    /// (read the notification for them).
    pub attempt_log: Vec<NotificationAttempt>,
}

impl From<pb::Notification> for Notification {
    fn from(n: pb::Notification) -> Notification {
        Notification {
            id: ID(n.notification_id),
            user_id: ID(n.user_id),
            kind: NotificationKind::from_proto(n.kind),
            channel: NotificationChannel::from_proto(n.channel),
            event_type: non_empty(n.event_type),
            event_id: non_empty(n.event_id),
            status: DeliveryStatus::from_proto(n.status),
            attempts: n.attempts,
            subject: non_empty(n.subject),
            body: non_empty(n.body),
            language: non_empty(n.language),
            to: non_empty(n.to),
            last_error: non_empty(n.last_error),
            urgent: n.urgent,
            created_at: time(n.created_at),
            next_attempt_at: time(n.next_attempt_at),
            sent_at: time(n.sent_at),
            attempt_log: n
                .attempt_log
                .into_iter()
                .map(NotificationAttempt::from)
                .collect(),
        }
    }
}

/// One try at delivering a notification.
#[derive(SimpleObject, Debug, Clone)]
pub struct NotificationAttempt {
    /// From 1.
    pub number: i32,
    pub at: Option<DateTime<Utc>>,
    pub ok: bool,
    /// The mail server's or provider's answer, or the error.
    pub answer: Option<String>,
}

impl From<pb::Attempt> for NotificationAttempt {
    fn from(a: pb::Attempt) -> NotificationAttempt {
        NotificationAttempt {
            number: a.number,
            at: time(a.at),
            ok: a.ok,
            answer: non_empty(a.answer),
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct NotificationPage {
    pub notifications: Vec<Notification>,
    pub next_page_token: Option<String>,
}

/// What a user is told, on which channels, in which language and when.
#[derive(SimpleObject, Debug, Clone)]
pub struct NotificationPreferences {
    pub user_id: ID,
    /// Every kind, with the channels it is sent on (email by default).
    pub kinds: Vec<KindChannels>,
    /// The BCP 47 tag messages are written in (en, ro, ru, uk); null: the account's
    /// preferred language.
    pub language: Option<String>,
    /// How long before an appointment reminders go out, in minutes (1440 = 24 h by default).
    pub reminder_lead_minutes: Vec<i32>,
    /// Null: none.
    pub quiet_hours: Option<QuietHours>,
    /// Doctors: the daily agenda's local time, "HH:MM"; null: none.
    pub agenda_time: Option<String>,
    /// The version to send back with `updateNotificationPreferences` (0: none stored yet).
    pub version: i64,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<pb::Preferences> for NotificationPreferences {
    fn from(p: pb::Preferences) -> NotificationPreferences {
        NotificationPreferences {
            user_id: ID(p.user_id),
            kinds: p.kinds.into_iter().map(KindChannels::from).collect(),
            language: non_empty(p.language),
            reminder_lead_minutes: p.reminder_lead_minutes,
            quiet_hours: p.quiet_hours.map(QuietHours::from),
            agenda_time: non_empty(p.agenda_time),
            version: p.version,
            updated_at: time(p.updated_at),
        }
    }
}

/// The channels one kind is sent on.
#[derive(SimpleObject, Debug, Clone)]
pub struct KindChannels {
    pub kind: Option<NotificationKind>,
    /// Channels this gateway does not know are left out.
    pub channels: Vec<NotificationChannel>,
    /// The kind is legally required: its email cannot be turned off.
    pub required: bool,
}

impl From<pb::KindChannels> for KindChannels {
    fn from(k: pb::KindChannels) -> KindChannels {
        KindChannels {
            kind: NotificationKind::from_proto(k.kind),
            channels: k
                .channels
                .into_iter()
                .filter_map(NotificationChannel::from_proto)
                .collect(),
            required: k.required,
        }
    }
}

/// A daily window in which SMS and push wait (unless urgent); email is not held. Minutes after
/// local midnight in the user's time zone; the window may cross midnight.
#[derive(SimpleObject, Debug, Clone)]
pub struct QuietHours {
    pub start_minute: i32,
    pub end_minute: i32,
}

impl From<pb::QuietHours> for QuietHours {
    fn from(q: pb::QuietHours) -> QuietHours {
        QuietHours {
            start_minute: q.start_minute,
            end_minute: q.end_minute,
        }
    }
}

/// The text of one kind on one channel in one language: built in, or an admin's override.
#[derive(SimpleObject, Debug, Clone)]
pub struct NotificationTemplate {
    pub kind: Option<NotificationKind>,
    pub channel: Option<NotificationChannel>,
    /// en, ro, ru or uk.
    pub language: String,
    /// Text with placeholders like {patient_name}; SMS and push use the body only.
    pub subject: Option<String>,
    pub body: String,
    /// Whether this is the built-in text (no override stored).
    pub built_in: bool,
    /// The override's version, to send back with `putNotificationTemplate` (0: built in).
    pub version: i64,
    pub updated_at: Option<DateTime<Utc>>,
    /// The placeholders this kind knows.
    pub placeholders: Vec<String>,
}

impl From<pb::Template> for NotificationTemplate {
    fn from(t: pb::Template) -> NotificationTemplate {
        NotificationTemplate {
            kind: NotificationKind::from_proto(t.kind),
            channel: NotificationChannel::from_proto(t.channel),
            language: t.language,
            subject: non_empty(t.subject),
            body: t.body,
            built_in: t.built_in,
            version: t.version,
            updated_at: time(t.updated_at),
            placeholders: t.placeholders,
        }
    }
}

/// A template rendered against sample data.
#[derive(SimpleObject, Debug, Clone)]
pub struct RenderedMessage {
    pub subject: Option<String>,
    pub body: String,
}

impl From<pb::RenderedMessage> for RenderedMessage {
    fn from(m: pb::RenderedMessage) -> RenderedMessage {
        RenderedMessage {
            subject: non_empty(m.subject),
            body: m.body,
        }
    }
}

/// An event the intake could not handle.
#[derive(SimpleObject, Debug, Clone)]
pub struct EventDeadLetter {
    /// What `replayDeadLetterEvent` takes.
    pub id: ID,
    pub event_id: String,
    pub event_type: String,
    pub topic: String,
    pub error: String,
    pub attempts: i32,
    pub created_at: Option<DateTime<Utc>>,
}

impl From<pb::EventDeadLetter> for EventDeadLetter {
    fn from(d: pb::EventDeadLetter) -> EventDeadLetter {
        EventDeadLetter {
            id: ID(d.dead_letter_id.to_string()),
            event_id: d.event_id,
            event_type: d.event_type,
            topic: d.topic,
            error: d.error,
            attempts: d.attempts,
            created_at: time(d.created_at),
        }
    }
}

/// What could not be done: notifications out of attempts, and events the intake could not
/// handle.
#[derive(SimpleObject, Debug, Clone)]
pub struct NotificationDeadLetterPage {
    /// Notifications out of attempts, newest first, a page at a time.
    pub notifications: Vec<Notification>,
    /// Events the intake could not handle (on the first page only; empty on the others).
    pub events: Vec<EventDeadLetter>,
    pub next_page_token: Option<String>,
}

impl From<pb::ListDeadLettersResponse> for NotificationDeadLetterPage {
    fn from(page: pb::ListDeadLettersResponse) -> NotificationDeadLetterPage {
        NotificationDeadLetterPage {
            notifications: page
                .notifications
                .into_iter()
                .map(Notification::from)
                .collect(),
            events: page.events.into_iter().map(EventDeadLetter::from).collect(),
            next_page_token: non_empty(page.next_page_token),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_absent_and_attempts_come_along() {
        let notification = Notification::from(pb::Notification {
            notification_id: "n1".into(),
            user_id: "u1".into(),
            kind: pb::Kind::PrescriptionReady as i32,
            channel: pb::Channel::Sms as i32,
            status: pb::DeliveryStatus::Failed as i32,
            attempts: 2,
            attempt_log: vec![
                pb::Attempt {
                    number: 1,
                    ok: false,
                    answer: "timeout".into(),
                    ..Default::default()
                },
                pb::Attempt {
                    number: 2,
                    ok: false,
                    ..Default::default()
                },
            ],
            ..Default::default()
        });
        assert_eq!(notification.kind, Some(NotificationKind::PrescriptionReady));
        assert_eq!(notification.channel, Some(NotificationChannel::Sms));
        assert_eq!(notification.status, Some(DeliveryStatus::Failed));
        assert_eq!(notification.event_type, None, "empty is absent");
        assert_eq!(notification.subject, None);
        assert_eq!(notification.attempt_log.len(), 2);
        assert_eq!(
            notification.attempt_log[0].answer.as_deref(),
            Some("timeout")
        );
        assert_eq!(notification.attempt_log[1].answer, None);
    }

    #[test]
    fn preferences_leave_out_channels_this_gateway_does_not_know() {
        let preferences = NotificationPreferences::from(pb::Preferences {
            user_id: "u1".into(),
            kinds: vec![pb::KindChannels {
                kind: pb::Kind::EmergencyAccess as i32,
                channels: vec![pb::Channel::Email as i32, 9, pb::Channel::Push as i32],
                required: true,
            }],
            reminder_lead_minutes: vec![1440, 60],
            version: 4,
            ..Default::default()
        });
        let kind = &preferences.kinds[0];
        assert_eq!(
            kind.channels,
            [NotificationChannel::Email, NotificationChannel::Push]
        );
        assert!(kind.required);
        assert!(preferences.quiet_hours.is_none(), "none when absent");
        assert_eq!(preferences.language, None);
        assert_eq!(preferences.agenda_time, None);
        assert_eq!(preferences.reminder_lead_minutes, [1440, 60]);
    }

    #[test]
    fn a_dead_lettered_events_id_is_its_number_as_text() {
        let event = EventDeadLetter::from(pb::EventDeadLetter {
            dead_letter_id: 9_007_199_254_740_993,
            ..Default::default()
        });
        assert_eq!(event.id, ID("9007199254740993".into()));
    }
}
