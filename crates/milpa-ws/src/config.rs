//! The connection's role, limits and negotiated compression parameters.

/// Which end of the connection this machine plays.
///
/// The role decides the masking rules of RFC 6455 §5.3: a client masks every
/// frame it sends and refuses masked frames; a server never masks and refuses
/// unmasked frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// The accepting end (the HTTP server).
    Server,
    /// The connecting end.
    Client,
}

/// Limits of one WebSocket connection.
///
/// Every field has a documented, safe default (see [`Config::default`]).
/// Nothing the peer sends is buffered beyond these bounds: the input buffer holds
/// at most one frame header and one control frame (≤ 139 bytes), and the message
/// being reassembled is at most `max_message_size` bytes (after inflation).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest message accepted, summed over its fragments and, for a compressed
    /// message, counted after inflation: 16 MiB. A bigger message fails the
    /// connection with close code 1009 as soon as the limit is crossed.
    pub max_message_size: usize,
    /// Largest payload length a single frame header may announce: 16 MiB.
    /// A bigger one fails the connection with close code 1009.
    pub max_frame_size: usize,
    /// When `true` (the default), a received Ping queues the matching Pong by
    /// itself; [`Event::Ping`](crate::Event::Ping) is still reported.
    pub auto_pong: bool,
    /// Messages shorter than this many bytes are sent uncompressed even when
    /// permessage-deflate was negotiated (deflate only grows them): 64.
    pub compress_min_size: usize,
    /// DEFLATE level 0–9 used for outgoing messages: 1 (fastest).
    pub compression_level: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_message_size: 16 * 1024 * 1024,
            max_frame_size: 16 * 1024 * 1024,
            auto_pong: true,
            compress_min_size: 64,
            compression_level: 1,
        }
    }
}

/// Negotiated permessage-deflate parameters (RFC 7692 §7.1).
///
/// Fields are named as in the RFC, that is from the point of view of the
/// server: `server_*` describe what the server's compressor does, `client_*`
/// what the client's compressor does. Both roles take the same value; a
/// [`Connection`](crate::Connection) picks the right side for its [`Role`].
///
/// Obtain one from [`Offer::accept`](crate::handshake::Offer::accept) (server)
/// or [`ClientHandshake::verify_response`](crate::handshake::ClientHandshake::verify_response)
/// (client) and pass it to [`Connection::new`](crate::Connection::new).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message.
    pub client_no_context_takeover: bool,
    /// Largest LZ77 window (log2, 8–15) the server's compressor may use.
    pub server_max_window_bits: u8,
    /// Largest LZ77 window (log2, 8–15) the client's compressor may use.
    pub client_max_window_bits: u8,
}

impl Default for DeflateConfig {
    /// Context takeover on both sides, 32 KiB windows: the plain
    /// `permessage-deflate` agreement.
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}
