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
    /// `Forwarded` if present, else the `X-Forwarded-*` fields. The scheme and
    /// host are the ones of the client's own hop: each proxy appends what it
    /// received, so the last entry describes only the innermost proxy's request.
    fn read(&self, headers: &Headers) -> Forwarded {
        let joined = |name: &[u8]| {
            let values: Vec<String> =
                headers.get_all(name).map(|value| String::from_utf8_lossy(value).into_owned()).collect();
            (!values.is_empty()).then(|| values.join(","))
        };
        if self.forwarded {
            let elements = parse_forwarded(&joined(b"forwarded").unwrap_or_default());
            let hops: Vec<Option<SocketAddr>> = elements
                .iter()
                .map(|pairs| pairs.iter().find(|(k, _)| k == "for").and_then(|(_, v)| node(v)))
                .collect();
            let (at, client) = self.client_of(&hops);
            let pick = |key: &str| {
                let element = at.and_then(|at| elements.get(at));
                element.and_then(|pairs| pairs.iter().find(|(k, _)| k == key)).map(|(_, v)| v.clone())
            };
            return Forwarded {
                client,
                proto: pick("proto").map(|proto| proto.to_ascii_lowercase()),
                host: pick("host").filter(|host| is_host(host)),
            };
        }
        let hops: Vec<Option<SocketAddr>> = joined(b"x-forwarded-for")
            .map(|list| list.split(',').map(|hop| node(hop.trim())).collect())
            .unwrap_or_default();
        let (at, client) = self.client_of(&hops);
        // A list as long as X-Forwarded-For was appended hop by hop: the client's
        // entry is at the same place. Otherwise only the last is known to be ours.
        let aligned = |name: &[u8]| {
            let list = joined(name)?;
            let values: Vec<&str> = list.split(',').map(str::trim).collect();
            let value = match at {
                Some(at) if values.len() == hops.len() => values.get(at),
                _ => values.last(),
            };
            value.map(|value| (*value).to_owned())
        };
        Forwarded {
            client,
            proto: aligned(b"x-forwarded-proto").map(|proto| proto.to_ascii_lowercase()),
            host: aligned(b"x-forwarded-host").filter(|host| is_host(host)),
        }
    }

    /// Walks the hops from the right: the first that is not a trusted proxy is
    /// the client (all trusted: the left-most). Returns where the walk stopped
    /// and the client there, `None` when that hop cannot be read (`unknown`,
    /// obfuscated); no position when there are no hops.
    fn client_of(&self, hops: &[Option<SocketAddr>]) -> (Option<usize>, Option<SocketAddr>) {
        for (at, hop) in hops.iter().enumerate().rev() {
            match hop {
                Some(addr) if self.is_trusted(addr.ip()) => {}
                _ => return (Some(at), *hop),
            }
        }
        match hops.first() {
            Some(first) => (Some(0), *first),
            None => (None, None),
        }
    }
}

/// `Forwarded` (RFC 7239 §4): its elements, each as lower-cased keys and values
/// with quoted strings unquoted. Commas and semicolons inside quotes are text.
fn parse_forwarded(value: &str) -> Vec<Vec<(String, String)>> {
    let mut elements: Vec<Vec<(String, String)>> = Vec::new();
    let mut element = Vec::new();
    let mut pair = String::new();
    let mut quoted = false;
    let mut chars = value.chars();
    let end_pair = |pair: &mut String, element: &mut Vec<(String, String)>| {
        if let Some((key, value)) = pair.split_once('=') {
            element.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        pair.clear();
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => pair.extend(chars.next()),
            ';' if !quoted => end_pair(&mut pair, &mut element),
            ',' if !quoted => {
                end_pair(&mut pair, &mut element);
                elements.push(std::mem::take(&mut element));
            }
            c => pair.push(c),
        }
    }
    end_pair(&mut pair, &mut element);
    elements.push(element);
    elements
}

/// A plausible `host[:port]` (a name, an IPv4 address or a bracketed IPv6 one):
/// nothing that could turn a URL built from it into another site's.
fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']'))
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
        let elements = parse_forwarded(r#"for="[2001:db8::1]:4711";Proto=https;host=example.com"#);
        assert_eq!(elements[0][0], ("for".to_owned(), "[2001:db8::1]:4711".to_owned()));
        assert_eq!(elements[0][1], ("proto".to_owned(), "https".to_owned()));
    }

    #[test]
    fn quoted_commas_and_semicolons_are_text() {
        let elements = parse_forwarded(r#"for=1.2.3.4;host="a,b;c.com";proto=https, for="x\"y""#);
        assert_eq!(elements.len(), 2);
        assert_eq!(elements[0][1], ("host".to_owned(), "a,b;c.com".to_owned()));
        assert_eq!(elements[0][2], ("proto".to_owned(), "https".to_owned()));
        assert_eq!(elements[1][0], ("for".to_owned(), "x\"y".to_owned()));
    }

    #[test]
    fn hosts_that_could_point_elsewhere_are_refused() {
        for good in ["example.com", "example.com:8443", "10.0.0.1", "[::1]:8080", "a_b.local"] {
            assert!(is_host(good), "{good}");
        }
        for bad in ["", "good.com@evil.com", "evil.com/x", "a b", "evil.com?", "x\\y", "h#f"] {
            assert!(!is_host(bad), "{bad}");
        }
    }
}
