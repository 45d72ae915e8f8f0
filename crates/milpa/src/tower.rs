//! Serving a `tower::Service` — an axum `Router`, a tower-http stack — as a milpa
//! application: each request becomes an `http::Request<Body>`, the service's
//! `http::Response<B>` streams back (trailers included, where the client accepts
//! them), with the same backpressure as every other application.

use std::future::poll_fn;

use bytes::Bytes;
use http::StatusCode;
use tower_service::Service;

use crate::app::{App, AppError};
use crate::handler::{Body, handler};

/// Serves any `tower::Service<http::Request<milpa::Body>>` answering with an
/// `http::Response` whose body is an [`http_body::Body`] of `Bytes` — an axum
/// `Router` among them — over HTTP/1.1, HTTP/2 and TLS, on every runtime.
///
/// The service is cloned per request (as hyper does), readied, then called. A
/// service error answers that request with a 500 and is logged; WebSocket scopes
/// are refused (403): serve them from a native app beside the service.
pub fn tower<S, B>(service: S) -> impl App
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<AppError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<AppError>,
{
    handler(move |request: http::Request<Body>| {
        let mut service = service.clone();
        async move {
            let answered = async {
                poll_fn(|cx| service.poll_ready(cx)).await.map_err(Into::into)?;
                service.call(request).await.map_err(Into::into)
            };
            let result: Result<http::Response<B>, AppError> = answered.await;
            match result {
                Ok(response) => response.map(Body::wrap),
                Err(error) => {
                    tracing::error!(%error, "the service failed");
                    let mut response = http::Response::new(Body::from("Internal Server Error\n"));
                    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    response
                }
            }
        }
    })
}
