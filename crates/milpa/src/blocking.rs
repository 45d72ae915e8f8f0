//! Blocking (synchronous) request handlers, run on a thread pool: the Rust
//! counterpart of Hypercorn running WSGI applications in an executor.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;

use crate::app::App;
use crate::handler::{Body, BodyTooLarge, handler};

/// The largest request body a blocking handler is given by default: 16 MiB.
pub const DEFAULT_BLOCKING_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Serves a synchronous `http::Request<Bytes>` → `http::Response` function. Each
/// request's body is read whole first (up to [`DEFAULT_BLOCKING_BODY_LIMIT`]; past
/// it the client gets a 413 and `f` is not called), then `f` runs on the `blocking`
/// crate's thread pool — never on the connection's task — so it may do blocking IO.
/// A panic in `f` answers that request with a 500.
pub fn blocking<F, B>(f: F) -> impl App
where
    F: Fn(http::Request<Bytes>) -> http::Response<B> + Send + Sync + 'static,
    B: Into<Body> + 'static,
{
    blocking_with_limit(DEFAULT_BLOCKING_BODY_LIMIT, f)
}

/// As [`blocking()`], with a request body limit of `limit` bytes.
pub fn blocking_with_limit<F, B>(limit: usize, f: F) -> impl App
where
    F: Fn(http::Request<Bytes>) -> http::Response<B> + Send + Sync + 'static,
    B: Into<Body> + 'static,
{
    let f = Arc::new(f);
    handler(move |request: http::Request<Body>| {
        let f = f.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = match body.collect(limit).await {
                Ok(body) => body,
                Err(error) if error.is::<BodyTooLarge>() => {
                    return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
                }
                Err(_) => return plain(StatusCode::BAD_REQUEST, "incomplete request body\n"),
            };
            let request = http::Request::from_parts(parts, body);
            let answered = ::blocking::unblock(move || {
                catch_unwind(AssertUnwindSafe(|| f(request).map(Into::into))).map_err(|_| ())
            })
            .await;
            answered.unwrap_or_else(|()| {
                tracing::error!("blocking handler panicked");
                plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n")
            })
        }
    })
}

fn plain(status: StatusCode, text: &'static str) -> http::Response<Body> {
    let mut response = http::Response::new(Body::from(text));
    *response.status_mut() = status;
    response
}
