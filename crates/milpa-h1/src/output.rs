//! The queue of bytes waiting to be written, in order, ready for a vectored write.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

/// Body pieces shorter than this are copied next to their framing instead of
/// taking an I/O vector of their own.
const COALESCE_BELOW: usize = 1024;
/// The tail's first size. Once the writer has dropped every piece split off it,
/// the next response starts again at the front of the same buffer
/// ([`Output::rewind`]), so a connection whose responses fit holds no more: one
/// answered once (an error, a timed-out slowloris socket: ten thousand of them
/// at once) or kept alive between small responses.
const TAIL_FIRST_STEP: usize = 512;
/// The most the tail grows by: it doubles each time it runs out, so a client
/// pipelining a batch of responses soon has them written into one buffer.
const TAIL_CHUNK: usize = 4096;

#[derive(Debug)]
pub(crate) struct Output {
    /// Finished pieces, oldest first.
    queue: VecDeque<Bytes>,
    /// Bytes written after the last queued piece.
    tail: BytesMut,
    len: usize,
    /// What the tail asks for when it next runs out.
    step: usize,
}

impl Default for Output {
    fn default() -> Self {
        Self { queue: VecDeque::new(), tail: BytesMut::new(), len: 0, step: TAIL_FIRST_STEP }
    }
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

    /// Asks for a whole step counting what the tail already holds, so that a
    /// buffer of that size can be taken back (`BytesMut::reserve` reuses it when
    /// it is unshared and its unsent bytes fit before the old offset) instead of
    /// growing whenever it runs out in the middle of a response.
    fn make_room(&mut self, len: usize) {
        if self.tail.capacity() - self.tail.len() < len {
            self.tail.reserve(len.max(self.step.saturating_sub(self.tail.len())));
            self.step = (self.step * 2).min(TAIL_CHUNK);
        }
    }

    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.queue.push_back(self.tail.split().freeze());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a 200-byte response and hands it to the writer, which drops it.
    fn respond(output: &mut Output) {
        output.rewind();
        output.put_slice(&[b'r'; 200]);
        while output.pop().is_some() {}
    }

    #[test]
    fn a_connection_answering_one_small_response_at_a_time_keeps_a_small_tail() {
        let mut output = Output::default();
        respond(&mut output);
        let held = output.tail.capacity();
        for _ in 0..1000 {
            respond(&mut output);
        }
        assert!(output.tail.capacity() + 200 <= TAIL_FIRST_STEP, "{}", output.tail.capacity());
        assert_eq!(output.tail.capacity(), held, "the same buffer, taken back each time");
    }

    #[test]
    fn pipelined_responses_grow_the_tail_by_doubling_steps_up_to_4_kib() {
        let mut output = Output::default();
        let mut in_flight = Vec::new();
        let mut growths = 0;
        for _ in 0..100 {
            let before = output.tail.capacity();
            output.put_slice(&[b'r'; 200]);
            in_flight.extend(output.pop());
            growths += usize::from(output.tail.capacity() > before);
        }
        assert!(growths <= 12, "{growths} growths for 100 responses");
        assert_eq!(output.step, TAIL_CHUNK);
    }
}
