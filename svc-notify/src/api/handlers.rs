//! One adapter per RPC: the caller, the request parsed (every bad field named, in the proto's
//! snake_case), the use case.

use std::collections::{BTreeMap, BTreeSet};

use medmesh_proto::notify::v1 as pb;
use svc_kit::{
    input::{Violations, id, optional_id, text},
    paging,
};
use tonic::Request;

use super::{Answer, NotifyApi, key};
use crate::{
    domain::{
        Channel, Kind, Lang,
        access::{Caller, Operation},
        preferences::{LEAD_RANGE, MAX_LEADS, Prefs},
        templates,
    },
    error::NotifyError,
};

/// Whose data a request means: the caller's own (empty id), or anyone's for an admin; someone
/// else's is answered as if they did not exist.
fn whose<'a>(caller: &'a Caller, requested: Option<&'a str>) -> Answer<&'a str> {
    caller.whose(requested).ok_or(NotifyError::NoSuch("user"))
}

fn statuses(status: i32) -> Result<Vec<&'static str>, NotifyError> {
    Ok(match pb::DeliveryStatus::try_from(status) {
        Ok(pb::DeliveryStatus::Unspecified) => Vec::new(),
        Ok(pb::DeliveryStatus::Queued) => vec!["queued"],
        Ok(pb::DeliveryStatus::Sending) => vec!["sending"],
        Ok(pb::DeliveryStatus::Sent) => vec!["sent"],
        Ok(pb::DeliveryStatus::Failed) => vec!["failed"],
        Ok(pb::DeliveryStatus::Dead) => vec!["dead"],
        Ok(pb::DeliveryStatus::Skipped) => vec!["skipped"],
        Err(_) => return Err(NotifyError::field("status", "is not a delivery status")),
    })
}

fn kind(v: &mut Violations, field: &str, raw: i32, required: bool) -> Option<Kind> {
    match pb::Kind::try_from(raw).ok().and_then(Kind::from_pb) {
        Some(k) => Some(k),
        None if !required && raw == 0 => None,
        None => {
            v.push(field, "is not a notification kind");
            None
        }
    }
}

fn channel(v: &mut Violations, field: &str, raw: i32) -> Option<Channel> {
    let parsed = pb::Channel::try_from(raw).ok().and_then(Channel::from_pb);
    if parsed.is_none() {
        v.push(field, "is not a channel (EMAIL, SMS or PUSH)");
    }
    parsed
}

fn language(v: &mut Violations, field: &str, raw: &str, required: bool) -> Option<Lang> {
    let raw = raw.trim();
    if raw.is_empty() && !required {
        return None;
    }
    let parsed = Lang::parse(raw);
    if parsed.is_none() {
        v.push(field, "must be one of en, ro, ru, uk");
    }
    parsed
}

fn template_text(
    v: &mut Violations,
    field: &str,
    kind: Option<Kind>,
    raw: &str,
    required: bool,
) -> String {
    if raw.trim().is_empty() {
        if required {
            v.push(field, "is required");
        }
        return String::new();
    }
    if let Some(kind) = kind
        && let Err(error) = templates::check(kind, raw)
    {
        v.push(field, error.to_string());
    }
    raw.to_string()
}

impl NotifyApi {
    pub(super) async fn get_preferences(
        &self,
        request: Request<pb::GetPreferencesRequest>,
    ) -> Answer<pb::Preferences> {
        let caller = self.caller_for(&request, Operation::Own).await?;
        let user = optional_id("user_id", &request.get_ref().user_id)?;
        let user = whose(&caller, user.as_deref())?;
        self.app.get_preferences(user).await
    }

