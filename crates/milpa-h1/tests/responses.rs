//! Responses: status lines, framing chosen automatically, trailers, informational
//! responses, bodiless responses, and commands refused without a state change.

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use bytes::Bytes;
use http::StatusCode;
use milpa_h1::{Config, Connection, Event, SendError, State};

const NO_FIELDS: Option<(&str, &str)> = None;

fn ready(request: &[u8]) -> (Connection, Instant) {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    conn.receive(now, request);
    while let Some(event) = conn.poll_event() {
        if let Event::Error(error) = event {
            panic!("{error}");
        }
    }
    (conn, now)
}

fn get() -> (Connection, Instant) {
    ready(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
}

fn wire(conn: &mut Connection, now: Instant) -> String {
    let mut out = Vec::new();
    while let Some(bytes) = conn.poll_transmit(now) {
        out.extend_from_slice(&bytes);
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn status_line_has_a_reason_phrase() {
    for (status, line) in [
        (StatusCode::OK, "HTTP/1.1 200 OK\r\n"),
        (StatusCode::NOT_FOUND, "HTTP/1.1 404 Not Found\r\n"),
        (StatusCode::INTERNAL_SERVER_ERROR, "HTTP/1.1 500 Internal Server Error\r\n"),
    ] {
        let (mut conn, now) = get();
        conn.send_response(status, NO_FIELDS, Some(0)).unwrap();
        assert!(wire(&mut conn, now).starts_with(line));
    }
}

#[test]
fn unknown_status_gets_an_empty_reason() {
    let (mut conn, now) = get();
    conn.send_response(StatusCode::from_u16(599).unwrap(), NO_FIELDS, Some(0)).unwrap();
    assert!(wire(&mut conn, now).starts_with("HTTP/1.1 599 \r\n"));
}

#[test]
fn known_length_becomes_content_length() {
    let (mut conn, now) = get();
    conn.send_response(StatusCode::OK, [("content-type", "text/plain")], Some(5)).unwrap();
    conn.send_data(Bytes::from_static(b"hello")).unwrap();
    conn.send_end(NO_FIELDS).unwrap();
    assert_eq!(
        wire(&mut conn, now),
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nhello"
    );
}

#[test]
fn application_content_length_is_kept_and_enforced() {
    let (mut conn, now) = get();
    conn.send_response(StatusCode::OK, [("Content-Length", "3")], None).unwrap();
    assert_eq!(conn.send_data(Bytes::from_static(b"toolong")), Err(SendError::BodyTooLong));
    conn.send_data(Bytes::from_static(b"ab")).unwrap();
    assert_eq!(conn.send_end(NO_FIELDS), Err(SendError::BodyTooShort { missing: 1 }));
    conn.send_data(Bytes::from_static(b"c")).unwrap();
    conn.send_end(NO_FIELDS).unwrap();
    assert_eq!(wire(&mut conn, now), "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
}

#[test]
fn unknown_length_on_http_1_1_is_chunked() {
    let (mut conn, now) = get();
    conn.send_response(StatusCode::OK, NO_FIELDS, None).unwrap();
    conn.send_data(Bytes::from_static(b"hello")).unwrap();
    conn.send_data(Bytes::new()).unwrap();
    conn.send_data(Bytes::from(vec![b'x'; 2000])).unwrap();
    conn.send_end(NO_FIELDS).unwrap();
    let expected = format!(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n7d0\r\n{}\r\n0\r\n\r\n",
        "x".repeat(2000)
    );
    assert_eq!(wire(&mut conn, now), expected);
}

#[test]
fn unknown_length_on_http_1_0_is_close_delimited() {
    let (mut conn, now) = ready(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    conn.send_response(StatusCode::OK, NO_FIELDS, None).unwrap();
    conn.send_data(Bytes::from_static(b"hello")).unwrap();
    conn.send_end(NO_FIELDS).unwrap();
    assert_eq!(wire(&mut conn, now), "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nhello");
    assert!(conn.is_finished());
}

#[test]
fn chunked_response_carries_trailers() {
    let (mut conn, now) = get();
    conn.send_response(StatusCode::OK, [("trailer", "x-checksum")], None).unwrap();
    conn.send_data(Bytes::from_static(b"abc")).unwrap();
    conn.send_end([("x-checksum", "900150983cd24fb0")]).unwrap();
    assert!(wire(&mut conn, now).ends_with("3\r\nabc\r\n0\r\nx-checksum: 900150983cd24fb0\r\n\r\n"));
}

#[test]
fn trailers_on_a_content_length_response_are_dropped() {
    let (mut conn, now) = get();
    conn.send_response(StatusCode::OK, NO_FIELDS, Some(1)).unwrap();
    conn.send_data(Bytes::from_static(b"a")).unwrap();
    conn.send_end([("x-checksum", "1")]).unwrap();
    assert!(!wire(&mut conn, now).contains("x-checksum"));
}

#[test]
fn head_response_has_no_body_but_keeps_content_length() {
    let (mut conn, now) = ready(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
    conn.send_response(StatusCode::OK, NO_FIELDS, Some(5)).unwrap();
    conn.send_data(Bytes::from_static(b"hello")).unwrap();
    conn.send_end(NO_FIELDS).unwrap();
    assert_eq!(wire(&mut conn, now), "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n");
    assert!(!conn.is_finished());
}

#[test]
fn head_answered_with_204_or_304_gets_no_made_up_length() {
    for status in [StatusCode::NO_CONTENT, StatusCode::NOT_MODIFIED] {
        let (mut conn, now) = ready(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
        conn.send_response(status, NO_FIELDS, Some(5)).unwrap();
        conn.send_end(NO_FIELDS).unwrap();
        let out = wire(&mut conn, now);
        assert!(!out.contains("content-length"), "{out}");
    }
}

#[test]
fn no_content_and_not_modified_have_no_body() {
    for status in [StatusCode::NO_CONTENT, StatusCode::NOT_MODIFIED] {
        let (mut conn, now) = get();
        conn.send_response(status, [("etag", "\"x\"")], None).unwrap();
        conn.send_data(Bytes::from_static(b"ignored")).unwrap();
        conn.send_end(NO_FIELDS).unwrap();
        let out = wire(&mut conn, now);
        assert!(out.ends_with("etag: \"x\"\r\n\r\n"), "{out}");
        assert!(!out.contains("transfer-encoding"));
        assert!(!out.contains("ignored"));
    }
}

#[test]
fn content_length_is_dropped_from_204() {
    let (mut conn, now) = get();
    conn.send_response(StatusCode::NO_CONTENT, [("content-length", "0")], None).unwrap();
    assert_eq!(wire(&mut conn, now), "HTTP/1.1 204 No Content\r\n\r\n");
}

#[test]
fn early_hints_precede_the_response() {
    let (mut conn, now) = get();
    conn.send_informational(StatusCode::from_u16(103).unwrap(), [("link", "</style.css>; rel=preload")])
        .unwrap();
    conn.send_response(StatusCode::OK, NO_FIELDS, Some(0)).unwrap();
    conn.send_end(NO_FIELDS).unwrap();
    assert_eq!(
        wire(&mut conn, now),
        "HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
    );
}

#[test]
fn informational_to_http_1_0_is_silently_skipped() {
    let (mut conn, now) = ready(b"GET / HTTP/1.0\r\n\r\n");
    conn.send_informational(StatusCode::from_u16(103).unwrap(), [("link", "</a>")]).unwrap();
    conn.send_response(StatusCode::OK, NO_FIELDS, Some(0)).unwrap();
    assert!(wire(&mut conn, now).starts_with("HTTP/1.1 200 OK"));
}

#[test]
fn informational_with_a_final_status_is_refused() {
    let (mut conn, now) = get();
    assert_eq!(
        conn.send_informational(StatusCode::OK, NO_FIELDS),
        Err(SendError::InvalidStatus(StatusCode::OK))
    );
    assert_eq!(
        conn.send_informational(StatusCode::SWITCHING_PROTOCOLS, NO_FIELDS),
        Err(SendError::InvalidStatus(StatusCode::SWITCHING_PROTOCOLS))
    );
    assert!(wire(&mut conn, now).is_empty());
}

#[test]
fn response_with_1xx_status_is_refused() {
    let (mut conn, _) = get();
    assert!(matches!(
        conn.send_response(StatusCode::CONTINUE, NO_FIELDS, None),
        Err(SendError::InvalidStatus(_))
    ));
}

#[test]
fn header_injection_is_refused_and_changes_nothing() {
    let (mut conn, now) = get();
    for (name, value) in
        [("x-a", "a\r\nset-cookie: evil"), ("x-a", "a\nb"), ("x-a", "a\0"), ("bad name", "v"), ("", "v")]
    {
        assert_eq!(
            conn.send_response(StatusCode::OK, [(name, value)], Some(0)),
            Err(SendError::InvalidHeader)
        );
    }
    assert_eq!(conn.server_state(), State::SendResponse);
    assert!(wire(&mut conn, now).is_empty());
    conn.send_response(StatusCode::OK, NO_FIELDS, Some(0)).unwrap();
}

#[test]
fn invalid_framing_fields_are_refused() {
    let (mut conn, _) = get();
    for fields in [
        vec![("content-length", "abc")],
        vec![("content-length", "1"), ("content-length", "2")],
        vec![("transfer-encoding", "gzip")],
        vec![("transfer-encoding", "chunked"), ("content-length", "1")],
    ] {
        assert_eq!(conn.send_response(StatusCode::OK, fields, None), Err(SendError::InvalidFraming));
    }
}

#[test]
fn data_before_the_response_is_refused() {
    let (mut conn, _) = get();
    assert_eq!(conn.send_data(Bytes::from_static(b"x")), Err(SendError::WrongState(State::SendResponse)));
    assert_eq!(conn.send_end(NO_FIELDS), Err(SendError::WrongState(State::SendResponse)));
}

#[test]
fn second_response_is_refused() {
    let (mut conn, _) = get();
    conn.send_response(StatusCode::OK, NO_FIELDS, Some(0)).unwrap();
    assert_eq!(
        conn.send_response(StatusCode::OK, NO_FIELDS, Some(0)),
        Err(SendError::WrongState(State::SendBody))
    );
}

#[test]
fn response_before_any_request_is_allowed_for_errors() {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    conn.send_response(StatusCode::SERVICE_UNAVAILABLE, [("connection", "close")], Some(0)).unwrap();
    conn.send_end(NO_FIELDS).unwrap();
    assert!(wire(&mut conn, now).starts_with("HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n"));
    assert!(conn.is_finished());
}

#[test]
fn application_connection_close_ends_keep_alive() {
    let (mut conn, now) = get();
    conn.send_response(StatusCode::OK, [("Connection", "close")], Some(0)).unwrap();
    conn.send_end(NO_FIELDS).unwrap();
    let out = wire(&mut conn, now);
    assert_eq!(out.matches("onnection").count(), 1, "{out}");
    assert!(conn.is_finished());
}

#[test]
fn large_bodies_are_passed_through_without_copy() {
    let (mut conn, now) = get();
    let body = Bytes::from(vec![7u8; 64 * 1024]);
    conn.send_response(StatusCode::OK, NO_FIELDS, Some(body.len() as u64)).unwrap();
    conn.send_data(body.clone()).unwrap();
    conn.send_end(NO_FIELDS).unwrap();
    let head = conn.poll_transmit(now).unwrap();
    assert!(head.starts_with(b"HTTP/1.1 200 OK"));
    let data = conn.poll_transmit(now).unwrap();
    assert_eq!(data.as_ptr(), body.as_ptr(), "body must be the same allocation");
}

#[test]
fn shutdown_closes_idle_connections_at_once() {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    conn.start_shutdown();
    assert!(conn.is_finished());
}

#[test]
fn shutdown_lets_the_request_in_flight_finish_with_connection_close() {
    let (mut conn, now) = get();
    conn.start_shutdown();
    assert!(!conn.is_finished());
    conn.send_response(StatusCode::OK, NO_FIELDS, Some(0)).unwrap();
    conn.send_end(NO_FIELDS).unwrap();
    assert!(wire(&mut conn, now).contains("connection: close\r\n"));
    assert!(conn.is_finished());
}

#[test]
fn response_answering_no_request_closes_the_connection() {
    let (mut conn, now) = get();
    conn.send_response(StatusCode::OK, NO_FIELDS, Some(0)).unwrap();
    conn.send_end(NO_FIELDS).unwrap();
    wire(&mut conn, now);
    assert_eq!(conn.server_state(), State::Idle);
    conn.send_response(StatusCode::REQUEST_TIMEOUT, NO_FIELDS, Some(0)).unwrap();
    conn.send_end(NO_FIELDS).unwrap();
    assert!(wire(&mut conn, now).contains("connection: close\r\n"));
    assert!(conn.is_finished());
}

#[test]
fn framing_fields_in_trailers_are_dropped() {
    let (mut conn, now) = get();
    conn.send_response(StatusCode::OK, NO_FIELDS, None).unwrap();
    conn.send_end([("transfer-encoding", "gzip"), ("content-length", "9"), ("x-ok", "1")]).unwrap();
    assert!(wire(&mut conn, now).ends_with("0\r\nx-ok: 1\r\n\r\n"));
}

/// One response of the sequence below: request method, status, fields, known length.
type Case = (&'static [u8], StatusCode, &'static [(&'static str, &'static str)], Option<u64>);

/// Serves `case` on `conn` (which has read nothing yet for it) and returns what went
/// on the wire, or the error the response head got.
fn serve_case(
    conn: &mut Connection,
    now: Instant,
    (method, status, fields, length): Case,
) -> Result<String, SendError> {
    let mut request = method.to_vec();
    request.extend_from_slice(b" / HTTP/1.1\r\nHost: a\r\n\r\n");
    conn.receive(now, &request);
    while conn.poll_event().is_some() {}
    let sent = conn.send_response(status, fields.iter().copied(), length);
    if sent.is_ok() && length != Some(0) && method != b"HEAD" {
        conn.send_data(Bytes::from_static(b"hello")).unwrap();
    }
    if sent.is_ok() {
        conn.send_end(NO_FIELDS).unwrap();
    }
    let out = wire(conn, now);
    sent.map(|()| out)
}

#[test]
fn a_head_like_the_last_one_is_written_exactly_as_a_fresh_connection_writes_it() {
    const CORS: &[(&str, &str)] = &[("content-type", "text/plain"), ("Access-Control-Allow-Origin", "*")];
    const CORS_LENGTH: &[(&str, &str)] = &[("content-type", "text/plain"), ("content-length", "5")];
    let cases: [Case; 14] = [
        (b"GET", StatusCode::OK, CORS, Some(5)),
        (b"GET", StatusCode::OK, CORS, Some(5)),
        (b"GET", StatusCode::OK, CORS, None),
        (b"GET", StatusCode::NOT_FOUND, CORS, Some(5)),
        (b"HEAD", StatusCode::NOT_FOUND, CORS, Some(5)),
        (b"GET", StatusCode::OK, CORS_LENGTH, None),
        (b"GET", StatusCode::OK, CORS_LENGTH, None),
        (b"GET", StatusCode::NO_CONTENT, CORS_LENGTH, Some(0)),
        (b"GET", StatusCode::OK, &[("content-type", "text/plain")], Some(5)),
        (b"GET", StatusCode::OK, &[("content-type", "text/plain"), ("x", "a\r\nb")], Some(5)),
        (b"GET", StatusCode::OK, &[("content-type", "text/plain")], Some(5)),
        (b"GET", StatusCode::OK, &[("content-type", "text/plainx")], Some(5)),
        (b"GET", StatusCode::OK, &[("content-typ", "etext/plain")], Some(5)),
        (b"GET", StatusCode::OK, &[], Some(5)),
    ];
    let now = Instant::now();
    let mut reused = Connection::new(Config::default(), now);
    for case in cases {
        let mut fresh = Connection::new(Config::default(), now);
        let expected = serve_case(&mut fresh, now, case);
        let got = serve_case(&mut reused, now, case);
        assert_eq!(got, expected, "{:?} {:?}", case.1, case.2);
        if got.is_err() {
            // A refused head leaves the request unanswered: answer it to go on.
            reused.send_response(StatusCode::OK, NO_FIELDS, Some(0)).unwrap();
            reused.send_end(NO_FIELDS).unwrap();
            wire(&mut reused, now);
        }
    }
}
