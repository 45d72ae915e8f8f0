//! The queue of bytes waiting to be written, in order, ready for a vectored write.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

/// Body pieces shorter than this are copied next to their framing instead of
/// taking an I/O vector of their own.
const COALESCE_BELOW: usize = 1024;
/// The tail's usual size: it holds a batch of pipelined responses per
/// allocation. Once the writer has dropped every piece split off it, the next
/// response starts again at the front of the same buffer ([`Output::rewind`]),
/// so responses are written into memory still in cache instead of walking
/// through the buffer or a fresh allocation. A connection that has answered
/// keeps this much.
const TAIL_CHUNK: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct Output {
    /// Finished pieces, oldest first.
    queue: VecDeque<Bytes>,
    /// Bytes written after the last queued piece.
    tail: BytesMut,
    len: usize,
}

impl Output {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Called as a response begins: an empty tail whose pieces the writer has
    /// dropped starts again at the front of its buffer (see [`crate::rewind`]).
    pub(crate) fn rewind(&mut self) {
        crate::rewind::rewind(&mut self.tail);
    }

    pub(crate) fn put_slice(&mut self, bytes: &[u8]) {
        self.make_room(bytes.len());
        self.tail.put_slice(bytes);
        self.len += bytes.len();
    }

    /// Writes `name: value\r\n` with one capacity check.
    pub(crate) fn put_field(&mut self, name: &[u8], value: &[u8]) {
        let len = name.len() + value.len() + 4;
        self.make_room(len);
        self.tail.put_slice(name);
        self.tail.put_u8(b':');
        self.tail.put_u8(b' ');
        self.tail.put_slice(value);
        self.tail.put_u8(b'\r');
        self.tail.put_u8(b'\n');
        self.len += len;
    }

    /// Queues `bytes` without copying (unless it is small).
    pub(crate) fn put_bytes(&mut self, bytes: Bytes) {
        if bytes.len() < COALESCE_BELOW {
            self.put_slice(&bytes);
            return;
        }
        self.seal_tail();
        self.len += bytes.len();
        self.queue.push_back(bytes);
    }

    /// Length of the unsealed tail, a mark that [`truncate`](Self::truncate) can return to.
    pub(crate) fn mark(&self) -> usize {
        self.tail.len()
    }

    /// What was written to the tail since `mark`.
    pub(crate) fn written_since(&self, mark: usize) -> &[u8] {
        &self.tail[mark..]
    }

    /// Drops what was written to the tail since `mark`.
    pub(crate) fn truncate(&mut self, mark: usize) {
        self.len -= self.tail.len() - mark;
        self.tail.truncate(mark);
    }

    pub(crate) fn pop(&mut self) -> Option<Bytes> {
        let piece = match self.queue.pop_front() {
            Some(piece) => piece,
            None if self.tail.is_empty() => return None,
            None => self.tail.split().freeze(),
        };
        self.len -= piece.len();
        Some(piece)
    }

    /// Asks for a whole [`TAIL_CHUNK`] counting what the tail already holds, so
    /// that a buffer of that size can be taken back (`BytesMut::reserve` reuses it
    /// when it is unshared and its unsent bytes fit before the old offset) instead
    /// of doubling whenever it runs out in the middle of a response.
    fn make_room(&mut self, len: usize) {
        if self.tail.capacity() - self.tail.len() < len {
            self.tail.reserve(len.max(TAIL_CHUNK.saturating_sub(self.tail.len())));
        }
    }

    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.queue.push_back(self.tail.split().freeze());
        }
    }
}
