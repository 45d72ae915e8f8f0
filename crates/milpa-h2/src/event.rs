//! What the connection reports to the application: [`Event`] and the [`Request`] it carries.

use bytes::Bytes;
use http::Method;
use milpa_hpack::HeaderField;

use crate::error::ProtocolError;
use crate::frame::{Reason, StreamId};
use crate::priority::Priority;

/// Something the client did, for the application to act on. Poll them with
/// [`Connection::poll_event`](crate::Connection::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A request arrived on a new stream. Answer with
    /// [`send_response`](crate::Connection::send_response) (or reset the stream). Unless
    /// `end_stream`, its body follows as [`Event::Data`], possibly [`Event::Trailers`].
    Request {
        /// The stream; pass it to every command about this request.
        stream: StreamId,
        /// The request head.
        request: Request,
        /// No body follows.
        end_stream: bool,
    },
    /// A piece of a request body. Once the application has consumed it, it must call
    /// [`release_capacity`](crate::Connection::release_capacity) with `data.len()` so the
    /// client may send more (flow control). An application done with the body (it
    /// answered without reading it all) calls
    /// [`stop_receiving`](crate::Connection::stop_receiving): once the response is out the
    /// stream is reset with `NO_ERROR`. Unreleased data holds the connection window.
    Data {
        /// The stream.
        stream: StreamId,
        /// The bytes (a slice of the received frame; no copy).
        data: Bytes,
        /// The body is complete.
        end_stream: bool,
    },
    /// The request's trailer fields; the body is complete.
    Trailers {
        /// The stream.
        stream: StreamId,
        /// The trailer fields (no pseudo-headers).
        trailers: Vec<HeaderField>,
    },
    /// The stream is gone before its exchange completed: stop working on it; commands on it
    /// now fail with [`SendError::StreamClosed`](crate::SendError::StreamClosed).
    StreamReset {
        /// The stream.
        stream: StreamId,
        /// The client's RST_STREAM code, or the code of the RST_STREAM or GOAWAY we sent.
        reason: Reason,
        /// `Some` when we reset the stream because the client broke a rule on it (the
        /// RST_STREAM is queued); `None` when the client reset it, or the connection ended.
        error: Option<ProtocolError>,
    },
    /// A stream the application never saw was refused or answered by the connection itself
    /// (malformed request, too many streams, header list too large — a 431 is queued —, a
    /// frame on a closed stream). Nothing to do but log it.
    StreamError {
        /// The stream.
        stream: StreamId,
        /// What the client did; the answer is queued.
        error: ProtocolError,
    },
    /// A stream whose [`send_data`](crate::Connection::send_data) was refused with
    /// [`SendError::BufferFull`](crate::SendError::BufferFull) can take more now.
    Writable {
        /// The stream.
        stream: StreamId,
    },
    /// The client sent GOAWAY: it opens no more streams. Streams up to `last_stream_id` go
    /// on; pushed streams above it were reset (reported with [`Event::StreamReset`]).
    GoAway {
        /// The last pushed stream the client will process.
        last_stream_id: StreamId,
        /// Why the client is leaving (`NO_ERROR` for a graceful close).
        reason: Reason,
        /// Diagnostic bytes, if any.
        debug_data: Bytes,
    },
    /// The client broke a rule of the whole connection, or a timer expired. GOAWAY is
    /// queued: flush [`poll_transmit`](crate::Connection::poll_transmit), then close. Every
    /// stream the application knew is reported reset after this event.
    ConnectionError(ProtocolError),
}

/// A validated request head: the pseudo-header fields and the regular fields, as the client
/// sent them (names lowercase, values checked for forbidden bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub(crate) method: Method,
    pub(crate) scheme: Option<Bytes>,
    pub(crate) authority: Option<Bytes>,
    pub(crate) path: Option<Bytes>,
    pub(crate) protocol: Option<Bytes>,
    pub(crate) headers: Vec<HeaderField>,
    pub(crate) content_length: Option<u64>,
    pub(crate) priority: Priority,
}

impl Request {
    /// `:method`.
    #[must_use]
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// `:scheme` (absent for CONNECT).
    #[must_use]
    pub fn scheme(&self) -> Option<&[u8]> {
        self.scheme.as_deref()
    }

    /// `:authority`, if sent.
    #[must_use]
    pub fn authority(&self) -> Option<&[u8]> {
        self.authority.as_deref()
    }

    /// `:authority` as shared [`Bytes`]: a slice of the decoded field, not a copy.
    #[must_use]
    pub fn authority_bytes(&self) -> Option<Bytes> {
        self.authority.clone()
    }

    /// `:path`: path and query (absent for CONNECT).
    #[must_use]
    pub fn path(&self) -> Option<&[u8]> {
        self.path.as_deref()
    }

    /// `:path` as shared [`Bytes`]: a slice of the decoded field, not a copy.
    #[must_use]
    pub fn path_bytes(&self) -> Option<Bytes> {
        self.path.clone()
    }

    /// `:protocol` of an extended CONNECT (RFC 8441), e.g. `websocket`.
    #[must_use]
    pub fn protocol(&self) -> Option<&[u8]> {
        self.protocol.as_deref()
    }

    /// The regular header fields, in order (pseudo-headers removed).
    #[must_use]
    pub fn headers(&self) -> &[HeaderField] {
        &self.headers
    }

    /// The regular header fields, taken out of the request.
    #[must_use]
    pub fn into_headers(self) -> Vec<HeaderField> {
        self.headers
    }

    /// The first value of the field `name` (lowercase), if any.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|field| field.name == name.as_bytes()).map(|field| &field.value[..])
    }

    /// The declared `content-length`, which the connection enforces against the DATA
    /// received.
    #[must_use]
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// The RFC 9218 priority the client asked for in its `priority` field (the default,
    /// `u=3`, when absent).
    #[must_use]
    pub fn priority(&self) -> Priority {
        self.priority
    }
}
