//! GOAWAY frames (RFC 9113 §6.8).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{FrameError, FrameHeader, Reason, StreamId, kind, payload_len, read_u32};

/// A GOAWAY frame: the sender will not process streams above `last_stream_id`.
///
/// On receipt, stop opening streams; streams above `last_stream_id` were not processed and
/// may be retried elsewhere; close the connection once the others are done. To send one for a
/// connection error, put the highest stream id processed and the error's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoAwayFrame {
    /// The highest stream the sender processed or may still process.
    pub last_stream_id: StreamId,
    /// Why the connection is closing ([`Reason::NO_ERROR`] for a graceful shutdown).
    pub reason: Reason,
    /// Opaque diagnostic data, a slice of the received payload (no copy). Log it at most;
    /// it may be sensitive.
    pub debug_data: Bytes,
}

impl GoAwayFrame {
    /// Length of the fixed fields.
    const FIXED_LEN: usize = 8;

    /// A GOAWAY frame without debug data.
    #[must_use]
    pub const fn new(last_stream_id: StreamId, reason: Reason) -> GoAwayFrame {
        GoAwayFrame { last_stream_id, reason, debug_data: Bytes::new() }
    }

    /// Appends the whole frame (on stream 0).
    pub fn encode(&self, dst: &mut BytesMut) {
        let len = payload_len(Self::FIXED_LEN + self.debug_data.len());
        FrameHeader::new(kind::GOAWAY, 0, StreamId::ZERO, len).encode(dst);
        dst.put_u32(self.last_stream_id.get());
        dst.put_u32(self.reason.get());
        dst.put_slice(&self.debug_data);
    }

    /// Decodes the payload of a validated GOAWAY header: fewer than 8 bytes is a connection
    /// error FRAME_SIZE_ERROR.
    pub(crate) fn decode(mut payload: Bytes) -> Result<GoAwayFrame, FrameError> {
        if payload.len() < Self::FIXED_LEN {
            return Err(FrameError::invalid_length(payload.len()));
        }
        let last_stream_id = StreamId::new(read_u32(&payload));
        let reason = Reason::new(read_u32(&payload[4..]));
        payload.advance(Self::FIXED_LEN);
        Ok(GoAwayFrame { last_stream_id, reason, debug_data: payload })
    }
}

impl From<GoAwayFrame> for super::Frame {
    fn from(frame: GoAwayFrame) -> super::Frame {
        super::Frame::GoAway(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Frame;
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn round_trip_with_debug_data() {
        let frame = GoAwayFrame {
            last_stream_id: StreamId::new(7),
            reason: Reason::ENHANCE_YOUR_CALM,
            debug_data: Bytes::from_static(b"too many resets"),
        };
        let wire = round_trip(frame);
        assert_eq!(&wire[9..17], [0, 0, 0, 7, 0, 0, 0, 0xb]);
    }

    #[test]
    fn round_trip_graceful() {
        let wire = round_trip(GoAwayFrame::new(StreamId::MAX, Reason::NO_ERROR));
        assert_eq!(wire, raw(kind::GOAWAY, 0, 0, &[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]));
    }

    #[test]
    fn last_stream_id_reserved_bit_is_stripped() {
        let frame = decode(&raw(kind::GOAWAY, 0, 0, &[0x80, 0, 0, 5, 0, 0, 0, 1])).unwrap();
        let Frame::GoAway(goaway) = frame else { panic!("{frame:?}") };
        assert_eq!((goaway.last_stream_id, goaway.reason), (StreamId::new(5), Reason::PROTOCOL_ERROR));
        assert!(goaway.debug_data.is_empty());
    }

    #[test]
    fn shorter_than_8_is_a_connection_frame_size_error() {
        let err = error(&raw(kind::GOAWAY, 0, 0, &[0, 0, 0, 1, 0, 0, 0]));
        assert!(err.is_connection_error());
        assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
    }
}
