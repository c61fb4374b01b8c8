//! The pharmacy subscription: one prescription's status, live.

use async_graphql::{Context, ID, Result, Subscription};
use futures::Stream;
use tokio::sync::broadcast::{Receiver, error::RecvError};

use super::{
    live::PrescriptionFeed,
    prescription::{fetch_prescription, read_prescription},
    prescription_types::Prescription,
};
use crate::{clients::ServiceClients, context::caller_token, convert::canonical_id};

#[derive(Debug, Default)]
pub struct PharmacySubscription;

#[Subscription]
impl PharmacySubscription {
    /// A prescription now, and again every time it changes (issued, moved to another pharmacy,
    /// in progress, partly or wholly dispensed, rejected, cancelled, expired). The stream ends
    /// once it is dispensed, rejected, cancelled or expired. Every read is made with your
    /// token: when it expires, the stream answers UNAUTHENTICATED and ends, and you subscribe
    /// again with a fresh one.
    async fn prescription_status(
        &self,
        ctx: &Context<'_>,
        prescription_id: ID,
    ) -> Result<impl Stream<Item = Result<Prescription>> + use<>> {
        prescription_stream(ctx, prescription_id).await
    }
}

struct State {
    pending: Option<Prescription>,
    last: Option<Prescription>,
    /// `None` once the stream is to end (after a final status or an error).
    changes: Option<Receiver<String>>,
}

/// The prescription read as the caller (a prescription out of their reach is NOT_FOUND, the
/// subscription's error), then read again as the caller whenever the feed says it changed and
/// the answer differs, until its status is final. Without a feed, the first answer only.
async fn prescription_stream(
    ctx: &Context<'_>,
    prescription_id: ID,
) -> Result<impl Stream<Item = Result<Prescription>> + use<>> {
    let id = canonical_id(prescription_id);
    // Listening before the first read, so a change between the read and the first wait is
    // heard (and read again) rather than lost.
    let changes = ctx.data_opt::<PrescriptionFeed>().map(|f| f.subscribe());
    let first = read_prescription(ctx, id.clone()).await?;
    let clients = ctx.data_unchecked::<ServiceClients>().clone();
    let caller = caller_token(ctx).unwrap_or_default();
    let state = State {
        pending: Some(first),
        last: None,
        changes,
    };
    Ok(futures::stream::unfold(state, move |mut state| {
        let (clients, caller, id) = (clients.clone(), caller.clone(), id.clone());
        async move {
            if let Some(now) = state.pending.take() {
                if now.is_final() {
                    state.changes = None;
                }
                state.last = Some(now.clone());
                return Some((Ok(now), state));
            }
            loop {
                let changes = state.changes.as_mut()?;
                match changes.recv().await {
                    Ok(changed) if changed != id.0 => continue,
                    // A lagging listener may have missed this prescription's event: read again.
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                }
                match fetch_prescription(&clients, &caller, &id).await {
                    Ok(fresh) if state.last.as_ref() == Some(&fresh) => continue,
                    Ok(fresh) => {
                        if fresh.is_final() {
                            state.changes = None;
                        }
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
