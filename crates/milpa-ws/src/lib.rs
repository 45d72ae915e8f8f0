//! # milpa-ws
//!
//! A sans-IO WebSocket protocol machine (RFC 6455), with permessage-deflate
//! (RFC 7692), for both roles. No IO, no async, no clock: the caller reads and
//! writes the transport and feeds the machine.
//!
//! The calling convention is the same as milpa's other protocol crates:
//!
//! - input: [`Connection::receive`], [`Connection::receive_eof`];
//! - commands: [`Connection::send_text`], [`Connection::send_binary`],
//!   [`Connection::send_ping`], [`Connection::send_pong`], [`Connection::close`]
//!   — a misuse is an `Err` and changes nothing;
//! - output: [`Connection::poll_event`], [`Connection::poll_transmit`].
//!
//! The opening handshake (HTTP/1.1 Upgrade or HTTP/2 extended CONNECT) is checked
//! and answered by the functions of [`handshake`].
//!
//! ```
//! use milpa_ws::{Config, Connection, Event, Role};
//!
//! let mut server = Connection::new(Role::Server, Config::default(), None);
//! let mut client = Connection::new(Role::Client, Config::default(), None);
//!
//! client.send_text("hello")?;
//! let mut wire = Vec::new();
//! client.poll_transmit(&mut wire);
//! for bytes in &wire {
//!     server.receive(bytes);
//! }
//! assert_eq!(server.poll_event(), Some(Event::Text("hello".into())));
//!
//! server.close(Some(1000), "bye")?;
//! let mut wire = Vec::new();
//! server.poll_transmit(&mut wire);
//! for bytes in &wire {
//!     client.receive(bytes);
//! }
//! assert_eq!(client.poll_event(), Some(Event::Close { code: Some(1000), reason: "bye".into() }));
//! // The client's echo is queued already.
//! let mut wire = Vec::new();
//! client.poll_transmit(&mut wire);
//! for bytes in &wire {
//!     server.receive(bytes);
//! }
//! assert!(matches!(server.poll_event(), Some(Event::Close { code: Some(1000), .. })));
//! assert!(server.is_closed());
//! # Ok::<(), milpa_ws::SendError>(())
//! ```
//!
//! ## Strictness
//!
//! Every MUST of RFC 6455 §5 is enforced on receipt: masking by role, reserved
//! bits and opcodes, control frame size and fragmentation, fragment sequencing,
//! close codes, and UTF-8 of text messages and close reasons, validated
//! incrementally so an invalid text message fails before it ends. Non-minimal
//! length encodings are accepted.

#![forbid(unsafe_code)]

mod base64;
pub mod close;
mod config;
mod connection;
mod deflate;
mod event;
mod frame;
pub mod handshake;
mod mask;
mod utf8;

pub use config::{Config, DeflateConfig, Role};
pub use connection::{Connection, MAX_PENDING_PONGS};
pub use event::{Event, SendError, State};
