//! milpa's runtime adapter for tokio.
//!
//! The primitives milpa's connection driver needs — spawning, timers, accepting
//! TCP connections, `futures-io` streams, shutdown signals — and nothing else: no
//! protocol or policy lives here. The `milpa` crate implements its `Runtime`
//! trait on [`Tokio`] when its `tokio` feature is on.

#![forbid(unsafe_code)]

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

/// A handle to a tokio runtime.
#[derive(Debug, Clone)]
pub struct Tokio {
    handle: tokio::runtime::Handle,
}

impl Tokio {
    /// The runtime this is called from. Panics outside a tokio runtime.
    pub fn current() -> Self {
        Self { handle: tokio::runtime::Handle::current() }
    }

    /// Runs `future` as a new task.
    pub fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.handle.spawn(future));
    }

    /// Runs blocking `work` on tokio's blocking thread pool.
    pub fn spawn_blocking<F: FnOnce() + Send + 'static>(&self, work: F) {
        drop(self.handle.spawn_blocking(work));
    }

    /// A timer that fires at `deadline`.
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep(Box::pin(tokio::time::sleep_until(deadline.into())))
    }

    /// Registers a bound, listening std socket with this runtime.
    pub fn listener(&self, listener: std::net::TcpListener) -> io::Result<TcpListener> {
        let _guard = self.handle.enter();
        listener.set_nonblocking(true)?;
        tokio::net::TcpListener::from_std(listener).map(TcpListener)
    }

    /// Registers a bound, listening Unix-domain socket with this runtime.
    pub fn unix_listener(&self, listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        let _guard = self.handle.enter();
        listener.set_nonblocking(true)?;
        tokio::net::UnixListener::from_std(listener).map(UnixListener)
    }

    /// Resolves on SIGINT or SIGTERM (Ctrl-C elsewhere).
    pub async fn shutdown_signal() {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let interrupt = signal(SignalKind::interrupt());
            let terminate = signal(SignalKind::terminate());
            if let (Ok(mut interrupt), Ok(mut terminate)) = (interrupt, terminate) {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
                return;
            }
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Builds a runtime and runs `future` on it to completion: a current-thread
/// runtime for `threads == 1`, else a multi-thread one with that many workers
/// (`0`: one per core).
pub fn block_on<F: Future>(threads: usize, future: F) -> io::Result<F::Output> {
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if threads > 0 {
            builder.worker_threads(threads);
        }
        builder.enable_all().build()?
    };
    Ok(runtime.block_on(future))
}

/// A timer; re-arm it with [`Sleep::reset`] instead of allocating a new one.
#[derive(Debug)]
pub struct Sleep(Pin<Box<tokio::time::Sleep>>);

impl Sleep {
    /// Moves the deadline.
    pub fn reset(&mut self, deadline: Instant) {
        self.0.as_mut().reset(deadline.into());
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

/// A listening TCP socket.
#[derive(Debug)]
pub struct TcpListener(tokio::net::TcpListener);

impl TcpListener {
    /// Accepts a connection, with `TCP_NODELAY` set.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (stream, peer) = std::task::ready!(self.0.poll_accept(cx))?;
        stream.set_nodelay(true)?;
        Poll::Ready(Ok((Stream(stream), peer)))
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// A listening Unix-domain socket.
#[derive(Debug)]
pub struct UnixListener(tokio::net::UnixListener);

impl UnixListener {
    /// Accepts a connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<UnixStream>> {
        let (stream, _) = std::task::ready!(self.0.poll_accept(cx))?;
        Poll::Ready(Ok(Stream(stream)))
    }
}

/// A connected stream speaking the `futures-io` traits.
#[derive(Debug)]
pub struct Stream<T>(T);

/// A connected TCP stream.
pub type TcpStream = Stream<tokio::net::TcpStream>;
/// A connected Unix-domain stream.
pub type UnixStream = Stream<tokio::net::UnixStream>;

impl<T: tokio::io::AsyncRead + Unpin> futures_io::AsyncRead for Stream<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut read_buf = tokio::io::ReadBuf::new(buf);
        std::task::ready!(tokio::io::AsyncRead::poll_read(
            Pin::new(&mut self.get_mut().0),
            cx,
            &mut read_buf
        ))?;
        Poll::Ready(Ok(read_buf.filled().len()))
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> futures_io::AsyncWrite for Stream<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(Pin::new(&mut self.get_mut().0), cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write_vectored(Pin::new(&mut self.get_mut().0), cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(Pin::new(&mut self.get_mut().0), cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut self.get_mut().0), cx)
    }
}
