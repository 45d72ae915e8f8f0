//! The application interface: ASGI 3.0 translated to Rust types.
//!
//! An application is called once per scope (an HTTP request, a WebSocket, the
//! server's lifespan) with the scope, a [`Receiver`] of events from the client or
//! server, and a [`Sender`] of events back. See [`crate::handler`] for the
//! `http::Request` → `http::Response` layer on top.

use std::fmt;
use std::fs::File;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode, Version};

pub use crate::exchange::{Receiver, SendError, Sender};

/// What an application returns when it fails; it is logged and the request gets a
/// 500 (or the connection is closed if the response had started).
pub type AppError = Box<dyn std::error::Error + Send + Sync>;

/// A boxed unit future (a connection's whole life, for one).
pub(crate) type AppFutureUnit = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The future an application returns for one scope.
pub type AppFuture = Pin<Box<dyn Future<Output = Result<(), AppError>> + Send + 'static>>;

/// An application: called once per scope.
///
/// The future `call` returns is allocated, moved and dropped once per request, so its
/// size is paid every time. An `async fn` stores in its future every argument and
/// every local that lives across an `.await` (today's rustc stores the arguments
/// twice), and the largest of all its branches: one big `async fn(scope, receive,
/// send)` with rare branches inlined (a WebSocket session, lifespan) makes every
/// request pay for them. Decide what to do from the scope synchronously and box the
/// rare, large branches; the built-in demo does both.
pub trait App: Send + Sync + 'static {
    /// Serves one scope. The future runs until the application is done with it;
    /// the server may poll it inside the connection's task, so it must not block.
    fn call(&self, scope: Scope, receive: Receiver, send: Sender) -> AppFuture;
}

impl<F, Fut> App for F
where
    F: Fn(Scope, Receiver, Sender) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), AppError>> + Send + 'static,
{
    fn call(&self, scope: Scope, receive: Receiver, send: Sender) -> AppFuture {
        Box::pin(self(scope, receive, send))
    }
}

/// One unit of work for an application.
#[derive(Debug, Clone)]
#[non_exhaustive]
// A scope is built once per request and moved once, into the application's
// (already boxed) future: boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Scope {
    /// One HTTP request and its response.
    Http(HttpScope),
    /// A WebSocket: an HTTP/1.1 `Upgrade` or an HTTP/2 extended CONNECT (RFC 8441).
    WebSocket(WebSocketScope),
    /// The server's startup and shutdown.
    Lifespan(LifespanScope),
}

/// Header fields an application sends: raw byte pairs, in order.
pub type HeaderList = Vec<(Bytes, Bytes)>;

/// The request's header fields, in order, names lower-cased (as ASGI gives them),
/// stored as one shared buffer and offsets: iterating or looking up copies nothing.
pub use milpa_h1::{HeaderField, Headers};

/// State an application's lifespan startup shares into every later scope.
pub type State = Arc<http::Extensions>;

/// What the connection supports beyond plain request/response (ASGI's `extensions`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Extensions {
    /// `http.response.trailers`: the client accepts trailers (sent `te: trailers`).
    pub response_trailers: bool,
    /// `http.response.early_hint`: 103 responses can be sent.
    pub early_hint: bool,
    /// `http.response.push`: server push is possible (HTTP/2 with push enabled).
    pub push: bool,
    /// `http.response.pathsend`: files can be sent by path (or open, and in part:
    /// [`SendEvent::ResponseFile`], [`SendEvent::ResponseOpenFile`]).
    pub pathsend: bool,
    /// `websocket.http.response`: a WebSocket may be denied with an HTTP response
    /// (`ResponseStart` and `ResponseBody` instead of `WebSocketAccept`).
    pub websocket_http_response: bool,
}

