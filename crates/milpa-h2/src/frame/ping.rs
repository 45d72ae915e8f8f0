//! PING frames (RFC 9113 §6.7).

use bytes::{BufMut, BytesMut};

use super::{FrameError, FrameHeader, flags, kind};

/// A PING frame: a liveness check or round-trip measurement.
///
/// On receipt of a PING without `ack`, answer with [`PingFrame::pong`] ahead of other
/// queued frames (RFC 9113 §6.7); an ACK answers one of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PingFrame {
    /// ACK: this frame answers a PING.
    pub ack: bool,
    /// Opaque data, echoed in the answer.
    pub payload: [u8; 8],
}

impl PingFrame {
    /// Length of the payload.
    const LEN: usize = 8;

    /// A PING (not an ACK) with this payload.
    #[must_use]
    pub const fn new(payload: [u8; 8]) -> PingFrame {
        PingFrame { ack: false, payload }
    }

    /// The ACK that answers this PING: the same payload with `ack` set.
    #[must_use]
    pub const fn pong(&self) -> PingFrame {
        PingFrame { ack: true, payload: self.payload }
    }

    /// Appends the whole frame (on stream 0).
    pub fn encode(&self, dst: &mut BytesMut) {
        let bits = if self.ack { flags::ACK } else { 0 };
        FrameHeader::new(kind::PING, bits, super::StreamId::ZERO, Self::LEN as u32).encode(dst);
        dst.put_slice(&self.payload);
    }

    /// Decodes the payload of a validated PING header: a length other than 8 is a connection
    /// error FRAME_SIZE_ERROR.
    pub(crate) fn decode(header: &FrameHeader, payload: &[u8]) -> Result<PingFrame, FrameError> {
        let payload: [u8; 8] = payload.try_into().map_err(|_| FrameError::invalid_length(payload.len()))?;
        Ok(PingFrame { ack: header.has_flag(flags::ACK), payload })
    }
}

impl From<PingFrame> for super::Frame {
    fn from(frame: PingFrame) -> super::Frame {
        super::Frame::Ping(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Reason;
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn round_trip_ping_and_pong() {
        let ping = PingFrame::new(*b"01234567");
        assert_eq!(round_trip(ping), raw(kind::PING, 0, 0, b"01234567"));
        assert_eq!(round_trip(ping.pong()), raw(kind::PING, flags::ACK, 0, b"01234567"));
    }

    #[test]
    fn length_other_than_8_is_a_connection_frame_size_error() {
        for payload in [&b""[..], b"1234567", b"123456789"] {
            let err = error(&raw(kind::PING, 0, 0, payload));
            assert!(err.is_connection_error());
            assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
        }
    }
}
