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

#[cfg(not(any(feature = "tokio", feature = "smol", feature = "async-std")))]
compile_error!("milpa needs a runtime: enable one of the features `tokio` (default), `smol` or `async-std`");

mod access_log;
mod admission;
mod app;
mod blocking;
mod compression;
mod config;
mod date;
mod dispatcher;
mod driver;
mod exchange;
mod handler;
mod https_redirect;
mod lifespan;
mod listen;
mod metrics;
mod percent;
mod proxy_headers;
mod runtime;
mod server;
mod shutdown;
mod static_files;
mod supervisor;
mod tls;
mod tower;
mod websocket;
mod worker;

pub use access_log::DEFAULT_FORMAT as DEFAULT_ACCESS_LOG_FORMAT;
pub use app::{
    App, AppError, AppFuture, Extensions, FileRange, HeaderField, HeaderList, Headers, HttpScope,
    LifespanScope, Message, OpenFile, ReceiveEvent, Receiver, Scope, SendError, SendEvent, Sender, State,
    WebSocketScope,
};
pub use blocking::{DEFAULT_BLOCKING_BODY_LIMIT, blocking, blocking_with_limit};
pub use compression::Compression;
pub use config::{Config, WorkerClass};
pub use dispatcher::Dispatcher;
pub use handler::{Body, BodyIncomplete, BodyTooLarge, Handler, handler};
pub use https_redirect::HttpsRedirect;
pub use lifespan::LifespanError;
pub use proxy_headers::ProxyHeaders;
pub use runtime::Runtime;
pub use server::{ServeError, Server, run};
pub use static_files::StaticFiles;
pub use tls::{TlsInfo, VerifyMode};
pub use tower::tower;
pub use websocket::WebSocket;

/// The async-std runtime adapter (async-std is deprecated upstream).
#[cfg(feature = "async-std")]
pub use milpa_async_std as async_std;
/// The smol runtime adapter.
#[cfg(feature = "smol")]
pub use milpa_smol as smol;
/// The tokio runtime adapter.
#[cfg(feature = "tokio")]
pub use milpa_tokio as tokio;
