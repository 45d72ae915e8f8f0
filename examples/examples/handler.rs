//! `http::Request` in, `http::Response` out: no event plumbing.
//!
//! `cargo run -p milpa-examples --example handler`, then
//! `curl -d 'some text' http://127.0.0.1:8000/upper`.

use milpa::{Body, Config, handler};

fn main() -> Result<(), milpa::ServeError> {
    let app = handler(|request: http::Request<Body>| async move {
        let path = request.uri().path().to_owned();
        match request.into_body().collect(1024 * 1024).await {
            Ok(body) if path == "/upper" => {
                http::Response::new(Body::from(String::from_utf8_lossy(&body).to_uppercase()))
            }
            Ok(_) => http::Response::new(Body::from(format!("try POST /upper (you asked for {path})\n"))),
            Err(error) => {
                let mut response = http::Response::new(Body::from(format!("{error}\n")));
                *response.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
                response
            }
        }
    });
    // The defaults, with any `MILPA_<KEY>` environment variable applied
    // (`MILPA_BIND=0.0.0.0:8080 cargo run --example …`).
    milpa::run(Config::load(None).map_err(std::io::Error::other)?, app)
}
