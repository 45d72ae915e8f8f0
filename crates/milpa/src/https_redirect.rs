//! `HttpsRedirect`: plain-text requests are sent to their `https` address.

use bytes::Bytes;
use http::StatusCode;

use crate::app::{App, AppFuture, HeaderList, Headers, Scope, SendEvent};
use crate::exchange::{Receiver, Sender};

/// Wraps an application so that `http` requests get a `307 Temporary Redirect` to
/// the same URL over `https` (307 keeps the method and body), and `ws` handshakes
/// are denied with the same redirect to `wss`; `https`/`wss` and lifespan scopes
/// go to the application.
#[derive(Debug, Clone)]
pub struct HttpsRedirect<A> {
    app: A,
}

impl<A: App> HttpsRedirect<A> {
    /// Redirects plain-text requests to `app`'s secure address; serves the rest with it.
    pub fn new(app: A) -> Self {
        Self { app }
    }
}

impl<A: App> App for HttpsRedirect<A> {
    fn call(&self, scope: Scope, receive: Receiver, mut send: Sender) -> AppFuture {
        let location = match &scope {
            Scope::Http(http) if http.scheme == "http" => Some(secure_url(
                "https",
                &http.headers,
                http.server,
                &http.root_path,
                &http.raw_path,
                &http.query_string,
            )),
            Scope::WebSocket(ws) if ws.scheme == "ws" => {
                Some(secure_url("wss", &ws.headers, ws.server, &ws.root_path, &ws.raw_path, &ws.query_string))
            }
            _ => None,
        };
        let Some(location) = location else { return self.app.call(scope, receive, send) };
        Box::pin(async move {
            // For a WebSocket this is its denial response (`websocket.http.response`).
            let headers: HeaderList = vec![
                (Bytes::from_static(b"location"), Bytes::from(location)),
                (Bytes::from_static(b"content-type"), Bytes::from_static(b"text/plain")),
            ];
            send.send(SendEvent::ResponseStart {
                status: StatusCode::TEMPORARY_REDIRECT,
                headers,
                trailers: false,
            })
            .await?;
            Ok(send.body(Bytes::from_static(b"use https\n"), false).await?)
        })
    }
}

/// The request's URL with `scheme`: the `Host` the client used (without a port,
/// as the plain-text port says nothing of the TLS one), else the server address.
fn secure_url(
    scheme: &str,
    headers: &Headers,
    server: Option<std::net::SocketAddr>,
    root_path: &str,
    raw_path: &[u8],
    query: &[u8],
) -> String {
    let host = headers
        .get(b"host")
        .and_then(|host| std::str::from_utf8(host).ok())
        .map(strip_port)
        .map(str::to_owned)
        .or_else(|| {
            server.map(|addr| match addr.ip() {
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            })
        })
        .unwrap_or_else(|| "localhost".to_owned());
    // `OPTIONS *` has no path: the site's root stands for it.
    let path = if raw_path.starts_with(b"/") { String::from_utf8_lossy(raw_path) } else { "/".into() };
    let mut url = format!("{scheme}://{host}{root_path}{path}");
    if !query.is_empty() {
        url.push('?');
        url.push_str(&String::from_utf8_lossy(query));
    }
    url
}

/// `example.com:8080` → `example.com`; `[::1]:8080` → `[::1]`.
fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(at) if !host[at..].contains(']') => &host[..at],
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::{Headers, secure_url, strip_port};

    #[test]
    fn urls_without_a_host_or_a_path_are_still_urls() {
        let none = Headers::from_pairs(std::iter::empty::<(&[u8], &[u8])>());
        let v6 = Some("[::1]:8080".parse().unwrap_or_else(|_| unreachable!()));
        assert_eq!(secure_url("https", &none, v6, "", b"/a", b"q=1"), "https://[::1]/a?q=1");
        let v4 = Some("127.0.0.1:80".parse().unwrap_or_else(|_| unreachable!()));
        assert_eq!(secure_url("https", &none, v4, "", b"*", b""), "https://127.0.0.1/", "OPTIONS *");
    }

    #[test]
    fn ports_are_stripped_from_hosts() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:8080"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }
}
