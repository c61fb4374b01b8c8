//! Accounts' erasure requests (`medmesh.accounts.v1.user.erased`) as every service that keeps
//! data about people reads them: a consumer group of the service's own on accounts' topic, each
//! erased user handed to the service's code in the transaction that records the event handled
//! (so a redelivery changes nothing).

use futures::future::BoxFuture;
use medmesh_proto::{accounts::v1::UserEvent, events::v1::EventEnvelope};
use prost::Message as _;
use sea_orm::DatabaseTransaction;
use tokio_util::sync::CancellationToken;

use crate::{
    ServiceContext, ServiceName,
    events::{Consumer, EventHandler, HandlerError, topic_for},
};

/// The event that asks for an erasure.
pub const USER_ERASED: &str = "medmesh.accounts.v1.user.erased";

/// What a service does with an erased user, inside the event's transaction.
pub trait OnErasure: Send + Sync + 'static {
    fn erase<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        user: &'a UserEvent,
    ) -> BoxFuture<'a, Result<(), HandlerError>>;
}

#[derive(Debug, thiserror::Error)]
#[error("{0} cannot be read")]
struct Malformed(String);

/// Every event of accounts' topic: the erasures go to `E`, the rest is not this reader's.
struct Erasures<E>(E);

impl<E: OnErasure> EventHandler for Erasures<E> {
    fn handle<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        event: &'a EventEnvelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            if event.r#type != USER_ERASED {
                return Ok(());
            }
            let user = event
                .payload
                .as_ref()
                .and_then(|any| UserEvent::decode(any.value.as_slice()).ok())
                .filter(|u| !u.user_id.is_empty())
                .ok_or_else(|| Malformed(event.r#type.clone()))?;
            self.0.erase(txn, &user).await
        })
    }
}

/// Reads accounts' topic as consumer group `group` until `shutdown`, handing each erased user
/// to `on_erasure`.
pub async fn follow<E: OnErasure>(
    context: ServiceContext,
    group: &str,
    on_erasure: E,
    shutdown: CancellationToken,
) {
    let events = &context.settings.events;
    let consumer = Consumer::new(
        context.db.clone(),
        group,
        vec![topic_for(&events.topic_prefix, ServiceName::Accounts)],
        Erasures(on_erasure),
        events.consumer_max_attempts,
    );
    if let Err(error) = consumer.run(context.bus.source, shutdown).await {
        tracing::error!(service = %context.service, %error, "the erasure consumer stopped");
    }
}
