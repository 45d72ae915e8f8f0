//! The HTTP/2 frame layer (RFC 9113 §4, §6): one frame's bytes to a typed [`Frame`] and back.
//!
//! Decoding is two steps, so a reader never buffers a payload it will refuse:
//!
//! 1. [`decode_header`] the first [`HEADER_LEN`] bytes, then [`FrameHeader::validate`] the
//!    header (length against our SETTINGS_MAX_FRAME_SIZE, stream 0 rules);
//! 2. when `header.length` more bytes are buffered, pass them to [`Frame::decode`] as a
//!    [`Bytes`]: DATA payloads and header block fragments come out as slices of it, without
//!    copying.
//!
//! Every [`FrameError`] says whether it is a connection error (send GOAWAY) or a stream
//! error (send RST_STREAM), with the [`Reason`] to send.
//!
//! This layer is stateless: it does not know stream states, whether a CONTINUATION was
//! expected, flow-control windows, or which side of the connection it runs on. Those checks
//! belong to the connection.
//!
//! Encoding: every frame type has `encode(&self, dst)`, which appends the whole frame. The
//! caller keeps frames within the peer's SETTINGS_MAX_FRAME_SIZE. [`DataFrame`] can also
//! write its header alone, so the payload can go to a vectored write without a copy.

use bytes::{Buf, BufMut, Bytes, BytesMut};

mod continuation;
mod data;
mod error;
mod goaway;
mod header;
mod headers;
mod ping;
mod priority;
mod priority_update;
mod push_promise;
mod reason;
mod rst_stream;
mod settings;
mod stream_id;
mod window_update;

pub use continuation::ContinuationFrame;
pub use data::DataFrame;
pub use error::{ErrorKind, ErrorScope, FrameError};
pub use goaway::GoAwayFrame;
pub use header::{FrameHeader, decode_header};
pub use headers::HeadersFrame;
pub use ping::PingFrame;
pub use priority::{PriorityFrame, StreamDependency};
pub use priority_update::PriorityUpdateFrame;
pub use push_promise::PushPromiseFrame;
pub use reason::Reason;
pub use rst_stream::RstStreamFrame;
pub use settings::{Settings, SettingsFrame};
pub use stream_id::{StreamId, StreamIdHasher, StreamIdMap};
pub use window_update::{MAX_WINDOW_SIZE, WindowUpdateFrame};

/// Length of the frame header that precedes every payload (RFC 9113 §4.1).
pub const HEADER_LEN: usize = 9;

/// SETTINGS_MAX_FRAME_SIZE until the peer says otherwise: 16 384 bytes (RFC 9113 §6.5.2).
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;

/// Smallest value SETTINGS_MAX_FRAME_SIZE may take (RFC 9113 §6.5.2); equal to the default.
pub const MIN_MAX_FRAME_SIZE: u32 = DEFAULT_MAX_FRAME_SIZE;

/// Largest value SETTINGS_MAX_FRAME_SIZE may take, 2^24-1: the largest 24-bit length.
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;

/// The client connection preface (RFC 9113 §3.4). A server must read exactly these 24 bytes
/// first (a SETTINGS frame follows); anything else is a connection error PROTOCOL_ERROR
/// (close without GOAWAY if it is not HTTP/2 at all).
pub const CONNECTION_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame type codes (RFC 9113 §6, RFC 9218 §7.1), the `kind` of a [`FrameHeader`].
pub mod kind {
    /// DATA (RFC 9113 §6.1).
    pub const DATA: u8 = 0x0;
    /// HEADERS (RFC 9113 §6.2).
    pub const HEADERS: u8 = 0x1;
    /// PRIORITY (RFC 9113 §6.3).
    pub const PRIORITY: u8 = 0x2;
    /// RST_STREAM (RFC 9113 §6.4).
    pub const RST_STREAM: u8 = 0x3;
    /// SETTINGS (RFC 9113 §6.5).
    pub const SETTINGS: u8 = 0x4;
    /// PUSH_PROMISE (RFC 9113 §6.6).
    pub const PUSH_PROMISE: u8 = 0x5;
    /// PING (RFC 9113 §6.7).
    pub const PING: u8 = 0x6;
    /// GOAWAY (RFC 9113 §6.8).
    pub const GOAWAY: u8 = 0x7;
    /// WINDOW_UPDATE (RFC 9113 §6.9).
    pub const WINDOW_UPDATE: u8 = 0x8;
    /// CONTINUATION (RFC 9113 §6.10).
    pub const CONTINUATION: u8 = 0x9;
    /// PRIORITY_UPDATE (RFC 9218 §7.1).
    pub const PRIORITY_UPDATE: u8 = 0x10;
}

