//! What notify's mutations (and the template preview) take. The preview's placeholder values
//! come as a list of name and value, each name once; a dead-lettered event's id as the number
//! it is. Both are checked here, before any service is asked; everything else is svc-notify's
//! to judge.

use std::collections::HashMap;

use async_graphql::{ID, InputObject, Result};
use medmesh_proto::notify::v1 as pb;

use super::enums::{NotificationChannel, NotificationKind};
use crate::input::refused_field;

/// A user's preferences, replacing the stored ones.
#[derive(InputObject, Debug)]
pub struct UpdateNotificationPreferencesInput {
    /// Idempotency key: the same key on a retry returns the first answer.
    pub request_id: String,
    /// The preferences' `version` as read (0 when none were stored yet); another one is
    /// refused with CONFLICT (someone else changed them since).
    pub expected_version: i64,
    /// Admins: whose preferences; absent: your own.
    pub user_id: Option<ID>,
    /// The channels of each kind named; kinds not named keep their defaults. A required
    /// kind keeps its email whatever is sent.
    pub kinds: Vec<KindChannelsInput>,
    /// The BCP 47 tag messages are written in (en, ro, ru, uk); absent: the account's
    /// preferred language.
    pub language: Option<String>,
    /// How long before an appointment reminders go out, in minutes; absent: 1440 (24 h).
    pub reminder_lead_minutes: Option<Vec<i32>>,
    /// Absent: none.
    pub quiet_hours: Option<QuietHoursInput>,
    /// Doctors: the daily agenda's local time, "HH:MM"; absent: none.
    pub agenda_time: Option<String>,
}

impl From<UpdateNotificationPreferencesInput> for pb::UpdatePreferencesRequest {
    fn from(input: UpdateNotificationPreferencesInput) -> pb::UpdatePreferencesRequest {
        pb::UpdatePreferencesRequest {
            request_id: input.request_id,
            preferences: Some(pb::Preferences {
                user_id: input.user_id.map(|i| i.0).unwrap_or_default(),
                kinds: input
                    .kinds
                    .into_iter()
                    .map(pb::KindChannels::from)
                    .collect(),
                language: input.language.unwrap_or_default(),
                reminder_lead_minutes: input.reminder_lead_minutes.unwrap_or_default(),
                quiet_hours: input.quiet_hours.map(pb::QuietHours::from),
                agenda_time: input.agenda_time.unwrap_or_default(),
                version: 0,
                updated_at: None,
            }),
            expected_version: input.expected_version,
        }
    }
}

/// The channels one kind is sent on; none turns the kind off (but a required kind's email).
#[derive(InputObject, Debug)]
pub struct KindChannelsInput {
    pub kind: NotificationKind,
    pub channels: Vec<NotificationChannel>,
}

impl From<KindChannelsInput> for pb::KindChannels {
    fn from(k: KindChannelsInput) -> pb::KindChannels {
        pb::KindChannels {
            kind: k.kind.to_proto().into(),
            channels: NotificationChannel::list_to_proto(k.channels),
            required: false,
        }
    }
}

/// Minutes after local midnight (0–1439) in the user's time zone; the window may cross
/// midnight.
#[derive(InputObject, Debug)]
pub struct QuietHoursInput {
    pub start_minute: i32,
    pub end_minute: i32,
}

impl From<QuietHoursInput> for pb::QuietHours {
    fn from(q: QuietHoursInput) -> pb::QuietHours {
        pb::QuietHours {
            start_minute: q.start_minute,
            end_minute: q.end_minute,
        }
    }
}

/// A template to render against sample data: the stored one, or the text given.
#[derive(InputObject, Debug)]
pub struct PreviewNotificationTemplateInput {
    pub kind: NotificationKind,
    pub channel: NotificationChannel,
    /// en, ro, ru or uk.
    pub language: String,
    /// Both absent: the stored template is rendered; otherwise this text is.
    pub subject: Option<String>,
    pub body: Option<String>,
    /// Values for the placeholders, each name once; missing ones take the kind's sample
    /// values.
    #[graphql(default)]
    pub values: Vec<PlaceholderValueInput>,
}

impl PreviewNotificationTemplateInput {
    /// The contract's request; a placeholder named twice is refused, naming the field.
    pub(super) fn into_proto(self) -> Result<pb::PreviewTemplateRequest> {
        let mut values = HashMap::with_capacity(self.values.len());
        for PlaceholderValueInput { name, value } in self.values {
            if values.contains_key(&name) {
                return Err(refused_field(
                    "input",
                    "values",
                    &format!("must name each placeholder once, not {name:?} twice"),
                ));
            }
            values.insert(name, value);
        }
        Ok(pb::PreviewTemplateRequest {
            kind: self.kind.to_proto().into(),
            channel: self.channel.to_proto().into(),
            language: self.language,
            subject: self.subject.unwrap_or_default(),
            body: self.body.unwrap_or_default(),
            values,
        })
    }
}

/// A value for one placeholder, e.g. `{ name: "patient_name", value: "Ana Popescu" }` for
/// `{patient_name}`.
#[derive(InputObject, Debug)]
pub struct PlaceholderValueInput {
    pub name: String,
    pub value: String,
}

/// A template's override, replacing the built-in text (or the override stored).
#[derive(InputObject, Debug)]
pub struct PutNotificationTemplateInput {
    pub request_id: String,
    pub kind: NotificationKind,
    pub channel: NotificationChannel,
    /// en, ro, ru or uk.
    pub language: String,
    /// Text with placeholders like {patient_name}; SMS and push use the body only.
    pub subject: Option<String>,
    pub body: String,
    /// The template's `version` as read (0 when the built-in text is replaced); another one is
    /// refused with CONFLICT.
    pub expected_version: i64,
}

