//! Frame decoding errors, each classified as a connection or a stream error (RFC 9113 §5.4).

use core::fmt;

use super::{Reason, StreamId};

/// A frame broke a rule of RFC 9113 (or RFC 9218) that the frame layer checks.
///
/// What the caller must do depends on [`FrameError::scope`]:
///
/// - [`ErrorScope::Connection`]: send GOAWAY with [`FrameError::reason`] and the last stream
///   id processed, then close the connection after flushing it (RFC 9113 §5.4.1). No later
///   frame can be trusted to be framed correctly.
/// - [`ErrorScope::Stream`]: send RST_STREAM with [`FrameError::reason`] on that stream and
///   keep reading the connection (RFC 9113 §5.4.2). The frame's payload has been consumed;
///   framing is intact. A connection may still choose to escalate it to a connection error.
///
/// [`FrameError::kind`] says which rule was broken, for logs and for the few cases where the
/// connection's state changes the answer (see [`ErrorKind::ZeroWindowIncrement`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameError {
    scope: ErrorScope,
    reason: Reason,
    kind: ErrorKind,
}

/// Whether a [`FrameError`] ends the whole connection or only one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorScope {
    /// Answer with GOAWAY and close the connection.
    Connection,
    /// Answer with RST_STREAM on this stream; the connection goes on.
    Stream(StreamId),
}

/// Which rule a frame broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The frame is longer than the SETTINGS_MAX_FRAME_SIZE we advertised (RFC 9113 §4.2).
    /// Do not buffer its payload: the connection is closed with FRAME_SIZE_ERROR.
    TooLarge {
        /// The frame's length field.
        length: u32,
        /// The maximum frame size the caller passed.
        max: u32,
    },
    /// The payload length is wrong for the frame type: a fixed-size frame (PRIORITY,
    /// RST_STREAM, PING, WINDOW_UPDATE) of another size, a SETTINGS payload that is not a
    /// multiple of 6, or a frame too short for its mandatory fields.
    InvalidLength {
        /// The frame's payload length.
        length: u32,
    },
    /// A SETTINGS frame with the ACK flag carried a payload (RFC 9113 §6.5).
    SettingsAckWithPayload,
    /// A frame that belongs to a stream (DATA, HEADERS, PRIORITY, RST_STREAM, PUSH_PROMISE,
    /// CONTINUATION) was sent on stream 0.
    StreamIdZero,
    /// A connection-level frame (SETTINGS, PING, GOAWAY, PRIORITY_UPDATE) was sent on a
    /// non-zero stream.
    StreamIdNotZero,
    /// The pad length leaves no room for the frame's content (RFC 9113 §6.1, §6.2, §6.6).
    TooMuchPadding {
        /// The pad length octet.
        pad_len: u8,
    },
    /// A known SETTINGS parameter has a value out of its range (RFC 9113 §6.5.2, RFC 8441 §3,
    /// RFC 9218 §2.1).
    InvalidSetting {
        /// The setting identifier.
        id: u16,
        /// The value received.
        value: u32,
    },
    /// A WINDOW_UPDATE carried an increment of 0 (RFC 9113 §6.9). The scope is set as the RFC
    /// says (a stream error on a stream, a connection error on stream 0); a connection that
    /// knows the stream is closed may instead ignore the frame.
    ZeroWindowIncrement,
    /// A PRIORITY frame made a stream depend on itself (RFC 9113 §5.3.1).
    SelfDependency,
    /// A PRIORITY_UPDATE frame named stream 0 as the stream to reprioritize (RFC 9218 §7.1).
    PrioritizedStreamZero,
}

impl FrameError {
    /// A connection error.
    pub(crate) const fn connection(reason: Reason, kind: ErrorKind) -> FrameError {
        FrameError { scope: ErrorScope::Connection, reason, kind }
    }

    /// A stream error on `stream_id`.
    pub(crate) const fn stream(stream_id: StreamId, reason: Reason, kind: ErrorKind) -> FrameError {
        FrameError { scope: ErrorScope::Stream(stream_id), reason, kind }
    }

    /// A connection error FRAME_SIZE_ERROR for a payload of the wrong length.
    pub(crate) const fn invalid_length(length: usize) -> FrameError {
        // A payload never exceeds 2^24-1 bytes, so the cast cannot truncate.
        FrameError::connection(Reason::FRAME_SIZE_ERROR, ErrorKind::InvalidLength { length: length as u32 })
    }

    /// Whether to answer with GOAWAY (connection) or RST_STREAM (stream).
    #[must_use]
    pub const fn scope(&self) -> ErrorScope {
        self.scope
    }

    /// The error code to put in the GOAWAY or RST_STREAM frame.
    #[must_use]
    pub const fn reason(&self) -> Reason {
        self.reason
    }

    /// The rule that was broken.
    #[must_use]
    pub const fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// `true` if the connection must be closed with GOAWAY.
    #[must_use]
    pub const fn is_connection_error(&self) -> bool {
        matches!(self.scope, ErrorScope::Connection)
    }

    /// The stream to reset, for a stream error; `None` for a connection error.
    #[must_use]
    pub const fn stream_id(&self) -> Option<StreamId> {
        match self.scope {
            ErrorScope::Stream(id) => Some(id),
            ErrorScope::Connection => None,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::TooLarge { length, max } => {
                write!(f, "frame of {length} bytes exceeds the maximum frame size {max}")
            }
            ErrorKind::InvalidLength { length } => write!(f, "invalid payload length {length}"),
            ErrorKind::SettingsAckWithPayload => f.write_str("SETTINGS ACK with a payload"),
            ErrorKind::StreamIdZero => f.write_str("stream frame on stream 0"),
            ErrorKind::StreamIdNotZero => f.write_str("connection frame on a non-zero stream"),
            ErrorKind::TooMuchPadding { pad_len } => {
                write!(f, "pad length {pad_len} leaves no room for the frame's content")
            }
            ErrorKind::InvalidSetting { id, value } => write!(f, "invalid value {value} for setting {id:#x}"),
            ErrorKind::ZeroWindowIncrement => f.write_str("WINDOW_UPDATE increment of 0"),
            ErrorKind::SelfDependency => f.write_str("stream depends on itself"),
            ErrorKind::PrioritizedStreamZero => f.write_str("PRIORITY_UPDATE for stream 0"),
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scope {
            ErrorScope::Connection => write!(f, "connection error {}: {}", self.reason, self.kind),
            ErrorScope::Stream(id) => write!(f, "stream {id} error {}: {}", self.reason, self.kind),
        }
    }
}

impl std::error::Error for FrameError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_and_display() {
        let conn = FrameError::invalid_length(7);
        assert!(conn.is_connection_error());
        assert_eq!(conn.stream_id(), None);
        assert_eq!(conn.reason(), Reason::FRAME_SIZE_ERROR);
        assert_eq!(conn.to_string(), "connection error FRAME_SIZE_ERROR: invalid payload length 7");

        let stream = FrameError::stream(StreamId::new(3), Reason::PROTOCOL_ERROR, ErrorKind::SelfDependency);
        assert!(!stream.is_connection_error());
        assert_eq!(stream.scope(), ErrorScope::Stream(StreamId::new(3)));
        assert_eq!(stream.stream_id(), Some(StreamId::new(3)));
        assert_eq!(stream.kind(), ErrorKind::SelfDependency);
        assert_eq!(stream.to_string(), "stream 3 error PROTOCOL_ERROR: stream depends on itself");
    }
}
