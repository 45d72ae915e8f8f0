//! Sans-IO HTTP/2 (RFC 9113) for milpa.
//!
//! For now this crate holds only the **frame layer**, [`frame`]: it turns the bytes of one
//! frame into a typed [`Frame`](frame::Frame) and back, and enforces the rules that need
//! nothing but the frame itself (lengths, padding, which frames may or must use stream 0,
//! SETTINGS values). It keeps no state between frames: the connection state machine (stream
//! states, CONTINUATION sequencing, flow control, HPACK) is built on top of it.
//!
//! Reading, in the order a connection does it:
//!
//! 1. check the 24-byte [client preface](frame::CONNECTION_PREFACE);
//! 2. read 9 bytes and [`decode_header`](frame::decode_header) them;
//! 3. [`FrameHeader::validate`](frame::FrameHeader::validate) the header against the
//!    SETTINGS_MAX_FRAME_SIZE we advertised, *before* buffering the payload;
//! 4. once `length` payload bytes are buffered, [`Frame::decode`](frame::Frame::decode)
//!    them; on a [`FrameError`](frame::FrameError) answer with GOAWAY or RST_STREAM as it
//!    says.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use milpa_h2::frame::{self, DataFrame, Frame, StreamId};
//!
//! let mut wire = BytesMut::new();
//! DataFrame::new(StreamId::new(1), Bytes::from_static(b"hello")).encode(&mut wire);
//!
//! let head: [u8; frame::HEADER_LEN] = wire[..frame::HEADER_LEN].try_into().unwrap();
//! let header = frame::decode_header(&head);
//! header.validate(frame::DEFAULT_MAX_FRAME_SIZE).unwrap();
//! let payload = wire.split_off(frame::HEADER_LEN).freeze();
//! match Frame::decode(header, payload, frame::DEFAULT_MAX_FRAME_SIZE).unwrap() {
//!     Frame::Data(data) => assert_eq!(data.data, "hello"),
//!     other => panic!("unexpected {other:?}"),
//! }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod frame;
