//! The ergonomic layer: serve `http::Request<Body>` → `http::Response` functions.
//!
//! ```no_run
//! use milpa::{Body, handler};
//!
//! let app = handler(|request: http::Request<Body>| async move {
//!     let name = request.uri().query().unwrap_or("world").to_owned();
//!     http::Response::new(format!("hello, {name}\n"))
//! });
//! # let _ = app;
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body::Frame;

use crate::app::{App, AppError, AppFuture, HttpScope, ReceiveEvent, Scope, SendEvent};
use crate::exchange::{Receiver, Sender};

/// A request or response body.
pub struct Body {
    kind: Kind,
}

enum Kind {
    Empty,
    Full(Bytes),
    Incoming { receiver: Receiver, done: bool },
    Boxed(Pin<Box<dyn http_body::Body<Data = Bytes, Error = AppError> + Send + 'static>>),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Empty => "empty",
            Kind::Full(_) => "full",
            Kind::Incoming { .. } => "incoming",
            Kind::Boxed(_) => "streaming",
        };
        f.debug_tuple("Body").field(&kind).finish()
    }
}

/// The client disconnected before the request body was complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyIncomplete;

impl std::fmt::Display for BodyIncomplete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client disconnected before the request body was complete")
    }
}

impl std::error::Error for BodyIncomplete {}

/// A request body was larger than the limit given to [`Body::collect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTooLarge;

impl std::fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body too large")
    }
}

impl std::error::Error for BodyTooLarge {}

impl Body {
    /// No bytes.
    pub fn empty() -> Self {
        Self { kind: Kind::Empty }
    }

    /// Streams any [`http_body::Body`] (for example `http_body_util::StreamBody`).
    pub fn wrap<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<AppError>,
    {
        Self { kind: Kind::Boxed(Box::pin(MapErr(Box::pin(body)))) }
    }

    fn incoming(receiver: Receiver) -> Self {
        Self { kind: Kind::Incoming { receiver, done: false } }
    }

    /// The next piece of the body, `None` at its end (or when the client left).
    pub async fn chunk(&mut self) -> Option<Result<Bytes, AppError>> {
        loop {
            let frame = std::future::poll_fn(|cx| Pin::new(&mut *self).poll_frame_inner(cx)).await?;
            match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => return Some(Ok(data)),
                    Err(_trailers) => continue,
                },
                Err(error) => return Some(Err(error)),
            }
        }
    }

    /// The whole body, refusing more than `limit` bytes.
    pub async fn collect(mut self, limit: usize) -> Result<Bytes, AppError> {
        let mut collected = Vec::new();
        while let Some(chunk) = self.chunk().await {
            let chunk = chunk?;
            if collected.len() + chunk.len() > limit {
                return Err(Box::new(BodyTooLarge));
            }
            collected.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(collected))
    }

    fn poll_frame_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, AppError>>> {
        match &mut self.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(bytes) => {
                let bytes = std::mem::take(bytes);
                self.kind = Kind::Empty;
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Kind::Incoming { done: true, .. } => Poll::Ready(None),
            Kind::Incoming { receiver, done } => {
                let event = {
                    let receive = receiver.receive();
                    let mut receive = std::pin::pin!(receive);
                    std::task::ready!(receive.as_mut().poll(cx))
                };
                *done = true;
                match event {
                    Some(ReceiveEvent::Request { body, more_body }) => {
                        *done = !more_body;
                        Poll::Ready(Some(Ok(Frame::data(body))))
                    }
                    // The client left before the body ended: a truncated upload is
                    // an error, never a shorter body.
                    _ => Poll::Ready(Some(Err(Box::new(BodyIncomplete)))),
                }
            }
            Kind::Boxed(body) => body.as_mut().poll_frame(cx),
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = AppError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.get_mut().poll_frame_inner(cx)
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Incoming { done, .. } => *done,
            Kind::Boxed(body) => body.is_end_stream(),
            Kind::Full(_) => false,
        }
    }
}

/// Adapts a body's error type to [`AppError`]; the inner body is boxed so the
/// adapter is `Unpin` and needs no pin projection.
struct MapErr<B>(Pin<Box<B>>);

impl<B> http_body::Body for MapErr<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<AppError>,
{
    type Data = Bytes;
    type Error = AppError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, AppError>>> {
        self.get_mut().0.as_mut().poll_frame(cx).map(|frame| frame.map(|result| result.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }
}

macro_rules! from_bytes {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Body {
            fn from(value: $ty) -> Self {
                Self { kind: Kind::Full(Bytes::from(value)) }
            }
        }
    )*};
}

from_bytes!(Bytes, Vec<u8>, String, &'static str, &'static [u8]);