/// An HTTP request, as ASGI's `http` scope.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpScope {
    /// `HTTP/1.0`, `HTTP/1.1` or `HTTP/2.0`.
    pub http_version: Version,
    /// The request method.
    pub method: Method,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The path, percent-decoded, without `root_path`.
    pub path: String,
    /// The path exactly as sent.
    pub raw_path: Bytes,
    /// The query string after `?`, still percent-encoded.
    pub query_string: Bytes,
    /// Where the application is mounted (`--root-path`).
    pub root_path: String,
    /// The request's header fields.
    pub headers: Headers,
    /// The client's address, when known.
    pub client: Option<SocketAddr>,
    /// The address the request arrived on, when known.
    pub server: Option<SocketAddr>,
    /// What the connection supports.
    pub extensions: Extensions,
    /// The TLS session, on an HTTPS connection (ASGI's `tls` extension).
    pub tls: Option<Arc<crate::tls::TlsInfo>>,
    /// Shared state from the lifespan startup.
    pub state: State,
}

impl HttpScope {
    /// The first value of header `name` (give it lower-cased).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name.as_bytes())
    }
}

/// A WebSocket handshake, as ASGI's `websocket` scope. The application receives
/// [`ReceiveEvent::WebSocketConnect`] first and answers with
/// [`SendEvent::WebSocketAccept`], [`SendEvent::WebSocketClose`] (a 403) or a denial
/// response ([`SendEvent::ResponseStart`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WebSocketScope {
    /// `HTTP/1.1` (Upgrade) or `HTTP/2.0` (extended CONNECT).
    pub http_version: Version,
    /// `ws` or `wss`.
    pub scheme: &'static str,
    /// The path, percent-decoded, without `root_path`.
    pub path: String,
    /// The path exactly as sent.
    pub raw_path: Bytes,
    /// The query string after `?`, still percent-encoded.
    pub query_string: Bytes,
    /// Where the application is mounted (`--root-path`).
    pub root_path: String,
    /// The request's header fields.
    pub headers: Headers,
    /// The client's address, when known.
    pub client: Option<SocketAddr>,
    /// The address the request arrived on, when known.
    pub server: Option<SocketAddr>,
    /// The subprotocols the client offered (`Sec-WebSocket-Protocol`), in its order.
    pub subprotocols: Vec<String>,
    /// What the connection supports.
    pub extensions: Extensions,
    /// The TLS session, on a `wss` connection.
    pub tls: Option<Arc<crate::tls::TlsInfo>>,
    /// Shared state from the lifespan startup.
    pub state: State,
}

impl WebSocketScope {
    /// The first value of header `name` (give it lower-cased).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name.as_bytes())
    }
}

/// A whole WebSocket message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (valid UTF-8).
    Text(String),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// The message's payload length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Self::Text(text) => text.len(),
            Self::Binary(data) => data.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The server's lifespan, as ASGI's `lifespan` scope.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LifespanScope {
    /// State the application may fill during startup; every later scope gets a copy.
    pub state: Arc<std::sync::Mutex<http::Extensions>>,
}

/// An event an application receives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiveEvent {
    /// `http.request`: a piece of the request body; `more_body` false on the last.
    Request {
        /// The bytes.
        body: Bytes,
        /// Whether more pieces follow.
        more_body: bool,
    },
    /// `http.disconnect`: the client is gone or the response is complete; delivered once.
    Disconnect,
    /// `websocket.connect`: the handshake arrived; accept, close or deny it.
    WebSocketConnect,
    /// `websocket.receive`: a whole message from the client.
    WebSocketReceive(Message),
    /// `websocket.disconnect`: the WebSocket is gone (after the close handshake, or
    /// 1006 when the connection was lost without one); delivered once.
    WebSocketDisconnect {
        /// The close code (the client's, ours, or 1006).
        code: u16,
        /// The close reason, if one was given.
        reason: String,
    },
    /// `lifespan.startup`.
    Startup,
    /// `lifespan.shutdown`.
    Shutdown,
}

