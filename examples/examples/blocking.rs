//! Synchronous handlers — blocking IO and all — run on a thread pool, the way
//! Hypercorn runs WSGI applications in an executor.
//!
//! `cargo run -p milpa-examples --example blocking`, then
//! `curl -d 'write me down' http://127.0.0.1:8000/notes` and `curl http://127.0.0.1:8000/notes`.

use std::sync::Mutex;

use bytes::Bytes;
use milpa::Config;

fn main() -> Result<(), milpa::ServeError> {
    let notes = Mutex::new(Vec::<String>::new());
    let app = milpa::blocking(move |request: http::Request<Bytes>| {
        // A std::sync::Mutex and plain blocking code are fine here: this runs on the pool.
        let mut notes = notes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if request.method() == http::Method::POST {
            notes.push(String::from_utf8_lossy(request.body()).into_owned());
        }
        http::Response::new(notes.join("\n") + "\n")
    });
    // The defaults, with any `MILPA_<KEY>` environment variable applied
    // (`MILPA_BIND=0.0.0.0:8080 cargo run --example …`).
    milpa::run(Config::load(None).map_err(std::io::Error::other)?, app)
}