/// The template whose override is removed, so its built-in text is used again.
#[derive(InputObject, Debug)]
pub struct ResetNotificationTemplateInput {
    pub request_id: String,
    pub kind: NotificationKind,
    pub channel: NotificationChannel,
    /// en, ro, ru or uk.
    pub language: String,
}

/// A message written by hand, to users on the channels named.
#[derive(InputObject, Debug)]
pub struct SendNotificationInput {
    pub request_id: String,
    pub user_ids: Vec<ID>,
    pub channels: Vec<NotificationChannel>,
    /// Email only; SMS and push send the body.
    pub subject: Option<String>,
    pub body: String,
    /// Sent on SMS and push even in the users' quiet hours.
    #[graphql(default = false)]
    pub urgent: bool,
}

#[derive(InputObject, Debug)]
pub struct RetryNotificationInput {
    pub request_id: String,
    /// A failed or dead notification.
    pub notification_id: ID,
}

#[derive(InputObject, Debug)]
pub struct ReplayDeadLetterEventInput {
    pub request_id: String,
    /// An `EventDeadLetter`'s `id`.
    pub dead_letter_id: ID,
}

impl ReplayDeadLetterEventInput {
    /// The contract's request; an id that is not a dead letter's number is refused, naming the
    /// field.
    pub(super) fn into_proto(self) -> Result<pb::ReplayEventRequest> {
        let dead_letter_id = self
            .dead_letter_id
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| {
                refused_field(
                    "input",
                    "deadLetterId",
                    "must be a dead-lettered event's id (a positive whole number)",
                )
            })?;
        Ok(pb::ReplayEventRequest {
            request_id: self.request_id,
            dead_letter_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preview(values: &[(&str, &str)]) -> PreviewNotificationTemplateInput {
        PreviewNotificationTemplateInput {
            kind: NotificationKind::AppointmentReminder,
            channel: NotificationChannel::Email,
            language: "ro".into(),
            subject: None,
            body: None,
            values: values
                .iter()
                .map(|(name, value)| PlaceholderValueInput {
                    name: name.to_string(),
                    value: value.to_string(),
                })
                .collect(),
        }
    }

    fn extensions(error: async_graphql::Error) -> serde_json::Value {
        let error = error.into_server_error(async_graphql::Pos::default());
        serde_json::to_value(&error.extensions).unwrap()
    }

    #[test]
    fn placeholder_values_become_the_contracts_map() {
        let request = preview(&[("patient_name", "Ana Popescu"), ("clinic", "Botanica")])
            .into_proto()
            .unwrap();
        assert_eq!(request.values.len(), 2);
        assert_eq!(request.values["patient_name"], "Ana Popescu");
        assert_eq!(request.kind, pb::Kind::AppointmentReminder as i32);
        assert_eq!(request.body, "", "absent: the stored template");
    }

    #[test]
    fn a_placeholder_named_twice_is_refused_naming_the_field() {
        let error = preview(&[("clinic", "a"), ("clinic", "b")])
            .into_proto()
            .unwrap_err();
        assert!(
            error.message.contains("\"clinic\" twice"),
            "{}",
            error.message
        );
        let ext = extensions(error);
        assert_eq!(ext["code"], "BAD_USER_INPUT");
        assert_eq!(ext["argument"], "input");
        assert_eq!(ext["fields"][0]["field"], "values");
    }

    #[test]
    fn a_dead_letter_id_is_its_number() {
        let replay = |id: &str| {
            ReplayDeadLetterEventInput {
                request_id: "r".into(),
                dead_letter_id: ID(id.into()),
            }
            .into_proto()
        };
        assert_eq!(replay("42").unwrap().dead_letter_id, 42);
        for bad in ["", "x", "-3", "0", "1.5", "99999999999999999999"] {
            let ext = extensions(replay(bad).unwrap_err());
            assert_eq!(ext["code"], "BAD_USER_INPUT", "{bad}");
            assert_eq!(ext["fields"][0]["field"], "deadLetterId", "{bad}");
        }
    }

    #[test]
    fn preferences_carry_what_was_given_and_defaults_for_the_rest() {
        let request = pb::UpdatePreferencesRequest::from(UpdateNotificationPreferencesInput {
            request_id: "r".into(),
            expected_version: 3,
            user_id: None,
            kinds: vec![KindChannelsInput {
                kind: NotificationKind::AppointmentReminder,
                channels: vec![NotificationChannel::Email, NotificationChannel::Sms],
            }],
            language: Some("ro".into()),
            reminder_lead_minutes: None,
            quiet_hours: Some(QuietHoursInput {
                start_minute: 1320,
                end_minute: 420,
            }),
            agenda_time: None,
        });
        assert_eq!(request.expected_version, 3);
        let preferences = request.preferences.unwrap();
        assert_eq!(preferences.user_id, "", "absent: the caller's own");
        assert_eq!(
            preferences.kinds[0].channels,
            [pb::Channel::Email as i32, pb::Channel::Sms as i32]
        );
        assert!(preferences.reminder_lead_minutes.is_empty());
        assert_eq!(preferences.quiet_hours.unwrap().start_minute, 1320);
        assert_eq!(preferences.agenda_time, "");
    }
}
