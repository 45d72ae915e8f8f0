//! The opening handshake: checking an upgrade request and answering it (server),
//! building a request and checking the answer (client).
//!
//! Server side: call [`validate_http1`] (HTTP/1.1 `GET` + `Upgrade: websocket`)
//! or [`validate_h2`] (RFC 8441 extended CONNECT). On `Err`, answer with the
//! [`Rejection`]'s status and headers. On `Ok`, pick a subprotocol from
//! [`Offer::subprotocols`] (or none), call [`Offer::accept`], answer 101 (HTTP/1.1)
//! or 200 (HTTP/2) with [`Accepted::headers`], and start a
//! [`Connection`](crate::Connection) with [`Accepted::deflate`].
//!
//! Client side: see [`ClientHandshake`].

mod client;
mod extensions;

use http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use sha1::{Digest, Sha1};

pub use client::{ClientAccepted, ClientHandshake, HandshakeError};
pub use extensions::{Extension, PERMESSAGE_DEFLATE};

use crate::config::DeflateConfig;
use extensions::{is_token, negotiate_server, parse_extensions};

/// The GUID appended to the key (RFC 6455 §1.3).
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
#[must_use]
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WEBSOCKET_GUID.as_bytes());
    crate::base64::encode(&sha.finalize())
}

/// A valid upgrade request: what the client offered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Offer {
    /// The `Sec-WebSocket-Key` (HTTP/1.1 only; `None` over HTTP/2).
    pub key: Option<String>,
    /// The offered subprotocols, in the client's order of preference.
    pub subprotocols: Vec<String>,
    /// The offered extensions, in order (all of them, not only permessage-deflate).
    pub extensions: Vec<Extension>,
}

/// What to answer an accepted [`Offer`] with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Accepted {
    /// Response headers to send with 101 (HTTP/1.1) or 200 (HTTP/2).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The permessage-deflate agreement: pass it to
    /// [`Connection::new`](crate::Connection::new).
    pub deflate: Option<DeflateConfig>,
}

/// Why an upgrade request was refused, and the response to send.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Rejection {
    /// 400 for a malformed request, 426 for a missing or unsupported version.
    pub status: StatusCode,
    /// Headers to add to the response (`Sec-WebSocket-Version: 13` with 426).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// What was wrong, for logs.
    pub reason: &'static str,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.reason, self.status)
    }
}

impl std::error::Error for Rejection {}

fn bad(reason: &'static str) -> Rejection {
    Rejection { status: StatusCode::BAD_REQUEST, headers: Vec::new(), reason }
}

fn wrong_version(reason: &'static str) -> Rejection {
    Rejection {
        status: StatusCode::UPGRADE_REQUIRED,
        headers: vec![(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"))],
        reason,
    }
}

/// Comma-separated list elements of a field value, trimmed, empty ones skipped.
pub(crate) fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii).filter(|s| !s.is_empty())
}

/// The header fields both handshakes look at, collected in one pass.
#[derive(Default)]
struct Fields {
    upgrade_websocket: bool,
    connection_upgrade: bool,
    versions: Vec<Vec<u8>>,
    keys: Vec<Vec<u8>>,
    subprotocols: Vec<String>,
    extensions: Vec<Extension>,
}

fn collect<'a>(headers: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Result<Fields, Rejection> {
    let mut f = Fields::default();
    for (name, value) in headers {
        if name.eq_ignore_ascii_case(b"upgrade") {
            f.upgrade_websocket |= list_items(value).any(|p| {
                let name = p.split(|&b| b == b'/').next().unwrap_or_default();
                name.eq_ignore_ascii_case(b"websocket")
            });
        } else if name.eq_ignore_ascii_case(b"connection") {
            f.connection_upgrade |= list_items(value).any(|t| t.eq_ignore_ascii_case(b"upgrade"));
        } else if name.eq_ignore_ascii_case(b"sec-websocket-version") {
            f.versions.extend(list_items(value).map(<[u8]>::to_vec));
        } else if name.eq_ignore_ascii_case(b"sec-websocket-key") {
            f.keys.push(value.trim_ascii().to_vec());
        } else if name.eq_ignore_ascii_case(b"sec-websocket-protocol") {
            for p in list_items(value) {
                if !is_token(p) {
                    return Err(bad("invalid Sec-WebSocket-Protocol"));
                }
                f.subprotocols.push(String::from_utf8_lossy(p).into_owned());
            }
        } else if name.eq_ignore_ascii_case(b"sec-websocket-extensions") {
            parse_extensions(value, &mut f.extensions)
                .ok_or_else(|| bad("invalid Sec-WebSocket-Extensions"))?;
        }
    }
    match f.versions.as_slice() {
        [] => Err(wrong_version("missing Sec-WebSocket-Version")),
        [v] if v == b"13" => Ok(f),
        _ => Err(wrong_version("unsupported Sec-WebSocket-Version")),
    }
}

