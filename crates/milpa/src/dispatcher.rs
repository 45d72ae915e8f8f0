//! `Dispatcher`: several applications under one server, each mounted at a path
//! prefix (Hypercorn's `DispatcherMiddleware`).

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use http::StatusCode;

use crate::app::{App, AppError, AppFuture, LifespanScope, ReceiveEvent, Scope, SendEvent};
use crate::driver::{TaskEnd, poll_app};
use crate::exchange::{Exchange, Kind, Receiver, Sender};
use crate::percent::decode_path;

/// Mounts applications at path prefixes. A request goes to the longest prefix
/// that matches whole path segments, with the prefix moved from `path` to
/// `root_path`; no match is a 404 (a WebSocket: a 403). The lifespan is fanned
/// out: every mounted application gets startup and shutdown, sharing the state,
/// and the first failure is reported.
#[derive(Default, Clone)]
pub struct Dispatcher {
    /// Longest prefix first.
    mounts: Vec<(String, Arc<dyn App>)>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.mounts.iter().map(|(prefix, _)| prefix)).finish()
    }
}

impl Dispatcher {
    /// An empty dispatcher (everything is a 404 until something is mounted).
    pub fn new() -> Self {
        Self::default()
    }

    /// Mounts `app` at `prefix` (`/api`; `/` or `` for everything else).
    #[must_use]
    pub fn mount(mut self, prefix: &str, app: impl App) -> Self {
        let prefix = prefix.trim_end_matches('/').to_owned();
        self.mounts.push((prefix, Arc::new(app)));
        self.mounts.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        self
    }

    /// The mounted application for a request, with its `path` and `raw_path`
    /// below the prefix. The raw target must hold the prefix's segments too: a
    /// prefix reached only through an encoded `/` (`/static%2Fa` for `/static`)
    /// is no match, and the raw bytes stripped are exactly the prefix's, however
    /// they were encoded.
    fn route(&self, path: &str, raw_path: &Bytes) -> Option<(&str, &Arc<dyn App>, String, Bytes)> {
        // `OPTIONS *` (and any other non-path target) belongs to the root mount.
        let path_target = path.starts_with('/');
        self.mounts.iter().find_map(|(prefix, app)| {
            if !path_target {
                return prefix.is_empty().then(|| (prefix.as_str(), app, path.to_owned(), raw_path.clone()));
            }
            let rest = path.strip_prefix(prefix.as_str())?;
            if !(rest.is_empty() || rest.starts_with('/')) {
                return None;
            }
            let raw_rest = below(raw_path, prefix)?;
            let rest = if rest.is_empty() { "/".to_owned() } else { rest.to_owned() };
            Some((prefix.as_str(), app, rest, raw_rest))
        })
    }
}

impl App for Dispatcher {
    fn call(&self, scope: Scope, receive: Receiver, mut send: Sender) -> AppFuture {
        match scope {
            Scope::Http(mut http) => match self.route(&http.path, &http.raw_path) {
                Some((prefix, app, rest, raw_rest)) => {
                    http.raw_path = raw_rest;
                    http.root_path.push_str(prefix);
                    http.path = rest;
                    app.call(Scope::Http(http), receive, send)
                }
                None => Box::pin(async move {
                    send.start(
                        StatusCode::NOT_FOUND,
                        vec![(Bytes::from_static(b"content-type"), Bytes::from_static(b"text/plain"))],
                    )
                    .await?;
                    Ok(send.body(Bytes::from_static(b"not found\n"), false).await?)
                }),
            },
            Scope::WebSocket(mut ws) => match self.route(&ws.path, &ws.raw_path) {
                Some((prefix, app, rest, raw_rest)) => {
                    ws.raw_path = raw_rest;
                    ws.root_path.push_str(prefix);
                    ws.path = rest;
                    app.call(Scope::WebSocket(ws), receive, send)
                }
                None => Box::pin(async move {
                    Ok(send.send(SendEvent::WebSocketClose { code: 1000, reason: String::new() }).await?)
                }),
            },
            Scope::Lifespan(lifespan) => {
                let apps: Vec<_> = self.mounts.iter().map(|(_, app)| app.clone()).collect();
                Box::pin(fan_out_lifespan(apps, lifespan, receive, send))
            }
        }
    }
}

/// `raw_path` below the mount point `prefix` (decoded, `/a/b`), so applications
/// that route on the raw target (the `http::Request` of `handler` and `tower`)
/// see the same path as `path`. Its segments are decoded one by one and must be
/// the prefix's; `None` when they are not (an encoded `/` straddles the prefix).
fn below(raw_path: &Bytes, prefix: &str) -> Option<Bytes> {
    let mut at = 0;
    for segment in prefix.split('/').skip(1) {
        let raw = raw_path[at..].strip_prefix(b"/")?;
        let end = raw.iter().position(|&b| b == b'/').unwrap_or(raw.len());
        if decode_path(&raw[..end]) != segment {
            return None;
        }
        at += 1 + end;
    }
    Some(if at == raw_path.len() { Bytes::from_static(b"/") } else { raw_path.slice(at..) })
}

