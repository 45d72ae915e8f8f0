//! An axum `Router` on milpa (HTTP/1.1 and h2c here; add `--certfile`/`--keyfile`
//! settings to `Config` for TLS), with a milpa-native WebSocket beside it.
//!
//! `cargo run -p milpa-examples --example axum`, then:
//! `curl http://127.0.0.1:8000/users/7`, `curl -d '{"name":"Ana"}' -H 'content-type: application/json'
//! http://127.0.0.1:8000/users`, `curl http://127.0.0.1:8000/count`, and a WebSocket client
//! on `ws://127.0.0.1:8000/ws`.

use std::convert::Infallible;

use axum::Router;
use axum::extract::{Json, Path};
use axum::routing::{get, post};
use bytes::Bytes;
use milpa::{App, AppError, AppFuture, Config, Receiver, Scope, Sender, WebSocket};

fn router() -> Router {
    Router::new()
        .route("/", get(|| async { "milpa serves axum\n" }))
        .route("/users/{id}", get(|Path(id): Path<u32>| async move { Json(serde_json::json!({ "id": id })) }))
        .route(
            "/users",
            post(|Json(user): Json<serde_json::Value>| async move {
                (http::StatusCode::CREATED, Json(serde_json::json!({ "created": user })))
            }),
        )
        .route("/count", get(|| async { axum::body::Body::from_stream(count()) }))
}

/// A streaming response: ten lines, sent as the client reads them.
fn count() -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> {
    futures_util::stream::unfold(0, |n| async move {
        if n == 10 {
            return None;
        }
        Some((Ok(Bytes::from(format!("{n}\n"))), n + 1))
    })
}

async fn echo(receive: Receiver, send: Sender) -> Result<(), AppError> {
    let mut socket = WebSocket::accept(receive, send, None).await?;
    while let Some(message) = socket.recv().await {
        socket.send(message).await?;
    }
    Ok(())
}

fn main() -> Result<(), milpa::ServeError> {
    let api = milpa::tower(router());
    // WebSockets go to the native echo; everything else (HTTP, lifespan) to axum.
    let app = move |scope: Scope, receive: Receiver, send: Sender| -> AppFuture {
        match scope {
            Scope::WebSocket(_) => Box::pin(echo(receive, send)),
            other => api.call(other, receive, send),
        }
    };
    // The defaults, with any `MILPA_<KEY>` environment variable applied
    // (`MILPA_BIND=0.0.0.0:8080 cargo run --example …`).
    milpa::run(Config::load(None).map_err(std::io::Error::other)?, app)
}
