//! One read buffer per thread, shared by every connection on it. The protocol
//! machines copy what they are handed, so a connection needs no buffer of its
//! own between reads: an idle connection (a keep-alive client, or one of ten
//! thousand slowloris sockets) costs 16 KiB less.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::AsyncRead;

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