/// An event an application sends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendEvent {
    /// `http.response.start`.
    ResponseStart {
        /// The status.
        status: StatusCode,
        /// The header fields.
        headers: HeaderList,
        /// Whether `ResponseTrailers` will follow the body.
        trailers: bool,
    },
    /// `http.response.body`.
    ResponseBody {
        /// The bytes.
        body: Bytes,
        /// Whether more pieces follow.
        more_body: bool,
    },
    /// `http.response.trailers`.
    ResponseTrailers {
        /// The trailer fields.
        headers: HeaderList,
        /// Whether more trailer fields follow.
        more_trailers: bool,
    },
    /// `http.response.early_hint`: a 103 with these `Link` values.
    EarlyHint {
        /// `Link` header values.
        links: Vec<Bytes>,
    },
    /// `http.response.push`: ignored where push is unsupported.
    Push {
        /// The path to push.
        path: String,
        /// Header fields for the pushed request.
        headers: HeaderList,
    },
    /// `http.response.pathsend`: the body is this file, or the `range` of it. The
    /// connection opens the file and reads it on the runtime's blocking pool, a
    /// piece at a time as the client takes it, and sends the length (the range's)
    /// as `Content-Length` unless the response has one. A file that is missing or
    /// shorter than the range is a 500, one that shrinks while it is sent closes
    /// the connection (HTTP/1.1) or resets the stream (HTTP/2). For `HEAD` (and a
    /// 204 or 304) only the head is sent.
    ResponseFile {
        /// An absolute path.
        path: PathBuf,
        /// Only these bytes (a 206's body: the status and `Content-Range` are the
        /// application's to send); `None` for the whole file.
        range: Option<FileRange>,
    },
    /// [`SendEvent::ResponseFile`] with a file the application opened itself: the
    /// bytes sent are those of the file it examined (a path can be replaced by
    /// another file between the application's look and the connection's read).
    ResponseOpenFile {
        /// The open file (a regular file, readable).
        file: OpenFile,
        /// Only these bytes; `None` for the whole file.
        range: Option<FileRange>,
    },
    /// `websocket.accept`: complete the handshake.
    WebSocketAccept {
        /// The subprotocol chosen from the scope's `subprotocols`.
        subprotocol: Option<String>,
        /// Extra response header fields.
        headers: HeaderList,
    },
    /// `websocket.send`: a whole message to the client.
    WebSocketSend(Message),
    /// `websocket.close`: before accepting, refuses the handshake with a 403; after,
    /// starts the close handshake.
    WebSocketClose {
        /// The close code: 1000 by default; 1000–1003, 1007–1014 or 3000–4999.
        code: u16,
        /// The close reason (at most 123 bytes).
        reason: String,
    },
    /// `lifespan.startup.complete`.
    StartupComplete,
    /// `lifespan.startup.failed`.
    StartupFailed {
        /// Why; shown to the operator.
        message: String,
    },
    /// `lifespan.shutdown.complete`.
    ShutdownComplete,
    /// `lifespan.shutdown.failed`.
    ShutdownFailed {
        /// Why; shown to the operator.
        message: String,
    },
}

/// A part of a file: `length` bytes from byte `offset` (the first is 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRange {
    /// Where the part starts.
    pub offset: u64,
    /// How many bytes it has.
    pub length: u64,
}

/// A file opened by the application, for [`SendEvent::ResponseOpenFile`]. Clones
/// share the one open file (and compare equal); the connection reads it at
/// explicit positions, so a clone's reads do not move the other's.
#[derive(Debug, Clone)]
pub struct OpenFile(Arc<File>);

impl OpenFile {
    /// The shared handle.
    pub(crate) fn into_inner(self) -> Arc<File> {
        self.0
    }
}

impl From<File> for OpenFile {
    fn from(file: File) -> Self {
        Self(Arc::new(file))
    }
}

impl PartialEq for OpenFile {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for OpenFile {}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Http(http) => write!(f, "http {} {}", http.method, http.path),
            Scope::WebSocket(ws) => write!(f, "websocket {}", ws.path),
            Scope::Lifespan(_) => f.write_str("lifespan"),
        }
    }
}
