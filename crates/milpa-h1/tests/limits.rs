//! Every limit just below and just past its value.

mod common;

use common::*;
use milpa_h1::{Config, ErrorKind as K};

/// A request whose head is exactly `size` bytes, padded with one header.
fn head_of_size(size: usize) -> Vec<u8> {
    let start = b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
    let end = b"\r\n\r\n";
    let pad = size - start.len() - end.len();
    [&start[..], &vec![b'p'; pad], end].concat()
}

#[test]
fn head_at_the_limit_is_accepted() {
    let t = run(&head_of_size(16 * 1024));
    assert_eq!(t.error(), None);
    assert_eq!(t.requests(), 1);
}

#[test]
fn head_one_byte_past_the_limit_is_431() {
    assert_rejected(&head_of_size(16 * 1024 + 1), K::HeadTooLarge, 431);
}

#[test]
fn long_target_is_414() {
    let mut input = b"GET /".to_vec();
    input.extend(vec![b'a'; 16 * 1024]);
    input.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_rejected(&input, K::TargetTooLong, 414);
}

#[test]
fn target_just_under_the_limit_is_accepted() {
    let mut input = b"GET /".to_vec();
    input.extend(vec![b'a'; 16 * 1024 - 40]);
    input.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    let t = run(&input);
    assert_eq!(t.error(), None);
}

#[test]
fn endless_garbage_without_a_line_is_400() {
    assert_rejected(&vec![b'\x01'; 20 * 1024], K::BadRequestLine, 400);
}

fn with_headers(n: usize) -> Vec<u8> {
    let mut input = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 1..n {
        input.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    input.extend_from_slice(b"\r\n");
    input
}

#[test]
fn one_hundred_headers_are_accepted() {
    let t = run(&with_headers(100));
    assert_eq!(t.error(), None);
}

#[test]
fn one_hundred_and_one_headers_are_431() {
    assert_rejected(&with_headers(101), K::TooManyHeaders, 431);
}

#[test]
fn header_count_limit_is_configurable_past_the_stack_array() {
    let mut config = Config::default();
    config.max_headers = 300;
    let t = run_with(config.clone(), &with_headers(300));
    assert_eq!(t.error(), None);
    let t = run_with(config, &with_headers(301));
    assert_eq!(t.error(), Some((K::TooManyHeaders, Some(431))));
}

fn chunk_with_extension(len: usize) -> Vec<u8> {
    let mut input = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;".to_vec();
    input.extend(vec![b'e'; len]);
    input.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
    input
}

#[test]
fn chunk_extensions_at_the_limit_are_accepted() {
    let t = run(&chunk_with_extension(16 * 1024));
    assert_eq!(t.error(), None);
    assert_eq!(t.body(), b"x");
}

#[test]
fn chunk_extensions_past_the_limit_are_400() {
    assert_rejected(&chunk_with_extension(16 * 1024 + 1), K::ChunkExtensionsTooLarge, 400);
}

#[test]
fn chunk_extensions_count_across_the_whole_body() {
    let mut input = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..20 {
        input.extend_from_slice(b"1;");
        input.extend(vec![b'e'; 1000]);
        input.extend_from_slice(b"\r\nx\r\n");
    }
    let t = run(&input);
    assert_eq!(t.error(), Some((K::ChunkExtensionsTooLarge, Some(400))));
}

fn trailers_of_size(size: usize) -> Vec<u8> {
    let mut input = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n".to_vec();
    let start = b"X-T: ";
    let pad = size - start.len() - 4;
    input.extend_from_slice(start);
    input.extend(vec![b't'; pad]);
    input.extend_from_slice(b"\r\n\r\n");
    input
}

#[test]
fn trailers_at_the_limit_are_accepted() {
    let t = run(&trailers_of_size(16 * 1024));
    assert_eq!(t.error(), None, "{:?}", t.error());
}

#[test]
fn trailers_past_the_limit_are_431() {
    assert_rejected(&trailers_of_size(16 * 1024 + 1), K::TrailersTooLarge, 431);
}

#[test]
fn limits_are_configurable() {
    let mut config = Config::default();
    config.max_head_size = 64;
    let t = run_with(config, &head_of_size(65));
    assert_eq!(t.error(), Some((K::HeadTooLarge, Some(431))));
}

#[test]
fn discard_cap_is_applied_to_unread_chunked_bodies() {
    use http::StatusCode;
    use milpa_h1::{Connection, Event};
    use std::time::Instant;
    let now = Instant::now();
    let mut config = Config::default();
    config.max_discarded_body = 10;
    let mut conn = Connection::new(config, now);
    conn.receive(now, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert!(matches!(conn.poll_event(), Some(Event::Request(_))));
    conn.send_response(StatusCode::OK, None::<(&str, &str)>, Some(0)).unwrap();
    conn.send_end(None::<(&str, &str)>).unwrap();
    conn.receive(now, b"5\r\nhello\r\n");
    assert!(conn.poll_event().is_none());
    assert!(!conn.is_finished());
    conn.receive(now, b"8\r\nmore one\r\n");
    assert!(conn.poll_event().is_none());
    while conn.poll_transmit(now).is_some() {}
    assert!(conn.is_finished(), "past the discard cap the connection closes");
}