    pub(super) async fn update_preferences(
        &self,
        request: Request<pb::UpdatePreferencesRequest>,
    ) -> Answer<pb::Preferences> {
        let caller = self.caller_for(&request, Operation::Own).await?;
        let r = request.get_ref();
        let mut v = Violations::default();
        let given = r.preferences.clone().unwrap_or_default();
        if r.preferences.is_none() {
            v.push("preferences", "is required");
        }
        let user = v
            .take(optional_id("preferences.user_id", &given.user_id).map(Some))
            .flatten();
        let mut prefs = Prefs::default();
        for (i, kc) in given.kinds.iter().enumerate() {
            let Some(k) = kind(
                &mut v,
                &format!("preferences.kinds[{i}].kind"),
                kc.kind,
                true,
            ) else {
                continue;
            };
            let mut set = BTreeSet::new();
            for (j, c) in kc.channels.iter().enumerate() {
                if let Some(c) =
                    channel(&mut v, &format!("preferences.kinds[{i}].channels[{j}]"), *c)
                {
                    set.insert(c.as_str().to_string());
                }
            }
            if prefs.kinds.insert(k.as_str().to_string(), set).is_some() {
                v.push(
                    &format!("preferences.kinds[{i}].kind"),
                    "names a kind twice",
                );
            }
        }
        prefs.language = language(&mut v, "preferences.language", &given.language, false)
            .map(|l| l.as_str().to_string());
        if given.reminder_lead_minutes.len() > MAX_LEADS {
            v.push(
                "preferences.reminder_lead_minutes",
                format!("holds at most {MAX_LEADS} lead times"),
            );
        }
        for (i, lead) in given.reminder_lead_minutes.iter().enumerate() {
            if !LEAD_RANGE.contains(lead) {
                v.push(
                    &format!("preferences.reminder_lead_minutes[{i}]"),
                    format!(
                        "must be between {} and {} minutes",
                        LEAD_RANGE.start(),
                        LEAD_RANGE.end()
                    ),
                );
            }
        }
        prefs.reminder_leads = given.reminder_lead_minutes.clone();
        if let Some(q) = &given.quiet_hours {
            let ok = |m: i32| (0..24 * 60).contains(&m);
            if !ok(q.start_minute) || !ok(q.end_minute) {
                v.push(
                    "preferences.quiet_hours",
                    "minutes must be within a day (0 to 1439)",
                );
            } else if q.start_minute == q.end_minute {
                v.push(
                    "preferences.quiet_hours",
                    "starts and ends at the same minute; leave it out for none",
                );
            } else {
                prefs.quiet = Some((q.start_minute as u16, q.end_minute as u16));
            }
        }
        let agenda = given.agenda_time.trim();
        // A doctor's own setting (or an admin's, for them).
        let may_have_agenda = caller.holds(svc_kit::auth::Role::Doctor) || caller.is_admin();
        if !agenda.is_empty() && !may_have_agenda {
            v.push("preferences.agenda_time", "is for doctors");
        } else if !agenda.is_empty() {
            match chrono::NaiveTime::parse_from_str(agenda, "%H:%M") {
                Ok(t) => {
                    use chrono::Timelike;
                    prefs.agenda_minute = Some((t.hour() * 60 + t.minute()) as u16);
                }
                Err(_) => v.push("preferences.agenda_time", "must be a time such as 07:30"),
            }
        }
        if r.expected_version < 0 {
            v.push("expected_version", "must not be negative");
        }
        v.finish()?;
        let user = whose(&caller, user.as_deref())?.to_string();
        let key = key(&caller, "UpdatePreferences", &r.request_id, r)?;
        self.app
            .update_preferences(&key, &user, prefs, r.expected_version)
            .await
    }

    pub(super) async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Answer<pb::ListNotificationsResponse> {
        let caller = self.caller_for(&request, Operation::Own).await?;
        let r = request.get_ref();
        let user = optional_id("user_id", &r.user_id)?;
        let statuses = statuses(r.status)?;
        let size = paging::page_size(r.page_size)?;
        // Everyone's, for an admin who asks; else one person's (the caller's own by default).
        let user = if r.all_users {
            if !caller.is_admin() {
                return Err(NotifyError::denied());
            }
            if user.is_some() {
                return Err(NotifyError::field("all_users", "names no user_id with it"));
            }
            None
        } else {
            Some(whose(&caller, user.as_deref())?)
        };
        let (notifications, next_page_token) = self
            .app
            .list_notifications(user, &statuses, size, &r.page_token)
            .await?;
        Ok(pb::ListNotificationsResponse {
            notifications,
            next_page_token,
        })
    }