impl From<()> for Body {
    fn from((): ()) -> Self {
        Self::empty()
    }
}

/// Serves `f` as an application (see the module docs).
pub fn handler<F, Fut, B>(f: F) -> Handler<F>
where
    F: Fn(http::Request<Body>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = http::Response<B>> + Send + 'static,
    B: Into<Body>,
{
    Handler { f: Arc::new(f) }
}

/// An application made of a request → response function; see [`handler`].
pub struct Handler<F> {
    f: Arc<F>,
}

impl<F> std::fmt::Debug for Handler<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handler")
    }
}

impl<F, Fut, B> App for Handler<F>
where
    F: Fn(http::Request<Body>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = http::Response<B>> + Send + 'static,
    B: Into<Body>,
{
    fn call(&self, scope: Scope, receive: Receiver, send: Sender) -> AppFuture {
        let f = self.f.clone();
        Box::pin(async move {
            match scope {
                Scope::Http(scope) => serve_http(&*f, scope, receive, send).await,
                Scope::Lifespan(_) => serve_lifespan(receive, send).await,
                // A request/response handler has no WebSocket to offer: refuse with a 403.
                Scope::WebSocket(_) => {
                    let mut send = send;
                    send.send(SendEvent::WebSocketClose { code: 1000, reason: String::new() }).await?;
                    Ok(())
                }
            }
        })
    }
}

async fn serve_lifespan(mut receive: Receiver, mut send: Sender) -> Result<(), AppError> {
    while let Some(event) = receive.receive().await {
        match event {
            ReceiveEvent::Startup => send.send(SendEvent::StartupComplete).await?,
            ReceiveEvent::Shutdown => {
                send.send(SendEvent::ShutdownComplete).await?;
                return Ok(());
            }
            _ => {}
        }
    }
    Ok(())
}

async fn serve_http<F, Fut, B>(
    f: &F,
    scope: HttpScope,
    receive: Receiver,
    mut send: Sender,
) -> Result<(), AppError>
where
    F: Fn(http::Request<Body>) -> Fut,
    Fut: Future<Output = http::Response<B>>,
    B: Into<Body>,
{
    let Some(request) = to_request(&scope, receive) else {
        send.respond(StatusCode::BAD_REQUEST, vec![], Bytes::from_static(b"invalid request\n")).await?;
        return Ok(());
    };
    let response = f(request).await;
    let (parts, body) = response.into_parts();
    let mut body: Body = body.into();
    let headers = from_header_map(&parts.headers);
    if let Kind::Full(bytes) = &mut body.kind {
        return Ok(send.respond(parts.status, headers, std::mem::take(bytes)).await?);
    }
    let trailers = scope.extensions.response_trailers && matches!(body.kind, Kind::Boxed(_));
    send.send(SendEvent::ResponseStart { status: parts.status, headers, trailers }).await?;
    let mut trailer_fields = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.poll_frame_inner(cx)).await {
        match frame?.into_data() {
            Ok(data) => send.body(data, true).await?,
            Err(frame) => {
                if let Ok(map) = frame.into_trailers() {
                    trailer_fields.extend(from_header_map(&map));
                }
            }
        }
    }
    send.body(Bytes::new(), false).await?;
    if trailers {
        send.send(SendEvent::ResponseTrailers { headers: trailer_fields, more_trailers: false }).await?;
    }
    Ok(())
}

fn to_request(scope: &HttpScope, receive: Receiver) -> Option<http::Request<Body>> {
    let mut target = Vec::with_capacity(scope.raw_path.len() + scope.query_string.len() + 1);
    target.extend_from_slice(&scope.raw_path);
    if !scope.query_string.is_empty() {
        target.push(b'?');
        target.extend_from_slice(&scope.query_string);
    }
    let uri = http::Uri::from_maybe_shared(Bytes::from(target)).ok()?;
    let mut builder =
        http::Request::builder().method(scope.method.clone()).uri(uri).version(scope.http_version);
    for field in scope.headers.iter() {
        let name = HeaderName::from_bytes(field.name()).ok()?;
        let value = HeaderValue::from_maybe_shared(field.value_bytes()).ok()?;
        builder = builder.header(name, value);
    }
    let mut request = builder.body(Body::incoming(receive)).ok()?;
    request.extensions_mut().insert(scope.clone());
    Some(request)
}

fn from_header_map(map: &HeaderMap) -> crate::HeaderList {
    map.iter()
        .map(|(name, value)| {
            (Bytes::copy_from_slice(name.as_str().as_bytes()), Bytes::copy_from_slice(value.as_bytes()))
        })
        .collect()
}
