//! What went wrong: the peer's mistakes ([`ProtocolError`]) and the caller's ([`SendError`]).

use core::fmt;

use http::StatusCode;
use milpa_hpack::DecodeError;

use crate::frame::{self, Reason, StreamId};

/// Why a request's header section is malformed (RFC 9113 §8.1.1, §8.2, §8.3; RFC 8441 §4).
/// Answered with RST_STREAM(PROTOCOL_ERROR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// A field with an empty name.
    EmptyName,
    /// A field name with an uppercase letter (§8.2.1).
    UppercaseName,
    /// A field name with a character that is not allowed (§8.2.1).
    InvalidName,
    /// A field value with NUL, CR or LF, or with leading or trailing whitespace (§8.2.1).
    InvalidValue,
    /// A connection-specific field: `connection`, `keep-alive`, `proxy-connection`,
    /// `transfer-encoding` or `upgrade` (§8.2.2).
    ConnectionSpecific,
    /// A `te` field with a value other than `trailers` (§8.2.2).
    InvalidTe,
    /// A pseudo-header other than those of a request (`:status` or an unknown one) (§8.3).
    UnknownPseudoHeader,
    /// A pseudo-header after a regular field (§8.3).
    PseudoHeaderAfterRegular,
    /// A pseudo-header given twice (§8.3.1).
    DuplicatePseudoHeader,
    /// `:method`, `:scheme` or `:path` missing (or `:authority` for CONNECT) (§8.3.1, §8.5).
    MissingPseudoHeader,
    /// An empty `:path`, or one that does not start with `/` (except `*` for OPTIONS).
    InvalidPath,
    /// A `:method` that is not a token.
    InvalidMethod,
    /// A CONNECT request (without `:protocol`) with `:scheme` or `:path` (§8.5).
    ConnectWithSchemeOrPath,
    /// `:protocol` while extended CONNECT is not enabled, or on a method other than CONNECT
    /// (RFC 8441 §4).
    UnexpectedProtocol,
    /// A pseudo-header in trailers (§8.1).
    PseudoHeaderInTrailers,
    /// A second HEADERS frame without END_STREAM (§8.1).
    TrailersWithoutEndStream,
    /// A `content-length` that is not one non-negative number.
    InvalidContentLength,
    /// The DATA received does not add up to `content-length` (§8.1.1).
    ContentLengthMismatch,
    /// `host` names another authority than `:authority` (§8.3.1).
    HostMismatch,
}

/// Which rule of HTTP/2 the client broke, or which limit it went past.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The connection did not start with the client preface (§3.4).
    InvalidPreface,
    /// The first frame after the preface was not SETTINGS (§3.4).
    MissingSettings,
    /// A frame broke a rule the frame layer checks (length, padding, stream 0, setting value).
    Frame(frame::ErrorKind),
    /// HPACK could not decode a header block (§4.3): the connection's compression state is
    /// lost.
    Compression(DecodeError),
    /// A header list over SETTINGS_MAX_HEADER_LIST_SIZE (answered 431).
    HeaderListTooLarge {
        /// The header list's size (name + value + 32 per field).
        size: usize,
    },
    /// A frame other than CONTINUATION on the same stream interrupted a header block (§6.10).
    ExpectedContinuation,
    /// A CONTINUATION without a header block in progress (§6.10).
    UnexpectedContinuation,
    /// More CONTINUATION frames in one header block than the configured cap.
    TooManyContinuations,
    /// A stream identifier the client may not use: even, or not above the last one (§5.1.1).
    InvalidStreamId,
    /// A frame other than HEADERS or PRIORITY on a stream that is not open yet (§5.1).
    IdleStream,
    /// A frame on a stream the client already closed (§5.1).
    StreamClosed,
    /// The client sent PUSH_PROMISE (§8.4).
    PushPromise,
    /// DATA beyond the flow-control window we granted (§6.9.1).
    FlowControl,
    /// A WINDOW_UPDATE or SETTINGS_INITIAL_WINDOW_SIZE pushed a window over 2^31-1 (§6.9.1).
    WindowOverflow,
    /// A stream past SETTINGS_MAX_CONCURRENT_STREAMS (§5.1.2).
    TooManyStreams,
    /// A stream opened after our final GOAWAY (§6.8).
    GoingAway,
    /// The request is malformed (§8.1.1).
    Malformed(Malformed),
    /// Too many streams reset by the client before the application saw them (rapid reset).
    TooManyPendingResets,
    /// Too many streams reset by us because of the client's errors.
    TooManyLocalResets,
    /// The caller closed the connection with [`Connection::abort`](crate::Connection::abort)
    /// (a limit it enforces itself).
    Aborted,
    /// Too many empty DATA frames in a row.
    TooManyEmptyDataFrames,
    /// The client did not acknowledge our SETTINGS in time.
    SettingsTimeout,
    /// The client did not answer a keep-alive PING in time.
    KeepAliveTimeout,
    /// A header block was not finished (its last CONTINUATION) in time.
    HeaderBlockTimeout,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidPreface => f.write_str("invalid connection preface"),
            Self::MissingSettings => f.write_str("first frame is not SETTINGS"),
            Self::Frame(kind) => write!(f, "{kind}"),
            Self::Compression(err) => write!(f, "{err}"),
            Self::HeaderListTooLarge { size } => write!(f, "header list of {size} bytes is too large"),
            Self::ExpectedContinuation => f.write_str("header block interrupted by another frame"),
            Self::UnexpectedContinuation => f.write_str("CONTINUATION without a header block"),
            Self::TooManyContinuations => f.write_str("too many CONTINUATION frames"),
            Self::InvalidStreamId => f.write_str("invalid stream identifier"),
            Self::IdleStream => f.write_str("frame on an idle stream"),
            Self::StreamClosed => f.write_str("frame on a closed stream"),
            Self::PushPromise => f.write_str("PUSH_PROMISE from a client"),
            Self::FlowControl => f.write_str("flow-control window exceeded"),
            Self::WindowOverflow => f.write_str("flow-control window over 2^31-1"),
            Self::TooManyStreams => f.write_str("too many concurrent streams"),
            Self::GoingAway => f.write_str("stream opened after GOAWAY"),
            Self::Malformed(why) => write!(f, "malformed request: {why:?}"),
            Self::TooManyPendingResets => f.write_str("too many streams reset before being accepted"),
            Self::TooManyLocalResets => f.write_str("too many streams reset for errors"),
            Self::Aborted => f.write_str("closed by the server's own limits"),
            Self::TooManyEmptyDataFrames => f.write_str("too many empty DATA frames"),
            Self::SettingsTimeout => f.write_str("SETTINGS not acknowledged in time"),
            Self::KeepAliveTimeout => f.write_str("keep-alive PING not answered in time"),
            Self::HeaderBlockTimeout => f.write_str("header block not finished in time"),
        }
    }
}

