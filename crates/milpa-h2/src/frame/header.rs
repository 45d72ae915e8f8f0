//! The frame header (RFC 9113 §4.1) and the checks that need nothing else.

use bytes::{BufMut, BytesMut};

use super::{ErrorKind, FrameError, HEADER_LEN, MAX_MAX_FRAME_SIZE, Reason, StreamId, kind};

/// The 9-byte header in front of every frame (RFC 9113 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// Payload length, 24 bits: at most [`MAX_MAX_FRAME_SIZE`].
    pub length: u32,
    /// Frame type, one of [`kind`](super::kind) or an extension type.
    pub kind: u8,
    /// Flags (see [`flags`](super::flags)); their meaning depends on `kind`.
    pub flags: u8,
    /// Stream the frame belongs to; 0 for connection-level frames.
    pub stream_id: StreamId,
}

/// Reads a frame header from its 9 bytes. Never fails: any 9 bytes are a header; the
/// reserved bit of the stream identifier is dropped.
///
/// Next, call [`FrameHeader::validate`] before buffering `length` payload bytes.
#[must_use]
pub fn decode_header(src: &[u8; HEADER_LEN]) -> FrameHeader {
    FrameHeader {
        length: u32::from_be_bytes([0, src[0], src[1], src[2]]),
        kind: src[3],
        flags: src[4],
        stream_id: StreamId::new(u32::from_be_bytes([src[5], src[6], src[7], src[8]])),
    }
}

impl FrameHeader {
    /// A header; `length` must fit 24 bits (checked in debug builds when encoding).
    #[must_use]
    pub const fn new(kind: u8, flags: u8, stream_id: StreamId, length: u32) -> FrameHeader {
        FrameHeader { length, kind, flags, stream_id }
    }

    /// Whether every bit of `flag` (from [`flags`](super::flags)) is set.
    #[must_use]
    pub const fn has_flag(&self, flag: u8) -> bool {
        self.flags & flag == flag
    }

    /// The checks that need only the header, to run before the payload is buffered:
    ///
    /// - a length over `max_frame_size` (the SETTINGS_MAX_FRAME_SIZE we advertised) is a
    ///   connection error FRAME_SIZE_ERROR; it is one even for frames where RFC 9113 §4.2
    ///   would allow a stream error, so the payload never needs to be read;
    /// - a stream frame on stream 0, or a connection frame on another stream, is a connection
    ///   error PROTOCOL_ERROR.
    ///
    /// On `Err`, answer as [`FrameError`] says. [`Frame::decode`](super::Frame::decode) runs these checks again.
    pub fn validate(&self, max_frame_size: u32) -> Result<(), FrameError> {
        if self.length > max_frame_size {
            let kind = ErrorKind::TooLarge { length: self.length, max: max_frame_size };
            return Err(FrameError::connection(Reason::FRAME_SIZE_ERROR, kind));
        }
        let zero = self.stream_id.is_zero();
        let kind = match self.kind {
            kind::DATA
            | kind::HEADERS
            | kind::PRIORITY
            | kind::RST_STREAM
            | kind::PUSH_PROMISE
            | kind::CONTINUATION
                if zero =>
            {
                ErrorKind::StreamIdZero
            }
            kind::SETTINGS | kind::PING | kind::GOAWAY | kind::PRIORITY_UPDATE if !zero => {
                ErrorKind::StreamIdNotZero
            }
            _ => return Ok(()),
        };
        Err(FrameError::connection(Reason::PROTOCOL_ERROR, kind))
    }

    /// Appends the 9 header bytes to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        debug_assert!(self.length <= MAX_MAX_FRAME_SIZE, "frame length {} over 24 bits", self.length);
        let length = self.length.to_be_bytes();
        dst.put_slice(&length[1..]);
        dst.put_u8(self.kind);
        dst.put_u8(self.flags);
        dst.put_u32(self.stream_id.get());
    }
}

#[cfg(test)]
mod tests {
    use super::super::DEFAULT_MAX_FRAME_SIZE;
    use super::*;

    #[test]
    fn header_round_trip_with_24_bit_length() {
        let header = FrameHeader::new(0xfa, 0xff, StreamId::MAX, MAX_MAX_FRAME_SIZE);
        let mut dst = BytesMut::new();
        header.encode(&mut dst);
        assert_eq!(&dst[..], [0xff, 0xff, 0xff, 0xfa, 0xff, 0x7f, 0xff, 0xff, 0xff]);
        assert_eq!(decode_header(dst[..].try_into().unwrap()), header);
    }

    #[test]
    fn reserved_bit_is_stripped() {
        let header = decode_header(&[0, 0, 4, kind::WINDOW_UPDATE, 0, 0x80, 0, 0, 5]);
        assert_eq!(header.stream_id, StreamId::new(5));
        assert_eq!(header.length, 4);
        let connection = decode_header(&[0, 0, 8, kind::PING, 0, 0x80, 0, 0, 0]);
        assert!(connection.stream_id.is_zero());
    }

    #[test]
    fn too_large_is_a_connection_frame_size_error() {
        let header = FrameHeader::new(kind::DATA, 0, StreamId::new(1), DEFAULT_MAX_FRAME_SIZE + 1);
        let err = header.validate(DEFAULT_MAX_FRAME_SIZE).unwrap_err();
        assert!(err.is_connection_error());
        assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
        assert_eq!(err.kind(), ErrorKind::TooLarge { length: 16_385, max: 16_384 });
        assert_eq!(header.validate(MAX_MAX_FRAME_SIZE), Ok(()));
    }

    #[test]
    fn stream_frames_on_stream_zero_are_protocol_errors() {
        for kind in [
            kind::DATA,
            kind::HEADERS,
            kind::PRIORITY,
            kind::RST_STREAM,
            kind::PUSH_PROMISE,
            kind::CONTINUATION,
        ] {
            let err = FrameHeader::new(kind, 0, StreamId::ZERO, 0).validate(DEFAULT_MAX_FRAME_SIZE);
            let err = err.unwrap_err();
            assert!(err.is_connection_error(), "kind {kind}");
            assert_eq!((err.reason(), err.kind()), (Reason::PROTOCOL_ERROR, ErrorKind::StreamIdZero));
        }
    }

    #[test]
    fn connection_frames_on_a_stream_are_protocol_errors() {
        for kind in [kind::SETTINGS, kind::PING, kind::GOAWAY, kind::PRIORITY_UPDATE] {
            let err = FrameHeader::new(kind, 0, StreamId::new(1), 0).validate(DEFAULT_MAX_FRAME_SIZE);
            let err = err.unwrap_err();
            assert!(err.is_connection_error(), "kind {kind}");
            assert_eq!((err.reason(), err.kind()), (Reason::PROTOCOL_ERROR, ErrorKind::StreamIdNotZero));
        }
    }
}
