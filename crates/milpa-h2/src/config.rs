//! The connection's limits, windows and timers, with safe defaults (DESIGN.md's table).

use std::time::Duration;

use crate::frame::{DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE, MAX_WINDOW_SIZE, MIN_MAX_FRAME_SIZE};

/// Settings and security limits of one server-side HTTP/2 connection.
///
/// Every field has a documented, safe default (see [`Config::default`]): nothing the peer
/// sends is buffered, counted or waited for without one of these bounds. Build one with
/// `Config::default()` and change the fields you need; values out of the protocol's ranges
/// are clamped when the connection is created.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// SETTINGS_MAX_CONCURRENT_STREAMS we announce: 100. A request past it is refused with
    /// RST_STREAM(REFUSED_STREAM). It also caps the streams we push when the client sets no
    /// lower limit of its own.
    pub max_concurrent_streams: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE we announce and enforce (name + value + 32 per field):
    /// 16 KiB. A request over it is answered with 431; a header block over 4× it closes the
    /// connection with GOAWAY(ENHANCE_YOUR_CALM).
    pub max_header_list_size: u32,
    /// Receive window of each stream, announced as SETTINGS_INITIAL_WINDOW_SIZE: 1 MiB.
    pub initial_stream_window_size: u32,
    /// Receive window of the whole connection, opened with a WINDOW_UPDATE after our
    /// SETTINGS: 1 MiB.
    pub initial_connection_window_size: u32,
    /// SETTINGS_MAX_FRAME_SIZE we announce: the largest frame payload we accept, 16 KiB (the
    /// protocol's default, so it is not sent).
    pub max_frame_size: u32,
    /// SETTINGS_HEADER_TABLE_SIZE we announce: the HPACK table the client may use to compress
    /// requests, 4 KiB (the protocol's default, so it is not sent).
    pub header_table_size: u32,
    /// Response body bytes queued per stream and not yet written: 400 KiB. While a stream's
    /// queue holds this much, [`Connection::send_data`](crate::Connection::send_data) refuses
    /// more with [`SendError::BufferFull`](crate::SendError::BufferFull), and the stream is
    /// reported [`Event::Writable`](crate::Event::Writable) once it drains below.
    pub max_send_buffer_size: usize,
    /// Streams reset by the client before the application polled their request (rapid
    /// reset, CVE-2023-44487): 20. One more closes the connection with
    /// GOAWAY(ENHANCE_YOUR_CALM).
    pub max_pending_accept_reset_streams: usize,
    /// RST_STREAM frames the server sends because the client broke a rule on a stream
    /// (malformed requests, flow-control errors, frames on closed streams: the "MadeYouReset"
    /// family), over the connection's life: 1024. One more closes the connection with
    /// GOAWAY(ENHANCE_YOUR_CALM).
    pub max_local_error_reset_streams: usize,
    /// Consecutive DATA frames without payload and without END_STREAM: 100. One more closes
    /// the connection with GOAWAY(ENHANCE_YOUR_CALM). A non-empty DATA frame restarts the
    /// count.
    pub max_empty_data_frames: u32,
    /// CONTINUATION frames allowed after one HEADERS frame (empty ones count too). `None`,
    /// the default, computes `max(5, ceil(max_header_list_size / max_frame_size) × 1.25)`.
    /// One more closes the connection with GOAWAY(ENHANCE_YOUR_CALM).
    pub max_continuation_frames: Option<usize>,
    /// How long the client has to acknowledge our SETTINGS, counted from when they were
    /// handed to the caller to write: 10 s. Past it the connection closes with
    /// GOAWAY(SETTINGS_TIMEOUT).
    pub settings_ack_timeout: Duration,
    /// How long a header block may take from its HEADERS frame to its last
    /// CONTINUATION: 30 s. Nothing else can be read meanwhile (RFC 9113 §6.10), so
    /// past it the connection closes with GOAWAY(NO_ERROR).
    pub header_block_timeout: Duration,
    /// Send a PING after this long without receiving anything: off (`None`) by default.
    pub keep_alive_interval: Option<Duration>,
    /// How long a PING we sent (keep-alive or graceful shutdown) may wait for its
    /// acknowledgment: 20 s. For keep-alive the connection then closes; for a graceful
    /// shutdown the final GOAWAY is sent anyway.
    pub ping_timeout: Duration,
    /// Requests served on one connection: 1000. The request that reaches it starts a graceful
    /// shutdown, as [`Connection::start_shutdown`](crate::Connection::start_shutdown) does.
    pub max_requests_per_connection: Option<u32>,
    /// Whether the server may push (when the client allows it too): `true`.
    pub enable_push: bool,
    /// Whether extended CONNECT (RFC 8441, WebSockets over HTTP/2) is announced with
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL and accepted: `false`. Requests with `:protocol`
    /// are malformed while it is off.
    pub enable_connect_protocol: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_concurrent_streams: 100,
            max_header_list_size: 16 * 1024,
            initial_stream_window_size: 1024 * 1024,
            initial_connection_window_size: 1024 * 1024,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            header_table_size: 4096,
            max_send_buffer_size: 400 * 1024,
            max_pending_accept_reset_streams: 20,
            max_local_error_reset_streams: 1024,
            max_empty_data_frames: 100,
            max_continuation_frames: None,
            settings_ack_timeout: Duration::from_secs(10),
            header_block_timeout: Duration::from_secs(30),
            keep_alive_interval: None,
            ping_timeout: Duration::from_secs(20),
            max_requests_per_connection: Some(1000),
            enable_push: true,
            enable_connect_protocol: false,
        }
    }
}

impl Config {
    /// Brings every field into the range the protocol allows.
    pub(crate) fn clamped(mut self) -> Self {
        self.max_frame_size = self.max_frame_size.clamp(MIN_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE);
        self.initial_stream_window_size = self.initial_stream_window_size.min(MAX_WINDOW_SIZE);
        self.initial_connection_window_size =
            self.initial_connection_window_size.clamp(crate::flow::DEFAULT_WINDOW, MAX_WINDOW_SIZE);
        self.max_send_buffer_size = self.max_send_buffer_size.max(1);
        self
    }

    /// The CONTINUATION frames allowed per header block.
    pub(crate) fn continuation_cap(&self) -> usize {
        if let Some(cap) = self.max_continuation_frames {
            return cap;
        }
        let frames = self.max_header_list_size.div_ceil(self.max_frame_size.max(1)) as usize;
        // × 1.25, rounded up.
        (frames * 5).div_ceil(4).max(5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_cap_follows_the_design_formula() {
        let config = Config::default();
        assert_eq!(config.continuation_cap(), 5);
        let big = Config { max_header_list_size: 160 * 1024, ..Config::default() };
        assert_eq!(big.continuation_cap(), 13);
        let fixed = Config { max_continuation_frames: Some(2), ..Config::default() };
        assert_eq!(fixed.continuation_cap(), 2);
    }

    #[test]
    fn clamped_keeps_values_legal() {
        let config =
            Config { max_frame_size: 1, initial_stream_window_size: u32::MAX, ..Config::default() }.clamped();
        assert_eq!(config.max_frame_size, MIN_MAX_FRAME_SIZE);
        assert_eq!(config.initial_stream_window_size, MAX_WINDOW_SIZE);
    }
}
