//! The few things the server needs from an async runtime. Each runtime adapter
//! crate provides them; everything protocol- or policy-related stays in the driver.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_io::{AsyncRead, AsyncWrite};

/// An async runtime the server can run on.
pub trait Runtime: Clone + Send + Sync + Unpin + 'static {
    /// A listening TCP socket registered with the runtime.
    type Listener: Send + Sync + 'static;
    /// An accepted connection.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A listening Unix-domain socket registered with the runtime.
    type UnixListener: Send + Sync + 'static;
    /// An accepted Unix-domain connection.
    type UnixStream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A timer that can be re-armed.
    type Sleep: Future<Output = ()> + Unpin + Send + 'static;

    /// Runs `future` as a task of its own.
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// Runs blocking `work` (file reads) on the runtime's blocking pool.
    fn spawn_blocking(&self, work: Box<dyn FnOnce() + Send + 'static>);

    /// A timer firing at `deadline`.
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;

    /// Moves a timer's deadline.
    fn reset_sleep(&self, sleep: &mut Self::Sleep, deadline: Instant);

    /// Registers a bound, listening socket (bound by the server with its options).
    fn listener(&self, listener: std::net::TcpListener) -> io::Result<Self::Listener>;

    /// Accepts the next connection, with `TCP_NODELAY` set.
    fn poll_accept(
        &self,
        listener: &Self::Listener,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Self::Stream, SocketAddr)>>;

    /// Registers a bound, listening Unix-domain socket.
    fn unix_listener(&self, listener: std::os::unix::net::UnixListener) -> io::Result<Self::UnixListener>;

    /// Accepts the next Unix-domain connection.
    fn poll_accept_unix(
        &self,
        listener: &Self::UnixListener,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Self::UnixStream>>;
}

#[cfg(feature = "tokio")]
mod tokio_runtime {
    use super::*;
    use milpa_tokio::{Sleep, TcpListener, TcpStream, Tokio, UnixListener, UnixStream};

    impl Runtime for Tokio {
        type Listener = TcpListener;
        type Stream = TcpStream;
        type UnixListener = UnixListener;
        type UnixStream = UnixStream;
        type Sleep = Sleep;

        fn spawn<F>(&self, future: F)
        where
            F: Future<Output = ()> + Send + 'static,
        {
            Tokio::spawn(self, future);
        }

        fn spawn_blocking(&self, work: Box<dyn FnOnce() + Send + 'static>) {
            Tokio::spawn_blocking(self, work);
        }

        fn sleep_until(&self, deadline: Instant) -> Sleep {
            Tokio::sleep_until(self, deadline)
        }

        fn reset_sleep(&self, sleep: &mut Sleep, deadline: Instant) {
            sleep.reset(deadline);
        }

        fn listener(&self, listener: std::net::TcpListener) -> io::Result<TcpListener> {
            Tokio::listener(self, listener)
        }

        fn poll_accept(
            &self,
            listener: &TcpListener,
            cx: &mut Context<'_>,
        ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
            listener.poll_accept(cx)
        }

        fn unix_listener(&self, listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
            Tokio::unix_listener(self, listener)
        }

        fn poll_accept_unix(
            &self,
            listener: &UnixListener,
            cx: &mut Context<'_>,
        ) -> Poll<io::Result<UnixStream>> {
            listener.poll_accept(cx)
        }
    }
}

#[cfg(feature = "smol")]
mod smol_runtime {
    use super::*;
    use milpa_smol::{Sleep, Smol, TcpListener, TcpStream, UnixListener, UnixStream};

    impl Runtime for Smol {
        type Listener = TcpListener;
        type Stream = TcpStream;
        type UnixListener = UnixListener;
        type UnixStream = UnixStream;
        type Sleep = Sleep;

        fn spawn<F>(&self, future: F)
        where
            F: Future<Output = ()> + Send + 'static,
        {
            Smol::spawn(self, future);
        }

        fn spawn_blocking(&self, work: Box<dyn FnOnce() + Send + 'static>) {
            Smol::spawn_blocking(self, work);
        }

        fn sleep_until(&self, deadline: Instant) -> Sleep {
            Smol::sleep_until(self, deadline)
        }

        fn reset_sleep(&self, sleep: &mut Sleep, deadline: Instant) {
            sleep.reset(deadline);
        }

        fn listener(&self, listener: std::net::TcpListener) -> io::Result<TcpListener> {
            Smol::listener(self, listener)
        }

        fn poll_accept(
            &self,
            listener: &TcpListener,
            cx: &mut Context<'_>,
        ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
            listener.poll_accept(cx)
        }

        fn unix_listener(&self, listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
            Smol::unix_listener(self, listener)
        }

        fn poll_accept_unix(
            &self,
            listener: &UnixListener,
            cx: &mut Context<'_>,
        ) -> Poll<io::Result<UnixStream>> {
            listener.poll_accept(cx)
        }
    }
}

#[cfg(feature = "async-std")]
mod async_std_runtime {
    use super::*;
    use milpa_async_std::{AsyncStd, Sleep, TcpListener, TcpStream, UnixListener, UnixStream};

    impl Runtime for AsyncStd {
        type Listener = TcpListener;
        type Stream = TcpStream;
        type UnixListener = UnixListener;
        type UnixStream = UnixStream;
        type Sleep = Sleep;

        fn spawn<F>(&self, future: F)
        where
            F: Future<Output = ()> + Send + 'static,
        {
            AsyncStd::spawn(self, future);
        }

        fn spawn_blocking(&self, work: Box<dyn FnOnce() + Send + 'static>) {
            AsyncStd::spawn_blocking(self, work);
        }

        fn sleep_until(&self, deadline: Instant) -> Sleep {
            AsyncStd::sleep_until(self, deadline)
        }

        fn reset_sleep(&self, sleep: &mut Sleep, deadline: Instant) {
            sleep.reset(deadline);
        }

        fn listener(&self, listener: std::net::TcpListener) -> io::Result<TcpListener> {
            AsyncStd::listener(self, listener)
        }

        fn poll_accept(
            &self,
            listener: &TcpListener,
            cx: &mut Context<'_>,
        ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
            listener.poll_accept(cx)
        }

        fn unix_listener(&self, listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
            AsyncStd::unix_listener(self, listener)
        }

        fn poll_accept_unix(
            &self,
            listener: &UnixListener,
            cx: &mut Context<'_>,
        ) -> Poll<io::Result<UnixStream>> {
            listener.poll_accept(cx)
        }
    }
}
