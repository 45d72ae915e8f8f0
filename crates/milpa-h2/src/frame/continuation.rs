//! CONTINUATION frames (RFC 9113 §6.10).

use bytes::{BufMut, Bytes, BytesMut};

use super::{FrameHeader, StreamId, flags, kind, payload_len};

/// A CONTINUATION frame: the next fragment of a header block started by HEADERS or
/// PUSH_PROMISE.
///
/// The connection must check that it follows a HEADERS, PUSH_PROMISE or CONTINUATION frame
/// without END_HEADERS on the same stream (otherwise: connection error PROTOCOL_ERROR), and
/// bound how many it accepts and how large the assembled block grows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContinuationFrame {
    /// The stream (never 0).
    pub stream_id: StreamId,
    /// The header block fragment, a slice of the received payload (no copy).
    pub header_block: Bytes,
    /// END_HEADERS: the header block is complete.
    pub end_headers: bool,
}

impl ContinuationFrame {
    /// A CONTINUATION frame.
    #[must_use]
    pub const fn new(stream_id: StreamId, header_block: Bytes, end_headers: bool) -> ContinuationFrame {
        ContinuationFrame { stream_id, header_block, end_headers }
    }

    /// Appends the whole frame.
    pub fn encode(&self, dst: &mut BytesMut) {
        let bits = if self.end_headers { flags::END_HEADERS } else { 0 };
        let len = payload_len(self.header_block.len());
        FrameHeader::new(kind::CONTINUATION, bits, self.stream_id, len).encode(dst);
        dst.put_slice(&self.header_block);
    }

    /// Decodes the payload of a validated CONTINUATION header; any payload is valid.
    pub(crate) fn decode(header: &FrameHeader, payload: Bytes) -> ContinuationFrame {
        ContinuationFrame {
            stream_id: header.stream_id,
            header_block: payload,
            end_headers: header.has_flag(flags::END_HEADERS),
        }
    }
}

impl From<ContinuationFrame> for super::Frame {
    fn from(frame: ContinuationFrame) -> super::Frame {
        super::Frame::Continuation(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn round_trip_middle_and_last() {
        let middle = ContinuationFrame::new(StreamId::new(1), Bytes::from_static(b"\x82\x86"), false);
        assert_eq!(round_trip(middle), raw(kind::CONTINUATION, 0, 1, b"\x82\x86"));
        let last = ContinuationFrame::new(StreamId::new(1), Bytes::from_static(b"\x84"), true);
        assert_eq!(round_trip(last), raw(kind::CONTINUATION, flags::END_HEADERS, 1, b"\x84"));
    }

    #[test]
    fn padded_flag_means_nothing_on_continuation() {
        // CONTINUATION has no padding: 0x8 is an undefined flag, ignored, and the payload is
        // the fragment as is.
        let frame = decode(&raw(kind::CONTINUATION, flags::PADDED, 3, b"\x05abc")).unwrap();
        let expected = ContinuationFrame::new(StreamId::new(3), Bytes::from_static(b"\x05abc"), false);
        assert_eq!(frame, expected.into());
    }
}
