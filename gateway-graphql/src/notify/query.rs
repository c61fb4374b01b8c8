//! Notify queries: preferences, the history of notifications, and for admins templates, their
//! preview and dead letters.

use async_graphql::{Context, ID, Object, Result};
use medmesh_proto::notify::v1 as pb;

use super::{
    client::{client, upstream},
    enums::{DeliveryStatus, NotificationKind},
    inputs::PreviewNotificationTemplateInput,
    types::{
        Notification, NotificationDeadLetterPage, NotificationPage, NotificationPreferences,
        NotificationTemplate, RenderedMessage,
    },
};
use crate::{context::as_caller, convert::non_empty, input::PAGE_SIZE};

#[derive(Debug, Default)]
pub struct NotifyQuery;

#[Object]
impl NotifyQuery {
    /// Your notification preferences: the channels of every kind, language, reminder lead
    /// times, quiet hours and, for doctors, the daily agenda's time.
    async fn my_notification_preferences(
        &self,
        ctx: &Context<'_>,
    ) -> Result<NotificationPreferences> {
        preferences(ctx, String::new()).await
    }

    /// Admins: a user's notification preferences.
    async fn notification_preferences(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
    ) -> Result<NotificationPreferences> {
        preferences(ctx, user_id.0).await
    }

    /// Your notifications, newest first (only those in `status` when given), a page at a
    /// time. Lists leave out each notification's attempts (`notification` reads them).
    #[graphql(complexity = "child_complexity + crate::input::page_cost(page_size)")]
    async fn my_notifications(
        &self,
        ctx: &Context<'_>,
        status: Option<DeliveryStatus>,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
    ) -> Result<NotificationPage> {
        notifications(ctx, String::new(), false, status, page_size, page_token).await
    }

    /// Admins: one user's notifications, or everyone's when `userId` is absent, newest first
    /// (only those in `status` when given), a page at a time.
    #[graphql(complexity = "child_complexity + crate::input::page_cost(page_size)")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        user_id: Option<ID>,
        status: Option<DeliveryStatus>,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
    ) -> Result<NotificationPage> {
        let all_users = user_id.is_none();
        let user_id = user_id.map(|i| i.0).unwrap_or_default();
        notifications(ctx, user_id, all_users, status, page_size, page_token).await
    }

    /// One notification with every attempt at delivering it: one of yours (admins: anyone's).
    async fn notification(&self, ctx: &Context<'_>, id: ID) -> Result<Notification> {
        let request = as_caller(
            ctx,
            pb::GetNotificationRequest {
                notification_id: id.0,
            },
        )?;
        Ok(client(ctx)
            .get_notification(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Admins: the templates in use, built in or overridden, of one kind and one language when
    /// given (absent: every one).
    async fn notification_templates(
        &self,
        ctx: &Context<'_>,
        kind: Option<NotificationKind>,
        language: Option<String>,
    ) -> Result<Vec<NotificationTemplate>> {
        let request = as_caller(
            ctx,
            pb::ListTemplatesRequest {
                kind: kind.map(|k| k.to_proto() as i32).unwrap_or_default(),
                language: language.unwrap_or_default(),
            },
        )?;
        let templates = client(ctx)
            .list_templates(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(templates
            .templates
            .into_iter()
            .map(NotificationTemplate::from)
            .collect())
    }

    /// Admins: a template (the stored one, or the text given) rendered against sample data,
    /// with the values given for its placeholders.
    async fn preview_notification_template(
        &self,
        ctx: &Context<'_>,
        input: PreviewNotificationTemplateInput,
    ) -> Result<RenderedMessage> {
        let request = as_caller(ctx, input.into_proto()?)?;
        Ok(client(ctx)
            .preview_template(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Admins: what could not be done: notifications out of attempts, newest first, a page
    /// at a time, and (on the first page) the events the intake could not handle.
    #[graphql(complexity = "child_complexity + crate::input::page_cost(page_size)")]
    async fn notification_dead_letters(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
    ) -> Result<NotificationDeadLetterPage> {
        let request = as_caller(
            ctx,
            pb::ListDeadLettersRequest {
                page_size: page_size.unwrap_or(0),
                page_token: page_token.unwrap_or_default(),
            },
        )?;
        Ok(client(ctx)
            .list_dead_letters(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }
}

/// `user_id`'s preferences; empty: the caller's own.
async fn preferences(ctx: &Context<'_>, user_id: String) -> Result<NotificationPreferences> {
    let request = as_caller(ctx, pb::GetPreferencesRequest { user_id })?;
    Ok(client(ctx)
        .get_preferences(request)
        .await
        .map_err(upstream)?
        .into_inner()
        .into())
}

/// A page of `user_id`'s notifications (empty: the caller's own), or everyone's.
async fn notifications(
    ctx: &Context<'_>,
    user_id: String,
    all_users: bool,
    status: Option<DeliveryStatus>,
    page_size: Option<i32>,
    page_token: Option<String>,
) -> Result<NotificationPage> {
    let request = as_caller(
        ctx,
        pb::ListNotificationsRequest {
            user_id,
            status: status.map(|s| s.to_proto() as i32).unwrap_or_default(),
            page_size: page_size.unwrap_or(0),
            page_token: page_token.unwrap_or_default(),
            all_users,
        },
    )?;
    let page = client(ctx)
        .list_notifications(request)
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(NotificationPage {
        notifications: page
            .notifications
            .into_iter()
            .map(Notification::from)
            .collect(),
        next_page_token: non_empty(page.next_page_token),
    })
}
