//! PUSH_PROMISE frames (RFC 9113 §6.6).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{
    FrameError, FrameHeader, StreamId, flags, kind, payload_len, put_padding, read_u32, strip_padding,
};

/// A PUSH_PROMISE frame: the server reserves `promised_id` for a response it will push,
/// announcing the request it answers.
///
/// A server sends these (only if the client's SETTINGS_ENABLE_PUSH allows it); a server that
/// receives one must treat it as a connection error PROTOCOL_ERROR (RFC 9113 §8.4). Like
/// HEADERS, the block continues in CONTINUATION frames unless `end_headers` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPromiseFrame {
    /// The client-initiated stream the promise is associated with (never 0).
    pub stream_id: StreamId,
    /// The even stream the pushed response will use.
    pub promised_id: StreamId,
    /// The header block fragment of the promised request, a slice of the received payload.
    pub header_block: Bytes,
    /// END_HEADERS: the header block is complete in this frame.
    pub end_headers: bool,
    /// PADDED: the pad length, when the frame carries padding.
    pub padding: Option<u8>,
}

impl PushPromiseFrame {
    /// Length of the promised stream id field.
    const PROMISED_ID_LEN: usize = 4;

    /// A PUSH_PROMISE frame with END_HEADERS set and no padding.
    #[must_use]
    pub fn new(stream_id: StreamId, promised_id: StreamId, header_block: Bytes) -> PushPromiseFrame {
        PushPromiseFrame { stream_id, promised_id, header_block, end_headers: true, padding: None }
    }

    /// Appends the whole frame. The caller keeps it within the peer's maximum frame size.
    pub fn encode(&self, dst: &mut BytesMut) {
        let mut bits = if self.end_headers { flags::END_HEADERS } else { 0 };
        let mut len = Self::PROMISED_ID_LEN + self.header_block.len();
        if let Some(pad_len) = self.padding {
            bits |= flags::PADDED;
            len += 1 + usize::from(pad_len);
        }
        FrameHeader::new(kind::PUSH_PROMISE, bits, self.stream_id, payload_len(len)).encode(dst);
        if let Some(pad_len) = self.padding {
            dst.put_u8(pad_len);
        }
        dst.put_u32(self.promised_id.get());
        dst.put_slice(&self.header_block);
        put_padding(dst, self.padding);
    }

    /// Decodes the payload of a validated PUSH_PROMISE header. Whether the promised id is
    /// acceptable is for the connection to check.
    pub(crate) fn decode(header: &FrameHeader, payload: Bytes) -> Result<PushPromiseFrame, FrameError> {
        let (mut header_block, padding) = strip_padding(header, payload, Self::PROMISED_ID_LEN)?;
        let promised_id = StreamId::new(read_u32(&header_block));
        header_block.advance(Self::PROMISED_ID_LEN);
        Ok(PushPromiseFrame {
            stream_id: header.stream_id,
            promised_id,
            header_block,
            end_headers: header.has_flag(flags::END_HEADERS),
            padding,
        })
    }
}

impl From<PushPromiseFrame> for super::Frame {
    fn from(frame: PushPromiseFrame) -> super::Frame {
        super::Frame::PushPromise(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{ErrorKind, Frame, Reason};
    use super::*;

    #[test]
    fn round_trip_plain() {
        let frame = PushPromiseFrame::new(StreamId::new(1), StreamId::new(2), Bytes::from_static(b"\x82"));
        let wire = round_trip(frame);
        assert_eq!(wire, raw(kind::PUSH_PROMISE, flags::END_HEADERS, 1, b"\0\0\0\x02\x82"));
    }

    #[test]
    fn round_trip_padded_not_ending_headers() {
        let frame = PushPromiseFrame {
            end_headers: false,
            padding: Some(3),
            ..PushPromiseFrame::new(StreamId::new(3), StreamId::new(4), Bytes::from_static(b"ab"))
        };
        let wire = round_trip(frame);
        assert_eq!(wire, raw(kind::PUSH_PROMISE, flags::PADDED, 3, b"\x03\0\0\0\x04ab\0\0\0"));
    }

    #[test]
    fn promised_id_reserved_bit_is_stripped() {
        let frame = decode(&raw(kind::PUSH_PROMISE, flags::END_HEADERS, 1, b"\x80\0\0\x02")).unwrap();
        let Frame::PushPromise(push) = frame else { panic!("{frame:?}") };
        assert_eq!(push.promised_id, StreamId::new(2));
        assert!(push.header_block.is_empty());
    }

    #[test]
    fn padding_eating_into_the_promised_id_is_a_protocol_error() {
        // 1 + 4 + 1 bytes: a pad length of 1 fits exactly, 2 does not.
        assert!(decode(&raw(kind::PUSH_PROMISE, flags::PADDED, 1, b"\x01\0\0\0\x02\0")).is_ok());
        let err = error(&raw(kind::PUSH_PROMISE, flags::PADDED, 1, b"\x02\0\0\0\x02\0"));
        assert!(err.is_connection_error());
        assert_eq!(
            (err.reason(), err.kind()),
            (Reason::PROTOCOL_ERROR, ErrorKind::TooMuchPadding { pad_len: 2 })
        );
    }

    #[test]
    fn too_short_for_the_promised_id_is_a_frame_size_error() {
        let err = error(&raw(kind::PUSH_PROMISE, 0, 1, b"\0\0\x02"));
        assert!(err.is_connection_error());
        assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
    }
}
