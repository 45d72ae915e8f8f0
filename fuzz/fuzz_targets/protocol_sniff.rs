//! A plain-text connection's first bytes, arriving in arbitrary pieces: the sniff
//! decides as the server does (reading no more than it needs), the decision never
//! changes as bytes arrive, and the machine it picks takes every byte without
//! panicking or buffering without bound.
#![no_main]

use std::time::Instant;

use bytes::Bytes;
use http::StatusCode;
use libfuzzer_sys::fuzz_target;
use milpa_h2::sniff::{Sniffed, bytes_wanted, sniff};

#[path = "h1_common.rs"]
mod h1_common;

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (data, seed) = input;
    let pieces = h1_common::split(&data, &seed);
    // Read as the server does: never more than the sniff still wants.
    let mut read = Vec::new();
    let mut rest: Vec<u8> = pieces.concat();
    while bytes_wanted(&read) > 0 && !rest.is_empty() {
        let take = bytes_wanted(&read).min(rest.len()).min(pieces.first().map_or(1, |p| p.len().max(1)));
        read.extend(rest.drain(..take));
    }
    let decided = sniff(&read);
    for end in 0..=read.len() {
        let early = sniff(&read[..end]);
        assert!(early == Sniffed::NeedMore || early == decided, "the decision changed: {early:?} then {decided:?}");
    }
    if decided == Sniffed::NeedMore {
        assert!(rest.is_empty(), "stopped reading with input left");
    }
    let now = Instant::now();
    if decided == Sniffed::Http2 {
        let mut conn = milpa_h2::Connection::new(milpa_h2::Config::default(), now);
        conn.receive(now, &read);
        for piece in rest.chunks(512) {
            conn.receive(now, piece);
            while let Some(event) = conn.poll_event() {
                if let milpa_h2::Event::Request { stream, .. } = event {
                    let _ = conn.send_response(stream, StatusCode::OK, [("x", "y")], false);
                    let _ = conn.send_data(stream, Bytes::from_static(b"ok"), true);
                }
            }
            while conn.poll_transmit(now).is_some() {}
            assert!(conn.buffered_bytes() < 8 * 1024 * 1024, "unbounded buffering");
        }
    } else {
        read.extend_from_slice(&rest);
        let _ = h1_common::run(&[&read]);
    }
});
