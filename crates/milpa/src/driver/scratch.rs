//! One read buffer per thread, shared by every connection on it. The protocol
//! machines copy what they are handed, so a connection needs no buffer of its
//! own between reads: an idle connection (a keep-alive client, or one of ten
//! thousand slowloris sockets) costs 16 KiB less.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::AsyncRead;

use crate::metrics::Metrics;

/// Bytes read from a socket per call.
pub(crate) const READ_CHUNK: usize = 16 * 1024;

thread_local! {
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

/// Reads once from `io` into the thread's buffer and hands the bytes (none at
/// EOF) to `received`, which must not read from a socket itself.
pub(crate) fn poll_read<S: AsyncRead + Unpin>(
    io: &mut S,
    cx: &mut Context<'_>,
    received: impl FnOnce(&[u8]),
) -> Poll<io::Result<usize>> {
    SCRATCH.with(|scratch| {
        let mut buf = scratch.borrow_mut();
        let read = Pin::new(io).poll_read(cx, &mut buf);
        if let Poll::Ready(Ok(n)) = read {
            received(&buf[..n]);
        }
        read
    })
}

/// What one read from a socket brought.
pub(crate) enum Received {
    /// Bytes, handed to the receiver.
    Data,
    /// The end of the peer's stream.
    Eof,
    /// Nothing: the task is woken when the socket turns readable.
    Nothing,
}

/// Reads once from `io` and hands the bytes to `receive` (never an empty slice),
/// counting them in `metrics`. The caller acts on [`Received::Eof`].
pub(crate) fn receive<S: AsyncRead + Unpin>(
    io: &mut S,
    cx: &mut Context<'_>,
    metrics: Option<&Metrics>,
    receive: impl FnOnce(&[u8]),
) -> io::Result<Received> {
    let read = poll_read(io, cx, |data| {
        if !data.is_empty() {
            if let Some(metrics) = metrics {
                metrics.received(data.len());
            }
            receive(data);
        }
    });
    match read {
        Poll::Ready(Ok(0)) => Ok(Received::Eof),
        Poll::Ready(Ok(_)) => Ok(Received::Data),
        Poll::Ready(Err(error)) => Err(error),
        Poll::Pending => Ok(Received::Nothing),
    }
}