/// Frame flags (RFC 9113 §6). A flag means something only for the frame types listed; other
/// bits are ignored on decode and never set on encode.
pub mod flags {
    /// END_STREAM, on DATA and HEADERS: the sender's last frame on the stream.
    pub const END_STREAM: u8 = 0x1;
    /// ACK, on SETTINGS and PING: this frame acknowledges the peer's.
    pub const ACK: u8 = 0x1;
    /// END_HEADERS, on HEADERS, PUSH_PROMISE and CONTINUATION: the header block is complete.
    pub const END_HEADERS: u8 = 0x4;
    /// PADDED, on DATA, HEADERS and PUSH_PROMISE: a pad length octet and padding are present.
    pub const PADDED: u8 = 0x8;
    /// PRIORITY, on HEADERS: the stream dependency and weight fields are present.
    pub const PRIORITY: u8 = 0x20;
}

/// A decoded frame. Match on it and hand each frame to the connection state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// DATA: request or response body bytes.
    Data(DataFrame),
    /// HEADERS: opens a stream or carries trailers; a header block fragment.
    Headers(HeadersFrame),
    /// PRIORITY: deprecated RFC 7540 prioritization; may be ignored.
    Priority(PriorityFrame),
    /// RST_STREAM: the peer cancels a stream.
    RstStream(RstStreamFrame),
    /// SETTINGS: the peer's parameters, or an acknowledgment of ours.
    Settings(SettingsFrame),
    /// PUSH_PROMISE: server push (a server must refuse it from a client).
    PushPromise(PushPromiseFrame),
    /// PING: answer with an ACK carrying the same payload.
    Ping(PingFrame),
    /// GOAWAY: the peer is closing the connection.
    GoAway(GoAwayFrame),
    /// WINDOW_UPDATE: more flow-control credit.
    WindowUpdate(WindowUpdateFrame),
    /// CONTINUATION: more of a header block.
    Continuation(ContinuationFrame),
    /// PRIORITY_UPDATE (RFC 9218): new priority for a stream.
    PriorityUpdate(PriorityUpdateFrame),
    /// A frame type this crate does not know. RFC 9113 §5.5: ignore it (unless a
    /// CONTINUATION was expected, which makes it a connection error PROTOCOL_ERROR).
    Unknown {
        /// The frame type.
        kind: u8,
        /// The flags, uninterpreted.
        flags: u8,
        /// The stream identifier, uninterpreted.
        stream_id: StreamId,
        /// The payload.
        payload: Bytes,
    },
}

impl Frame {
    /// Decodes one frame from its header and its payload (exactly `header.length` bytes,
    /// which is checked in debug builds). `max_frame_size` is the SETTINGS_MAX_FRAME_SIZE we
    /// advertised.
    ///
    /// On `Err`, answer with GOAWAY or RST_STREAM as the [`FrameError`] says; after a stream
    /// error, keep reading the next frame.
    pub fn decode(header: FrameHeader, payload: Bytes, max_frame_size: u32) -> Result<Frame, FrameError> {
        header.validate(max_frame_size)?;
        debug_assert_eq!(payload.len(), header.length as usize, "payload length differs from the header's");
        Ok(match header.kind {
            kind::DATA => Frame::Data(DataFrame::decode(&header, payload)?),
            kind::HEADERS => Frame::Headers(HeadersFrame::decode(&header, payload)?),
            kind::PRIORITY => Frame::Priority(PriorityFrame::decode(&header, &payload)?),
            kind::RST_STREAM => Frame::RstStream(RstStreamFrame::decode(&header, &payload)?),
            kind::SETTINGS => Frame::Settings(SettingsFrame::decode(&header, &payload)?),
            kind::PUSH_PROMISE => Frame::PushPromise(PushPromiseFrame::decode(&header, payload)?),
            kind::PING => Frame::Ping(PingFrame::decode(&header, &payload)?),
            kind::GOAWAY => Frame::GoAway(GoAwayFrame::decode(payload)?),
            kind::WINDOW_UPDATE => Frame::WindowUpdate(WindowUpdateFrame::decode(&header, &payload)?),
            kind::CONTINUATION => Frame::Continuation(ContinuationFrame::decode(&header, payload)),
            kind::PRIORITY_UPDATE => Frame::PriorityUpdate(PriorityUpdateFrame::decode(payload)?),
            kind => Frame::Unknown { kind, flags: header.flags, stream_id: header.stream_id, payload },
        })
    }