    pub(super) async fn get_notification(
        &self,
        request: Request<pb::GetNotificationRequest>,
    ) -> Answer<pb::Notification> {
        let caller = self.caller_for(&request, Operation::Own).await?;
        let id = id("notification_id", &request.get_ref().notification_id)?;
        let reader = if caller.is_admin() {
            None
        } else {
            Some(
                caller
                    .user_id
                    .as_deref()
                    .ok_or(NotifyError::NoSuch("notification"))?,
            )
        };
        self.app.get_notification(&id, reader).await
    }

    pub(super) async fn list_templates(
        &self,
        request: Request<pb::ListTemplatesRequest>,
    ) -> Answer<pb::ListTemplatesResponse> {
        self.caller_for(&request, Operation::Administer).await?;
        let r = request.get_ref();
        let mut v = Violations::default();
        let k = kind(&mut v, "kind", r.kind, false);
        let l = language(&mut v, "language", &r.language, false);
        v.finish()?;
        Ok(pb::ListTemplatesResponse {
            templates: self.app.list_templates(k, l).await?,
        })
    }

    pub(super) async fn put_template(
        &self,
        request: Request<pb::PutTemplateRequest>,
    ) -> Answer<pb::Template> {
        let caller = self.caller_for(&request, Operation::Administer).await?;
        let r = request.get_ref();
        let mut v = Violations::default();
        let t = r.template.clone().unwrap_or_default();
        if r.template.is_none() {
            v.push("template", "is required");
        }
        let k = kind(&mut v, "template.kind", t.kind, true);
        let c = channel(&mut v, "template.channel", t.channel);
        let l = language(&mut v, "template.language", &t.language, true);
        let subject = template_text(
            &mut v,
            "template.subject",
            k,
            &t.subject,
            c == Some(Channel::Email),
        );
        let body = template_text(&mut v, "template.body", k, &t.body, true);
        if r.expected_version < 0 {
            v.push("expected_version", "must not be negative");
        }
        v.finish()?;
        let (Some(k), Some(c), Some(l)) = (k, c, l) else {
            return Err(NotifyError::field("template", "is incomplete"));
        };
        let key = key(&caller, "PutTemplate", &r.request_id, r)?;
        self.app
            .put_template(
                &key,
                &caller.subject,
                k,
                c,
                l,
                &subject,
                &body,
                r.expected_version,
            )
            .await
    }

    pub(super) async fn reset_template(
        &self,
        request: Request<pb::ResetTemplateRequest>,
    ) -> Answer<pb::Template> {
        let caller = self.caller_for(&request, Operation::Administer).await?;
        let r = request.get_ref();
        let mut v = Violations::default();
        let k = kind(&mut v, "kind", r.kind, true);
        let c = channel(&mut v, "channel", r.channel);
        let l = language(&mut v, "language", &r.language, true);
        v.finish()?;
        let (Some(k), Some(c), Some(l)) = (k, c, l) else {
            return Err(NotifyError::field("kind", "is incomplete"));
        };
        let key = key(&caller, "ResetTemplate", &r.request_id, r)?;
        self.app.reset_template(&key, k, c, l).await
    }

