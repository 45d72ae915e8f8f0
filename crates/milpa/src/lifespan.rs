//! ASGI lifespan: the application's startup and shutdown, with timeouts, and the
//! state its startup shares into every scope.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::app::{App, AppFuture, LifespanScope, ReceiveEvent, Scope, SendEvent, State};
use crate::driver::{TaskEnd, call_app, poll_app};
use crate::exchange::{Exchange, Kind};
use crate::runtime::Runtime;
use crate::shutdown::{Latch, race};

/// Why the server could not start or stop cleanly.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifespanError {
    /// The application sent `lifespan.startup.failed` with this message.
    StartupFailed(String),
    /// No answer to `lifespan.startup` within the startup timeout.
    StartupTimeout,
}

impl std::fmt::Display for LifespanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::StartupFailed(message) => write!(f, "application startup failed: {message}"),
            Self::StartupTimeout => f.write_str("application startup timed out"),
        }
    }
}

impl std::error::Error for LifespanError {}

/// The application's lifespan task, running on its own.
pub(crate) struct Lifespan {
    exchange: Exchange,
    ended: Arc<Mutex<Option<String>>>,
    ended_latch: Latch,
    supported: bool,
}

/// Runs the lifespan task and records how it ended.
struct LifespanTask {
    task: AppFuture,
    ended: Arc<Mutex<Option<String>>>,
    latch: Latch,
}

impl Future for LifespanTask {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let end = std::task::ready!(poll_app(&mut self.task, cx));
        let why = match end {
            TaskEnd::Returned => "returned".to_owned(),
            TaskEnd::Failed(error) => format!("failed: {error}"),
            TaskEnd::Panicked(message) => format!("panicked: {message}"),
        };
        *self.ended.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
        self.latch.set();
        Poll::Ready(())
    }
}

impl Lifespan {
    /// Starts the application's lifespan and waits for its startup answer.
    /// An application that does not speak lifespan (it returns or fails before
    /// answering) is served without it, as ASGI servers do.
    pub(crate) async fn start<R: Runtime>(
        rt: &R,
        app: &Arc<dyn App>,
        timeout: Duration,
    ) -> Result<(Self, State), LifespanError> {
        let state = Arc::new(Mutex::new(http::Extensions::new()));
        let (exchange, receiver, sender) = Exchange::new(4, Kind::Lifespan);
        let scope = Scope::Lifespan(LifespanScope { state: state.clone() });
        let ended = Arc::new(Mutex::new(None));
        let ended_latch = Latch::default();
        rt.spawn(LifespanTask {
            task: call_app(&**app, scope, receiver, sender),
            ended: ended.clone(),
            latch: ended_latch.clone(),
        });
        exchange.push(ReceiveEvent::Startup);
        let mut lifespan = Self { exchange, ended, ended_latch, supported: true };
        let answer = lifespan.next_answer(rt, timeout).await;
        let snapshot = || Arc::new(state.lock().unwrap_or_else(|p| p.into_inner()).clone());
        match answer {
            Answer::Event(SendEvent::StartupComplete) => Ok((lifespan, snapshot())),
            Answer::Event(SendEvent::StartupFailed { message }) => Err(LifespanError::StartupFailed(message)),
            Answer::Event(other) => {
                tracing::warn!(?other, "unexpected lifespan event; continuing without lifespan");
                lifespan.supported = false;
                Ok((lifespan, snapshot()))
            }
            Answer::Ended(why) => {
                tracing::info!(%why, "application does not handle lifespan; continuing without it");
                lifespan.supported = false;
                Ok((lifespan, snapshot()))
            }
            Answer::Timeout => Err(LifespanError::StartupTimeout),
        }
    }

    /// Sends `lifespan.shutdown` and waits (bounded) for the answer.
    pub(crate) async fn shutdown<R: Runtime>(mut self, rt: &R, timeout: Duration) {
        if !self.supported {
            return;
        }
        self.exchange.push(ReceiveEvent::Shutdown);
        match self.next_answer(rt, timeout).await {
            Answer::Event(SendEvent::ShutdownComplete) => {}
            Answer::Event(SendEvent::ShutdownFailed { message }) => {
                tracing::error!(%message, "application shutdown failed");
            }
            Answer::Event(other) => tracing::warn!(?other, "unexpected lifespan event at shutdown"),
            Answer::Ended(why) => tracing::warn!(%why, "lifespan task ended during shutdown"),
            Answer::Timeout => tracing::error!("application shutdown timed out"),
        }
    }

    async fn next_answer<R: Runtime>(&mut self, rt: &R, timeout: Duration) -> Answer {
        let exchange = self.exchange.clone();
        let ended = self.ended.clone();
        let mut ended_watch = self.ended_latch.watch();
        let answer = std::future::poll_fn(move |cx| {
            loop {
                if let Some(event) = exchange.pop() {
                    return Poll::Ready(Answer::Event(event));
                }
                // Registering re-checks the queue under its lock: no answer is missed.
                if exchange.park(cx.waker(), true, false) {
                    break;
                }
            }
            if ended_watch.poll(cx).is_ready() {
                if let Some(event) = exchange.pop() {
                    return Poll::Ready(Answer::Event(event));
                }
                let why = ended.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default();
                return Poll::Ready(Answer::Ended(why));
            }
            Poll::Pending
        });
        let deadline = rt.sleep_until(Instant::now() + timeout);
        race(answer, async move {
            deadline.await;
            Answer::Timeout
        })
        .await
    }
}

enum Answer {
    Event(SendEvent),
    Ended(String),
    Timeout,
}