    /// Appends the whole frame, header and payload, to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            Frame::Data(frame) => frame.encode(dst),
            Frame::Headers(frame) => frame.encode(dst),
            Frame::Priority(frame) => frame.encode(dst),
            Frame::RstStream(frame) => frame.encode(dst),
            Frame::Settings(frame) => frame.encode(dst),
            Frame::PushPromise(frame) => frame.encode(dst),
            Frame::Ping(frame) => frame.encode(dst),
            Frame::GoAway(frame) => frame.encode(dst),
            Frame::WindowUpdate(frame) => frame.encode(dst),
            Frame::Continuation(frame) => frame.encode(dst),
            Frame::PriorityUpdate(frame) => frame.encode(dst),
            Frame::Unknown { kind, flags, stream_id, payload } => {
                FrameHeader::new(*kind, *flags, *stream_id, payload_len(payload.len())).encode(dst);
                dst.put_slice(payload);
            }
        }
    }

    /// The frame type code (see [`kind`]).
    #[must_use]
    pub fn kind(&self) -> u8 {
        match self {
            Frame::Data(_) => kind::DATA,
            Frame::Headers(_) => kind::HEADERS,
            Frame::Priority(_) => kind::PRIORITY,
            Frame::RstStream(_) => kind::RST_STREAM,
            Frame::Settings(_) => kind::SETTINGS,
            Frame::PushPromise(_) => kind::PUSH_PROMISE,
            Frame::Ping(_) => kind::PING,
            Frame::GoAway(_) => kind::GOAWAY,
            Frame::WindowUpdate(_) => kind::WINDOW_UPDATE,
            Frame::Continuation(_) => kind::CONTINUATION,
            Frame::PriorityUpdate(_) => kind::PRIORITY_UPDATE,
            Frame::Unknown { kind, .. } => *kind,
        }
    }

    /// The stream the frame was sent on (0 for connection-level frames).
    #[must_use]
    pub fn stream_id(&self) -> StreamId {
        match self {
            Frame::Data(frame) => frame.stream_id,
            Frame::Headers(frame) => frame.stream_id,
            Frame::Priority(frame) => frame.stream_id,
            Frame::RstStream(frame) => frame.stream_id,
            Frame::PushPromise(frame) => frame.stream_id,
            Frame::WindowUpdate(frame) => frame.stream_id,
            Frame::Continuation(frame) => frame.stream_id,
            Frame::Settings(_) | Frame::Ping(_) | Frame::GoAway(_) | Frame::PriorityUpdate(_) => {
                StreamId::ZERO
            }
            Frame::Unknown { stream_id, .. } => *stream_id,
        }
    }
}