    pub(super) async fn preview_template(
        &self,
        request: Request<pb::PreviewTemplateRequest>,
    ) -> Answer<pb::RenderedMessage> {
        self.caller_for(&request, Operation::Administer).await?;
        let r = request.get_ref();
        let mut v = Violations::default();
        let k = kind(&mut v, "kind", r.kind, true);
        let c = channel(&mut v, "channel", r.channel);
        let l = language(&mut v, "language", &r.language, true);
        let given = !(r.subject.trim().is_empty() && r.body.trim().is_empty());
        let text = given.then(|| {
            (
                template_text(&mut v, "subject", k, &r.subject, false),
                template_text(&mut v, "body", k, &r.body, true),
            )
        });
        if r.values.len() > 50
            || r.values
                .iter()
                .any(|(name, value)| name.len() > 64 || value.chars().count() > 2000)
        {
            v.push(
                "values",
                "holds at most 50 values of at most 2000 characters",
            );
        }
        v.finish()?;
        let (Some(k), Some(c), Some(l)) = (k, c, l) else {
            return Err(NotifyError::field("kind", "is incomplete"));
        };
        let values: BTreeMap<String, String> = r.values.clone().into_iter().collect();
        self.app.preview(k, c, l, text, values).await
    }

    pub(super) async fn send_notification(
        &self,
        request: Request<pb::SendNotificationRequest>,
    ) -> Answer<pb::SendNotificationResponse> {
        let caller = self.caller_for(&request, Operation::Administer).await?;
        let r = request.get_ref();
        let mut v = Violations::default();
        if r.user_ids.is_empty() || r.user_ids.len() > 1000 {
            v.push("user_ids", "must name between 1 and 1000 users");
        }
        let mut users = Vec::new();
        for (i, raw) in r.user_ids.iter().enumerate() {
            if let Some(user) = v.take(id(&format!("user_ids[{i}]"), raw).map(Some))
                && !users.contains(&user)
            {
                users.push(user);
            }
        }
        let mut channels = BTreeSet::new();
        for (i, raw) in r.channels.iter().enumerate() {
            if let Some(c) = channel(&mut v, &format!("channels[{i}]"), *raw) {
                channels.insert(c);
            }
        }
        if r.channels.is_empty() {
            v.push("channels", "must name at least one channel");
        }
        let subject = v.take(text(
            "subject",
            &r.subject,
            200,
            channels.contains(&Channel::Email),
        ));
        let body = v.take(text("body", &r.body, 5000, true));
        v.finish()?;
        let key = key(&caller, "SendNotification", &r.request_id, r)?;
        self.app
            .send_manual(&key, &users, &channels, &subject, &body, r.urgent)
            .await
    }

    pub(super) async fn retry_notification(
        &self,
        request: Request<pb::RetryNotificationRequest>,
    ) -> Answer<pb::Notification> {
        let caller = self.caller_for(&request, Operation::Administer).await?;
        let r = request.get_ref();
        let id = id("notification_id", &r.notification_id)?;
        let key = key(&caller, "RetryNotification", &r.request_id, r)?;
        self.app.retry(&key, &id).await
    }

    pub(super) async fn list_dead_letters(
        &self,
        request: Request<pb::ListDeadLettersRequest>,
    ) -> Answer<pb::ListDeadLettersResponse> {
        self.caller_for(&request, Operation::Administer).await?;
        let r = request.get_ref();
        let size = paging::page_size(r.page_size)?;
        let (notifications, next_page_token) = self
            .app
            .list_notifications(None, &["dead"], size, &r.page_token)
            .await?;
        let events = if r.page_token.is_empty() {
            self.app.event_dead_letters().await?
        } else {
            Vec::new()
        };
        Ok(pb::ListDeadLettersResponse {
            notifications,
            events,
            next_page_token,
        })
    }

    pub(super) async fn replay_event(
        &self,
        request: Request<pb::ReplayEventRequest>,
    ) -> Answer<pb::ReplayEventResponse> {
        let caller = self.caller_for(&request, Operation::Administer).await?;
        let r = request.get_ref();
        if r.dead_letter_id <= 0 {
            return Err(NotifyError::field("dead_letter_id", "is required"));
        }
        let key = key(&caller, "ReplayEvent", &r.request_id, r)?;
        self.app.replay_event(&key, r.dead_letter_id).await
    }
}
