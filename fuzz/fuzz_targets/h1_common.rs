//! Shared driver for the milpa-h1 targets: feed input in pieces, answer every
//! request, and record decisions so whole and split runs can be compared.

use std::time::Instant;

use bytes::Bytes;
use http::StatusCode;
use milpa_h1::{Config, Connection, Event};

/// Everything observable about a run: a textual event log and the wire bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub log: Vec<String>,
    pub wire: Vec<u8>,
}

pub fn run(pieces: &[&[u8]]) -> Outcome {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    let mut log: Vec<String> = Vec::new();
    let mut wire = Vec::new();
    let mut body = Vec::new();
    for piece in pieces {
        conn.receive(now, piece);
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Request(request) => {
                    log.push(format!("{request:?}"));
                    conn.want_body();
                }
                Event::Data(data) => body.extend_from_slice(&data),
                Event::EndOfMessage { trailers } => {
                    log.push(format!("body {body:?} trailers {trailers:?}"));
                    body.clear();
                    let _ = conn.send_response(StatusCode::OK, [("x", "y")], None);
                    let _ = conn.send_data(Bytes::from_static(b"ok"));
                    let _ = conn.send_end([("t", "1")]);
                }
                Event::Error(error) => log.push(format!("error {error}")),
                other => log.push(format!("{other:?}")),
            }
        }
        while let Some(bytes) = conn.poll_transmit(now) {
            wire.extend_from_slice(&bytes);
        }
    }
    if !body.is_empty() {
        log.push(format!("partial body {body:?}"));
    }
    Outcome { log, wire }
}

/// Splits `data` at the positions chosen by `seed`.
pub fn split(data: &[u8], seed: &[u8]) -> Vec<Vec<u8>> {
    let mut pieces = Vec::new();
    let mut rest = data;
    for &cut in seed {
        if rest.is_empty() {
            break;
        }
        let at = usize::from(cut) % rest.len() + 1;
        pieces.push(rest[..at].to_vec());
        rest = &rest[at..];
    }
    if !rest.is_empty() {
        pieces.push(rest.to_vec());
    }
    pieces
}
