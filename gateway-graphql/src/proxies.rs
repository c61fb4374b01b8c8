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
    /// Parses each of `networks`: an address (`10.0.0.7`) or a network (`10.0.0.0/8`).
    pub fn parse(networks: &[String]) -> Result<TrustedProxies, String> {
        networks
            .iter()
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

    /// Who called: `peer`, or when `peer` is a trusted proxy, the last address of
    /// `X-Forwarded-For` (every such header, in order) that is not a trusted proxy. A header
    /// holding anything but addresses is not believed at all.
    pub fn caller(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if !self.trusts(peer.ip()) {
            return peer;
        }
        let mut chain = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let Ok(value) = value.to_str() else {
                return peer;
            };
            for hop in value.split(',') {
                match hop.trim().parse::<IpAddr>() {
                    Ok(address) => chain.push(address),
                    Err(_) => return peer,
                }
            }
        }
        chain
            .into_iter()
            .rev()
            .find(|address| !self.trusts(*address))
            .map_or(peer, |address| SocketAddr::new(address.to_canonical(), 0))
    }
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
            "10.1.2.3"
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
    }
}