/// One mounted application's lifespan.
struct Child {
    exchange: Exchange,
    task: Option<AppFuture>,
}

/// Passes each lifespan event to every mounted application and answers once all
/// have: complete, or the first failure. An application that ends its lifespan
/// future instead of answering does not speak lifespan and is left out.
async fn fan_out_lifespan(
    apps: Vec<Arc<dyn App>>,
    scope: LifespanScope,
    mut receive: Receiver,
    mut send: Sender,
) -> Result<(), AppError> {
    let mut children: Vec<Child> = apps
        .iter()
        .map(|app| {
            let (exchange, receiver, sender) = Exchange::new(4, Kind::Lifespan);
            let task =
                app.call(Scope::Lifespan(LifespanScope { state: scope.state.clone() }), receiver, sender);
            Child { exchange, task: Some(task) }
        })
        .collect();
    while let Some(event) = next_event(&mut receive, &mut children).await {
        let startup = match event {
            ReceiveEvent::Startup => true,
            ReceiveEvent::Shutdown => false,
            _ => continue,
        };
        for child in children.iter().filter(|child| child.task.is_some()) {
            child.exchange.push(event.clone());
        }
        let (failure, succeeded) = answers(&mut children).await;
        if startup && failure.is_some() {
            // The server will not start: the applications that did are shut down
            // again (the others' lifespans are dropped), before the failure is told.
            for (child, started) in children.iter_mut().zip(succeeded) {
                if started {
                    child.exchange.push(ReceiveEvent::Shutdown);
                } else {
                    child.task = None;
                }
            }
            let _ = answers(&mut children).await;
        }
        let answer = match (startup, failure) {
            (true, None) => SendEvent::StartupComplete,
            (true, Some(message)) => SendEvent::StartupFailed { message },
            (false, None) => SendEvent::ShutdownComplete,
            (false, Some(message)) => SendEvent::ShutdownFailed { message },
        };
        send.send(answer).await?;
        if !startup {
            break;
        }
    }
    Ok(())
}

/// Waits for the server's next lifespan event while the children's lifespan
/// futures keep running (one may do work of its own between startup and shutdown).
async fn next_event(receive: &mut Receiver, children: &mut [Child]) -> Option<ReceiveEvent> {
    let mut next = std::pin::pin!(receive.receive());
    poll_fn(|cx| {
        if let Poll::Ready(event) = next.as_mut().poll(cx) {
            return Poll::Ready(event);
        }
        for child in children.iter_mut() {
            if let Some(task) = &mut child.task
                && poll_app(task, cx).is_ready()
            {
                child.task = None;
            }
        }
        Poll::Pending
    })
    .await
}

/// Polls the children until each answered the event just pushed (or ended);
/// returns the first failure message, and which children answered without one.
async fn answers(children: &mut [Child]) -> (Option<String>, Vec<bool>) {
    let mut answered = vec![false; children.len()];
    let mut succeeded = vec![false; children.len()];
    let mut failure = None;
    poll_fn(|cx| {
        loop {
            let pending = children.iter_mut().zip(answered.iter_mut()).zip(succeeded.iter_mut());
            for ((child, done), success) in pending.filter(|((_, done), _)| !**done) {
                child.exchange.unpark();
                if let Some(task) = &mut child.task
                    && let Poll::Ready(end) = poll_app(task, cx)
                {
                    child.task = None;
                    if let TaskEnd::Failed(_) | TaskEnd::Panicked(_) = end {
                        tracing::info!("a mounted application does not handle lifespan");
                    }
                }
                match child.exchange.pop() {
                    Some(SendEvent::StartupFailed { message } | SendEvent::ShutdownFailed { message }) => {
                        failure.get_or_insert(message);
                        *done = true;
                    }
                    Some(_) => {
                        *done = true;
                        *success = true;
                    }
                    None if child.task.is_none() => *done = true,
                    None => {}
                }
            }
            if answered.iter().all(|done| *done) {
                return Poll::Ready(());
            }
            // Sleep until a child moves; go round if one already did.
            let parked = children
                .iter()
                .zip(&answered)
                .filter(|(_, done)| !**done)
                .all(|(child, _)| child.exchange.park(cx.waker(), true, false));
            if parked {
                return Poll::Pending;
            }
        }
    })
    .await;
    (failure, succeeded)
}
