//! DATA held for a WebSocket session that is not reading yet.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::exchange::KEEP_WHOLE;

/// The bytes of DATA frames waiting for a reader, in order. The stream's window
/// bounds their bytes but not the frames they come in: frames shorter than
/// [`KEEP_WHOLE`] are copied onto one growing tail, so a client sending a byte
/// per frame costs a byte each, not a queue entry and a kept-alive read buffer
/// each.
#[derive(Debug, Default)]
pub(super) struct HeldBytes {
    whole: VecDeque<Bytes>,
    tail: BytesMut,
}

impl HeldBytes {
    pub(super) fn push(&mut self, data: Bytes) {
        if self.tail.is_empty() && data.len() >= KEEP_WHOLE {
            self.whole.push_back(data);
        } else {
            self.tail.extend_from_slice(&data);
        }
    }

    /// The oldest held bytes: one whole frame, or everything copied together.
    pub(super) fn pop(&mut self) -> Option<Bytes> {
        self.whole.pop_front().or_else(|| (!self.tail.is_empty()).then(|| self.tail.split().freeze()))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.whole.is_empty() && self.tail.is_empty()
    }

    /// How many bytes are held.
    pub(super) fn len(&self) -> usize {
        self.whole.iter().map(Bytes::len).sum::<usize>() + self.tail.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_frames_are_copied_together_in_order() {
        let mut held = HeldBytes::default();
        let big = Bytes::from(vec![b'b'; KEEP_WHOLE]);
        held.push(big.clone());
        for _ in 0..1000 {
            held.push(Bytes::from_static(b"x"));
        }
        held.push(big.clone());
        assert_eq!(held.len(), 2 * KEEP_WHOLE + 1000);
        assert_eq!(held.whole.len(), 1, "frames after the tail started go onto it");
        assert_eq!(held.pop(), Some(big));
        let rest = held.pop().expect("the tail");
        assert_eq!(rest.len(), 1000 + KEEP_WHOLE);
        assert!(rest.starts_with(&[b'x'; 1000]));
        assert!(held.is_empty());
        assert_eq!(held.pop(), None);
    }
}
