//! # milpa-h1
//!
//! A sans-IO HTTP/1.1 server: a state machine that takes the bytes a socket
//! read and hands back events, and takes the application's responses and hands
//! back the bytes to write. No IO, no async, no clock: time is passed in.
//!
//! The calling convention is the same as milpa's other protocol crates:
//!
//! - input: [`Connection::receive`], [`Connection::receive_eof`],
//!   [`Connection::handle_timeout`];
//! - commands: [`Connection::send_response`], [`Connection::send_data`],
//!   [`Connection::send_end`], [`Connection::send_informational`],
//!   [`Connection::want_body`], [`Connection::start_shutdown`] — a misuse is an
//!   `Err` and changes nothing;
//! - output: [`Connection::poll_event`], [`Connection::poll_transmit`],
//!   [`Connection::poll_timeout`].
//!
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use http::StatusCode;
//! use milpa_h1::{Config, Connection, Event};
//!
//! let now = Instant::now();
//! let mut conn = Connection::new(Config::default(), now);
//! conn.receive(now, b"POST /echo HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello");
//!
//! let mut body = Vec::new();
//! while let Some(event) = conn.poll_event() {
//!     match event {
//!         Event::Request(request) => assert_eq!(request.path(), b"/echo"),
//!         Event::Data(data) => body.extend_from_slice(&data),
//!         Event::EndOfMessage { .. } => break,
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//!
//! conn.send_response(StatusCode::OK, [("content-type", "text/plain")], Some(body.len() as u64))?;
//! conn.send_data(Bytes::from(body))?;
//! conn.send_end(None::<(&str, &str)>)?;
//!
//! let mut wire = Vec::new();
//! while let Some(bytes) = conn.poll_transmit(now) {
//!     wire.extend_from_slice(&bytes);
//! }
//! assert_eq!(
//!     wire,
//!     b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nhello"
//! );
//! # Ok::<(), milpa_h1::SendError>(())
//! ```
//!
//! ## Strictness
//!
//! Every line must end in CRLF: a bare LF anywhere in a head, a chunk-size line or
//! a trailer section is a 400. Leading empty lines before a request line are
//! skipped. Anything that could frame a body two ways (`Content-Length` with
//! `Transfer-Encoding`, disagreeing lengths, a coding list not ending in `chunked`)
//! is refused with `Connection: close`, and nothing after it is parsed.

#![forbid(unsafe_code)]

mod chunked;
mod config;
mod connection;
mod error;
mod framing;
mod head;
mod output;
mod rewind;
mod scan;
mod state;
mod writer;

pub use config::Config;
pub use connection::{Connection, Event};
pub use error::{ErrorKind, ProtocolError, SendError};
pub use head::{BodyLength, HeaderField, Headers, Request};
pub use state::State;
pub use writer::FieldBlock;
