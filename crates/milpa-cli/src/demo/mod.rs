//! The built-in demo: the experiment of the HTTP/1.1-vs-HTTP/2 talk it comes from.
//!
//! - `GET /` — a page that fires 24 parallel `fetch('/message/{i}/')` calls and
//!   draws their waterfall;
//! - `GET /message/{i}/` — `{"message": i}`, after `?delay_ms=` milliseconds;
//! - `GET /query?id=` — `{"text": "spam, egg, spam and spam!, {id}!"}`;
//! - `GET /bytes/{n}` — `n` bytes (at most 1 GiB) streamed in 64 KiB pieces, for
//!   large-response measurements and slow-reader tests;
//! - `GET /websocket` — a WebSocket echo page that shows which protocol carried
//!   the socket; `/ws` is its socket (a greeting naming the protocol, then echoes)
//!   and `/ws/echo` a plain echo (what the Autobahn suite tests).
//!
//! Any method is answered (a request body is read and dropped), so conformance
//! suites that POST to `/` find a server to talk to.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use milpa::{
    AppError, HeaderList, HttpScope, ReceiveEvent, Receiver, Scope, SendEvent, Sender, WebSocket,
    WebSocketScope,
};

const PAGE: &str = include_str!("index.html");
const WEBSOCKET_PAGE: &str = include_str!("websocket.html");
/// The assets `/push` pushes (over HTTP/2, when the client accepts push).
const PUSHED: &[&str] = &["/push/style.css", "/push/app.js"];
const PUSH_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>milpa: server push</title>
<link rel="stylesheet" href="/push/style.css"></head>
<body><h1>Server push</h1>
<p>Over HTTP/2 this page's stylesheet and script were promised with PUSH_PROMISE before the
page itself (see them with <code>nghttp -nv https://127.0.0.1:8443/push</code>). Browsers
have since dropped push support, so a browser fetches them as usual.</p>
<p id="status">the script has not run</p>
<script src="/push/app.js"></script></body></html>
"#;
const PUSH_CSS: &str = "body { font-family: system-ui, sans-serif; margin: 2rem; } h1 { color: #1a7f64; }\n";
const PUSH_JS: &str = "document.getElementById('status').textContent = 'the script ran';\n";

/// The longest `delay_ms` honoured, so a request cannot hold a connection for long.
const MAX_DELAY_MS: u64 = 10_000;

/// The demo application. `targets` lists the origins the page compares, as
/// `(label, base URL)` pairs: with two (an HTTP/2 and an HTTP/1.1-only TLS
/// listener) the page draws their waterfalls side by side.
pub(crate) fn app(targets: &[(String, String)]) -> impl milpa::App + use<> {
    let page = Bytes::from(page_with_targets(targets));
    move |scope: Scope, receive: Receiver, send: Sender| serve(plan(&page, scope), receive, send)
}

/// The page, with the comparison targets written in where it expects them.
fn page_with_targets(targets: &[(String, String)]) -> String {
    const MARKER: &str = "<!-- MILPA_TARGETS";
    if targets.is_empty() {
        return PAGE.to_owned();
    }
    let list: Vec<_> =
        targets.iter().map(|(label, url)| serde_json::json!({ "label": label, "baseUrl": url })).collect();
    let script = format!("<script>window.MILPA_TARGETS = {};</script>\n", serde_json::Value::from(list));
    match PAGE.find(MARKER) {
        Some(at) => format!("{}{script}{}", &PAGE[..at], &PAGE[at..]),
        None => PAGE.to_owned(),
    }
}

/// What the demo does with a scope, decided before anything is awaited: each
/// request's future is allocated and moved whole, so it should hold only what the
/// response needs, not the scope.
enum Plan {
    Answer { push: bool, answer: Answer },
    Bytes(u64),
    WebSocket(Box<WebSocketScope>),
    Lifespan,
    Nothing,
}

fn plan(page: &Bytes, scope: Scope) -> Plan {
    match scope {
        Scope::Http(scope) => match scope.path.strip_prefix("/bytes/").and_then(|n| n.parse::<u64>().ok()) {
            Some(length) => Plan::Bytes(length.min(MAX_STREAMED)),
            None => Plan::Answer {
                push: scope.path == "/push" && scope.extensions.push,
                answer: route(&scope, page),
            },
        },
        Scope::WebSocket(scope) => Plan::WebSocket(Box::new(scope)),
        Scope::Lifespan(_) => Plan::Lifespan,
        _ => Plan::Nothing,
    }
}

/// The demo application (native interface: no per-request allocation beyond the body).
async fn serve(plan: Plan, mut receive: Receiver, mut send: Sender) -> Result<(), AppError> {
    let (push, answer) = match plan {
        Plan::Answer { push, answer } => (push, answer),
        // Boxed: the common path's future need not be as large as these.
        Plan::Bytes(length) => return Box::pin(stream_bytes(length, receive, send)).await,
        Plan::WebSocket(scope) => return Box::pin(websocket(*scope, receive, send)).await,
        Plan::Lifespan => return Box::pin(lifespan(receive, send)).await,
        Plan::Nothing => return Ok(()),
    };
    let Answer { status, content_type, body, delay } = answer;
    if push {
        // Server push: promise the page's assets before the page itself.
        for asset in PUSHED {
            send.send(SendEvent::Push { path: (*asset).to_owned(), headers: Vec::new() }).await?;
        }
    }
    if let Some(delay) = delay {
        // async-io's timer works on every runtime the server can run on.
        async_io::Timer::after(delay).await;
    }
    // Read (and drop) any request body so the connection stays reusable.
    while let Some(ReceiveEvent::Request { more_body: true, .. }) = receive.receive().await {}
    let headers: HeaderList = vec![
        (Bytes::from_static(b"content-type"), Bytes::from_static(content_type.as_bytes())),
        (Bytes::from_static(b"access-control-allow-origin"), Bytes::from_static(b"*")),
        (Bytes::from_static(b"timing-allow-origin"), Bytes::from_static(b"*")),
    ];
    send.respond(status, headers, body).await?;
    Ok(())
}

/// What a route answers, after an optional delay (`/message/{i}/?delay_ms=`).
struct Answer {
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
    delay: Option<Duration>,
}

impl Answer {
    fn new(status: StatusCode, content_type: &'static str, body: Bytes) -> Self {
        Self { status, content_type, body, delay: None }
    }
}

/// The largest `/bytes/{n}` response.
const MAX_STREAMED: u64 = 1 << 30;

/// `length` bytes of `x`, in 64 KiB pieces sent as the connection takes them.
async fn stream_bytes(length: u64, mut receive: Receiver, mut send: Sender) -> Result<(), AppError> {
    const PIECE: u64 = 64 * 1024;
    while let Some(ReceiveEvent::Request { more_body: true, .. }) = receive.receive().await {}
    let headers: HeaderList = vec![
        (Bytes::from_static(b"content-type"), Bytes::from_static(b"application/octet-stream")),
        (Bytes::from_static(b"content-length"), Bytes::from(length.to_string())),
    ];
    send.send(SendEvent::ResponseStart { status: StatusCode::OK, headers, trailers: false }).await?;
    let piece = Bytes::from(vec![b'x'; PIECE as usize]);
    let mut left = length;
    while left > PIECE {
        send.send(SendEvent::ResponseBody { body: piece.clone(), more_body: true }).await?;
        left -= PIECE;
    }
    send.send(SendEvent::ResponseBody { body: piece.slice(..left as usize), more_body: false }).await?;
    Ok(())
}

/// `/ws/echo` echoes every message; `/ws` first says which protocol carries the
/// socket, then echoes; other paths are refused (403).
async fn websocket(scope: WebSocketScope, receive: Receiver, mut send: Sender) -> Result<(), AppError> {
    let greet = match scope.path.as_str() {
        "/ws" => true,
        "/ws/echo" => false,
        _ => {
            send.send(SendEvent::WebSocketClose { code: 1000, reason: String::new() }).await?;
            return Ok(());
        }
    };
    let mut socket = WebSocket::accept(receive, send, None).await?;
    if greet {
        let carrier = match scope.http_version {
            http::Version::HTTP_2 => "HTTP/2 (RFC 8441 extended CONNECT)",
            _ => "HTTP/1.1 (Upgrade)",
        };
        let greeting = serde_json::json!({ "protocol": carrier, "scheme": scope.scheme });
        socket.send(greeting.to_string()).await?;
    }
    while let Some(message) = socket.recv().await {
        socket.send(message).await?;
    }
    Ok(())
}

async fn lifespan(mut receive: Receiver, mut send: Sender) -> Result<(), AppError> {
    while let Some(event) = receive.receive().await {
        match event {
            ReceiveEvent::Startup => send.send(SendEvent::StartupComplete).await?,
            ReceiveEvent::Shutdown => {
                send.send(SendEvent::ShutdownComplete).await?;
                break;
            }
            _ => {}
        }
    }
    Ok(())
}

fn route(scope: &HttpScope, page: &Bytes) -> Answer {
    const JSON: &str = "application/json";
    const HTML: &str = "text/html; charset=utf-8";
    const TEXT: &str = "text/plain; charset=utf-8";
    let ok = |content_type, body| Answer::new(StatusCode::OK, content_type, body);
    match scope.path.as_str() {
        "/" => return ok(HTML, page.clone()),
        "/websocket" => return ok(HTML, Bytes::from_static(WEBSOCKET_PAGE.as_bytes())),
        "/push" => return ok(HTML, Bytes::from_static(PUSH_PAGE.as_bytes())),
        "/push/style.css" => return ok("text/css", Bytes::from_static(PUSH_CSS.as_bytes())),
        "/push/app.js" => return ok("text/javascript", Bytes::from_static(PUSH_JS.as_bytes())),
        "/query" => {
            let id = query_param(&scope.query_string, "id").unwrap_or_default();
            let text = format!("spam, egg, spam and spam!, {id}!");
            return ok(JSON, Bytes::from(serde_json::json!({ "text": text }).to_string()));
        }
        _ => {}
    }
    if let Some(index) = scope.path.strip_prefix("/message/").and_then(|rest| rest.strip_suffix('/'))
        && let Ok(index) = index.parse::<u64>()
    {
        let delay = query_param(&scope.query_string, "delay_ms").and_then(|d| d.parse::<u64>().ok());
        let delay = delay.filter(|&d| d > 0).map(|d| Duration::from_millis(d.min(MAX_DELAY_MS)));
        return Answer { delay, ..ok(JSON, message_body(index)) };
    }
    Answer::new(StatusCode::NOT_FOUND, TEXT, Bytes::from_static(b"not found\n"))
}

/// `{"message": index}`, written without the formatting machinery: this is the
/// route the benchmarks load.
fn message_body(index: u64) -> Bytes {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = index;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut body = bytes::BytesMut::with_capacity(13 + digits.len() - at);
    body.extend_from_slice(b"{\"message\": ");
    body.extend_from_slice(&digits[at..]);
    body.extend_from_slice(b"}");
    body.freeze()
}

/// The percent-decoded value of `name` in a query string.
fn query_param(query: &[u8], name: &str) -> Option<String> {
    query.split(|&b| b == b'&').find_map(|pair| {
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &b""[..]),
        };
        (key == name.as_bytes()).then(|| decode_form(value))
    })
}

