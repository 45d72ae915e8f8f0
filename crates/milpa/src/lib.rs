//! # milpa
//!
//! An HTTP server in the spirit of Python's Hypercorn: an ASGI-shaped application
//! interface ([`App`], [`Scope`], [`ReceiveEvent`], [`SendEvent`]) served over
//! milpa's sans-IO protocol crates, on the async runtime you pick.
//!
//! ```no_run
//! use milpa::{Body, Config, handler};
//!
//! let app = handler(|_request: http::Request<Body>| async { http::Response::new("hello\n") });
//! milpa::run(Config::default(), app)?;
//! # Ok::<(), milpa::ServeError>(())
//! ```
//!
//! Embedding on a runtime you already run: bind a [`Server`] with that runtime's
//! handle and await [`Server::serve`] with your own shutdown future.

#![forbid(unsafe_code)]

#[cfg(not(any(feature = "tokio")))]
compile_error!("milpa needs a runtime: enable the `tokio` feature (on by default)");

mod access_log;
mod app;
mod config;
mod date;
mod driver;
mod exchange;
mod handler;
mod lifespan;
mod percent;
mod runtime;
mod server;
mod shutdown;
mod tls;

pub use access_log::DEFAULT_FORMAT as DEFAULT_ACCESS_LOG_FORMAT;
pub use app::{
    App, AppError, AppFuture, Extensions, HeaderField, HeaderList, Headers, HttpScope, LifespanScope,
    ReceiveEvent, Receiver, Scope, SendError, SendEvent, Sender, State,
};
pub use config::Config;
pub use handler::{Body, BodyIncomplete, BodyTooLarge, Handler, handler};
pub use lifespan::LifespanError;
pub use runtime::Runtime;
#[cfg(feature = "tokio")]
pub use server::run;
pub use server::{ServeError, Server};
pub use tls::{TlsInfo, VerifyMode};

/// The tokio runtime adapter.
#[cfg(feature = "tokio")]
pub use milpa_tokio as tokio;