/// Checks an HTTP/1.1 upgrade request (RFC 6455 §4.2.1): method `GET`,
/// `Upgrade: websocket`, `Connection: upgrade`, one `Sec-WebSocket-Key` that is
/// base64 of 16 bytes, `Sec-WebSocket-Version: 13`. Header names may be in any
/// case and repeated fields are combined. `Host` is left to the HTTP layer.
///
/// # Errors
///
/// A [`Rejection`] to send instead of upgrading: 400 for a malformed request,
/// 426 with `Sec-WebSocket-Version: 13` for a missing or different version.
pub fn validate_http1<'a>(
    method: &Method,
    headers: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> Result<Offer, Rejection> {
    if method != Method::GET {
        return Err(bad("WebSocket upgrade must use GET"));
    }
    let f = collect(headers)?;
    if !f.upgrade_websocket {
        return Err(bad("missing Upgrade: websocket"));
    }
    if !f.connection_upgrade {
        return Err(bad("missing Connection: upgrade"));
    }
    let [key] = f.keys.as_slice() else {
        return Err(bad("missing or repeated Sec-WebSocket-Key"));
    };
    if crate::base64::decode(key).map(|k| k.len()) != Some(16) {
        return Err(bad("Sec-WebSocket-Key is not 16 bytes of base64"));
    }
    let key = String::from_utf8_lossy(key).into_owned();
    Ok(Offer { key: Some(key), subprotocols: f.subprotocols, extensions: f.extensions })
}

/// Checks an HTTP/2 extended CONNECT request (RFC 8441 §4): method `CONNECT`,
/// `:protocol` `websocket`, `Sec-WebSocket-Version: 13`. Pass the regular header
/// fields as `headers` (pseudo-headers are ignored).
///
/// # Errors
///
/// A [`Rejection`] to send instead of accepting: 400 for a malformed request,
/// 426 with `Sec-WebSocket-Version: 13` for a missing or different version.
pub fn validate_h2<'a>(
    method: &Method,
    protocol: Option<&[u8]>,
    headers: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> Result<Offer, Rejection> {
    if method != Method::CONNECT {
        return Err(bad("extended CONNECT must use CONNECT"));
    }
    if !protocol.is_some_and(|p| p.eq_ignore_ascii_case(b"websocket")) {
        return Err(bad(":protocol is not websocket"));
    }
    let f = collect(headers)?;
    Ok(Offer { key: None, subprotocols: f.subprotocols, extensions: f.extensions })
}

impl Offer {
    /// Accepts the offer. `subprotocol` is sent only if it is one of
    /// [`Offer::subprotocols`]: RFC 6455 §4.2.2 has the server choose among those,
    /// and a client fails the connection on any other. With `enable_deflate`, the first acceptable permessage-deflate offer
    /// is chosen (RFC 7692 §5); unacceptable ones are skipped.
    ///
    /// The headers are, for HTTP/1.1, `Upgrade`, `Connection` and
    /// `Sec-WebSocket-Accept`; for both, `Sec-WebSocket-Protocol` if a subprotocol
    /// was chosen and `Sec-WebSocket-Extensions` if deflate was.
    #[must_use]
    pub fn accept(&self, subprotocol: Option<&str>, enable_deflate: bool) -> Accepted {
        let mut headers = Vec::with_capacity(5);
        if let Some(key) = &self.key {
            headers.push((UPGRADE, HeaderValue::from_static("websocket")));
            headers.push((CONNECTION, HeaderValue::from_static("Upgrade")));
            if let Ok(v) = HeaderValue::from_str(&accept_key(key)) {
                headers.push((SEC_WEBSOCKET_ACCEPT, v));
            }
        }
        let offered = subprotocol.filter(|chosen| self.subprotocols.iter().any(|offered| offered == chosen));
        if let Some(v) = offered.and_then(|p| HeaderValue::from_str(p).ok()) {
            headers.push((SEC_WEBSOCKET_PROTOCOL, v));
        }
        let mut deflate = None;
        if enable_deflate
            && let Some((cfg, response)) = self.extensions.iter().find_map(negotiate_server)
            && let Ok(v) = HeaderValue::from_str(&response)
        {
            headers.push((SEC_WEBSOCKET_EXTENSIONS, v));
            deflate = Some(cfg);
        }
        Accepted { headers, deflate }
    }
}

#[cfg(test)]
mod tests;
