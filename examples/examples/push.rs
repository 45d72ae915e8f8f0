//! HTTP/2 server push: the page promises its stylesheet before it is asked for.
//!
//! `cargo run -p milpa-examples --example push`, then
//! `nghttp -nv http://127.0.0.1:8000/` (h2c) shows the PUSH_PROMISE.

use bytes::Bytes;
use milpa::{AppError, Config, Receiver, Scope, SendEvent, Sender};

async fn app(scope: Scope, _receive: Receiver, mut send: Sender) -> Result<(), AppError> {
    let Scope::Http(http) = scope else { return Ok(()) };
    let (content_type, body): (&'static [u8], &'static [u8]) = match http.path.as_str() {
        "/style.css" => (b"text/css", b"body { font-family: sans-serif; }\n"),
        _ => {
            if http.extensions.push {
                send.send(SendEvent::Push { path: "/style.css".to_owned(), headers: Vec::new() }).await?;
            }
            (b"text/html", b"<!doctype html><link rel=stylesheet href=/style.css><h1>pushed</h1>\n")
        }
    };
    send.start(
        http::StatusCode::OK,
        vec![(Bytes::from_static(b"content-type"), Bytes::from_static(content_type))],
    )
    .await?;
    send.body(Bytes::from_static(body), false).await?;
    Ok(())
}

fn main() -> Result<(), milpa::ServeError> {
    // The defaults, with any `MILPA_<KEY>` environment variable applied
    // (`MILPA_BIND=0.0.0.0:8080 cargo run --example …`).
    milpa::run(Config::load(None).map_err(std::io::Error::other)?, app)
}
