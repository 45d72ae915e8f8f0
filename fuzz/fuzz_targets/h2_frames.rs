//! Raw bytes after the client preface, fed to the HTTP/2 server machine whole:
//! no panic, bounded buffering, and a connection error always queues a GOAWAY.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use libfuzzer_sys::fuzz_target;
use milpa_h2::frame::CONNECTION_PREFACE;
use milpa_h2::{Config, Connection, Event};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    conn.receive(now, CONNECTION_PREFACE);
    let mut wire = Vec::new();
    let mut connection_error = false;
    for (round, piece) in data.chunks(512).enumerate() {
        let now = now + Duration::from_millis(round as u64);
        conn.receive(now, piece);
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Request { stream, .. } => {
                    let _ = conn.send_response(stream, StatusCode::OK, [("x", "y")], false);
                    let _ = conn.send_data(stream, Bytes::from_static(b"ok"), true);
                }
                Event::Data { stream, data, .. } => {
                    let _ = conn.release_capacity(stream, data.len());
                }
                Event::ConnectionError(_) => connection_error = true,
                _ => {}
            }
        }
        while let Some(bytes) = conn.poll_transmit(now) {
            wire.extend_from_slice(&bytes);
        }
        assert!(conn.buffered_bytes() < 8 * 1024 * 1024, "unbounded buffering");
    }
    if connection_error {
        // A GOAWAY frame (type 7) went out.
        assert!(wire.windows(4).any(|w| w[3] == 7), "connection error without GOAWAY");
    }
});