/// The client broke a rule of HTTP/2 or went past a limit.
///
/// The answer is already queued: RST_STREAM (or a 431 response) for a stream error, GOAWAY
/// for a connection error. The caller only flushes
/// [`poll_transmit`](crate::Connection::poll_transmit); for a connection error it then
/// closes the socket once [`is_finished`](crate::Connection::is_finished).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    reason: Reason,
    kind: ErrorKind,
}

impl ProtocolError {
    pub(crate) fn new(reason: Reason, kind: ErrorKind) -> Self {
        Self { reason, kind }
    }

    /// The error code sent in RST_STREAM or GOAWAY.
    #[must_use]
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.kind, self.reason)
    }
}

impl std::error::Error for ProtocolError {}

/// A command from the application was refused; the connection is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The stream is not open: never opened, already closed, or reset (an
    /// [`Event::StreamReset`](crate::Event::StreamReset) tells which).
    StreamClosed(StreamId),
    /// Not allowed at this point of the stream: body or trailers before the response head, a
    /// second response, anything after the end of the response.
    WrongState(StreamId),
    /// A header name is not a lowercase token (or is a pseudo-header), or a value contains
    /// NUL, CR or LF or starts or ends with whitespace.
    InvalidHeader,
    /// The status cannot be sent this way: 1xx through `send_response`, a final status or
    /// 101 through `send_informational`.
    InvalidStatus(StatusCode),
    /// The stream's send buffer is full: wait for [`Event::Writable`](crate::Event::Writable)
    /// and send again. Nothing was queued.
    BufferFull(StreamId),
    /// Push is off: disabled in [`Config`](crate::Config) or by the client's ENABLE_PUSH=0.
    PushDisabled,
    /// As many pushed streams are open as the client's SETTINGS_MAX_CONCURRENT_STREAMS (or
    /// our own limit) allow.
    PushLimit,
    /// The promised request is not a valid GET or HEAD request without a body.
    InvalidPushRequest,
    /// Every server stream identifier has been used: no more pushes on this connection.
    StreamIdsExhausted,
    /// The connection is closed or closing: no new work is accepted.
    ConnectionClosed,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StreamClosed(id) => write!(f, "stream {id} is not open"),
            Self::WrongState(id) => write!(f, "not allowed in the current state of stream {id}"),
            Self::InvalidHeader => f.write_str("invalid response header field"),
            Self::InvalidStatus(status) => write!(f, "status {status} cannot be sent here"),
            Self::BufferFull(id) => write!(f, "send buffer of stream {id} is full"),
            Self::PushDisabled => f.write_str("server push is disabled"),
            Self::PushLimit => f.write_str("too many pushed streams"),
            Self::InvalidPushRequest => f.write_str("invalid promised request"),
            Self::StreamIdsExhausted => f.write_str("stream identifiers exhausted"),
            Self::ConnectionClosed => f.write_str("connection closed"),
        }
    }
}

impl std::error::Error for SendError {}
