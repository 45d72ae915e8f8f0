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

/// Implements [`Runtime`] for an adapter crate's handle: every adapter exposes the
/// same inherent methods and types, so the glue is the same for each.
macro_rules! adapter_runtime {
    ($feature:literal, $module:ident, $adapter:ident, $handle:ident) => {
        #[cfg(feature = $feature)]
        mod $module {
            use super::*;
            use $adapter::{Sleep, TcpListener, TcpStream, UnixListener, UnixStream, $handle};

            impl Runtime for $handle {
                type Listener = TcpListener;
                type Stream = TcpStream;
                type UnixListener = UnixListener;
                type UnixStream = UnixStream;
                type Sleep = Sleep;

                fn spawn<F>(&self, future: F)
                where
                    F: Future<Output = ()> + Send + 'static,
                {
                    $handle::spawn(self, future);
                }

                fn spawn_blocking(&self, work: Box<dyn FnOnce() + Send + 'static>) {
                    $handle::spawn_blocking(self, work);
                }

                fn sleep_until(&self, deadline: Instant) -> Sleep {
                    $handle::sleep_until(self, deadline)
                }

                fn reset_sleep(&self, sleep: &mut Sleep, deadline: Instant) {
                    sleep.reset(deadline);
                }

                fn listener(&self, listener: std::net::TcpListener) -> io::Result<TcpListener> {
                    $handle::listener(self, listener)
                }

                fn poll_accept(
                    &self,
                    listener: &TcpListener,
                    cx: &mut Context<'_>,
                ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
                    listener.poll_accept(cx)
                }

                fn unix_listener(
                    &self,
                    listener: std::os::unix::net::UnixListener,
                ) -> io::Result<UnixListener> {
                    $handle::unix_listener(self, listener)
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
    };
}

adapter_runtime!("tokio", tokio_runtime, milpa_tokio, Tokio);
adapter_runtime!("smol", smol_runtime, milpa_smol, Smol);
adapter_runtime!("async-std", async_std_runtime, milpa_async_std, AsyncStd);
