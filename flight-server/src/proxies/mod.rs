//! Where a request comes from. Behind a load balancer or reverse proxy the
//! TCP peer is the proxy; the client is what the proxy reports. With
//! `--trusted-proxy` ranges configured, a request whose peer lies in one
//! is taken to come from the right-most hop of its `X-Forwarded-For` (or,
//! without one, `Forwarded: for=`) that is not itself a trusted proxy. A
//! peer outside them is the client, whatever it sends; so is a trusted
//! peer whose header is missing, malformed, too large, or sent both ways
//! (which one the proxy wrote cannot be told). None of this is ever an
//! error to the client.
//!
//! The address is worked out once per request, on both ports, and put in
//! its extensions as [`ClientAddr`]: the failed-login limits and the audit
//! read it from there.

pub mod cidr;
mod forwarded;
mod layer;

use std::net::IpAddr;

use axum::extract::ConnectInfo;
use http::HeaderMap;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

pub use cidr::Cidr;
pub use layer::{ClientAddrLayer, ClientAddrService};

use forwarded::{Header, MAX_HOPS};

/// The client's address as the server takes it (see the module
/// documentation), in every request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The ranges whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    ranges: Vec<Cidr>,
}

impl TrustedProxies {
    /// Proxies within `ranges`; none: every peer is the client.
    pub fn new(ranges: Vec<Cidr>) -> Self {
        Self { ranges }
    }

    /// Whether `addr` is a trusted proxy.
    pub fn trusts(&self, addr: IpAddr) -> bool {
        self.ranges.iter().any(|r| r.contains(addr))
    }

    /// The client of a request from TCP peer `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops = match (
            forwarded::header(headers, "x-forwarded-for"),
            forwarded::header(headers, "forwarded"),
        ) {
            (Header::Value(v), Header::Absent) => forwarded::x_forwarded_for(&v),
            (Header::Absent, Header::Value(v)) => forwarded::forwarded(&v),
            _ => return peer,
        };
        self.nearest_untrusted(hops).unwrap_or(peer)
    }

    /// The first hop (nearest first) that is not a trusted proxy; the
    /// farthest when all are; `None` when one before it is unreadable or
    /// there are more than [`MAX_HOPS`] to look at.
    fn nearest_untrusted(&self, hops: Vec<Option<IpAddr>>) -> Option<IpAddr> {
        let mut farthest = None;
        for (i, hop) in hops.into_iter().enumerate() {
            if i == MAX_HOPS {
                return None;
            }
            let hop = hop?.to_canonical();
            if !self.trusts(hop) {
                return Some(hop);
            }
            farthest = Some(hop);
        }
        farthest
    }
}

/// The client address of a request with `extensions`: its [`ClientAddr`],
/// else its TCP peer (a gRPC connection, plain or TLS; an HTTP one).
pub fn client_addr(extensions: &http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ClientAddr>()
        .map(|c| c.0)
        .or_else(|| peer_addr(extensions))
}

/// The TCP peer of a request with `extensions`.
pub fn peer_addr(extensions: &http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|i| i.get_ref().remote_addr())
        })
        .or_else(|| {
            extensions
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0)
        })
        .map(|a| a.ip())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn proxies(ranges: &[&str]) -> TrustedProxies {
        TrustedProxies::new(ranges.iter().map(|r| r.parse().unwrap()).collect())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_nearest_untrusted_hop_behind_trusted_proxies_is_the_client() {
        let p = proxies(&["10.0.0.0/8", "127.0.0.1"]);
        let lb = ip("10.0.0.5");
        let xff = |v: &str| headers(&[("x-forwarded-for", v)]);
        assert_eq!(p.client(lb, &xff("203.0.113.7")), ip("203.0.113.7"));
        // A client-sent (forged) hop to the left of the real one is ignored.
        assert_eq!(
            p.client(lb, &xff("198.51.100.1, 203.0.113.7, 10.0.0.9")),
            ip("203.0.113.7")
        );
        // All hops trusted: the farthest.
        assert_eq!(p.client(lb, &xff("10.1.1.1, 10.0.0.9")), ip("10.1.1.1"));
        let fwd = headers(&[("forwarded", r#"for="[2001:db8::7]:4711", for=10.0.0.9"#)]);
        assert_eq!(p.client(lb, &fwd), ip("2001:db8::7"));
        // IPv4-mapped peers are their IPv4 address.
        assert_eq!(
            p.client(ip("::ffff:10.0.0.5"), &xff("203.0.113.7")),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn untrusted_peers_and_doubtful_headers_leave_the_peer() {
        let p = proxies(&["10.0.0.0/8"]);
        let lb = ip("10.0.0.5");
        let outsider = ip("198.51.100.9");
        let xff = |v: &str| headers(&[("x-forwarded-for", v)]);
        assert_eq!(p.client(outsider, &xff("203.0.113.7")), outsider);
        assert_eq!(
            TrustedProxies::default().client(lb, &xff("203.0.113.7")),
            lb,
            "no trusted proxies: headers are ignored"
        );
        assert_eq!(p.client(lb, &HeaderMap::new()), lb);
        for bad in [
            "",
            "unknown",
            "203.0.113.7, garbage",
            "203.0.113.7 10.0.0.1",
        ] {
            assert_eq!(p.client(lb, &xff(bad)), lb, "{bad:?}");
        }
        // Garbage to the left of the client's hop does not matter.
        assert_eq!(
            p.client(lb, &xff("garbage, 203.0.113.7")),
            ip("203.0.113.7")
        );
        let both = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("forwarded", "for=198.51.100.1"),
        ]);
        assert_eq!(p.client(lb, &both), lb, "both headers: ambiguous");
        let deep = vec!["10.0.0.1"; MAX_HOPS + 1].join(",");
        assert_eq!(p.client(lb, &xff(&deep)), lb, "too many hops");
        let within = vec!["10.0.0.1"; MAX_HOPS].join(",");
        assert_eq!(p.client(lb, &xff(&within)), ip("10.0.0.1"));
    }
}
