//! Server policies applied before the application sees a request: the Host
//! allow-list (`server_names`), the concurrency limit (`limit_concurrency`) and
//! the request count that retires a worker (`max_requests`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use http::StatusCode;

use crate::app::{App, AppFuture, HeaderList, Scope, SendEvent};
use crate::exchange::{Receiver, Sender};

/// Called once when the process has served its `max_requests`.
pub(crate) type OnRetire = Box<dyn Fn() + Send + Sync>;

/// Wraps the application with the server's admission policies.
pub(crate) struct Admission {
    app: Arc<dyn App>,
    /// Lower-cased host names, without port; empty: any host.
    server_names: Vec<String>,
    limit: Option<usize>,
    in_flight: Arc<AtomicUsize>,
    requests: AtomicU64,
    retire_after: Option<u64>,
    on_retire: OnRetire,
}

impl Admission {
    /// `app` behind the policies of `config`; `retire_after` requests (if any)
    /// call `on_retire` once.
    pub(crate) fn new(
        app: Arc<dyn App>,
        config: &crate::Config,
        retire_after: Option<u64>,
        on_retire: OnRetire,
    ) -> Self {
        Self {
            app,
            server_names: config.server_names.iter().map(|name| name.to_ascii_lowercase()).collect(),
            limit: config.limit_concurrency,
            in_flight: Arc::new(AtomicUsize::new(0)),
            requests: AtomicU64::new(0),
            retire_after,
            on_retire,
        }
    }

    /// Whether any policy is on (else the server calls the application directly).
    pub(crate) fn needed(config: &crate::Config, retire_after: Option<u64>) -> bool {
        !config.server_names.is_empty() || config.limit_concurrency.is_some() || retire_after.is_some()
    }

    fn host_allowed(&self, host: Option<&[u8]>) -> bool {
        if self.server_names.is_empty() {
            return true;
        }
        let Some(host) = host.and_then(|host| std::str::from_utf8(host).ok()) else { return false };
        let name = strip_port(host).to_ascii_lowercase();
        self.server_names.contains(&name)
    }
}

/// `host` without its `:port` (an IPv6 literal keeps its brackets).
fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(colon) if !host[colon..].contains(']') => &host[..colon],
        _ => host,
    }
}

impl App for Admission {
    fn call(&self, scope: Scope, receive: Receiver, send: Sender) -> AppFuture {
        let host = match &scope {
            Scope::Http(http) => http.header("host"),
            Scope::WebSocket(ws) => ws.header("host"),
            _ => return self.app.call(scope, receive, send),
        };
        if let Some(limit) = self.retire_after
            && self.requests.fetch_add(1, Ordering::Relaxed) + 1 == limit
        {
            (self.on_retire)();
        }
        if !self.host_allowed(host) {
            return refuse(send, StatusCode::MISDIRECTED_REQUEST, "this server does not serve that host\n");
        }
        let Some(limit) = self.limit else { return self.app.call(scope, receive, send) };
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= limit {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return refuse(send, StatusCode::SERVICE_UNAVAILABLE, "the server is at its concurrency limit\n");
        }
        let guard = InFlight(self.in_flight.clone());
        let task = self.app.call(scope, receive, send);
        Box::pin(async move {
            let _guard = guard;
            task.await
        })
    }
}

/// Counts a request out of `limit_concurrency` when its application future ends.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Answers with `status` without calling the application (for a WebSocket, as its
/// denial response). The connection stays open for the client's next request.
fn refuse(mut send: Sender, status: StatusCode, body: &'static str) -> AppFuture {
    Box::pin(async move {
        let mut headers: HeaderList =
            vec![(Bytes::from_static(b"content-type"), Bytes::from_static(b"text/plain"))];
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.push((Bytes::from_static(b"retry-after"), Bytes::from_static(b"1")));
        }
        send.send(SendEvent::ResponseStart { status, headers, trailers: false }).await?;
        Ok(send.body(Bytes::from_static(body.as_bytes()), false).await?)
    })
}

#[cfg(test)]
mod tests {
    use super::strip_port;

    #[test]
    fn ports_are_stripped_but_not_ipv6_literals() {
        assert_eq!(strip_port("example.com:8000"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:8000"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }
}
