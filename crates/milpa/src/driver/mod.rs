//! Connection drivers: generic async code that moves bytes between a socket and a
//! protocol state machine, and events between the state machine and the
//! application. One task per connection; the application's future is polled
//! inside it, so a request the application answers synchronously costs no spawn
//! and no cross-task wake-up.

mod file;
pub(crate) mod h1;
pub(crate) mod h2;
mod scratch;
mod timer;
mod write;
pub(crate) mod ws;

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::access_log::RequestLog;
use crate::app::{App, AppError, AppFuture, Scope, SendError, State};
use crate::config::Config;
use crate::exchange::{Receiver, Sender};
use crate::shutdown::{Latch, Token, Tracker};

/// What every connection of one listener shares.
pub(crate) struct ConnContext {
    pub(crate) app: Arc<dyn App>,
    pub(crate) config: Arc<Config>,
    pub(crate) h1: milpa_h1::Config,
    pub(crate) h2: milpa_h2::Config,
    pub(crate) state: State,
    pub(crate) request_log: Option<Arc<RequestLog>>,
    /// Counters for StatsD and Prometheus, when either is on.
    pub(crate) metrics: Option<Arc<crate::metrics::Metrics>>,
    pub(crate) scheme: &'static str,
    /// The TLS configuration of a TLS listener.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    pub(crate) local: Option<SocketAddr>,
    /// Set when a worker drains for its successor (reload, max requests): keep
    /// serving, and close each connection where that loses nothing — HTTP/1.1
    /// after its current response, HTTP/2 once no stream is open (a GOAWAY to a
    /// busy connection makes clients such as h2load fail the requests they had
    /// yet to send). `graceful` follows after the graceful timeout.
    pub(crate) quiet: Latch,
    /// Set when the server stops accepting: finish in-flight work, then close.
    pub(crate) graceful: Latch,
    /// Set when the graceful timeout ran out: close now.
    pub(crate) force: Latch,
    /// Counts connections and the application futures that outlive their
    /// response, so shutdown waits for both.
    pub(crate) tracker: Tracker,
}

/// Where an application's response stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Response {
    /// Nothing sent yet.
    NotStarted,
    /// `ResponseStart` received and held until the first body event, so a
    /// one-piece body can be sent with a `Content-Length`.
    Held,
    /// The head is out; body (and maybe trailers) follow.
    Streaming,
}

/// How an application's future ended.
pub(crate) enum TaskEnd {
    Returned,
    Failed(AppError),
    Panicked(String),
}

impl TaskEnd {
    /// Why the application failed, if it did, in words for the log.
    #[inline]
    pub(crate) fn failure(self) -> Option<String> {
        match self {
            TaskEnd::Returned => None,
            TaskEnd::Failed(error) => Some(error.to_string()),
            TaskEnd::Panicked(message) => Some(format!("panic: {message}")),
        }
    }
}

/// Calls the application. A panic in `call` itself (the work it does before
/// returning its future) comes back as a future that panics when first polled,
/// so [`poll_app`] reports both alike: a 500 or a reset for that request only.
// Inlined so the scope is built where the call takes it, not copied through.
#[inline(always)]
pub(crate) fn call_app(app: &dyn App, scope: Scope, receive: Receiver, send: Sender) -> AppFuture {
    match catch_unwind(AssertUnwindSafe(|| app.call(scope, receive, send))) {
        Ok(task) => task,
        Err(panic) => Box::pin(async move { std::panic::resume_unwind(panic) }),
    }
}

/// Polls an application future, turning a panic into [`TaskEnd::Panicked`].
pub(crate) fn poll_app(task: &mut AppFuture, cx: &mut Context<'_>) -> Poll<TaskEnd> {
    match catch_unwind(AssertUnwindSafe(|| task.as_mut().poll(cx))) {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(Poll::Ready(Ok(()))) => Poll::Ready(TaskEnd::Returned),
        Ok(Poll::Ready(Err(error))) => Poll::Ready(TaskEnd::Failed(error)),
        Err(panic) => Poll::Ready(TaskEnd::Panicked(panic_message(panic.as_ref()))),
    }
}

/// Statuses whose responses have no content (RFC 9110 §15.3.5, §15.4.5): no body,
/// and no `content-length` made up from one.
pub(crate) fn is_bodiless(status: http::StatusCode) -> bool {
    status == http::StatusCode::NO_CONTENT || status == http::StatusCode::NOT_MODIFIED
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// An application future that outlived its response: it runs on as a task of its
/// own (its sends now fail with `Disconnected`), counted by the server's tracker
/// so graceful shutdown waits for it, and how it ends is logged.
pub(crate) struct Detached {
    task: AppFuture,
    /// Counted out when the future ends (the token is dropped with it).
    _live: Token,
}

impl Detached {
    pub(crate) fn new(task: AppFuture, tracker: &Tracker) -> Self {
        Self { task, _live: tracker.enter() }
    }
}

impl Future for Detached {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match std::task::ready!(poll_app(&mut self.task, cx)) {
            TaskEnd::Returned => {}
            // Sends failing because the client left are the expected end of a
            // future that outlived its stream.
            TaskEnd::Failed(error) if error.downcast_ref::<SendError>() == Some(&SendError::Disconnected) => {
                tracing::debug!("application stopped: its client is gone");
            }
            TaskEnd::Failed(error) => tracing::error!(%error, "application failed after its response"),
            TaskEnd::Panicked(message) => {
                tracing::error!(%message, "application panicked after its response")
            }
        }
        Poll::Ready(())
    }
}
