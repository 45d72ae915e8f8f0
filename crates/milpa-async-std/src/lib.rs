//! milpa's runtime adapter for async-std. async-std is deprecated upstream (its
//! authors point to smol); this adapter stays thin and behind milpa's
//! `async-std` feature for applications that still run on it. Tasks and
//! blocking work go to async-std; sockets and timers use `async-io`, the reactor
//! async-std itself runs on, through the same types as the smol adapter. The
//! `milpa` crate implements its `Runtime` trait on [`AsyncStd`] when the feature
//! is on.

#![forbid(unsafe_code)]

use std::future::Future;
use std::io;
use std::time::Instant;

pub use milpa_smol::{Sleep, Stream, TcpListener, TcpStream, UnixListener, UnixStream};

/// A handle to the async-std runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStd;

impl AsyncStd {
    /// Runs `future` as a new task.
    pub fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(async_std::task::spawn(future));
    }

    /// Runs blocking `work` on async-std's blocking pool.
    pub fn spawn_blocking<F: FnOnce() + Send + 'static>(&self, work: F) {
        drop(async_std::task::spawn_blocking(work));
    }

    /// A timer that fires at `deadline`.
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        milpa_smol::reactor::sleep_until(deadline)
    }

    /// Registers a bound, listening std socket with the reactor.
    pub fn listener(&self, listener: std::net::TcpListener) -> io::Result<TcpListener> {
        milpa_smol::reactor::listener(listener)
    }

    /// Registers a bound, listening Unix-domain socket with the reactor.
    pub fn unix_listener(&self, listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        milpa_smol::reactor::unix_listener(listener)
    }

    /// Resolves on SIGINT or SIGTERM.
    pub async fn shutdown_signal() {
        milpa_smol::Smol::shutdown_signal().await;
    }
}

/// Runs `future` to completion on async-std's global executor, sized to
/// `threads` threads running tasks (`0`: one per core, async-std's default, or
/// `ASYNC_STD_THREAD_COUNT`). The size is set by the first call in the process,
/// before async-std starts its executor; later calls keep it.
pub fn block_on<F: Future>(threads: usize, future: F) -> F::Output {
    if threads > 0 {
        let config = async_global_executor::GlobalExecutorConfig::default()
            .with_min_threads(threads)
            .with_max_threads(threads);
        async_global_executor::init_with_config(config);
    }
    async_std::task::block_on(future)
}
