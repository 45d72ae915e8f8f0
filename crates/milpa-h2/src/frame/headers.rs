//! HEADERS frames (RFC 9113 §6.2).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{
    FrameError, FrameHeader, StreamDependency, StreamId, flags, kind, payload_len, put_padding, strip_padding,
};

/// A HEADERS frame: opens a stream (request headers) or carries trailers.
///
/// The header block may be split: unless `end_headers` is set, CONTINUATION frames on the same
/// stream must follow, with no other frame in between (the connection checks that). Decode
/// the assembled block with HPACK even if the stream is going to be refused, so the decoder's
/// dynamic table stays in sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadersFrame {
    /// The stream (never 0).
    pub stream_id: StreamId,
    /// The header block fragment, a slice of the received payload (no copy), without
    /// priority fields or padding.
    pub header_block: Bytes,
    /// END_STREAM: no DATA follows (the block may still continue in CONTINUATION frames).
    pub end_stream: bool,
    /// END_HEADERS: the header block is complete in this frame.
    pub end_headers: bool,
    /// PRIORITY: the RFC 7540 dependency fields, when present. The frame layer does not
    /// refuse a self-dependency here (it would lose the header block and desynchronize
    /// HPACK): after decoding the block, the connection should check
    /// [`HeadersFrame::depends_on_itself`] and reset the stream with PROTOCOL_ERROR.
    pub priority: Option<StreamDependency>,
    /// PADDED: the pad length, when the frame carries padding.
    pub padding: Option<u8>,
}

impl HeadersFrame {
    /// A HEADERS frame with END_HEADERS set (the block fits in one frame), without
    /// END_STREAM, priority or padding.
    #[must_use]
    pub fn new(stream_id: StreamId, header_block: Bytes) -> HeadersFrame {
        HeadersFrame {
            stream_id,
            header_block,
            end_stream: false,
            end_headers: true,
            priority: None,
            padding: None,
        }
    }

    /// Whether the PRIORITY fields make the stream depend on itself (RFC 9113 §5.3.1: a
    /// stream error PROTOCOL_ERROR, to be sent once the header block has been decoded).
    #[must_use]
    pub fn depends_on_itself(&self) -> bool {
        self.priority.is_some_and(|priority| priority.depends_on(self.stream_id))
    }

    /// Appends the whole frame. The caller keeps it within the peer's maximum frame size,
    /// splitting a large block into CONTINUATION frames (and clearing `end_headers` here).
    pub fn encode(&self, dst: &mut BytesMut) {
        let mut bits = 0;
        let mut len = self.header_block.len();
        if self.end_stream {
            bits |= flags::END_STREAM;
        }
        if self.end_headers {
            bits |= flags::END_HEADERS;
        }
        if let Some(pad_len) = self.padding {
            bits |= flags::PADDED;
            len += 1 + usize::from(pad_len);
        }
        if self.priority.is_some() {
            bits |= flags::PRIORITY;
            len += StreamDependency::LEN;
        }
        FrameHeader::new(kind::HEADERS, bits, self.stream_id, payload_len(len)).encode(dst);
        if let Some(pad_len) = self.padding {
            dst.put_u8(pad_len);
        }
        if let Some(priority) = &self.priority {
            priority.encode(dst);
        }
        dst.put_slice(&self.header_block);
        put_padding(dst, self.padding);
    }

    /// Decodes the payload of a validated HEADERS header.
    pub(crate) fn decode(header: &FrameHeader, payload: Bytes) -> Result<HeadersFrame, FrameError> {
        let has_priority = header.has_flag(flags::PRIORITY);
        let fixed = if has_priority { StreamDependency::LEN } else { 0 };
        let (mut header_block, padding) = strip_padding(header, payload, fixed)?;
        let priority = has_priority.then(|| {
            let priority = StreamDependency::decode(&header_block);
            header_block.advance(StreamDependency::LEN);
            priority
        });
        Ok(HeadersFrame {
            stream_id: header.stream_id,
            header_block,
            end_stream: header.has_flag(flags::END_STREAM),
            end_headers: header.has_flag(flags::END_HEADERS),
            priority,
            padding,
        })
    }
}

