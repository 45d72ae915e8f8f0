//! A scripted client for driving `milpa_h1::Connection` in tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use milpa_h1::{Config, Connection, ErrorKind, Event};

/// An event flattened into something comparable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Request { method: String, target: String, headers: Vec<(String, String)> },
    Data(Vec<u8>),
    End(Option<Vec<(String, String)>>),
    Error(ErrorKind, Option<u16>),
}

pub fn flatten(event: Event) -> Ev {
    match event {
        Event::Request(request) => Ev::Request {
            method: request.method().to_string(),
            target: String::from_utf8_lossy(request.target()).into_owned(),
            headers: pairs(request.headers()),
        },
        Event::Data(data) => Ev::Data(data.to_vec()),
        Event::EndOfMessage { trailers } => Ev::End(trailers.as_ref().map(pairs)),
        Event::Error(error) => Ev::Error(error.kind(), error.response().map(|s| s.as_u16())),
        other => panic!("unknown event {other:?}"),
    }
}

fn pairs(headers: &milpa_h1::Headers) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|f| {
            (String::from_utf8_lossy(f.name()).into_owned(), String::from_utf8_lossy(f.value()).into_owned())
        })
        .collect()
}

/// What a scripted exchange produced: events (adjacent data merged) and the wire output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    pub events: Vec<Ev>,
    pub wire: Vec<u8>,
    pub finished: bool,
}

impl Transcript {
    pub fn wire_str(&self) -> String {
        String::from_utf8_lossy(&self.wire).into_owned()
    }

    pub fn error(&self) -> Option<(ErrorKind, Option<u16>)> {
        self.events.iter().find_map(|e| match e {
            Ev::Error(kind, status) => Some((*kind, *status)),
            _ => None,
        })
    }

    pub fn requests(&self) -> usize {
        self.events.iter().filter(|e| matches!(e, Ev::Request { .. })).count()
    }

    pub fn body(&self) -> Vec<u8> {
        self.events
            .iter()
            .flat_map(|e| match e {
                Ev::Data(d) => d.clone(),
                _ => Vec::new(),
            })
            .collect()
    }
}

/// Feeds `chunks` one after the other, answering each complete request with
/// `200 OK` and body `ok`, and returns what happened.
pub fn run_chunks(config: Config, chunks: &[&[u8]], eof: bool) -> Transcript {
    let now = Instant::now();
    let mut conn = Connection::new(config, now);
    let mut events = Vec::new();
    let mut wire = Vec::new();
    let pump = |conn: &mut Connection, events: &mut Vec<Ev>, wire: &mut Vec<u8>| {
        while let Some(event) = conn.poll_event() {
            let ev = flatten(event);
            let end = matches!(ev, Ev::End(_));
            push_merged(events, ev);
            if end {
                conn.send_response(StatusCode::OK, [("content-type", "text/plain")], Some(2)).unwrap();
                conn.send_data(Bytes::from_static(b"ok")).unwrap();
                conn.send_end(None::<(&str, &str)>).unwrap();
            }
        }
        while let Some(bytes) = conn.poll_transmit(now) {
            wire.extend_from_slice(&bytes);
        }
    };
    for chunk in chunks {
        conn.receive(now, chunk);
        pump(&mut conn, &mut events, &mut wire);
    }
    if eof {
        conn.receive_eof();
        pump(&mut conn, &mut events, &mut wire);
    }
    Transcript { events, wire, finished: conn.is_finished() }
}

fn push_merged(events: &mut Vec<Ev>, ev: Ev) {
    if let (Some(Ev::Data(last)), Ev::Data(more)) = (events.last_mut(), &ev) {
        last.extend_from_slice(more);
        return;
    }
    events.push(ev);
}

pub fn run(input: &[u8]) -> Transcript {
    run_chunks(Config::default(), &[input], false)
}

pub fn run_with(config: Config, input: &[u8]) -> Transcript {
    run_chunks(config, &[input], false)
}

/// Runs `input` whole and one byte at a time and asserts both give the same
/// events and the same bytes on the wire.
pub fn run_both_ways(input: &[u8]) -> Transcript {
    run_both_ways_with(Config::default(), input)
}

pub fn run_both_ways_with(config: Config, input: &[u8]) -> Transcript {
    let whole = run_chunks(config.clone(), &[input], false);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    let bytewise = run_chunks(config, &bytes, false);
    assert_eq!(whole, bytewise, "whole vs byte-at-a-time differ for {:?}", String::from_utf8_lossy(input));
    whole
}

/// Asserts `input` is refused with `kind` and `status`, the error response says
/// `Connection: close`, and the connection finishes.
pub fn assert_rejected(input: &[u8], kind: ErrorKind, status: u16) -> Transcript {
    let t = run_both_ways(input);
    assert_eq!(t.error(), Some((kind, Some(status))), "events: {:?}", t.events);
    let wire = t.wire_str();
    let expected_line = format!("HTTP/1.1 {status} ");
    assert!(wire.contains(&expected_line), "wire: {wire}");
    let error_response = &wire[wire.rfind(&expected_line).unwrap()..];
    assert!(error_response.contains("connection: close\r\n"), "wire: {wire}");
    assert!(t.finished, "connection should be finished after an error");
    t
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
