//! The queue of bytes waiting to be written, in order, ready for a vectored write.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

/// Body pieces shorter than this are copied next to their frame header instead of taking
/// an I/O vector of their own.
const COALESCE_BELOW: usize = 1024;

/// Frames ready to write. Offsets count every byte ever queued, so the connection can tell
/// when a given frame (a SETTINGS or PING acknowledgment) has been handed out.
#[derive(Debug, Default)]
pub(crate) struct Output {
    /// Finished pieces, oldest first.
    queue: VecDeque<Bytes>,
    /// Bytes written after the last queued piece; frames are encoded straight into it.
    tail: BytesMut,
    /// Bytes handed out by [`pop`](Self::pop) since the start.
    written: u64,
    /// Bytes queued since the start.
    queued: u64,
    /// Length of `tail` already counted in `queued`.
    counted: usize,
}

impl Output {
    /// Bytes queued and not handed out yet.
    pub(crate) fn len(&self) -> usize {
        usize::try_from(self.queued - self.written).unwrap_or(usize::MAX)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queued == self.written
    }

    /// The buffer to encode frames into; call [`commit`](Self::commit) afterwards.
    pub(crate) fn tail(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    /// Accounts for what was encoded into [`tail`](Self::tail) and returns the offset just
    /// past it: the frame is out once [`written`](Self::written) reaches it.
    pub(crate) fn commit(&mut self) -> u64 {
        self.queued += (self.tail.len() - self.counted) as u64;
        self.counted = self.tail.len();
        self.queued
    }

    /// Queues `bytes` without copying (unless it is small).
    pub(crate) fn put_bytes(&mut self, bytes: Bytes) {
        if bytes.len() < COALESCE_BELOW {
            self.tail.put_slice(&bytes);
            self.commit();
        } else {
            self.seal_tail();
            self.queued += bytes.len() as u64;
            self.queue.push_back(bytes);
        }
    }

    /// Bytes handed out so far.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    pub(crate) fn pop(&mut self) -> Option<Bytes> {
        let piece = match self.queue.pop_front() {
            Some(piece) => piece,
            None if self.tail.is_empty() => return None,
            None => {
                self.commit();
                self.counted = 0;
                self.tail.split().freeze()
            }
        };
        self.written += piece.len() as u64;
        Some(piece)
    }

    fn seal_tail(&mut self) {
        self.commit();
        if !self.tail.is_empty() {
            self.counted = 0;
            self.queue.push_back(self.tail.split().freeze());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_track_what_was_handed_out() {
        let mut output = Output::default();
        output.tail().put_slice(b"abc");
        let end = output.commit();
        assert_eq!(end, 3);
        let big = Bytes::from(vec![7u8; 2000]);
        output.put_bytes(big.clone());
        output.put_bytes(Bytes::from_static(b"xy"));
        assert_eq!(output.len(), 2005);
        assert_eq!(output.pop().unwrap(), "abc");
        assert!(output.written() >= end);
        let piece = output.pop().unwrap();
        assert_eq!(piece.as_ptr(), big.as_ptr(), "large pieces are not copied");
        assert_eq!(output.pop().unwrap(), "xy");
        assert!(output.is_empty());
        assert_eq!(output.pop(), None);
    }
}
