//! Notify mutations of templates (admins): an override of the built-in text, and its removal.

use async_graphql::{Context, Object, Result};
use medmesh_proto::notify::v1 as pb;

use super::{
    client::{client, upstream},
    inputs::{PutNotificationTemplateInput, ResetNotificationTemplateInput},
    types::NotificationTemplate,
};
use crate::context::as_caller;

#[derive(Debug, Default)]
pub(super) struct NotificationTemplateMutation;

#[Object]
impl NotificationTemplateMutation {
    /// Admins: overrides the template of one kind, channel and language at the version read;
    /// answers the template now in use.
    async fn put_notification_template(
        &self,
        ctx: &Context<'_>,
        input: PutNotificationTemplateInput,
    ) -> Result<NotificationTemplate> {
        let request = as_caller(
            ctx,
            pb::PutTemplateRequest {
                request_id: input.request_id,
                template: Some(pb::Template {
                    kind: input.kind.to_proto().into(),
                    channel: input.channel.to_proto().into(),
                    language: input.language,
                    subject: input.subject.unwrap_or_default(),
                    body: input.body,
                    ..Default::default()
                }),
                expected_version: input.expected_version,
            },
        )?;
        Ok(client(ctx)
            .put_template(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Admins: removes a template's override, so its built-in text is used again; answers the
    /// built-in template.
    async fn reset_notification_template(
        &self,
        ctx: &Context<'_>,
        input: ResetNotificationTemplateInput,
    ) -> Result<NotificationTemplate> {
        let request = as_caller(
            ctx,
            pb::ResetTemplateRequest {
                request_id: input.request_id,
                kind: input.kind.to_proto().into(),
                channel: input.channel.to_proto().into(),
                language: input.language,
            },
        )?;
        Ok(client(ctx)
            .reset_template(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }
}
