//! Bytes waiting for the socket, written with as few vectored writes as possible.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use futures_io::AsyncWrite;

/// Most pieces handed to one `writev`.
const MAX_IOVECS: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct WriteQueue {
    pieces: VecDeque<Bytes>,
    len: usize,
    /// Counts the bytes written, when metrics are on.
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    /// Since when output has waited without a byte taken by the socket.
    stalled_since: Option<Instant>,
}

/// What one [`WriteQueue::flush`] did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flushed {
    /// Everything queued is out.
    pub(crate) all: bool,
    /// Some bytes went out.
    pub(crate) some: bool,
}

impl WriteQueue {
    pub(crate) fn new(metrics: Option<std::sync::Arc<crate::metrics::Metrics>>) -> Self {
        Self { metrics, ..Self::default() }
    }

    pub(crate) fn push(&mut self, piece: Bytes) {
        if !piece.is_empty() {
            self.len += piece.len();
            self.pieces.push_back(piece);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Writes what the socket takes and keeps the send-timeout clock: it runs
    /// while output waits and nothing goes out, and stops once something does.
    pub(crate) fn flush<W>(&mut self, io: &mut W, cx: &mut Context<'_>, now: Instant) -> io::Result<Flushed>
    where
        W: AsyncWrite + Unpin,
    {
        let before = self.len;
        let all = self.poll_flush(io, cx)?.is_ready();
        let some = self.len < before;
        self.stalled_since = match (all, some) {
            (true, _) => None,
            (false, true) => Some(now),
            (false, false) => self.stalled_since.or(Some(now)),
        };
        Ok(Flushed { all, some })
    }

    /// When the send timeout expires for output that is not being read.
    pub(crate) fn stall_deadline(&self, send_timeout: Duration) -> Option<Instant> {
        self.stalled_since.map(|since| since + send_timeout)
    }

    /// An error once the client has read nothing of the pending output for `send_timeout`.
    pub(crate) fn check_stall(&self, now: Instant, send_timeout: Duration) -> io::Result<()> {
        match self.stall_deadline(send_timeout) {
            Some(deadline) if now >= deadline => {
                Err(io::Error::new(io::ErrorKind::TimedOut, "client stopped reading (send timeout)"))
            }
            _ => Ok(()),
        }
    }

    /// Writes until everything is out (`Ready(Ok)`), the socket is full (`Pending`),
    /// or it fails.
    pub(crate) fn poll_flush<W>(&mut self, io: &mut W, cx: &mut Context<'_>) -> Poll<io::Result<()>>
    where
        W: AsyncWrite + Unpin,
    {
        while !self.pieces.is_empty() {
            let written = if self.pieces.len() == 1 {
                // One buffer: a plain write (send) is cheaper in the kernel than writev.
                std::task::ready!(Pin::new(&mut *io).poll_write(cx, &self.pieces[0]))?
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let count = self.pieces.len().min(MAX_IOVECS);
                for (slice, piece) in slices.iter_mut().zip(&self.pieces) {
                    *slice = IoSlice::new(piece);
                }
                std::task::ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices[..count]))?
            };
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.advance(written);
        }
        // A TLS stream may hold records back until flushed.
        Pin::new(&mut *io).poll_flush(cx)
    }

    fn advance(&mut self, mut written: usize) {
        self.len -= written;
        if let Some(metrics) = &self.metrics {
            metrics.sent(written);
        }
        while written > 0 {
            let Some(front) = self.pieces.front_mut() else { return };
            if written < front.len() {
                front.advance(written);
                return;
            }
            written -= front.len();
            self.pieces.pop_front();
        }
    }
}
