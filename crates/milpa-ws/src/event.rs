//! What the machine reports ([`Event`], [`State`]) and how a command can fail ([`SendError`]).

use std::fmt;

use bytes::Bytes;

/// Something the peer did, returned by [`Connection::poll_event`](crate::Connection::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A whole text message, reassembled from its fragments and inflated; valid UTF-8.
    Text(String),
    /// A whole binary message, reassembled from its fragments and inflated.
    Binary(Bytes),
    /// A Ping. If [`Config::auto_pong`](crate::Config::auto_pong) is set the Pong
    /// is already queued: just call `poll_transmit`.
    Ping(Bytes),
    /// A Pong (solicited or not). Nothing to do.
    Pong(Bytes),
    /// The peer's Close frame. If we had not sent a Close, the echo (same code,
    /// empty reason; an empty body for an empty body) is already queued: flush
    /// it, then close the transport ([`Connection::is_closed`](crate::Connection::is_closed)
    /// turns true once it is handed out). Nothing more will be read.
    Close {
        /// The close code, `None` for an empty Close body (1005 for the application).
        code: Option<u16>,
        /// The close reason; empty when absent.
        reason: String,
    },
    /// The peer broke a rule or a limit. A Close with `code` (1002 protocol error,
    /// 1007 invalid payload data, 1009 message too big) is queued unless we had
    /// already sent one. Nothing more will be read: flush, then close the transport.
    Error {
        /// The close code sent to the peer.
        code: u16,
        /// What went wrong, for logs (also the reason sent in the Close frame).
        reason: String,
    },
    /// The transport ended without a completed close handshake (1006 for the
    /// application). Close the transport.
    Eof,
}

/// Where the connection is in its lifecycle, from [`Connection::state`](crate::Connection::state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// The close handshake has started.
    Closing {
        /// We queued a Close frame (ours, an echo, or an error close).
        we_sent_close: bool,
        /// The peer's Close frame arrived.
        peer_sent_close: bool,
    },
    /// Nothing more will be sent or read: flush what `poll_transmit` returned and
    /// close the transport.
    Closed,
}

/// A command that was refused. The connection's state did not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// We already queued a Close frame (or the connection failed or ended):
    /// nothing more may be sent.
    Closed,
    /// The close code may not be sent: only 1000–1003, 1007–1014 and 3000–4999.
    InvalidCloseCode,
    /// A close reason longer than 123 bytes.
    ReasonTooLong,
    /// A close reason without a close code.
    ReasonWithoutCode,
    /// A Ping or Pong payload longer than 125 bytes.
    PayloadTooLong,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Closed => "the connection is closing or closed",
            Self::InvalidCloseCode => "close code may not be sent",
            Self::ReasonTooLong => "close reason longer than 123 bytes",
            Self::ReasonWithoutCode => "close reason without a close code",
            Self::PayloadTooLong => "control frame payload longer than 125 bytes",
        })
    }
}

impl std::error::Error for SendError {}
