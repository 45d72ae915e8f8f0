//! Stream identifiers (RFC 9113 §5.1.1).

use core::fmt;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A 31-bit stream identifier. Stream 0 is the connection itself; clients open odd-numbered
/// streams, servers (push) even-numbered ones.
///
/// The reserved high bit of the wire field is dropped on decode and never set on encode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(u32);

impl StreamId {
    /// Stream 0: frames about the connection as a whole.
    pub const ZERO: StreamId = StreamId(0);

    /// The largest stream identifier, 2^31-1. A connection that needs a higher one must be
    /// replaced by a new connection (RFC 9113 §5.1.1).
    pub const MAX: StreamId = StreamId(0x7fff_ffff);

    /// A stream identifier from a number; the reserved high bit is cleared.
    #[must_use]
    pub const fn new(id: u32) -> StreamId {
        StreamId(id & Self::MAX.0)
    }

    /// The identifier as a number, at most [`StreamId::MAX`].
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Whether this is stream 0, the connection.
    #[must_use]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Whether a client opens this stream: odd identifiers (RFC 9113 §5.1.1).
    #[must_use]
    pub const fn is_client_initiated(self) -> bool {
        !self.0.is_multiple_of(2)
    }

    /// Whether a server opens this stream (by PUSH_PROMISE): even identifiers other than 0.
    #[must_use]
    pub const fn is_server_initiated(self) -> bool {
        self.0 != 0 && self.0.is_multiple_of(2)
    }
}

impl From<u32> for StreamId {
    /// Same as [`StreamId::new`]: the reserved bit is cleared.
    fn from(id: u32) -> StreamId {
        StreamId::new(id)
    }
}

impl From<StreamId> for u32 {
    fn from(id: StreamId) -> u32 {
        id.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A map keyed by stream, hashed with [`StreamIdHasher`].
pub type StreamIdMap<V> = HashMap<StreamId, V, BuildHasherDefault<StreamIdHasher>>;

/// Hashes stream identifiers with one multiplication. A client picks them, but only in
/// increasing order and at most `max_concurrent_streams` at a time, so there is no
/// flood of collisions to defend against and SipHash's cost buys nothing; the high half
/// of the product is folded into the low bits a table indexes by, so identifiers that
/// differ only in high bits still spread.
#[derive(Debug, Default, Clone, Copy)]
pub struct StreamIdHasher(u64);

impl Hasher for StreamIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u32(u32::from(byte));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initiator_helpers() {
        assert!(StreamId::ZERO.is_zero());
        assert!(!StreamId::ZERO.is_client_initiated() && !StreamId::ZERO.is_server_initiated());
        assert!(StreamId::new(1).is_client_initiated() && !StreamId::new(1).is_server_initiated());
        assert!(StreamId::new(2).is_server_initiated() && !StreamId::new(2).is_client_initiated());
        assert!(StreamId::MAX.is_client_initiated());
    }

    #[test]
    fn reserved_bit_is_cleared() {
        assert_eq!(StreamId::new(0x8000_0003), StreamId::new(3));
        assert_eq!(StreamId::from(u32::MAX), StreamId::MAX);
        assert_eq!(u32::from(StreamId::MAX), 0x7fff_ffff);
        assert_eq!(StreamId::new(0x8000_0000), StreamId::ZERO);
        assert_eq!(StreamId::new(42).to_string(), "42");
    }

    #[test]
    fn identifiers_far_apart_land_in_different_buckets() {
        use std::hash::BuildHasher;
        let build = BuildHasherDefault::<StreamIdHasher>::default();
        // A table of 128 buckets indexes by the low 7 bits of the hash.
        let buckets: std::collections::HashSet<u64> =
            (0..64u32).map(|i| build.hash_one(StreamId::new(1 + (i << 24))) & 127).collect();
        assert!(buckets.len() > 32, "{} buckets for 64 identifiers", buckets.len());
    }
}
