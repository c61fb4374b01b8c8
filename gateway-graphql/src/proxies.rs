//! The caller's address behind a reverse proxy. The gateway sees the address of whatever
//! connects to it; behind an ingress or a load balancer that is the proxy, the same for every
//! visitor, so anonymous rate limits and registrations scoped by address would lump every
//! visitor together. `gateway.trusted_proxies` names the proxies whose `X-Forwarded-For` is
//! believed: the caller is the address nearest to the gateway in that header that is not one
//! of them. From anyone else the header is ignored (a visitor could write anything there).

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

/// The networks whose `X-Forwarded-For` the gateway believes.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses each of `networks`: an address (`10.0.0.7`) or a network (`10.0.0.0/8`); an
    /// entry may hold several, comma-separated (as one environment variable gives them).
    pub fn parse(networks: &[String]) -> Result<TrustedProxies, String> {
        networks
            .iter()
            .flat_map(|entry| entry.split(','))
            .filter(|network| !network.trim().is_empty())
            .map(|network| {
                let network = network.trim();
                network
                    .parse::<IpNet>()
                    .or_else(|_| network.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{network:?} is neither an address nor a network"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    /// Who called: `peer`, or when `peer` is a trusted proxy, the address nearest to it in
    /// `X-Forwarded-For` (every such header, in order) that is not a trusted proxy. Entries are
    /// read from the right, as far as that: an address, perhaps with a port (`1.2.3.4:5678`,
    /// `[2001:db8::1]:443`) or an IPv6 zone. What a visitor wrote further left is never read;
    /// an entry that is no address where the walk needs one leaves the proxy as the caller.
    pub fn caller(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        if !self.trusts(peer.ip()) {
            return peer;
        }
        let entries: Vec<Option<&str>> = headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|value| match value.to_str() {
                Ok(text) => text
                    .split(',')
                    .map(str::trim)
                    .filter(|entry| !entry.is_empty())
                    .map(Some)
                    .collect::<Vec<_>>(),
                // Not text: one entry that is no address, where it stands.
                Err(_) => vec![None],
            })
            .collect();
        for entry in entries.into_iter().rev() {
            let Some(address) = entry.and_then(parse_hop) else {
                return peer;
            };
            if !self.trusts(address) {
                return SocketAddr::new(address, 0);
            }
        }
        peer
    }
}

/// One `X-Forwarded-For` entry's address: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`,
/// `[2001:db8::1]:443`, `fe80::1%eth0`.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let address = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            let bare = entry.trim_start_matches('[').split([']', '%']).next()?;
            bare.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
        })?;
    Some(address.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(caller: SocketAddr) -> String {
        caller.ip().to_string()
    }

    #[test]
    fn only_a_trusted_proxy_names_the_caller() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "192.168.1.7".into()]).unwrap();
        let ingress: SocketAddr = "10.1.2.3:40000".parse().unwrap();
        let visitor: SocketAddr = "203.0.113.9:51000".parse().unwrap();
        // Through the ingress: the visitor the ingress saw.
        assert_eq!(
            ip(proxies.caller(ingress, &headers(&["198.51.100.4"]))),
            "198.51.100.4"
        );
        // A visitor's own header says nothing: it did not come through a proxy.
        assert_eq!(
            ip(proxies.caller(visitor, &headers(&["198.51.100.4"]))),
            "203.0.113.9"
        );
        // What a visitor wrote before the proxies' own entries is skipped: the nearest
        // untrusted hop is the caller.
        assert_eq!(
            ip(proxies.caller(ingress, &headers(&["1.2.3.4, 198.51.100.4, 192.168.1.7"]))),
            "198.51.100.4"
        );
        assert_eq!(
            ip(proxies.caller(ingress, &headers(&["1.2.3.4", "198.51.100.4, 10.9.9.9"]))),
            "198.51.100.4",
            "several headers are one list"
        );
        // No header, only proxies, or garbage: the proxy itself.
        assert_eq!(ip(proxies.caller(ingress, &HeaderMap::new())), "10.1.2.3");
        assert_eq!(
            ip(proxies.caller(ingress, &headers(&["10.0.0.1"]))),
            "10.1.2.3"
        );
        assert_eq!(
            ip(proxies.caller(ingress, &headers(&["198.51.100.4, not-an-address"]))),
            "10.1.2.3",
            "the entry the proxy wrote is no address"
        );
        // What a visitor wrote to the left, whatever it is, is never read.
        assert_eq!(
            ip(proxies.caller(ingress, &headers(&["x, 198.51.100.4"]))),
            "198.51.100.4"
        );
        assert_eq!(
            ip(proxies.caller(ingress, &headers(&["x", "198.51.100.4, 10.0.0.2"]))),
            "198.51.100.4"
        );
        // Ports and zones some proxies write.
        assert_eq!(
            ip(proxies.caller(ingress, &headers(&["198.51.100.4:5678"]))),
            "198.51.100.4"
        );
        assert_eq!(
            ip(proxies.caller(ingress, &headers(&["[2001:db8::1]:443"]))),
            "2001:db8::1"
        );
        assert_eq!(
            ip(proxies.caller(ingress, &headers(&["fe80::1%eth0"]))),
            "fe80::1"
        );
        assert_eq!(
            ip(proxies.caller(ingress, &headers(&["198.51.100.4,, "]))),
            "198.51.100.4",
            "empty entries are none"
        );
        // An IPv4 proxy reached over IPv6 (mapped) is the same proxy.
        let mapped: SocketAddr = "[::ffff:10.1.2.3]:40000".parse().unwrap();
        assert_eq!(
            ip(proxies.caller(mapped, &headers(&["2001:db8::7"]))),
            "2001:db8::7"
        );
        // None trusted (the default): the peer, always.
        let none = TrustedProxies::default();
        assert_eq!(
            ip(none.caller(ingress, &headers(&["198.51.100.4"]))),
            "10.1.2.3"
        );
    }

    #[test]
    fn a_proxy_that_is_not_an_address_is_refused() {
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["ingress".into()]).is_err());
        assert!(TrustedProxies::parse(&["fd00::/8".into(), " 127.0.0.1 ".into()]).is_ok());
        let one_variable = TrustedProxies::parse(&["10.0.0.0/8, 192.168.0.0/16".into()]).unwrap();
        assert!(one_variable.trusts("192.168.3.4".parse().unwrap()));
        assert!(!one_variable.trusts("172.16.0.1".parse().unwrap()));
    }
}