impl From<HeadersFrame> for super::Frame {
    fn from(frame: HeadersFrame) -> super::Frame {
        super::Frame::Headers(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{ErrorKind, Frame, Reason};
    use super::*;

    const BLOCK: &[u8] = b"\x82\x86\x84\x41\x0fwww.example.com";

    #[test]
    fn round_trip_plain() {
        let frame = HeadersFrame::new(StreamId::new(1), Bytes::from_static(BLOCK));
        assert_eq!(round_trip(frame), raw(kind::HEADERS, flags::END_HEADERS, 1, BLOCK));
    }

    #[test]
    fn round_trip_with_every_flag() {
        let frame = HeadersFrame {
            stream_id: StreamId::new(3),
            header_block: Bytes::from_static(b"abc"),
            end_stream: true,
            end_headers: false,
            priority: Some(StreamDependency { dependency: StreamId::new(1), weight: 41, exclusive: true }),
            padding: Some(2),
        };
        let wire = round_trip(frame);
        let bits = flags::END_STREAM | flags::PADDED | flags::PRIORITY;
        assert_eq!(wire, raw(kind::HEADERS, bits, 3, b"\x02\x80\0\0\x01\x29abc\0\0"));
    }

    #[test]
    fn priority_without_padding() {
        let frame = decode(&raw(kind::HEADERS, flags::PRIORITY | flags::END_HEADERS, 5, b"\0\0\0\x03\xffxy"));
        let Frame::Headers(headers) = frame.unwrap() else { panic!() };
        assert_eq!(headers.header_block, "xy");
        let priority = headers.priority.unwrap();
        assert_eq!(
            (priority.dependency, priority.weight(), priority.exclusive),
            (StreamId::new(3), 256, false)
        );
    }

    #[test]
    fn priority_flag_without_room_for_the_fields_is_a_frame_size_error() {
        let err = error(&raw(kind::HEADERS, flags::PRIORITY, 1, b"\0\0\0\x03"));
        assert!(err.is_connection_error());
        assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
        let err = error(&raw(kind::HEADERS, flags::PRIORITY | flags::PADDED, 1, b"\0\0\0\0\x03"));
        assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
    }

    #[test]
    fn padding_eating_into_the_priority_fields_is_a_protocol_error() {
        // 1 pad length + 5 priority + 0 fragment + 1 padding = 7; a pad length of 2 is too much.
        let err = error(&raw(kind::HEADERS, flags::PRIORITY | flags::PADDED, 1, b"\x02\0\0\0\0\x10\0"));
        assert!(err.is_connection_error());
        assert_eq!(
            (err.reason(), err.kind()),
            (Reason::PROTOCOL_ERROR, ErrorKind::TooMuchPadding { pad_len: 2 })
        );
        let ok = decode(&raw(kind::HEADERS, flags::PRIORITY | flags::PADDED, 1, b"\x01\0\0\0\0\x10\0"));
        let Frame::Headers(headers) = ok.unwrap() else { panic!() };
        assert!(headers.header_block.is_empty());
    }

    #[test]
    fn pad_length_equal_to_payload_length_is_a_protocol_error() {
        let err = error(&raw(kind::HEADERS, flags::PADDED | flags::END_HEADERS, 1, b"\x03ab"));
        assert!(err.is_connection_error());
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
    }

    #[test]
    fn self_dependency_is_reported_not_refused() {
        let wire = raw(kind::HEADERS, flags::PRIORITY | flags::END_HEADERS, 7, b"\0\0\0\x07\x10\x82");
        let Frame::Headers(headers) = decode(&wire).unwrap() else { panic!() };
        assert!(headers.depends_on_itself());
        assert_eq!(headers.header_block, b"\x82"[..]);
        assert!(!HeadersFrame::new(StreamId::new(7), Bytes::new()).depends_on_itself());
    }
}