fn decode_form(value: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < value.len() => match (hex(value[i + 1]), hex(value[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_targets_are_written_into_the_page() {
        let targets = [("HTTP/2".to_owned(), "https://127.0.0.1:8443".to_owned())];
        let page = page_with_targets(&targets);
        assert!(
            page.contains(
                r#"window.MILPA_TARGETS = [{"baseUrl":"https://127.0.0.1:8443","label":"HTTP/2"}];"#
            )
        );
        assert_eq!(page_with_targets(&[]), PAGE);
    }

    #[test]
    fn message_bodies_are_json() {
        assert_eq!(&message_body(0)[..], b"{\"message\": 0}");
        assert_eq!(&message_body(1234)[..], b"{\"message\": 1234}");
        assert_eq!(&message_body(u64::MAX)[..], format!("{{\"message\": {}}}", u64::MAX).as_bytes());
    }

    #[test]
    fn query_parameters_are_form_decoded() {
        assert_eq!(query_param(b"id=a%20b+c&x=1", "id").as_deref(), Some("a b c"));
        assert_eq!(query_param(b"x=1&delay_ms=20", "delay_ms").as_deref(), Some("20"));
        assert_eq!(query_param(b"id=100%", "id").as_deref(), Some("100%"));
        assert_eq!(query_param(b"x=1", "id"), None);
    }
}
