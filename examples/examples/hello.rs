//! The native interface: one scope, a receiver and a sender, as ASGI has them.
//!
//! `cargo run -p milpa-examples --example hello`, then `curl http://127.0.0.1:8000/`.

use bytes::Bytes;
use http::StatusCode;
use milpa::{AppError, Config, ReceiveEvent, Receiver, Scope, SendEvent, Sender};

async fn app(scope: Scope, mut receive: Receiver, mut send: Sender) -> Result<(), AppError> {
    match scope {
        Scope::Http(http) => {
            let body = format!("hello from {} over {:?}\n", http.path, http.http_version);
            let headers = vec![(Bytes::from_static(b"content-type"), Bytes::from_static(b"text/plain"))];
            send.send(SendEvent::ResponseStart { status: StatusCode::OK, headers, trailers: false }).await?;
            send.send(SendEvent::ResponseBody { body: Bytes::from(body), more_body: false }).await?;
        }
        Scope::Lifespan(_) => {
            while let Some(event) = receive.receive().await {
                match event {
                    ReceiveEvent::Startup => send.send(SendEvent::StartupComplete).await?,
                    ReceiveEvent::Shutdown => return Ok(send.send(SendEvent::ShutdownComplete).await?),
                    _ => {}
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn main() -> Result<(), milpa::ServeError> {
    // The defaults, with any `MILPA_<KEY>` environment variable applied
    // (`MILPA_BIND=0.0.0.0:8080 cargo run --example …`).
    milpa::run(Config::load(None).map_err(std::io::Error::other)?, app)
}
