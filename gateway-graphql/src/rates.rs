//! The gateway's request rates (`[gateway.rate_limit]`): who a request is charged to, and
//! whether it is over one of their budgets. The HTTP handler answers a refusal with 429; an
//! operation sent over a websocket gets the same error.

use std::{collections::HashSet, net::SocketAddr};

use async_graphql::parser::types::ExecutableDocument;
use svc_kit::cache::{Cache, RateDecision, RateRule};

use crate::errors::ErrorCode;

/// The rates of `[gateway.rate_limit]`.
#[derive(Debug, Clone, Copy)]
pub struct RateRules {
    /// Every request of one signed-in subject.
    pub subject: RateRule,
    /// Every request without a token, per client address.
    pub anonymous: RateRule,
    /// Requests that take or move a doctor's time or create an account, per caller.
    pub booking: RateRule,
}

/// The rates, and where their budgets are kept (Redis, shared by every replica; or this
/// process).
#[derive(Debug, Clone)]
pub struct RateLimits {
    pub rules: RateRules,
    pub budgets: Cache,
}

/// The mutations limited by [`RateRules::booking`] besides the caller's own rate.
const BOOKING_FIELDS: [&str; 5] = [
    "holdSlot",
    "bookAppointment",
    "rescheduleAppointment",
    "joinWaitlist",
    "registerPatient",
];

/// Who a request is charged to: the token's subject, or without one the client's address.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    key: String,
    signed_in: bool,
}

impl Caller {
    pub(crate) fn new(subject: Option<String>, peer: SocketAddr) -> Caller {
        match subject {
            Some(subject) => Caller {
                key: subject,
                signed_in: true,
            },
            None => Caller {
                key: format!("ip:{}", address_key(peer.ip())),
                signed_in: false,
            },
        }
    }
}

/// What an anonymous caller's budget is counted by: an IPv4 address (an IPv4-mapped IPv6 one
/// is the same), or an IPv6 address's /64, which one household or host holds whole and could
/// otherwise rotate through for fresh budgets.
fn address_key(address: std::net::IpAddr) -> String {
    match address.to_canonical() {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", std::net::Ipv6Addr::from(network))
        }
    }
}

/// A websocket connection's rates and caller (in its data from `connection_init` on): every
/// operation sent over it is charged as a request over HTTP would be.
#[derive(Debug, Clone)]
pub(crate) struct SessionRates {
    pub(crate) rates: RateLimits,
    pub(crate) caller: Caller,
}

/// The `RATE_LIMITED` error when `request` is over one of `caller`'s rates: signed in, the
/// subject's rate; otherwise the client address's; and a mutation's booking fields, each one,
/// against the booking rate too.
pub(crate) async fn over_rate(
    rates: &RateLimits,
    caller: &Caller,
    request: &mut async_graphql::Request,
) -> Option<async_graphql::ServerError> {
    let rule = if caller.signed_in {
        &rates.rules.subject
    } else {
        &rates.rules.anonymous
    };
    let mut decision = rates.budgets.admit(rule, &caller.key).await;
    let mut class = rule.name;
    let bookings = bookings(request);
    if decision == RateDecision::Admit && bookings > 0 {
        decision = rates
            .budgets
            .admit_n(&rates.rules.booking, &caller.key, bookings)
            .await;
        class = rates.rules.booking.name;
    }
    let RateDecision::Refuse { retry_after } = decision else {
        return None;
    };
    metrics::counter!("graphql_rate_limited_total", "class" => class).increment(1);
    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let mut error =
        async_graphql::ServerError::new(format!("too many requests; retry in {seconds} s"), None);
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", ErrorCode::RateLimited.as_str());
    extensions.set("service", "gateway");
    extensions.set("retryAfterSeconds", seconds);
    Some(error)
}

/// How many booking fields the request's mutations select, aliases counted (a fragment is
/// followed once: the executor merges its repeated spreads). A document that does not parse is
/// left to the executor to refuse.
fn bookings(request: &mut async_graphql::Request) -> u32 {
    use async_graphql::parser::types::{OperationType, Selection, SelectionSet};
    fn count<'a>(
        document: &'a ExecutableDocument,
        set: &'a SelectionSet,
        visited: &mut HashSet<&'a str>,
    ) -> u32 {
        let mut n: u32 = 0;
        for selection in &set.items {
            n = n.saturating_add(match &selection.node {
                Selection::Field(field) => {
                    u32::from(BOOKING_FIELDS.contains(&field.node.name.node.as_str()))
                }
                Selection::InlineFragment(fragment) => {
                    count(document, &fragment.node.selection_set.node, visited)
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    match document.fragments.get(name) {
                        Some(fragment) if visited.insert(name.as_str()) => {
                            count(document, &fragment.node.selection_set.node, visited)
                        }
                        _ => 0,
                    }
                }
            });
        }
        n
    }
    let Ok(document) = request.parsed_query() else {
        return 0;
    };
    let document: &ExecutableDocument = document;
    document
        .operations
        .iter()
        .filter(|(_, operation)| operation.node.ty == OperationType::Mutation)
        .map(|(_, operation)| {
            count(
                document,
                &operation.node.selection_set.node,
                &mut HashSet::new(),
            )
        })
        .fold(0u32, u32::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::address_key;

    #[test]
    fn anonymous_budgets_count_an_ipv4_address_or_an_ipv6_64() {
        let key = |a: &str| address_key(a.parse().unwrap());
        assert_eq!(key("198.51.100.4"), "198.51.100.4");
        assert_eq!(
            key("::ffff:198.51.100.4"),
            "198.51.100.4",
            "mapped is the same"
        );
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:bbbb::9"), key("2001:db8:1:2:aaaa::1"));
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
    }
}
