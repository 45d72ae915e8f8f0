//! milpa's runtime adapter for smol: tasks on an `async-executor`, IO and timers
//! on the `async-io` reactor, blocking work on the `blocking` pool. No protocol
//! or policy lives here; the `milpa` crate implements its `Runtime` trait on
//! [`Smol`] when its `smol` feature is on.

#![forbid(unsafe_code)]

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use async_io::{Async, Timer};
use futures_lite::StreamExt;

/// A handle to the executor milpa's tasks run on.
#[derive(Debug, Clone)]
pub struct Smol {
    executor: Arc<async_executor::Executor<'static>>,
}

impl Smol {
    /// A handle to `executor`, to serve milpa on an executor the program already
    /// runs (and drives: milpa's tasks run only while something runs it).
    pub fn new(executor: Arc<async_executor::Executor<'static>>) -> Self {
        Self { executor }
    }

    /// Runs `future` as a new task.
    pub fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.executor.spawn(future).detach();
    }

    /// Runs blocking `work` on the `blocking` thread pool.
    pub fn spawn_blocking<F: FnOnce() + Send + 'static>(&self, work: F) {
        blocking::unblock(work).detach();
    }

    /// A timer that fires at `deadline`.
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        reactor::sleep_until(deadline)
    }

    /// Registers a bound, listening std socket with the reactor.
    pub fn listener(&self, listener: std::net::TcpListener) -> std::io::Result<TcpListener> {
        reactor::listener(listener)
    }

    /// Registers a bound, listening Unix-domain socket with the reactor.
    pub fn unix_listener(&self, listener: std::os::unix::net::UnixListener) -> std::io::Result<UnixListener> {
        reactor::unix_listener(listener)
    }

    /// Resolves on SIGINT or SIGTERM.
    pub async fn shutdown_signal() {
        use async_signal::{Signal, Signals};
        match Signals::new([Signal::Int, Signal::Term]) {
            Ok(mut signals) => {
                signals.next().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    }
}

/// Builds an executor and runs `future` on it to completion, with `threads`
/// threads running tasks (`0`: one per core; `1`: this thread only).
pub fn block_on<F>(threads: usize, future: impl FnOnce(Smol) -> F) -> F::Output
where
    F: Future,
{
    let executor = Arc::new(async_executor::Executor::new());
    let handle = Smol { executor: executor.clone() };
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let stop = Arc::new(StopFlag::default());
    let workers: Vec<_> = (1..threads)
        .map(|_| {
            let (executor, stop) = (executor.clone(), stop.clone());
            std::thread::spawn(move || async_io::block_on(executor.run(stop.wait())))
        })
        .collect();
    let output = async_io::block_on(executor.run(future(handle)));
    stop.set();
    for worker in workers {
        let _ = worker.join();
    }
    output
}

/// Set once, to send the extra executor threads home.
#[derive(Default)]
struct StopFlag {
    state: std::sync::Mutex<(bool, Vec<std::task::Waker>)>,
}

impl StopFlag {
    fn set(&self) {
        let wakers = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.0 = true;
            std::mem::take(&mut state.1)
        };
        wakers.into_iter().for_each(std::task::Waker::wake);
    }

    async fn wait(&self) {
        std::future::poll_fn(|cx| {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if state.0 {
                return Poll::Ready(());
            }
            state.1.push(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }
}

/// Sockets and timers on the `async-io` reactor, shared with the async-std
/// adapter (async-std runs on the same reactor).
pub mod reactor {
    use std::time::Instant;

    use async_io::{Async, Timer};

    use super::{Sleep, TcpListener, UnixListener};

    /// A timer that fires at `deadline`.
    pub fn sleep_until(deadline: Instant) -> Sleep {
        Sleep(Timer::at(deadline))
    }

    /// Registers a bound, listening std socket with the reactor.
    pub fn listener(listener: std::net::TcpListener) -> std::io::Result<TcpListener> {
        Async::new(listener).map(TcpListener)
    }

    /// Registers a bound, listening Unix-domain socket with the reactor.
    pub fn unix_listener(listener: std::os::unix::net::UnixListener) -> std::io::Result<UnixListener> {
        Async::new(listener).map(UnixListener)
    }
}

/// A timer; re-arm it with [`Sleep::reset`].
#[derive(Debug)]
pub struct Sleep(Timer);

impl Sleep {
    /// Moves the deadline.
    pub fn reset(&mut self, deadline: Instant) {
        self.0.set_at(deadline);
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

/// A listening TCP socket.
#[derive(Debug)]
pub struct TcpListener(Async<std::net::TcpListener>);

impl TcpListener {
    /// Accepts a connection, with `TCP_NODELAY` set.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        loop {
            match self.0.get_ref().accept() {
                Ok((stream, peer)) => {
                    stream.set_nodelay(true)?;
                    return Poll::Ready(Async::new(stream).map(|stream| (Stream::new(stream), peer)));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    std::task::ready!(self.0.poll_readable(cx))?;
                }
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

/// A listening Unix-domain socket.
#[derive(Debug)]
pub struct UnixListener(Async<std::os::unix::net::UnixListener>);

impl UnixListener {
    /// Accepts a connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<UnixStream>> {
        loop {
            match self.0.get_ref().accept() {
                Ok((stream, _)) => return Poll::Ready(Async::new(stream).map(Stream::new)),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    std::task::ready!(self.0.poll_readable(cx))?;
                }
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

/// A socket whose write side can be shut down.
pub trait ShutdownWrite {
    /// Shuts the write side down, so the peer reads the end.
    fn shutdown_write(&self) -> io::Result<()>;
}

impl ShutdownWrite for std::net::TcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

impl ShutdownWrite for std::os::unix::net::UnixStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

/// A connected stream speaking the `futures-io` traits.
#[derive(Debug)]
pub struct Stream<T> {
    io: Async<T>,
    /// The last read emptied the socket (it came back short, or would have
    /// blocked): the next one waits for the reactor to report the socket
    /// readable before it reads. Reading at once would mostly fail, and under
    /// async-io fail twice: the event that woke the task still counts as
    /// "readable" once, so a failed read is retried before the task registers
    /// to sleep. Two wasted `recv` calls per request, which tokio, keeping
    /// track of readiness itself, does not make.
    drained: bool,
}

impl<T> Stream<T> {
    fn new(io: Async<T>) -> Self {
        Self { io, drained: false }
    }
}

/// A connected TCP stream.
pub type TcpStream = Stream<std::net::TcpStream>;
/// A connected Unix-domain stream.
pub type UnixStream = Stream<std::os::unix::net::UnixStream>;

impl<T> futures_io::AsyncRead for Stream<T>
where
    for<'a> &'a T: io::Read,
{
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            if this.drained {
                // Registers the task when the socket has not been reported
                // readable since; the registration re-arms the reactor, which
                // reports data that arrived meanwhile at once.
                std::task::ready!(this.io.poll_readable(cx))?;
                this.drained = false;
            }
            match io::Read::read(&mut this.io.get_ref(), buf) {
                Ok(read) => {
                    // A stream socket returns less than asked only when it has no more.
                    this.drained = read < buf.len();
                    return Poll::Ready(Ok(read));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => this.drained = true,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

impl<T: ShutdownWrite> futures_io::AsyncWrite for Stream<T>
where
    for<'a> &'a T: io::Write,
{
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut &self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &self.io).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &self.io).poll_flush(cx)
    }

    /// Flushes, then shuts the write side down so the peer sees the end (async-io's
    /// own `poll_close` only flushes).
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(Pin::new(&mut &self.io).poll_flush(cx))?;
        match self.io.get_ref().shutdown_write() {
            Err(error) if error.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(error)),
            _ => Poll::Ready(Ok(())),
        }
    }
}
