//! Who the client is, behind reverse proxies.
//!
//! The TCP peer is the client unless it is one of `listen.trusted_proxies`.
//! Then the forwarding header that proxy writes (`listen.forwarded_header`:
//! `X-Forwarded-For` or RFC 7239 `Forwarded`) is read from the right: each
//! proxy appends the address it got the request from, so the right-most
//! address that is not a trusted proxy is the client. Entries to its left
//! were written by the client and are ignored, and so is the other header,
//! which a proxy passes on untouched. The address found is what the
//! throttle counts, token records keep, and the access and audit logs show.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;

/// The client's address as resolved for this request (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Which header the trusted proxies write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx
    /// `$proxy_add_x_forwarded_for`, Traefik, HAProxy `option forwardfor`).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

/// One trusted address or network (`10.0.0.5`, `10.0.0.0/8`, `::1`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.base, ip) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(base) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(base) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let base: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR network"))?;
        let base = canonical(base);
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Network { base, prefix })
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`, as a dual-stack
/// listener reports it) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The proxies whose forwarding header is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    pub networks: Vec<Network>,
    pub header: ForwardedHeader,
}

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|n| n.contains(ip))
    }

    /// The client of a request that came from `peer` with `headers`.
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops = match self.header {
            ForwardedHeader::XForwardedFor => header_values(headers, "x-forwarded-for")
                .flat_map(|line| line.split(','))
                .map(|hop| parse_hop(hop.trim()))
                .collect::<Vec<_>>(),
            ForwardedHeader::Forwarded => header_values(headers, "forwarded")
                .flat_map(|line| line.split(','))
                .map(forwarded_for)
                .collect::<Vec<_>>(),
        };
        // From the right: the nearest address that is not a trusted proxy.
        // An entry that is no address (`unknown`, an obfuscated name)
        // cannot be placed: the last proxy that wrote it stands for the
        // client.
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if self.trusts(*ip) => client = *ip,
                Some(ip) => return *ip,
                None => return client,
            }
        }
        client
    }
}

fn header_values<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a str> {
    headers.get_all(name).iter().filter_map(|v| v.to_str().ok())
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `::1`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim().trim_matches('"');
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(addr) = hop.parse::<SocketAddr>() {
        return Some(canonical(addr.ip()));
    }
    hop.strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(ip, _)| ip.parse().ok())
        .map(canonical)
}

/// The `for=` of one element of `Forwarded` (RFC 7239, 4).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_hop(value))
            .flatten()
    })
}

/// The client of a request: as [`resolve`] found it behind trusted
/// proxies, else the TCP peer.
pub fn of(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    match extensions.get::<ClientAddr>() {
        Some(ClientAddr(ip)) => Some(*ip),
        None => extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| canonical(addr.ip())),
    }
}

/// Resolve the client's address once, for every later reader (only
/// installed when there are trusted proxies).
pub async fn resolve(
    axum::extract::State(proxies): axum::extract::State<std::sync::Arc<TrustedProxies>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(peer) = peer {
        let client = proxies.client_of(peer, request.headers());
        request.extensions_mut().insert(ClientAddr(client));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(networks: &[&str], header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies {
            networks: networks.iter().map(|n| n.parse().unwrap()).collect(),
            header,
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn networks_parse_and_match() {
        let n: Network = "10.0.0.0/8".parse().unwrap();
        assert!(n.contains(ip("10.200.1.1")));
        assert!(!n.contains(ip("11.0.0.1")));
        assert!(n.contains(ip("::ffff:10.0.0.1")), "IPv4-mapped");
        let one: Network = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: Network = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!(
            "0.0.0.0/0"
                .parse::<Network>()
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let p = proxies(&["127.0.0.1"], ForwardedHeader::XForwardedFor);
        let forged = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
        ]);
        assert_eq!(p.client_of(ip("198.51.100.4"), &forged), ip("198.51.100.4"));
        let none = TrustedProxies::default();
        assert_eq!(none.client_of(ip("127.0.0.1"), &forged), ip("127.0.0.1"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let p = proxies(&["127.0.0.1", "10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        // The client forged the first entry; nginx appended the real one.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.1.2.3")]);
        assert_eq!(p.client_of(ip("127.0.0.1"), &h), ip("203.0.113.9"));
        // Several header lines are one list.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(p.client_of(ip("127.0.0.1"), &h), ip("203.0.113.9"));
        // With ports and brackets.
        let h = headers(&[("x-forwarded-for", "[2001:db8::5]:4711")]);
        assert_eq!(p.client_of(ip("127.0.0.1"), &h), ip("2001:db8::5"));
        // Only proxies: the left-most is the nearest thing to a client.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 10.1.1.1")]);
        assert_eq!(p.client_of(ip("127.0.0.1"), &h), ip("10.9.9.9"));
        // No header: the proxy itself.
        assert_eq!(
            p.client_of(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
        // Garbage where the proxy wrote: the proxy stands for the client.
        let h = headers(&[("x-forwarded-for", "203.0.113.9, unknown")]);
        assert_eq!(p.client_of(ip("127.0.0.1"), &h), ip("127.0.0.1"));
        // The other header is not read.
        let h = headers(&[("forwarded", "for=203.0.113.9")]);
        assert_eq!(p.client_of(ip("127.0.0.1"), &h), ip("127.0.0.1"));
    }

    #[test]
    fn rfc_7239_forwarded() {
        let p = proxies(&["127.0.0.1"], ForwardedHeader::Forwarded);
        let h = headers(&[(
            "forwarded",
            "for=1.1.1.1;proto=https, for=\"[2001:db8::7]:80\";by=127.0.0.1",
        )]);
        assert_eq!(p.client_of(ip("127.0.0.1"), &h), ip("2001:db8::7"));
        let h = headers(&[
            ("forwarded", "For=192.0.2.60;proto=http"),
            ("x-forwarded-for", "9.9.9.9"),
        ]);
        assert_eq!(p.client_of(ip("127.0.0.1"), &h), ip("192.0.2.60"));
        let h = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(p.client_of(ip("127.0.0.1"), &h), ip("127.0.0.1"));
    }
}
