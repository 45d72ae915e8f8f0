//! One stream's state (RFC 9113 §5.1) from the server's side, and its send queue.
//!
//! The RFC's states map onto two half-states:
//!
//! | RFC 9113 state       | `recv`   | `send`                  |
//! |----------------------|----------|-------------------------|
//! | open                 | `Open`   | `Idle` / `Open`         |
//! | half-closed (remote) | `Closed` | `Idle` / `Open`         |
//! | half-closed (local)  | `Open`   | `Done` (END_STREAM out) |
//! | reserved (local)     | `Closed` | `Idle`, `pushed`        |
//! | closed               | removed from the connection's map  ||
//!
//! Idle streams have no entry at all: they are known by their identifier being above the
//! last one the client opened (or the last one we promised).

use std::collections::VecDeque;

use bytes::Bytes;

use crate::flow::{RecvWindow, SendWindow};
use crate::frame::StreamId;
use crate::priority::Priority;

/// The client's half of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recv {
    /// More DATA or trailers may come.
    Open,
    /// END_STREAM received (or never expected: a pushed stream).
    Closed,
}

/// Our half of the stream, as the application drives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Send {
    /// No final response yet (informational responses may have gone out).
    Idle,
    /// The response head is queued; body and trailers may follow.
    Open,
    /// The application ended the response; END_STREAM is queued or written.
    Done,
}

#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) id: StreamId,
    pub(crate) recv: Recv,
    pub(crate) send: Send,
    /// END_STREAM has been written into the output (our half is closed on the wire).
    pub(crate) end_sent: bool,
    pub(crate) send_window: SendWindow,
    pub(crate) recv_window: RecvWindow,
    /// Body data waiting for window, oldest first.
    pub(crate) queue: VecDeque<Bytes>,
    /// Bytes in `queue`.
    pub(crate) queued: usize,
    /// Trailers to send once the queue is empty; encoded only then, so HPACK blocks reach
    /// the wire in the order they were encoded.
    pub(crate) trailers: Option<Vec<(Bytes, Bytes)>>,
    /// In the connection's ready list.
    pub(crate) in_ready: bool,
    /// `send_data` was refused for a full buffer: report the stream writable when it drains.
    pub(crate) blocked: bool,
    /// The application knows the stream (its request event was queued, or it pushed it).
    pub(crate) reported: bool,
    /// The application polled the stream's request event (or pushed the stream).
    pub(crate) accepted: bool,
    /// Server-initiated (pushed) stream.
    pub(crate) pushed: bool,
    /// The request's declared `content-length`.
    pub(crate) content_length: Option<u64>,
    /// Request body bytes received so far.
    pub(crate) received: u64,
    /// Request body bytes handed to the application and not released yet.
    pub(crate) unreleased: u64,
    /// The client's RFC 9218 signal; `None` when it sent none (plain round robin).
    pub(crate) priority: Option<Priority>,
    /// The caller reads no more of the request body
    /// ([`Connection::stop_receiving`](crate::Connection::stop_receiving)).
    pub(crate) body_unwanted: bool,
}

impl Stream {
    pub(crate) fn new(id: StreamId, send_window: u32, recv_window: u32) -> Self {
        Self {
            id,
            recv: Recv::Open,
            send: Send::Idle,
            end_sent: false,
            send_window: SendWindow::new(send_window),
            recv_window: RecvWindow::new(recv_window, recv_window),
            queue: VecDeque::new(),
            queued: 0,
            trailers: None,
            in_ready: false,
            blocked: false,
            reported: false,
            accepted: false,
            pushed: false,
            content_length: None,
            received: 0,
            unreleased: 0,
            priority: None,
            body_unwanted: false,
        }
    }

    /// Whether something is waiting to go out: data, trailers or a bare END_STREAM.
    pub(crate) fn has_output(&self) -> bool {
        self.queued > 0 || (self.send == Send::Done && !self.end_sent)
    }

    /// Whether a frame can be cut now, given the connection's send window.
    pub(crate) fn can_send(&self, connection_window: usize) -> bool {
        if self.queued > 0 {
            connection_window > 0 && self.send_window.available() > 0
        } else {
            self.send == Send::Done && !self.end_sent
        }
    }

    /// Both halves are closed: the stream can be forgotten.
    pub(crate) fn is_closed(&self) -> bool {
        self.recv == Recv::Closed && self.end_sent
    }

    /// Our half is closed on the wire and the rest of the client's body is unwanted:
    /// the stream is reset with NO_ERROR (RFC 9113 §8.1).
    pub(crate) fn needs_end_reset(&self) -> bool {
        self.recv == Recv::Open && self.end_sent && self.body_unwanted
    }

    /// Takes up to `max` bytes of queued data, as slices of the queued pieces (no copy).
    pub(crate) fn take_data(&mut self, max: usize, out: &mut Vec<Bytes>) -> usize {
        let mut taken = 0;
        while taken < max {
            let Some(front) = self.queue.front_mut() else { break };
            let n = front.len().min(max - taken);
            if n == front.len() {
                out.extend(self.queue.pop_front());
            } else {
                out.push(front.split_to(n));
            }
            taken += n;
        }
        self.queued -= taken;
        taken
    }

    /// Scheduling key: lower goes first. Urgency, then non-incremental streams in stream
    /// order, then incremental ones (and those without a signal) in round-robin order.
    pub(crate) fn sort_key(&self, position: usize) -> (u8, u8, u64) {
        match self.priority {
            Some(Priority { urgency, incremental: false }) => (urgency, 0, u64::from(self.id.get())),
            Some(Priority { urgency, incremental: true }) => (urgency, 1, position as u64),
            None => (Priority::default().urgency, 1, position as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_data_slices_without_copying() {
        let mut stream = Stream::new(StreamId::new(1), 100, 100);
        let first = Bytes::from_static(b"hello");
        stream.queue.push_back(first.clone());
        stream.queue.push_back(Bytes::from_static(b"world"));
        stream.queued = 10;
        let mut out = Vec::new();
        assert_eq!(stream.take_data(7, &mut out), 7);
        assert_eq!(out, [Bytes::from_static(b"hello"), Bytes::from_static(b"wo")]);
        assert_eq!(out[0].as_ptr(), first.as_ptr());
        assert_eq!(stream.queued, 3);
        assert!(stream.has_output());
    }
}
