//! The tonic trait, delegating each RPC to its adapter; the one place a [`NotifyError`]
//! becomes a `tonic::Status`.

use medmesh_proto::notify::v1::{self as pb, notify_service_server::NotifyService};
use tonic::{Request, Response, Status};

use super::NotifyApi;

macro_rules! delegate {
    ($($rpc:ident($request:ident) -> $response:ident;)*) => {
        #[tonic::async_trait]
        impl NotifyService for NotifyApi {
            $(
                #[tracing::instrument(skip_all)]
                async fn $rpc(&self, request: Request<pb::$request>) -> Result<Response<pb::$response>, Status> {
                    NotifyApi::$rpc(self, request)
                        .await
                        .map(Response::new)
                        .map_err(Status::from)
                }
            )*
        }
    };
}

delegate! {
    get_preferences(GetPreferencesRequest) -> Preferences;
    update_preferences(UpdatePreferencesRequest) -> Preferences;
    list_notifications(ListNotificationsRequest) -> ListNotificationsResponse;
    get_notification(GetNotificationRequest) -> Notification;
    list_templates(ListTemplatesRequest) -> ListTemplatesResponse;
    put_template(PutTemplateRequest) -> Template;
    reset_template(ResetTemplateRequest) -> Template;
    preview_template(PreviewTemplateRequest) -> RenderedMessage;
    send_notification(SendNotificationRequest) -> SendNotificationResponse;
    retry_notification(RetryNotificationRequest) -> Notification;
    list_dead_letters(ListDeadLettersRequest) -> ListDeadLettersResponse;
    replay_event(ReplayEventRequest) -> ReplayEventResponse;
}
