//! What went wrong: the peer's mistakes ([`ProtocolError`]) and the caller's ([`SendError`]).

use std::fmt;

use http::StatusCode;

use crate::State;

/// Which rule of HTTP/1.1 the client broke, or which limit it went past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request line is not `method SP target SP HTTP/1.x`.
    BadRequestLine,
    /// The request line names an HTTP version this server does not speak.
    UnsupportedVersion,
    /// The request line alone is longer than the head limit.
    TargetTooLong,
    /// The request head is longer than the head limit.
    HeadTooLarge,
    /// More header fields than the limit allows.
    TooManyHeaders,
    /// A header field has an invalid name or value (obs-fold, whitespace before
    /// the colon, control bytes, non-token characters).
    InvalidHeader,
    /// A line ended in a bare LF; this crate requires CRLF everywhere.
    BareLineFeed,
    /// The request target is not valid for its method.
    InvalidTarget,
    /// HTTP/1.1 request without `Host`, or any request with more than one.
    InvalidHost,
    /// Both `Content-Length` and `Transfer-Encoding`: a smuggling attempt.
    ConflictingFraming,
    /// `Content-Length` is not one non-negative decimal number.
    InvalidContentLength,
    /// `Transfer-Encoding` does not end in `chunked`, repeats it, or comes with HTTP/1.0.
    InvalidTransferEncoding,
    /// `Transfer-Encoding` names a coding this server does not decode.
    UnsupportedTransferEncoding,
    /// The chunked body is malformed: bad size, missing CRLF, data past the chunk.
    InvalidChunk,
    /// The chunk extensions of one body exceed their limit.
    ChunkExtensionsTooLarge,
    /// The trailer section is larger than its limit.
    TrailersTooLarge,
    /// The trailer section is malformed.
    InvalidTrailers,
    /// The connection closed in the middle of a request.
    IncompleteRequest,
    /// The request head did not arrive within the header read timeout.
    HeaderTimeout,
    /// The request body stalled longer than the body idle timeout.
    BodyTimeout,
}

impl ErrorKind {
    /// The status code that answers this error when no response has started yet.
    pub fn status(self) -> StatusCode {
        use ErrorKind as K;
        match self {
            K::UnsupportedVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            K::TargetTooLong => StatusCode::URI_TOO_LONG,
            K::HeadTooLarge | K::TooManyHeaders | K::TrailersTooLarge => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            K::UnsupportedTransferEncoding => StatusCode::NOT_IMPLEMENTED,
            K::HeaderTimeout | K::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn describe(self) -> &'static str {
        use ErrorKind as K;
        match self {
            K::BadRequestLine => "malformed request line",
            K::UnsupportedVersion => "unsupported HTTP version",
            K::TargetTooLong => "request target too long",
            K::HeadTooLarge => "request head too large",
            K::TooManyHeaders => "too many header fields",
            K::InvalidHeader => "invalid header field",
            K::BareLineFeed => "line ended in a bare LF instead of CRLF",
            K::InvalidTarget => "invalid request target",
            K::InvalidHost => "missing or duplicated Host header",
            K::ConflictingFraming => "both Content-Length and Transfer-Encoding",
            K::InvalidContentLength => "invalid Content-Length",
            K::InvalidTransferEncoding => "invalid Transfer-Encoding",
            K::UnsupportedTransferEncoding => "unsupported transfer coding",
            K::InvalidChunk => "malformed chunked body",
            K::ChunkExtensionsTooLarge => "chunk extensions too large",
            K::TrailersTooLarge => "trailer section too large",
            K::InvalidTrailers => "invalid trailer section",
            K::IncompleteRequest => "connection closed before the request was complete",
            K::HeaderTimeout => "request head not received in time",
            K::BodyTimeout => "request body stalled",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The client broke the protocol or a limit.
///
/// The connection has already queued its answer: when [`response`](Self::response)
/// is `Some`, an error response with `Connection: close` is waiting in
/// `poll_transmit`. Either way the connection reads no more requests; the caller
/// flushes what is queued, tells the application about any request in progress,
/// and closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolError {
    kind: ErrorKind,
    response: Option<StatusCode>,
}

impl ProtocolError {
    pub(crate) fn new(kind: ErrorKind, response: Option<StatusCode>) -> Self {
        Self { kind, response }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The status of the error response queued for the client, or `None` when a
    /// response had already started (or the client is gone) and the connection
    /// will simply be closed.
    pub fn response(&self) -> Option<StatusCode> {
        self.response
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.response {
            Some(status) => write!(f, "{} (answered {})", self.kind, status.as_u16()),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// A command from the application was refused; the connection is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The command is not allowed in the server's current state (for example
    /// body data before the response head, or a second response).
    WrongState(State),
    /// A header name is not a token, or a value contains CR, LF or NUL.
    InvalidHeader,
    /// The status code cannot be sent this way (1xx through `send_response`, 101
    /// without an upgrade proposal, a final status through `send_informational`).
    InvalidStatus(StatusCode),
    /// The response declared a `Content-Length` that is not a valid number, or a
    /// `Transfer-Encoding` other than `chunked`.
    InvalidFraming,
    /// More body data than the declared `Content-Length`.
    BodyTooLong,
    /// The response ended before its declared `Content-Length` was sent; the caller
    /// must close the connection (the client cannot frame what follows).
    BodyTooShort {
        /// Bytes still owed.
        missing: u64,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongState(state) => write!(f, "not allowed while the server is in {state:?}"),
            Self::InvalidHeader => f.write_str("invalid response header field"),
            Self::InvalidStatus(status) => write!(f, "status {status} cannot be sent here"),
            Self::InvalidFraming => f.write_str("invalid Content-Length or Transfer-Encoding"),
            Self::BodyTooLong => f.write_str("body longer than its Content-Length"),
            Self::BodyTooShort { missing } => {
                write!(f, "body ended {missing} bytes short of its Content-Length")
            }
        }
    }
}

impl std::error::Error for SendError {}