/// A payload length as the header's `u32` (a frame payload never exceeds 24 bits).
pub(crate) fn payload_len(len: usize) -> u32 {
    debug_assert!(len <= MAX_MAX_FRAME_SIZE as usize, "frame payload of {len} bytes");
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Reads a big-endian `u32` from the first 4 bytes of `src` (the caller checked the length).
pub(crate) fn read_u32(src: &[u8]) -> u32 {
    u32::from_be_bytes([src[0], src[1], src[2], src[3]])
}

/// Removes the pad length octet and the padding of a PADDED frame (RFC 9113 §6.1, §6.2,
/// §6.6). `fixed` is the length of the fields that follow the pad length octet and must fit
/// with the padding (5 for HEADERS with PRIORITY, 4 for PUSH_PROMISE, 0 for DATA).
///
/// Returns the payload without pad length octet and padding, and the pad length.
pub(crate) fn strip_padding(
    header: &FrameHeader,
    mut payload: Bytes,
    fixed: usize,
) -> Result<(Bytes, Option<u8>), FrameError> {
    if !header.has_flag(flags::PADDED) {
        if payload.len() < fixed {
            return Err(FrameError::invalid_length(payload.len()));
        }
        return Ok((payload, None));
    }
    if payload.len() < 1 + fixed {
        return Err(FrameError::invalid_length(payload.len()));
    }
    let pad_len = payload.get_u8();
    if usize::from(pad_len) > payload.len() - fixed {
        return Err(FrameError::connection(Reason::PROTOCOL_ERROR, ErrorKind::TooMuchPadding { pad_len }));
    }
    payload.truncate(payload.len() - usize::from(pad_len));
    Ok((payload, Some(pad_len)))
}

/// Writes `len` zero bytes of padding.
pub(crate) fn put_padding(dst: &mut BytesMut, padding: Option<u8>) {
    if let Some(len) = padding {
        dst.put_bytes(0, usize::from(len));
    }
}

/// Test helpers shared by the unit tests of every frame file.
#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    /// Encodes a frame with [`Frame::encode`].
    pub(crate) fn encode(frame: &Frame) -> Vec<u8> {
        let mut dst = BytesMut::new();
        frame.encode(&mut dst);
        dst.to_vec()
    }

    /// Decodes one complete frame (header and payload) with the default max frame size.
    pub(crate) fn decode(wire: &[u8]) -> Result<Frame, FrameError> {
        let head: &[u8; HEADER_LEN] = wire[..HEADER_LEN].try_into().unwrap();
        let header = decode_header(head);
        assert_eq!(header.length as usize, wire.len() - HEADER_LEN, "test vector length");
        Frame::decode(header, Bytes::copy_from_slice(&wire[HEADER_LEN..]), DEFAULT_MAX_FRAME_SIZE)
    }

    /// A raw frame: header fields then payload.
    pub(crate) fn raw(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
        let mut dst = BytesMut::new();
        FrameHeader::new(kind, flags, StreamId::new(stream_id), payload_len(payload.len())).encode(&mut dst);
        dst.put_slice(payload);
        dst.to_vec()
    }

    /// Asserts that `frame` survives encode → decode unchanged and returns the wire bytes.
    pub(crate) fn round_trip(frame: impl Into<Frame>) -> Vec<u8> {
        let frame = frame.into();
        let wire = encode(&frame);
        assert_eq!(decode(&wire), Ok(frame));
        wire
    }

    /// The error of decoding `wire`.
    pub(crate) fn error(wire: &[u8]) -> FrameError {
        decode(wire).expect_err("frame should be refused")
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    #[test]
    fn unknown_types_are_kept_for_the_caller_to_ignore() {
        for stream_id in [0, 7] {
            let wire = raw(0xab, 0x5a, stream_id, b"grease");
            let frame = decode(&wire).unwrap();
            assert_eq!(frame.kind(), 0xab);
            assert_eq!(frame.stream_id(), StreamId::new(stream_id));
            let Frame::Unknown { kind: 0xab, flags: 0x5a, payload, .. } = &frame else { panic!("{frame:?}") };
            assert_eq!(payload, "grease");
            assert_eq!(encode(&frame), wire);
        }
    }

    #[test]
    fn unknown_types_still_obey_the_max_frame_size() {
        let header = FrameHeader::new(0xee, 0, StreamId::ZERO, DEFAULT_MAX_FRAME_SIZE + 1);
        assert!(header.validate(DEFAULT_MAX_FRAME_SIZE).unwrap_err().is_connection_error());
    }

    #[test]
    fn preface_is_the_rfc_string() {
        assert_eq!(CONNECTION_PREFACE, b"\x50\x52\x49\x20\x2a\x20\x48\x54\x54\x50\x2f\x32\x2e\x30\x0d\x0a\x0d\x0a\x53\x4d\x0d\x0a\x0d\x0a");
    }
}
