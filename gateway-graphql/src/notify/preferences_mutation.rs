//! Notify mutations of preferences: what a user is told, on which channels, in which language
//! and when.

use async_graphql::{Context, Object, Result};
use medmesh_proto::notify::v1 as pb;

use super::{
    client::{client, upstream},
    inputs::UpdateNotificationPreferencesInput,
    types::NotificationPreferences,
};
use crate::context::as_caller;

#[derive(Debug, Default)]
pub(super) struct NotificationPreferencesMutation;

#[Object]
impl NotificationPreferencesMutation {
    /// Replaces your notification preferences (admins: anyone's, by `userId`) at the version
    /// read. A required kind keeps its email whatever is sent.
    async fn update_notification_preferences(
        &self,
        ctx: &Context<'_>,
        input: UpdateNotificationPreferencesInput,
    ) -> Result<NotificationPreferences> {
        let request = as_caller(ctx, pb::UpdatePreferencesRequest::from(input))?;
        Ok(client(ctx)
            .update_preferences(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }
}
