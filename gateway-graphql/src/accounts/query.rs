//! Accounts queries: the caller's profile and data export, the admin's user lists and audit.

use async_graphql::{Context, ID, Json, Object, Result};
use medmesh_proto::accounts::v1 as pb;

use super::{
    client::{client, upstream},
    types::{AuditEvent, AuditPage, DataExport, Profile, Role, UserPage},
};
use crate::{
    context::as_caller,
    convert::{non_empty, time},
    input::PAGE_SIZE,
};

fn page_size(value: Option<i32>) -> i32 {
    value.unwrap_or(0)
}

#[derive(Debug, Default)]
pub struct AccountsQuery;

#[Object]
impl AccountsQuery {
    /// The signed-in user's profile (created from the token on first sign-in).
    async fn me(&self, ctx: &Context<'_>) -> Result<Profile> {
        let request = as_caller(ctx, pb::GetMyProfileRequest {})?;
        let profile = client(ctx)
            .get_my_profile(request)
            .await
            .map_err(upstream)?;
        Ok(profile.into_inner().into())
    }

    /// A user's profile: your own, or anyone's for admins. Another user's answers NOT_FOUND.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Profile> {
        let request = as_caller(ctx, pb::GetProfileRequest { user_id: id.0 })?;
        let profile = client(ctx).get_profile(request).await.map_err(upstream)?;
        Ok(profile.into_inner().into())
    }

    /// Admins: users matching `query` (names, username, email) and `role`, a page at a time.
    #[graphql(complexity = "child_complexity + crate::input::page_cost(page_size)")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        query: Option<String>,
        role: Option<Role>,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
        #[graphql(default = false)] include_inactive: bool,
    ) -> Result<UserPage> {
        let request = as_caller(
            ctx,
            pb::ListUsersRequest {
                page_size: self::page_size(page_size),
                page_token: page_token.unwrap_or_default(),
                query: query.unwrap_or_default(),
                role: role.map(|r| r.to_proto() as i32).unwrap_or_default(),
                include_inactive,
            },
        )?;
        let page = client(ctx)
            .list_users(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(UserPage {
            users: page.users.into_iter().map(Profile::from).collect(),
            next_page_token: non_empty(page.next_page_token),
        })
    }

    /// Admins: the audit trail of account changes, newest first.
    #[graphql(complexity = "child_complexity + crate::input::page_cost(page_size)")]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        user_id: Option<ID>,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
    ) -> Result<AuditPage> {
        let request = as_caller(
            ctx,
            pb::ListAuditEventsRequest {
                page_size: self::page_size(page_size),
                page_token: page_token.unwrap_or_default(),
                user_id: user_id.map(|id| id.0).unwrap_or_default(),
            },
        )?;
        let page = client(ctx)
            .list_audit_events(request)
            .await
            .map_err(upstream)?
            .into_inner();
        let json = |text: String| {
            serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .map(Json)
        };
        Ok(AuditPage {
            events: page
                .events
                .into_iter()
                .map(|e| AuditEvent {
                    id: ID(e.audit_id),
                    at: time(e.at),
                    actor_subject: e.actor_subject,
                    actor_username: non_empty(e.actor_username),
                    action: e.action,
                    user_id: ID(e.user_id),
                    before: json(e.before_json),
                    after: json(e.after_json),
                    reason: non_empty(e.reason),
                })
                .collect(),
            next_page_token: non_empty(page.next_page_token),
        })
    }

    /// Everything svc-accounts holds about you, as JSON.
    async fn my_data_export(&self, ctx: &Context<'_>) -> Result<DataExport> {
        let request = as_caller(ctx, pb::ExportMyDataRequest {})?;
        let export = client(ctx)
            .export_my_data(request)
            .await
            .map_err(upstream)?
            .into_inner();
        let document = serde_json::from_slice(&export.document).unwrap_or_default();
        Ok(DataExport {
            content_type: export.content_type,
            document: Json(document),
        })
    }
}
