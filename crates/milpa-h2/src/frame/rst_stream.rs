//! RST_STREAM frames (RFC 9113 §6.4).

use bytes::{BufMut, BytesMut};

use super::{FrameError, FrameHeader, Reason, StreamId, kind, read_u32};

/// An RST_STREAM frame: the sender abandons a stream.
///
/// On receipt, close the stream at once (no more frames on it except those already in
/// flight) and tell the application why. An RST_STREAM for an idle stream is a connection
/// error PROTOCOL_ERROR (the connection checks that).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RstStreamFrame {
    /// The stream being reset (never 0).
    pub stream_id: StreamId,
    /// Why.
    pub reason: Reason,
}

impl RstStreamFrame {
    /// Length of the payload.
    const LEN: usize = 4;

    /// An RST_STREAM frame.
    #[must_use]
    pub const fn new(stream_id: StreamId, reason: Reason) -> RstStreamFrame {
        RstStreamFrame { stream_id, reason }
    }

    /// Appends the whole frame.
    pub fn encode(&self, dst: &mut BytesMut) {
        FrameHeader::new(kind::RST_STREAM, 0, self.stream_id, Self::LEN as u32).encode(dst);
        dst.put_u32(self.reason.get());
    }

    /// Decodes the payload of a validated RST_STREAM header: a length other than 4 is a
    /// connection error FRAME_SIZE_ERROR.
    pub(crate) fn decode(header: &FrameHeader, payload: &[u8]) -> Result<RstStreamFrame, FrameError> {
        if payload.len() != Self::LEN {
            return Err(FrameError::invalid_length(payload.len()));
        }
        Ok(RstStreamFrame { stream_id: header.stream_id, reason: Reason::new(read_u32(payload)) })
    }
}

impl From<RstStreamFrame> for super::Frame {
    fn from(frame: RstStreamFrame) -> super::Frame {
        super::Frame::RstStream(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn round_trip() {
        let wire = super::super::test_util::round_trip(RstStreamFrame::new(StreamId::new(1), Reason::CANCEL));
        assert_eq!(wire, raw(kind::RST_STREAM, 0, 1, &[0, 0, 0, 8]));
    }

    #[test]
    fn unknown_reason_passes_through() {
        super::super::test_util::round_trip(RstStreamFrame::new(StreamId::new(9), Reason::new(0x1234)));
    }

    #[test]
    fn wrong_length_is_a_connection_frame_size_error() {
        for payload in [&[0u8; 3][..], &[0u8; 5][..]] {
            let err = error(&raw(kind::RST_STREAM, 0, 1, payload));
            assert!(err.is_connection_error());
            assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
        }
    }
}
