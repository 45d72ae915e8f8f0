//! PRIORITY frames and the stream dependency fields they share with HEADERS (RFC 9113 §6.3,
//! §5.3.2). RFC 9113 deprecates this scheme; a server may parse and otherwise ignore it.

use bytes::{BufMut, BytesMut};

use super::{ErrorKind, FrameError, FrameHeader, Reason, StreamId, kind, read_u32};

/// The RFC 7540 priority fields: 4 bytes of exclusive flag and dependency, 1 byte of weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamDependency {
    /// The stream this one depends on (0: the root).
    pub dependency: StreamId,
    /// The weight as written on the wire, 0..=255; the weight it stands for is one more
    /// (see [`StreamDependency::weight`]).
    pub weight: u8,
    /// E: the dependency is exclusive.
    pub exclusive: bool,
}

impl StreamDependency {
    /// Length of the fields on the wire.
    pub const LEN: usize = 5;

    /// The default priority (RFC 7540 §5.3.5): non-exclusive on stream 0, weight 16.
    pub const DEFAULT: StreamDependency =
        StreamDependency { dependency: StreamId::ZERO, weight: 15, exclusive: false };

    /// The weight the wire value stands for, 1..=256.
    #[must_use]
    pub const fn weight(&self) -> u16 {
        self.weight as u16 + 1
    }

    /// Whether a stream with this dependency depends on itself, which RFC 9113 §5.3.1 makes
    /// a stream error PROTOCOL_ERROR.
    #[must_use]
    pub fn depends_on(&self, stream_id: StreamId) -> bool {
        self.dependency == stream_id
    }

    /// Reads the fields from the first [`StreamDependency::LEN`] bytes of `src`.
    pub(crate) fn decode(src: &[u8]) -> StreamDependency {
        let word = read_u32(src);
        StreamDependency {
            dependency: StreamId::new(word),
            weight: src[4],
            exclusive: word & 0x8000_0000 != 0,
        }
    }

    /// Appends the 5 bytes of the fields.
    pub(crate) fn encode(&self, dst: &mut BytesMut) {
        let exclusive = if self.exclusive { 0x8000_0000 } else { 0 };
        dst.put_u32(self.dependency.get() | exclusive);
        dst.put_u8(self.weight);
    }
}

impl Default for StreamDependency {
    fn default() -> StreamDependency {
        StreamDependency::DEFAULT
    }
}

/// A PRIORITY frame: the peer's advice on how to prioritize a stream. It may arrive for a
/// stream in any state, including idle and closed ones; it never opens a stream. A server
/// that uses RFC 9218 priorities (or none) can ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PriorityFrame {
    /// The stream being prioritized (never 0).
    pub stream_id: StreamId,
    /// Its new dependency and weight.
    pub dependency: StreamDependency,
}

impl PriorityFrame {
    /// Appends the whole frame.
    pub fn encode(&self, dst: &mut BytesMut) {
        FrameHeader::new(kind::PRIORITY, 0, self.stream_id, StreamDependency::LEN as u32).encode(dst);
        self.dependency.encode(dst);
    }

    /// Decodes the payload of a validated PRIORITY header. A wrong length is a *stream*
    /// error FRAME_SIZE_ERROR (RFC 9113 §6.3), a self-dependency a stream error
    /// PROTOCOL_ERROR (§5.3.1).
    pub(crate) fn decode(header: &FrameHeader, payload: &[u8]) -> Result<PriorityFrame, FrameError> {
        if payload.len() != StreamDependency::LEN {
            let kind = ErrorKind::InvalidLength { length: header.length };
            return Err(FrameError::stream(header.stream_id, Reason::FRAME_SIZE_ERROR, kind));
        }
        let dependency = StreamDependency::decode(payload);
        if dependency.depends_on(header.stream_id) {
            let kind = ErrorKind::SelfDependency;
            return Err(FrameError::stream(header.stream_id, Reason::PROTOCOL_ERROR, kind));
        }
        Ok(PriorityFrame { stream_id: header.stream_id, dependency })
    }
}

impl From<PriorityFrame> for super::Frame {
    fn from(frame: PriorityFrame) -> super::Frame {
        super::Frame::Priority(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{ErrorScope, Frame};
    use super::*;

    #[test]
    fn round_trip_exclusive_with_max_weight() {
        let dependency = StreamDependency { dependency: StreamId::new(3), weight: 255, exclusive: true };
        let wire = round_trip(PriorityFrame { stream_id: StreamId::new(5), dependency });
        assert_eq!(wire, raw(kind::PRIORITY, 0, 5, &[0x80, 0, 0, 3, 255]));
        assert_eq!(dependency.weight(), 256);
    }

    #[test]
    fn round_trip_default_dependency() {
        let frame = PriorityFrame { stream_id: StreamId::new(1), dependency: StreamDependency::default() };
        assert_eq!(round_trip(frame), raw(kind::PRIORITY, 0, 1, &[0, 0, 0, 0, 15]));
        assert_eq!(StreamDependency::DEFAULT.weight(), 16);
    }

    #[test]
    fn wrong_length_is_a_stream_frame_size_error() {
        for payload in [&[0u8; 4][..], &[0u8; 6][..], &[][..]] {
            let err = error(&raw(kind::PRIORITY, 0, 7, payload));
            assert_eq!(err.scope(), ErrorScope::Stream(StreamId::new(7)));
            assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
        }
    }

    #[test]
    fn self_dependency_is_a_stream_protocol_error() {
        let err = error(&raw(kind::PRIORITY, 0, 9, &[0x80, 0, 0, 9, 0]));
        assert_eq!(err.scope(), ErrorScope::Stream(StreamId::new(9)));
        assert_eq!((err.reason(), err.kind()), (Reason::PROTOCOL_ERROR, ErrorKind::SelfDependency));
    }

    #[test]
    fn priority_for_an_idle_stream_decodes() {
        let frame = decode(&raw(kind::PRIORITY, 0xff, 101, &[0, 0, 0, 1, 7])).unwrap();
        let Frame::Priority(priority) = frame else { panic!("{frame:?}") };
        assert_eq!(priority.dependency.dependency, StreamId::new(1));
        assert!(!priority.dependency.exclusive);
    }
}
