//! `ProxyHeaders`: behind a reverse proxy, the client address and scheme the
//! proxy saw, taken from `Forwarded` (RFC 7239) or `X-Forwarded-For/-Proto/-Host`
//! — only when the connection comes from a trusted proxy.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;

use crate::app::{App, AppFuture, Headers, Scope};
use crate::exchange::{Receiver, Sender};

/// Wraps an application so that requests arriving from a trusted proxy (by
/// default the loopback addresses) carry the forwarded client and scheme in their
/// scope: `client` and `scheme` (`http`/`https`, `ws`/`wss`) from
/// `X-Forwarded-For`/`-Proto` — or from RFC 7239 `Forwarded` with
/// [`use_forwarded`](Self::use_forwarded) — and the `host` header only with
/// [`trust_host`](Self::trust_host). Read only the fields your proxy sets: a
/// field it passes through untouched is whatever the client wrote.
/// The client is the right-most hop in the chain that is not itself a trusted
/// proxy, so a client cannot forge its address by prepending entries; a hop that
/// cannot be read stops the walk (the peer stays the client). A connection over
/// a Unix-domain socket (a proxy such as nginx in front, on the same machine)
/// counts as coming from `127.0.0.1`.
#[derive(Debug, Clone)]
pub struct ProxyHeaders<A> {
    app: A,
    trusted: Vec<IpAddr>,
    trust_all: bool,
    forwarded: bool,
    host: bool,
}

impl<A: App> ProxyHeaders<A> {
    /// Trusts proxies on the loopback addresses (`127.0.0.1`, `::1`).
    pub fn new(app: A) -> Self {
        Self {
            app,
            trusted: vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)],
            trust_all: false,
            forwarded: false,
            host: false,
        }
    }

    /// Reads RFC 7239 `Forwarded` instead of the `X-Forwarded-*` fields.
    #[must_use]
    pub fn use_forwarded(mut self) -> Self {
        self.forwarded = true;
        self
    }

    /// Also takes the `host` from `X-Forwarded-Host` (or `Forwarded`'s `host=`).
    #[must_use]
    pub fn trust_host(mut self) -> Self {
        self.host = true;
        self
    }

    /// Trusts exactly these proxy addresses.
    #[must_use]
    pub fn trusted(mut self, proxies: impl IntoIterator<Item = IpAddr>) -> Self {
        self.trusted = proxies.into_iter().collect();
        self
    }

    /// Trusts every peer (only where nothing but the proxy can reach the server).
    #[must_use]
    pub fn trust_all(mut self) -> Self {
        self.trust_all = true;
        self
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trust_all
            || self.trusted.contains(&ip)
            || ip.to_canonical() != ip && self.is_trusted(ip.to_canonical())
    }
}

/// What the proxy chain says about the original request.
#[derive(Debug, Default, PartialEq, Eq)]
struct Forwarded {
    client: Option<SocketAddr>,
    proto: Option<String>,
    host: Option<String>,
}

impl<A: App> App for ProxyHeaders<A> {
    fn call(&self, mut scope: Scope, receive: Receiver, send: Sender) -> AppFuture {
        let (client, headers, scheme) = match &mut scope {
            Scope::Http(http) => (&mut http.client, &mut http.headers, &mut http.scheme),
            Scope::WebSocket(ws) => (&mut ws.client, &mut ws.headers, &mut ws.scheme),
            _ => return self.app.call(scope, receive, send),
        };
        // A Unix-domain socket has no peer address: it is as local as loopback.
        let peer = client.map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |peer| peer.ip());
        if self.is_trusted(peer) {
            let forwarded = self.read(headers);
            if let Some(forwarded_client) = forwarded.client {
                *client = Some(forwarded_client);
                send.report_client(forwarded_client);
            }
            let websocket = scheme.starts_with("ws");
            match (forwarded.proto.as_deref(), websocket) {
                (Some("https"), false) => *scheme = "https",
                (Some("http"), false) => *scheme = "http",
                (Some("https" | "wss"), true) => *scheme = "wss",
                (Some("http" | "ws"), true) => *scheme = "ws",
                _ => {}
            }
            if let Some(host) = forwarded.host.filter(|_| self.host) {
                let others = headers.iter().filter(|field| field.name() != b"host");
                let fields: Vec<(Bytes, Bytes)> =
                    std::iter::once((Bytes::from_static(b"host"), Bytes::from(host)))
                        .chain(others.map(|field| (field.name_bytes(), field.value_bytes())))
                        .collect();
                *headers = Headers::from_pairs(fields.iter().map(|(n, v)| (&n[..], &v[..])));
            }
        }
        self.app.call(scope, receive, send)
    }
}

