//! HPACK, header compression for HTTP/2 (RFC 7541): pure, sans-IO, with bounded memory.
//!
//! - [`Decoder`] turns complete header blocks into [`HeaderField`]s, enforcing the maximum
//!   header list size *while* decoding (RFC 9113 semantics): a list over the limit decodes to
//!   [`DecodeOutcome::HeaderListTooLarge`] (refuse the stream with 431, keep the connection;
//!   the dynamic table stays in sync), a list over 4× the limit or any malformed block is a
//!   [`DecodeError`] (close the connection with [`DecodeError::http2_error_code`]).
//! - [`Encoder`] writes header blocks, Huffman-coding strings when shorter, indexing repeated
//!   fields, keeping credentials out of the table (never-indexed literals) and capping its
//!   table at 4 KiB. Its indexing policy is described on [`Encoder`].
//!
//! One decoder and one encoder per connection; each sees every block of its direction, in
//! order. The HTTP/2 layer owns the framing (HEADERS + CONTINUATION assembly), SETTINGS,
//! and the validation of the decoded fields.
//!
//! | HTTP/2 event | call |
//! |---|---|
//! | a complete header block arrived | [`Decoder::decode`] / [`Decoder::decode_with`] |
//! | our SETTINGS_HEADER_TABLE_SIZE was acknowledged | [`Decoder::set_max_table_size`] |
//! | our SETTINGS_MAX_HEADER_LIST_SIZE changed | [`Decoder::set_max_header_list_size`] |
//! | the peer's SETTINGS_HEADER_TABLE_SIZE arrived | [`Encoder::set_max_table_size`] |
//! | we send HEADERS or PUSH_PROMISE | [`Encoder::encode`] / [`Encoder::block`] |
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use milpa_hpack::{DecodeOutcome, Decoder, Encoder, HeaderField};
//!
//! # fn main() -> Result<(), milpa_hpack::DecodeError> {
//! let mut encoder = Encoder::new();
//! let mut decoder = Decoder::new();
//! let response = [
//!     HeaderField::new(":status", "200"),
//!     HeaderField::new("content-type", "application/json"),
//!     HeaderField::new("server", "milpa"),
//!     HeaderField::sensitive("set-cookie", "session=0123456789abcdef"),
//! ];
//!
//! let mut wire = BytesMut::new();
//! encoder.encode(&response, &mut wire);
//! let block = wire.split().freeze();
//!
//! let mut fields = Vec::new();
//! match decoder.decode(&block, &mut fields)? {
//!     DecodeOutcome::Complete { size } => assert_eq!(size, 211),
//!     other => panic!("refuse the stream with 431: {other:?}"),
//! }
//! assert_eq!(fields, response); // the never-indexed flag survives
//!
//! // The second time, the non-sensitive fields come from the dynamic table: 1 byte each.
//! encoder.encode(&response[..3], &mut wire);
//! assert_eq!(wire.len(), 3);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod decoder;
mod encoder;
mod error;
mod field;
mod huffman;
mod integer;
mod table;

pub use decoder::{DEFAULT_MAX_HEADER_LIST_SIZE, DEFAULT_TABLE_SIZE, DecodeOutcome, Decoder};
pub use encoder::{BlockEncoder, Encoder, MAX_ENCODER_TABLE_SIZE};
pub use error::DecodeError;
pub use field::HeaderField;
