//! WINDOW_UPDATE frames (RFC 9113 §6.9).

use bytes::{BufMut, BytesMut};

use super::{ErrorKind, FrameError, FrameHeader, Reason, StreamId, kind, read_u32};

/// The largest flow-control window, and the largest increment: 2^31-1 (RFC 9113 §6.9.1).
/// A window pushed above it is a FLOW_CONTROL_ERROR.
pub const MAX_WINDOW_SIZE: u32 = (1 << 31) - 1;

/// A WINDOW_UPDATE frame: the peer grants more flow-control credit, to one stream or (on
/// stream 0) to the whole connection.
///
/// On receipt, add `increment` to the matching send window; if that overflows
/// [`MAX_WINDOW_SIZE`], answer with RST_STREAM (stream) or GOAWAY (connection)
/// FLOW_CONTROL_ERROR. A zero increment never decodes: it is a [`FrameError`] of kind
/// [`ErrorKind::ZeroWindowIncrement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowUpdateFrame {
    /// The stream whose window grows; 0 for the connection window.
    pub stream_id: StreamId,
    /// The increment, 1..=[`MAX_WINDOW_SIZE`].
    pub increment: u32,
}

impl WindowUpdateFrame {
    /// Length of the payload.
    const LEN: usize = 4;

    /// A WINDOW_UPDATE frame. `increment` must be in 1..=[`MAX_WINDOW_SIZE`] (the reserved
    /// bit is cleared when encoding).
    #[must_use]
    pub const fn new(stream_id: StreamId, increment: u32) -> WindowUpdateFrame {
        WindowUpdateFrame { stream_id, increment }
    }

    /// Appends the whole frame.
    pub fn encode(&self, dst: &mut BytesMut) {
        debug_assert!(
            self.increment > 0 && self.increment <= MAX_WINDOW_SIZE,
            "increment {}",
            self.increment
        );
        FrameHeader::new(kind::WINDOW_UPDATE, 0, self.stream_id, Self::LEN as u32).encode(dst);
        dst.put_u32(self.increment & MAX_WINDOW_SIZE);
    }

    /// Decodes the payload of a validated WINDOW_UPDATE header.
    ///
    /// A length other than 4 is a connection error FRAME_SIZE_ERROR. An increment of 0 is
    /// [`ErrorKind::ZeroWindowIncrement`] with PROTOCOL_ERROR: a stream error on a stream, a
    /// connection error on stream 0 (RFC 9113 §6.9).
    pub(crate) fn decode(header: &FrameHeader, payload: &[u8]) -> Result<WindowUpdateFrame, FrameError> {
        if payload.len() != Self::LEN {
            return Err(FrameError::invalid_length(payload.len()));
        }
        let increment = read_u32(payload) & MAX_WINDOW_SIZE;
        if increment == 0 {
            let kind = ErrorKind::ZeroWindowIncrement;
            return Err(if header.stream_id.is_zero() {
                FrameError::connection(Reason::PROTOCOL_ERROR, kind)
            } else {
                FrameError::stream(header.stream_id, Reason::PROTOCOL_ERROR, kind)
            });
        }
        Ok(WindowUpdateFrame { stream_id: header.stream_id, increment })
    }
}

impl From<WindowUpdateFrame> for super::Frame {
    fn from(frame: WindowUpdateFrame) -> super::Frame {
        super::Frame::WindowUpdate(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{ErrorScope, Frame};
    use super::*;

    #[test]
    fn round_trip_stream_and_connection() {
        let wire = round_trip(WindowUpdateFrame::new(StreamId::new(1), 1));
        assert_eq!(wire, raw(kind::WINDOW_UPDATE, 0, 1, &[0, 0, 0, 1]));
        let wire = round_trip(WindowUpdateFrame::new(StreamId::ZERO, MAX_WINDOW_SIZE));
        assert_eq!(wire, raw(kind::WINDOW_UPDATE, 0, 0, &[0x7f, 0xff, 0xff, 0xff]));
    }

    #[test]
    fn increment_reserved_bit_is_stripped() {
        let frame = decode(&raw(kind::WINDOW_UPDATE, 0, 3, &[0x80, 0, 0x10, 0])).unwrap();
        assert_eq!(frame, Frame::WindowUpdate(WindowUpdateFrame::new(StreamId::new(3), 4096)));
    }

    #[test]
    fn zero_increment_on_a_stream_is_a_stream_error() {
        let err = error(&raw(kind::WINDOW_UPDATE, 0, 5, &[0, 0, 0, 0]));
        assert_eq!(err.scope(), ErrorScope::Stream(StreamId::new(5)));
        assert_eq!((err.reason(), err.kind()), (Reason::PROTOCOL_ERROR, ErrorKind::ZeroWindowIncrement));
    }

    #[test]
    fn zero_increment_on_the_connection_is_a_connection_error() {
        // Only the reserved bit set: the increment is still 0.
        let err = error(&raw(kind::WINDOW_UPDATE, 0, 0, &[0x80, 0, 0, 0]));
        assert!(err.is_connection_error());
        assert_eq!((err.reason(), err.kind()), (Reason::PROTOCOL_ERROR, ErrorKind::ZeroWindowIncrement));
    }

    #[test]
    fn wrong_length_is_a_connection_frame_size_error() {
        let err = error(&raw(kind::WINDOW_UPDATE, 0, 1, &[0, 0, 1]));
        assert!(err.is_connection_error());
        assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
    }
}
