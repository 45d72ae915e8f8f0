//! PRIORITY_UPDATE frames (RFC 9218 §7.1).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{ErrorKind, FrameError, FrameHeader, Reason, StreamId, kind, payload_len, read_u32};

/// A PRIORITY_UPDATE frame (type 0x10): the client changes the priority of a request, using
/// the same Structured Fields text as the `priority` header field (e.g. `u=1, i`).
///
/// Sent on stream 0 only. A server applies it to `prioritized_id` (which may still be idle:
/// keep it until the stream opens, within limits); a client that receives one must treat it
/// as a connection error PROTOCOL_ERROR (the connection checks that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityUpdateFrame {
    /// The stream whose priority changes (never 0).
    pub prioritized_id: StreamId,
    /// The Priority Field Value, unparsed; a slice of the received payload.
    pub field_value: Bytes,
}

impl PriorityUpdateFrame {
    /// Length of the prioritized stream id field.
    const FIXED_LEN: usize = 4;

    /// A PRIORITY_UPDATE frame.
    #[must_use]
    pub const fn new(prioritized_id: StreamId, field_value: Bytes) -> PriorityUpdateFrame {
        PriorityUpdateFrame { prioritized_id, field_value }
    }

    /// Appends the whole frame (on stream 0).
    pub fn encode(&self, dst: &mut BytesMut) {
        let len = payload_len(Self::FIXED_LEN + self.field_value.len());
        FrameHeader::new(kind::PRIORITY_UPDATE, 0, StreamId::ZERO, len).encode(dst);
        dst.put_u32(self.prioritized_id.get());
        dst.put_slice(&self.field_value);
    }

    /// Decodes the payload of a validated PRIORITY_UPDATE header: fewer than 4 bytes is a
    /// connection error FRAME_SIZE_ERROR, a prioritized stream id of 0 a connection error
    /// PROTOCOL_ERROR.
    pub(crate) fn decode(mut payload: Bytes) -> Result<PriorityUpdateFrame, FrameError> {
        if payload.len() < Self::FIXED_LEN {
            return Err(FrameError::invalid_length(payload.len()));
        }
        let prioritized_id = StreamId::new(read_u32(&payload));
        if prioritized_id.is_zero() {
            return Err(FrameError::connection(Reason::PROTOCOL_ERROR, ErrorKind::PrioritizedStreamZero));
        }
        payload.advance(Self::FIXED_LEN);
        Ok(PriorityUpdateFrame { prioritized_id, field_value: payload })
    }
}

impl From<PriorityUpdateFrame> for super::Frame {
    fn from(frame: PriorityUpdateFrame) -> super::Frame {
        super::Frame::PriorityUpdate(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn round_trip() {
        let frame = PriorityUpdateFrame::new(StreamId::new(5), Bytes::from_static(b"u=1, i"));
        let wire = super::super::test_util::round_trip(frame);
        assert_eq!(wire, raw(kind::PRIORITY_UPDATE, 0, 0, b"\0\0\0\x05u=1, i"));
    }

    #[test]
    fn prioritized_stream_zero_is_a_connection_protocol_error() {
        let err = error(&raw(kind::PRIORITY_UPDATE, 0, 0, b"\x80\0\0\0u=0"));
        assert!(err.is_connection_error());
        assert_eq!((err.reason(), err.kind()), (Reason::PROTOCOL_ERROR, ErrorKind::PrioritizedStreamZero));
    }

    #[test]
    fn shorter_than_4_is_a_connection_frame_size_error() {
        let err = error(&raw(kind::PRIORITY_UPDATE, 0, 0, b"\0\0\x01"));
        assert!(err.is_connection_error());
        assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
    }
}
