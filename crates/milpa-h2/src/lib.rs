//! Sans-IO HTTP/2 (RFC 9113) for milpa, server role.
//!
//! Two layers:
//!
//! - [`frame`]: one frame's bytes to a typed [`Frame`](frame::Frame) and back, with the
//!   rules that need nothing but the frame itself.
//! - [`Connection`]: the server side of a connection as a state machine: client preface,
//!   SETTINGS exchange, stream states (RFC 9113 §5.1), header blocks over CONTINUATION with
//!   HPACK ([`milpa_hpack`]), request validation, flow control both ways, scheduling by
//!   RFC 9218 priority, trailers, server push, extended CONNECT (RFC 8441), graceful
//!   shutdown, keep-alive, and the limits against the known HTTP/2 attacks (rapid reset,
//!   CONTINUATION and PING/SETTINGS floods, "MadeYouReset", HPACK bombs…), each a field of
//!   [`Config`].
//!
//! The calling convention is the one of milpa's other protocol crates:
//!
//! - input: [`Connection::receive`], [`Connection::receive_eof`],
//!   [`Connection::handle_timeout`];
//! - commands: [`Connection::send_response`], [`Connection::send_data`],
//!   [`Connection::send_trailers`], [`Connection::send_informational`],
//!   [`Connection::push_promise`], [`Connection::reset`], [`Connection::release_capacity`],
//!   [`Connection::stop_receiving`], [`Connection::start_shutdown`] — a misuse is an `Err`
//!   and changes nothing;
//! - output: [`Connection::poll_event`], [`Connection::poll_transmit`],
//!   [`Connection::poll_timeout`], [`Connection::wants_read`], [`Connection::is_finished`].
//!
//! A client's error never panics and never loses the connection state: the answer
//! (RST_STREAM, a 431 response, or GOAWAY with the right code) is queued and reported as an
//! [`Event`].
//!
//! ```
//! use std::time::Instant;
//! use bytes::{Bytes, BytesMut};
//! use http::StatusCode;
//! use milpa_h2::frame::{CONNECTION_PREFACE, HeadersFrame, SettingsFrame, StreamId};
//! use milpa_h2::{Config, Connection, Event};
//! use milpa_hpack::{Encoder, HeaderField};
//!
//! // What a client sends: the preface, its SETTINGS, and a GET on stream 1.
//! let mut wire = BytesMut::from(&CONNECTION_PREFACE[..]);
//! SettingsFrame::default().encode(&mut wire);
//! let mut block = BytesMut::new();
//! let request = [(":method", "GET"), (":scheme", "https"), (":path", "/"), (":authority", "example.com")];
//! let fields: Vec<HeaderField> = request.iter().map(|(n, v)| HeaderField::new(*n, *v)).collect();
//! Encoder::new().encode(&fields, &mut block);
//! let mut get = HeadersFrame::new(StreamId::new(1), block.freeze());
//! get.end_stream = true;
//! get.encode(&mut wire);
//!
//! let now = Instant::now();
//! let mut conn = Connection::new(Config::default(), now);
//! conn.receive(now, &wire);
//! let Some(Event::Request { stream, request, end_stream: true }) = conn.poll_event() else {
//!     panic!("expected a request")
//! };
//! assert_eq!(request.path(), Some(&b"/"[..]));
//!
//! conn.send_response(stream, StatusCode::OK, [("content-type", "text/plain")], false)?;
//! conn.send_data(stream, Bytes::from_static(b"hello"), true)?;
//! let mut out = Vec::new();
//! while let Some(bytes) = conn.poll_transmit(now) {
//!     out.extend_from_slice(&bytes); // SETTINGS, WINDOW_UPDATE, SETTINGS ACK, HEADERS, DATA
//! }
//! assert!(out.ends_with(b"hello"));
//! # Ok::<(), milpa_h2::SendError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod commands;
mod config;
mod connection;
mod error;
mod event;
mod flow;
pub mod frame;
mod head_memo;
mod headers;
mod output;
mod priority;
mod recv;
mod send;
pub mod sniff;
mod stream;

pub use config::Config;
pub use connection::{Connection, OUTPUT_HIGH_WATER};
pub use error::{ErrorKind, Malformed, ProtocolError, SendError};
pub use event::{Event, Request};
pub use milpa_hpack::HeaderField;
pub use priority::Priority;
