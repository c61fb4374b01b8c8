//! Notify in the graph: a user's notification preferences and history, and for admins the
//! templates, their preview, messages written by hand, retries and dead letters. Every resolver
//! forwards the caller's bearer token; svc-notify decides whose preferences and notifications a
//! caller reaches (their own; admins anyone's).

mod client;
mod delivery_mutation;
mod enums;
mod inputs;
mod preferences_mutation;
mod query;
mod template_mutation;
mod types;

pub use enums::{DeliveryStatus, NotificationChannel, NotificationKind};
pub use inputs::{
    KindChannelsInput, PlaceholderValueInput, PreviewNotificationTemplateInput,
    PutNotificationTemplateInput, QuietHoursInput, ReplayDeadLetterEventInput,
    ResetNotificationTemplateInput, RetryNotificationInput, SendNotificationInput,
    UpdateNotificationPreferencesInput,
};
pub use query::NotifyQuery;
pub use types::{
    EventDeadLetter, KindChannels, Notification, NotificationAttempt, NotificationDeadLetterPage,
    NotificationPage, NotificationPreferences, NotificationTemplate, QuietHours, RenderedMessage,
};

/// Every notify mutation, in the schema's order: preferences, templates, then delivery.
#[derive(async_graphql::MergedObject, Debug, Default)]
pub struct NotifyMutation(
    preferences_mutation::NotificationPreferencesMutation,
    template_mutation::NotificationTemplateMutation,
    delivery_mutation::NotificationDeliveryMutation,
);
