//! A WebSocket echo over HTTP/1.1 and HTTP/2 (RFC 8441), with the `WebSocket` helper.
//!
//! `cargo run -p milpa-examples --example websocket`, then connect to
//! `ws://127.0.0.1:8000/` with any WebSocket client.

use milpa::{AppError, Config, Receiver, Scope, Sender, WebSocket};

async fn app(scope: Scope, receive: Receiver, mut send: Sender) -> Result<(), AppError> {
    let Scope::WebSocket(ws) = scope else {
        if let Scope::Http(_) = scope {
            send.start(http::StatusCode::OK, vec![]).await?;
            send.body("connect a WebSocket client to this address\n", false).await?;
        }
        return Ok(());
    };
    // Pick the first subprotocol the client offers, if any.
    let mut socket = WebSocket::accept(receive, send, ws.subprotocols.first().cloned()).await?;
    while let Some(message) = socket.recv().await {
        socket.send(message).await?;
    }
    Ok(())
}

fn main() -> Result<(), milpa::ServeError> {
    // The defaults, with any `MILPA_<KEY>` environment variable applied
    // (`MILPA_BIND=0.0.0.0:8080 cargo run --example …`).
    milpa::run(Config::load(None).map_err(std::io::Error::other)?, app)
}