impl<A: App> ProxyHeaders<A> {
    /// `Forwarded` if present, else the `X-Forwarded-*` fields.
    fn read(&self, headers: &Headers) -> Forwarded {
        let joined = |name: &[u8]| {
            let values: Vec<String> =
                headers.get_all(name).map(|value| String::from_utf8_lossy(value).into_owned()).collect();
            (!values.is_empty()).then(|| values.join(","))
        };
        if self.forwarded {
            let value = joined(b"forwarded").unwrap_or_default();
            let elements: Vec<Vec<(String, String)>> = value.split(',').map(parse_element).collect();
            let hops: Vec<Option<SocketAddr>> = elements
                .iter()
                .map(|pairs| pairs.iter().find(|(k, _)| k == "for").and_then(|(_, v)| node(v)))
                .collect();
            let last = elements.last();
            let pick = |key: &str| {
                last.and_then(|pairs| pairs.iter().find(|(k, _)| k == key)).map(|(_, v)| v.clone())
            };
            return Forwarded {
                client: self.client_of(&hops),
                proto: pick("proto").map(|proto| proto.to_ascii_lowercase()),
                host: pick("host"),
            };
        }
        let hops: Vec<Option<SocketAddr>> = joined(b"x-forwarded-for")
            .map(|list| list.split(',').map(|hop| node(hop.trim())).collect())
            .unwrap_or_default();
        let last =
            |name: &[u8]| joined(name).and_then(|list| list.rsplit(',').next().map(|v| v.trim().to_owned()));
        Forwarded {
            client: self.client_of(&hops),
            proto: last(b"x-forwarded-proto").map(|proto| proto.to_ascii_lowercase()),
            host: last(b"x-forwarded-host"),
        }
    }

    /// The right-most hop that is not a trusted proxy (or the left-most, if all
    /// are); `None` when a hop on the way cannot be read (`unknown`, obfuscated).
    fn client_of(&self, hops: &[Option<SocketAddr>]) -> Option<SocketAddr> {
        for hop in hops.iter().rev() {
            let addr = (*hop)?;
            if !self.is_trusted(addr.ip()) {
                return Some(addr);
            }
        }
        hops.first().copied().flatten()
    }
}

/// `for=192.0.2.60;proto=http;by=203.0.113.43` → lower-cased keys, unquoted values.
fn parse_element(element: &str) -> Vec<(String, String)> {
    element
        .split(';')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            let value = value.trim().trim_matches('"');
            Some((key.trim().to_ascii_lowercase(), value.to_owned()))
        })
        .collect()
}

/// A forwarded node: `192.0.2.60`, `192.0.2.60:4711`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711` or `2001:db8::1`; obfuscated and `unknown` nodes are `None`.
fn node(text: &str) -> Option<SocketAddr> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let bare = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
    bare.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes() {
        assert_eq!(node("192.0.2.60"), Some("192.0.2.60:0".parse().unwrap_or_else(|_| unreachable!())));
        assert_eq!(node("192.0.2.60:4711").map(|a| a.port()), Some(4711));
        assert_eq!(node("[2001:db8::1]").map(|a| a.ip().to_string()), Some("2001:db8::1".to_owned()));
        assert_eq!(node("[2001:db8::1]:4711").map(|a| a.port()), Some(4711));
        assert_eq!(node("unknown"), None);
        assert_eq!(node("_hidden"), None);
    }

    #[test]
    fn elements() {
        let pairs = parse_element(r#"for="[2001:db8::1]:4711";Proto=https;host=example.com"#);
        assert_eq!(pairs[0], ("for".to_owned(), "[2001:db8::1]:4711".to_owned()));
        assert_eq!(pairs[1], ("proto".to_owned(), "https".to_owned()));
    }
}
