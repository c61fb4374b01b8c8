//! The scheduling subscription: a doctor's free slots, live.

use async_graphql::{Context, ID, Result, Subscription};
use chrono::{DateTime, Utc};
use futures::Stream;

use super::{
    live::AvailabilityFeed,
    slots::{fetch_free_slots, free_slots},
    types::FreeSlots,
};
use crate::{
    clients::ServiceClients,
    context::{PlatformTokens, caller_token},
    convert::canonical_id,
};

#[derive(Debug, Default)]
pub struct SchedulingSubscription;

#[Subscription]
impl SchedulingSubscription {
    /// A doctor's free slots between two instants, now and again every time a booking,
    /// cancellation, reschedule or expiring hold changes them.
    #[graphql(complexity = "50 + child_complexity")]
    async fn doctor_availability(
        &self,
        ctx: &Context<'_>,
        doctor_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<impl Stream<Item = Result<FreeSlots>> + use<>> {
        availability_stream(ctx, doctor_id, from, to).await
    }
}

/// The `doctorAvailability` subscription: the slots now (read as the caller, which is the
/// authorization), then again whenever the feed says the doctor's time changed and the answer
/// differs. Updates are read with the gateway's own token where it has one, so a long-lived
/// subscription outlives the caller's short access token.
async fn availability_stream(
    ctx: &Context<'_>,
    doctor_id: ID,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<impl futures::Stream<Item = Result<FreeSlots>> + use<>> {
    let doctor_id = canonical_id(doctor_id);
    let first = free_slots(ctx, doctor_id.clone(), from, to).await?;
    let clients = ctx.data_unchecked::<ServiceClients>().clone();
    let platform = ctx.data_opt::<PlatformTokens>().cloned();
    let caller = caller_token(ctx).unwrap_or_default();
    let feed = ctx.data_opt::<AvailabilityFeed>().cloned();
    let changes = feed.as_ref().map(|f| f.subscribe());
    struct State {
        pending: Option<FreeSlots>,
        last: Option<FreeSlots>,
        changes: Option<tokio::sync::broadcast::Receiver<String>>,
    }
    let state = State {
        pending: Some(first),
        last: None,
        changes,
    };
    Ok(futures::stream::unfold(state, move |mut state| {
        let (clients, platform, caller, doctor_id, feed) = (
            clients.clone(),
            platform.clone(),
            caller.clone(),
            doctor_id.clone(),
            feed.clone(),
        );
        async move {
            if let Some(now) = state.pending.take() {
                state.last = Some(now.clone());
                return Some((Ok(now), state));
            }
            loop {
                let changes = state.changes.as_mut()?;
                match changes.recv().await {
                    Ok(doctor) if doctor != doctor_id.0 => continue,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
                let bearer = match &platform {
                    Some(tokens) => tokens.current().await.unwrap_or_else(|| caller.clone()),
                    None => caller.clone(),
                };
                let read = fetch_free_slots(&clients, &bearer, &doctor_id, from, to);
                let fresh = match &feed {
                    // Every subscriber of this doctor and range heard the same change: one
                    // of them reads, the others get its answer.
                    Some(feed) => {
                        let shared = feed
                            .shared(
                                &doctor_id.0,
                                from.timestamp_micros(),
                                to.timestamp_micros(),
                                read,
                            )
                            .await;
                        match shared {
                            Ok(fresh) => Ok(fresh),
                            // The read made for everyone failed (its token, say): this
                            // subscriber's own answer decides its fate, not another's.
                            Err(_) => {
                                fetch_free_slots(&clients, &bearer, &doctor_id, from, to).await
                            }
                        }
                    }
                    None => read.await,
                };
                match fresh {
                    Ok(fresh) if state.last.as_ref() == Some(&fresh) => continue,
                    Ok(fresh) => {
                        state.last = Some(fresh.clone());
                        return Some((Ok(fresh), state));
                    }
                    Err(error) => {
                        state.changes = None;
                        return Some((Err(error), state));
                    }
                }
            }
        }
    }))
}
