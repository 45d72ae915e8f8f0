//! One server, several applications: an axum `Router` under `/api` and a static
//! directory everywhere else.
//!
//! `cargo run -p milpa-examples --example dispatcher -- ./public`, then
//! `curl http://127.0.0.1:8000/api/time` and `curl http://127.0.0.1:8000/index.html`.

use axum::Router;
use axum::routing::get;
use milpa::{Config, Dispatcher, StaticFiles};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".to_owned());
    // The router sees paths below its mount point: `/api/time` arrives as `/time`.
    let api = Router::new().route(
        "/time",
        get(|| async {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            format!("{} seconds since the epoch\n", now.as_secs())
        }),
    );
    let app = Dispatcher::new().mount("/api", milpa::tower(api)).mount("/", StaticFiles::new(&dir)?);
    // The defaults, with any `MILPA_<KEY>` environment variable applied
    // (`MILPA_BIND=0.0.0.0:8080 cargo run --example …`).
    milpa::run(Config::load(None).map_err(std::io::Error::other)?, app)?;
    Ok(())
}
