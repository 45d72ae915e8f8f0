//! The client side of the HTTP/1.1 opening handshake (RFC 6455 §4.1).

use http::header::{
    CONNECTION, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use http::{HeaderName, HeaderValue, StatusCode};

use super::extensions::{negotiate_client, parse_extensions};
use super::{accept_key, list_items};
use crate::config::DeflateConfig;
use crate::mask::MaskSource;

/// A client's opening handshake: a fresh key, the subprotocols and whether
/// permessage-deflate is offered.
///
/// Send a `GET` with [`request_headers`](Self::request_headers) (plus `Host`),
/// then check the answer with [`verify_response`](Self::verify_response) and
/// start a [`Connection`](crate::Connection) in the client role with the
/// resulting [`ClientAccepted::deflate`].
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    key: String,
    subprotocols: Vec<String>,
    offer_deflate: bool,
}

/// A server's answer that completes the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientAccepted {
    /// The subprotocol the server chose, one of ours.
    pub subprotocol: Option<String>,
    /// The permessage-deflate agreement, for [`Connection::new`](crate::Connection::new).
    pub deflate: Option<DeflateConfig>,
}

/// Why a server's answer does not complete the handshake: fail the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeError {
    /// What was wrong.
    pub reason: &'static str,
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason)
    }
}

impl std::error::Error for HandshakeError {}

fn err(reason: &'static str) -> HandshakeError {
    HandshakeError { reason }
}

impl ClientHandshake {
    /// A handshake with a random 16-byte key. Offers `subprotocols` (tokens) in
    /// order and, with `offer_deflate`, `permessage-deflate; client_max_window_bits`.
    #[must_use]
    pub fn new(subprotocols: &[&str], offer_deflate: bool) -> Self {
        let mut source = MaskSource::new();
        let mut key = [0u8; 16];
        for chunk in key.chunks_exact_mut(4) {
            chunk.copy_from_slice(&source.next_key());
        }
        Self {
            key: crate::base64::encode(&key),
            subprotocols: subprotocols.iter().map(|s| (*s).to_owned()).collect(),
            offer_deflate,
        }
    }

    /// The `Sec-WebSocket-Key` sent.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Request headers for the `GET`: `Upgrade`, `Connection`, `Sec-WebSocket-Key`,
    /// `Sec-WebSocket-Version`, and `Sec-WebSocket-Protocol` /
    /// `Sec-WebSocket-Extensions` when offered. Add `Host` yourself.
    #[must_use]
    pub fn request_headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut h = vec![
            (UPGRADE, HeaderValue::from_static("websocket")),
            (CONNECTION, HeaderValue::from_static("Upgrade")),
            (SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13")),
        ];
        if let Ok(v) = HeaderValue::from_str(&self.key) {
            h.push((SEC_WEBSOCKET_KEY, v));
        }
        if !self.subprotocols.is_empty()
            && let Ok(v) = HeaderValue::from_str(&self.subprotocols.join(", "))
        {
            h.push((SEC_WEBSOCKET_PROTOCOL, v));
        }
        if self.offer_deflate {
            h.push((
                SEC_WEBSOCKET_EXTENSIONS,
                HeaderValue::from_static("permessage-deflate; client_max_window_bits"),
            ));
        }
        h
    }

    /// Checks the server's answer (RFC 6455 §4.1, RFC 7692 §5): status 101,
    /// `Upgrade: websocket`, `Connection: upgrade`, the right
    /// `Sec-WebSocket-Accept`, a subprotocol we offered (if any), and at most one
    /// extension, a valid permessage-deflate answer to our offer.
    ///
    /// # Errors
    ///
    /// A [`HandshakeError`]: fail the connection.
    pub fn verify_response<'a>(
        &self,
        status: StatusCode,
        headers: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Result<ClientAccepted, HandshakeError> {
        if status != StatusCode::SWITCHING_PROTOCOLS {
            return Err(err("status is not 101"));
        }
        let (mut upgrade, mut connection, mut accept_ok) = (false, false, false);
        let mut subprotocol = None;
        let mut extensions = Vec::new();
        let expected = accept_key(&self.key);
        for (name, value) in headers {
            if name.eq_ignore_ascii_case(b"upgrade") {
                upgrade |= list_items(value).any(|t| t.eq_ignore_ascii_case(b"websocket"));
            } else if name.eq_ignore_ascii_case(b"connection") {
                connection |= list_items(value).any(|t| t.eq_ignore_ascii_case(b"upgrade"));
            } else if name.eq_ignore_ascii_case(b"sec-websocket-accept") {
                if accept_ok || value.trim_ascii() != expected.as_bytes() {
                    return Err(err("wrong Sec-WebSocket-Accept"));
                }
                accept_ok = true;
            } else if name.eq_ignore_ascii_case(b"sec-websocket-protocol") {
                let chosen = std::str::from_utf8(value.trim_ascii())
                    .map_err(|_| err("invalid Sec-WebSocket-Protocol"))?;
                if subprotocol.is_some() || !self.subprotocols.iter().any(|p| p == chosen) {
                    return Err(err("server chose a subprotocol we did not offer"));
                }
                subprotocol = Some(chosen.to_owned());
            } else if name.eq_ignore_ascii_case(b"sec-websocket-extensions") {
                parse_extensions(value, &mut extensions)
                    .ok_or_else(|| err("invalid Sec-WebSocket-Extensions"))?;
            }
        }
        if !upgrade || !connection {
            return Err(err("missing Upgrade: websocket or Connection: upgrade"));
        }
        if !accept_ok {
            return Err(err("missing Sec-WebSocket-Accept"));
        }
        let deflate = match extensions.as_slice() {
            [] => None,
            [ext] if self.offer_deflate => {
                Some(negotiate_client(ext).ok_or_else(|| err("invalid permessage-deflate answer"))?)
            }
            _ => return Err(err("server answered with extensions we did not offer")),
        };
        Ok(ClientAccepted { subprotocol, deflate })
    }
}
