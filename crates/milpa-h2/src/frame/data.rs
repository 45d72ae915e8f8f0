//! DATA frames (RFC 9113 §6.1).

use core::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::{FrameError, FrameHeader, StreamId, flags, kind, payload_len, put_padding, strip_padding};

/// A DATA frame: a piece of a request or response body.
///
/// On receipt, charge [`DataFrame::flow_controlled_len`] (not `data.len()`) to the stream and
/// connection windows, then hand `data` to the application; `end_stream` closes the peer's
/// side of the stream.
#[derive(Clone, PartialEq, Eq)]
pub struct DataFrame {
    /// The stream the data belongs to (never 0).
    pub stream_id: StreamId,
    /// The data, a slice of the received payload (no copy), without padding.
    pub data: Bytes,
    /// END_STREAM: the sender's last frame on this stream.
    pub end_stream: bool,
    /// PADDED: the pad length, when the frame carries padding (`Some(0)` is a pad length
    /// octet with no padding after it). Padding content is ignored on receipt.
    pub padding: Option<u8>,
}

impl DataFrame {
    /// A DATA frame without END_STREAM and without padding.
    #[must_use]
    pub fn new(stream_id: StreamId, data: Bytes) -> DataFrame {
        DataFrame { stream_id, data, end_stream: false, padding: None }
    }

    /// The frame's length field: data plus, when padded, the pad length octet and padding.
    /// All of it counts against flow control (RFC 9113 §6.1).
    #[must_use]
    pub fn flow_controlled_len(&self) -> u32 {
        let padding = self.padding.map_or(0, |len| 1 + usize::from(len));
        payload_len(self.data.len() + padding)
    }

    /// The frame header this frame is written with.
    #[must_use]
    pub fn header(&self) -> FrameHeader {
        let mut bits = 0;
        if self.end_stream {
            bits |= flags::END_STREAM;
        }
        if self.padding.is_some() {
            bits |= flags::PADDED;
        }
        FrameHeader::new(kind::DATA, bits, self.stream_id, self.flow_controlled_len())
    }

    /// Appends the frame header and, when padded, the pad length octet: everything that
    /// comes before `data`. For a vectored write, send these bytes, then `data` itself, then
    /// what [`DataFrame::encode_padding`] appends (nothing unless padded).
    pub fn encode_header(&self, dst: &mut BytesMut) {
        self.header().encode(dst);
        if let Some(len) = self.padding {
            dst.put_u8(len);
        }
    }

    /// Appends the padding that follows `data` (zero bytes; nothing if not padded).
    pub fn encode_padding(&self, dst: &mut BytesMut) {
        put_padding(dst, self.padding);
    }

    /// Appends the whole frame, copying `data` into `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        self.encode_header(dst);
        dst.put_slice(&self.data);
        self.encode_padding(dst);
    }

    /// Decodes the payload of a validated DATA header.
    pub(crate) fn decode(header: &FrameHeader, payload: Bytes) -> Result<DataFrame, FrameError> {
        let (data, padding) = strip_padding(header, payload, 0)?;
        Ok(DataFrame {
            stream_id: header.stream_id,
            data,
            end_stream: header.has_flag(flags::END_STREAM),
            padding,
        })
    }
}

impl fmt::Debug for DataFrame {
    /// Shows the data's length, not its bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataFrame")
            .field("stream_id", &self.stream_id)
            .field("data_len", &self.data.len())
            .field("end_stream", &self.end_stream)
            .field("padding", &self.padding)
            .finish()
    }
}

impl From<DataFrame> for super::Frame {
    fn from(frame: DataFrame) -> super::Frame {
        super::Frame::Data(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{ErrorKind, Frame, Reason};
    use super::*;

    #[test]
    fn round_trip_plain_and_end_stream() {
        let mut frame = DataFrame::new(StreamId::new(1), Bytes::from_static(b"hello"));
        let wire = round_trip(frame.clone());
        assert_eq!(wire, raw(kind::DATA, 0, 1, b"hello"));
        frame.end_stream = true;
        let wire = round_trip(frame);
        assert_eq!(wire[4], flags::END_STREAM);
    }

    #[test]
    fn round_trip_padded() {
        let frame = DataFrame {
            stream_id: StreamId::new(3),
            data: Bytes::from_static(b"abc"),
            end_stream: true,
            padding: Some(4),
        };
        assert_eq!(frame.flow_controlled_len(), 8);
        let wire = round_trip(frame);
        assert_eq!(wire, raw(kind::DATA, flags::END_STREAM | flags::PADDED, 3, b"\x04abc\0\0\0\0"));
    }

    #[test]
    fn encode_header_leaves_the_payload_to_the_caller() {
        let frame =
            DataFrame { padding: Some(2), ..DataFrame::new(StreamId::new(5), Bytes::from_static(b"xy")) };
        let mut head = BytesMut::new();
        frame.encode_header(&mut head);
        assert_eq!(head.len(), 10);
        let mut tail = BytesMut::new();
        frame.encode_padding(&mut tail);
        let mut whole = BytesMut::new();
        frame.encode(&mut whole);
        assert_eq!([&head[..], b"xy", &tail[..]].concat(), whole.to_vec());

        let plain = DataFrame::new(StreamId::new(5), Bytes::from_static(b"xy"));
        let mut head = BytesMut::new();
        plain.encode_header(&mut head);
        assert_eq!(&head[..], [0, 0, 2, 0, 0, 0, 0, 0, 5]);
    }

    #[test]
    fn padding_filling_the_whole_payload_is_allowed() {
        // Pad length 4 in a 5-byte payload: no data at all, which is valid.
        let frame = decode(&raw(kind::DATA, flags::PADDED, 1, b"\x04\0\0\0\0")).unwrap();
        let Frame::Data(data) = frame else { panic!("{frame:?}") };
        assert!(data.data.is_empty());
        assert_eq!(data.flow_controlled_len(), 5);
        // Pad length 0: only the pad length octet.
        let frame = decode(&raw(kind::DATA, flags::PADDED, 1, b"\x00ok")).unwrap();
        let Frame::Data(data) = frame else { panic!("{frame:?}") };
        assert_eq!((data.data.as_ref(), data.padding), (&b"ok"[..], Some(0)));
    }

    #[test]
    fn pad_length_equal_to_payload_length_is_a_protocol_error() {
        let err = error(&raw(kind::DATA, flags::PADDED, 1, b"\x05\0\0\0\0"));
        assert!(err.is_connection_error());
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
        assert_eq!(err.kind(), ErrorKind::TooMuchPadding { pad_len: 5 });
        let err = error(&raw(kind::DATA, flags::PADDED, 1, b"\xff"));
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
    }

    #[test]
    fn padded_without_pad_length_octet_is_a_frame_size_error() {
        let err = error(&raw(kind::DATA, flags::PADDED, 1, b""));
        assert!(err.is_connection_error());
        assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
    }

    #[test]
    fn data_is_a_slice_of_the_payload() {
        let payload = Bytes::from_static(b"\x01zero-copy\0");
        let header = FrameHeader::new(kind::DATA, flags::PADDED, StreamId::new(1), 11);
        let frame = DataFrame::decode(&header, payload.clone()).unwrap();
        assert_eq!(frame.data, "zero-copy");
        assert_eq!(frame.data.as_ptr(), payload[1..].as_ptr());
    }

    #[test]
    fn empty_data_with_end_stream() {
        let frame = DataFrame { end_stream: true, ..DataFrame::new(StreamId::new(1), Bytes::new()) };
        assert_eq!(round_trip(frame), raw(kind::DATA, flags::END_STREAM, 1, b""));
    }
}
