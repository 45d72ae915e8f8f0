//! The connection's limits and timeouts, with safe defaults.

use std::time::Duration;

/// Limits and timeouts of one HTTP/1.1 connection.
///
/// Every field has a documented, safe default (see [`Config::default`]); nothing
/// the peer sends is buffered or waited for without one of these bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest request head (request line and header fields) accepted: 16 KiB.
    /// Past it the answer is 431, or 414 when the request line alone does not fit.
    pub max_head_size: usize,
    /// Most header fields in one request head: 100. Past it the answer is 431.
    pub max_headers: usize,
    /// Most bytes of chunk extensions accepted over one chunked body: 16 KiB → 400.
    pub max_chunk_extensions_size: usize,
    /// Largest trailer section of a chunked body: 16 KiB → 431.
    pub max_trailers_size: usize,
    /// How long a client may take to send a complete request head, counted from its
    /// first byte (slowloris): 30 s → 408 and close.
    pub header_read_timeout: Option<Duration>,
    /// How long a request body may stall while the connection waits for the client: 60 s.
    pub body_idle_timeout: Option<Duration>,
    /// How long an idle keep-alive connection waits for the next request: 5 s.
    pub keep_alive_timeout: Option<Duration>,
    /// Requests served on one connection before it is closed: 1000.
    pub max_requests_per_connection: Option<u32>,
    /// Unread request body the server discards after it answered early, to keep the
    /// connection reusable: 256 KiB. A longer remainder closes the connection instead.
    pub max_discarded_body: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_head_size: 16 * 1024,
            max_headers: 100,
            max_chunk_extensions_size: 16 * 1024,
            max_trailers_size: 16 * 1024,
            header_read_timeout: Some(Duration::from_secs(30)),
            body_idle_timeout: Some(Duration::from_secs(60)),
            keep_alive_timeout: Some(Duration::from_secs(5)),
            max_requests_per_connection: Some(1000),
            max_discarded_body: 256 * 1024,
        }
    }
}
