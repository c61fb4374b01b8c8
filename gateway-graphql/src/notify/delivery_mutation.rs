//! Notify mutations of delivery (admins): a message written by hand, a notification sent
//! again, a dead-lettered event handled again.

use async_graphql::{Context, ID, Object, Result};
use medmesh_proto::notify::v1 as pb;

use super::{
    client::{client, upstream},
    enums::NotificationChannel,
    inputs::{ReplayDeadLetterEventInput, RetryNotificationInput, SendNotificationInput},
    types::Notification,
};
use crate::context::as_caller;

#[derive(Debug, Default)]
pub(super) struct NotificationDeliveryMutation;

#[Object]
impl NotificationDeliveryMutation {
    /// Admins: a message written by hand to users, on the channels named (a `MANUAL`
    /// notification per user and channel); answers their ids.
    async fn send_notification(
        &self,
        ctx: &Context<'_>,
        input: SendNotificationInput,
    ) -> Result<Vec<ID>> {
        let request = as_caller(
            ctx,
            pb::SendNotificationRequest {
                request_id: input.request_id,
                user_ids: input.user_ids.into_iter().map(|i| i.0).collect(),
                channels: NotificationChannel::list_to_proto(input.channels),
                subject: input.subject.unwrap_or_default(),
                body: input.body,
                urgent: input.urgent,
            },
        )?;
        let sent = client(ctx)
            .send_notification(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(sent.notification_ids.into_iter().map(ID).collect())
    }

    /// Admins: sends a failed or dead notification again (once its cause is fixed).
    async fn retry_notification(
        &self,
        ctx: &Context<'_>,
        input: RetryNotificationInput,
    ) -> Result<Notification> {
        let request = as_caller(
            ctx,
            pb::RetryNotificationRequest {
                request_id: input.request_id,
                notification_id: input.notification_id.0,
            },
        )?;
        Ok(client(ctx)
            .retry_notification(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Admins: handles a dead-lettered event again (once its cause is fixed); the dead letter
    /// is removed either way. Answers whether it was handled now (false: it had been already).
    async fn replay_dead_letter_event(
        &self,
        ctx: &Context<'_>,
        input: ReplayDeadLetterEventInput,
    ) -> Result<bool> {
        let request = as_caller(ctx, input.into_proto()?)?;
        let replayed = client(ctx)
            .replay_event(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(replayed.handled)
    }
}
