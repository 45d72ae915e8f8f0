//! Timers as state: the slowloris deadline, the body idle timeout, the keep-alive
//! timeout, and the cap on requests per connection.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Instant;

use common::*;
use http::StatusCode;
use milpa_h1::{Config, Connection, ErrorKind, Event};

const NO_FIELDS: Option<(&str, &str)> = None;

fn drain(conn: &mut Connection, now: Instant) -> String {
    let mut out = Vec::new();
    while let Some(bytes) = conn.poll_transmit(now) {
        out.extend_from_slice(&bytes);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn answer(conn: &mut Connection) {
    conn.send_response(StatusCode::OK, NO_FIELDS, Some(0)).unwrap();
    conn.send_end(NO_FIELDS).unwrap();
}

#[test]
fn slow_head_gets_408_at_the_header_deadline() {
    let t0 = Instant::now();
    let mut conn = Connection::new(Config::default(), t0);
    conn.receive(t0, b"GET / HTTP/1.1\r\n");
    assert!(conn.poll_event().is_none());
    assert_eq!(conn.poll_timeout(), Some(t0 + secs(30)));
    // Trickling bytes does not move the deadline: it counts from the first byte.
    conn.receive(t0 + secs(20), b"Host: a\r\n");
    assert!(conn.poll_event().is_none());
    conn.handle_timeout(t0 + secs(29));
    assert!(conn.poll_event().is_none());
    conn.handle_timeout(t0 + secs(30));
    match conn.poll_event() {
        Some(Event::Error(error)) => {
            assert_eq!(error.kind(), ErrorKind::HeaderTimeout);
            assert_eq!(error.response(), Some(StatusCode::REQUEST_TIMEOUT));
        }
        other => panic!("{other:?}"),
    }
    assert!(drain(&mut conn, t0).starts_with("HTTP/1.1 408 Request Timeout\r\n"));
    assert!(conn.is_finished());
}

#[test]
fn silent_new_connection_closes_quietly_at_the_header_deadline() {
    let t0 = Instant::now();
    let mut conn = Connection::new(Config::default(), t0);
    assert_eq!(conn.poll_timeout(), Some(t0 + secs(30)));
    conn.handle_timeout(t0 + secs(30));
    assert!(conn.poll_event().is_none());
    assert!(drain(&mut conn, t0).is_empty());
    assert!(conn.is_finished());
}

#[test]
fn keep_alive_idle_connection_closes_after_five_seconds() {
    let t0 = Instant::now();
    let mut conn = Connection::new(Config::default(), t0);
    conn.receive(t0, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    while conn.poll_event().is_some() {}
    answer(&mut conn);
    let t1 = t0 + secs(1);
    drain(&mut conn, t1);
    assert_eq!(conn.poll_timeout(), Some(t1 + secs(5)));
    conn.handle_timeout(t1 + secs(4));
    assert!(!conn.is_finished());
    conn.handle_timeout(t1 + secs(5));
    assert!(conn.is_finished());
    assert!(drain(&mut conn, t1).is_empty(), "idle close sends nothing");
}

#[test]
fn first_byte_of_the_next_request_switches_to_the_header_deadline() {
    let t0 = Instant::now();
    let mut conn = Connection::new(Config::default(), t0);
    conn.receive(t0, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    while conn.poll_event().is_some() {}
    answer(&mut conn);
    drain(&mut conn, t0);
    let t1 = t0 + secs(3);
    conn.receive(t1, b"GE");
    assert!(conn.poll_event().is_none());
    assert_eq!(conn.poll_timeout(), Some(t1 + secs(30)));
}

#[test]
fn stalled_body_times_out_after_sixty_seconds() {
    let t0 = Instant::now();
    let mut conn = Connection::new(Config::default(), t0);
    conn.receive(t0, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    assert!(matches!(conn.poll_event(), Some(Event::Request(_))));
    assert!(matches!(conn.poll_event(), Some(Event::Data(_))));
    assert!(conn.poll_event().is_none());
    assert_eq!(conn.poll_timeout(), Some(t0 + secs(60)));
    // Progress resets it.
    conn.receive(t0 + secs(50), b"de");
    assert!(matches!(conn.poll_event(), Some(Event::Data(_))));
    assert!(conn.poll_event().is_none());
    assert_eq!(conn.poll_timeout(), Some(t0 + secs(110)));
    conn.handle_timeout(t0 + secs(110));
    match conn.poll_event() {
        Some(Event::Error(error)) => {
            assert_eq!(error.kind(), ErrorKind::BodyTimeout);
            assert_eq!(error.response(), Some(StatusCode::REQUEST_TIMEOUT));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn body_timer_does_not_run_while_the_application_holds_unread_data() {
    let t0 = Instant::now();
    let mut conn = Connection::new(Config::default(), t0);
    conn.receive(t0, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n");
    assert!(matches!(conn.poll_event(), Some(Event::Request(_))));
    conn.receive(t0, b"abc");
    // The application has not polled the data yet: nothing waits on the client.
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn body_timer_waits_for_the_100_continue() {
    let t0 = Instant::now();
    let mut conn = Connection::new(Config::default(), t0);
    conn.receive(t0, b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n");
    assert!(matches!(conn.poll_event(), Some(Event::Request(_))));
    assert!(conn.poll_event().is_none());
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn body_timeout_after_the_response_started_closes_without_answer() {
    let t0 = Instant::now();
    let mut conn = Connection::new(Config::default(), t0);
    conn.receive(t0, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert!(matches!(conn.poll_event(), Some(Event::Request(_))));
    conn.send_response(StatusCode::OK, NO_FIELDS, None).unwrap();
    assert!(conn.poll_event().is_none());
    conn.handle_timeout(t0 + secs(60));
    match conn.poll_event() {
        Some(Event::Error(error)) => assert_eq!(error.response(), None),
        other => panic!("{other:?}"),
    }
    drain(&mut conn, t0);
    assert!(conn.is_finished());
}

#[test]
fn timeouts_can_be_disabled() {
    let t0 = Instant::now();
    let mut config = Config::default();
    config.header_read_timeout = None;
    config.keep_alive_timeout = None;
    let conn = Connection::new(config, t0);
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn max_requests_per_connection_closes_after_the_last_one() {
    let mut config = Config::default();
    config.max_requests_per_connection = Some(3);
    let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".repeat(5);
    let t = run_with(config, &input);
    assert_eq!(t.requests(), 3);
    let wire = t.wire_str();
    assert_eq!(wire.matches("200 OK").count(), 3);
    assert_eq!(wire.matches("connection: close").count(), 1);
    assert!(wire.trim_end_matches("ok").ends_with("connection: close\r\n\r\n"));
    assert!(t.finished);
}

#[test]
fn default_max_requests_is_one_thousand() {
    let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".repeat(1001);
    let t = run(&input);
    assert_eq!(t.requests(), 1000);
    assert!(t.finished);
}

#[test]
fn handle_timeout_never_fires_the_body_timer_before_100_continue() {
    let t0 = Instant::now();
    let mut conn = Connection::new(Config::default(), t0);
    conn.receive(t0, b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    while conn.poll_event().is_some() {}
    conn.handle_timeout(t0 + secs(120));
    assert!(conn.poll_event().is_none(), "the client was never asked for its body");
    assert!(drain(&mut conn, t0 + secs(120)).is_empty());
}

#[test]
fn body_clock_starts_when_the_server_starts_waiting() {
    let t0 = Instant::now();
    let mut conn = Connection::new(Config::default(), t0);
    conn.receive(t0, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    assert!(matches!(conn.poll_event(), Some(Event::Request(_))));
    // The application holds the data for 100 s before reading on.
    let t1 = t0 + secs(100);
    drain(&mut conn, t1);
    assert!(matches!(conn.poll_event(), Some(Event::Data(_))));
    assert!(conn.poll_event().is_none());
    assert_eq!(conn.poll_timeout(), Some(t1 + secs(60)));
    conn.handle_timeout(t1 + secs(1));
    assert!(conn.poll_event().is_none(), "no 408 for the time the application held the data");
}

#[test]
fn late_want_body_gives_the_client_the_whole_body_timeout() {
    let t0 = Instant::now();
    let mut conn = Connection::new(Config::default(), t0);
    conn.receive(t0, b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    while conn.poll_event().is_some() {}
    let t1 = t0 + secs(90);
    conn.want_body();
    assert!(drain(&mut conn, t1).starts_with("HTTP/1.1 100 Continue"));
    assert!(conn.poll_event().is_none());
    assert_eq!(conn.poll_timeout(), Some(t1 + secs(60)));
}

#[test]
fn body_clock_starts_when_the_100_continue_goes_out() {
    // The caller does not poll for events after `want_body`: nothing new came in.
    // The timer must run anyway, or a client that never sends its body after the
    // 100 holds the connection for good.
    let t0 = Instant::now();
    let mut conn = Connection::new(Config::default(), t0);
    conn.receive(t0, b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n");
    while conn.poll_event().is_some() {}
    let t1 = t0 + secs(5);
    conn.want_body();
    assert!(drain(&mut conn, t1).starts_with("HTTP/1.1 100 Continue"));
    assert_eq!(conn.poll_timeout(), Some(t1 + secs(60)));
    conn.handle_timeout(t1 + secs(60));
    assert!(matches!(conn.poll_event(), Some(Event::Error(_))));
    assert!(drain(&mut conn, t1 + secs(60)).starts_with("HTTP/1.1 408"));
}

#[test]
fn body_clock_starts_when_an_explicit_100_goes_out() {
    let t0 = Instant::now();
    let mut conn = Connection::new(Config::default(), t0);
    conn.receive(t0, b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n");
    while conn.poll_event().is_some() {}
    let t1 = t0 + secs(7);
    conn.send_informational(StatusCode::CONTINUE, NO_FIELDS).unwrap();
    assert!(drain(&mut conn, t1).starts_with("HTTP/1.1 100 Continue"));
    assert_eq!(conn.poll_timeout(), Some(t1 + secs(60)));
}

#[test]
fn error_answers_carry_the_fields_the_caller_set() {
    let t0 = Instant::now();
    let mut conn = Connection::new(Config::default(), t0);
    let date = milpa_h1::FieldBlock::new([("date", "Sun, 06 Nov 1994 08:49:37 GMT")]).unwrap();
    conn.set_error_fields(date);
    conn.receive(t0, b"GET / HTTP/1.1\r\nHo");
    conn.handle_timeout(t0 + secs(30));
    assert!(matches!(conn.poll_event(), Some(Event::Error(_))));
    let out = drain(&mut conn, t0 + secs(30));
    assert!(
        out.starts_with("HTTP/1.1 408 ") && out.contains("\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
        "{out}"
    );
}
