//! Valid requests: heads, bodies, pipelining, keep-alive, 100-continue, upgrades.

mod common;

use std::time::Instant;

use bytes::Bytes;
use common::*;
use http::{Method, StatusCode, Version};
use milpa_h1::{BodyLength, Config, Connection, Event, State};

const BROWSER_GET: &[u8] = b"GET /static/app.js?v=3 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\nAccept-Encoding: gzip, br\r\nCookie: a=b\r\n\r\n";

fn first_request(input: &[u8]) -> milpa_h1::Request {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    conn.receive(now, input);
    match conn.poll_event() {
        Some(Event::Request(request)) => request,
        other => panic!("expected a request, got {other:?}"),
    }
}

#[test]
fn browser_request_parses_whole_and_bytewise_alike() {
    let t = run_both_ways(BROWSER_GET);
    assert_eq!(t.requests(), 1);
    assert_eq!(t.events.last(), Some(&Ev::End(None)));
}

#[test]
fn request_head_exposes_method_target_version_and_headers() {
    let request = first_request(BROWSER_GET);
    assert_eq!(request.method(), Method::GET);
    assert_eq!(&request.target()[..], b"/static/app.js?v=3");
    assert_eq!(request.path(), b"/static/app.js");
    assert_eq!(request.query(), b"v=3");
    assert_eq!(request.version(), Version::HTTP_11);
    assert_eq!(request.authority(), Some(&b"example.com"[..]));
    assert_eq!(request.body_length(), BodyLength::Empty);
    assert_eq!(request.headers().len(), 5);
}

#[test]
fn headers_keep_order_original_case_and_lowercase_names() {
    let request =
        first_request(b"GET / HTTP/1.1\r\nHost: a\r\nX-Custom-Thing: One\r\nx-custom-thing: Two\r\n\r\n");
    let fields: Vec<_> = request.headers().iter().map(|f| (f.raw_name(), f.name(), f.value())).collect();
    assert_eq!(
        fields,
        [
            (&b"Host"[..], &b"host"[..], &b"a"[..]),
            (b"X-Custom-Thing", b"x-custom-thing", b"One"),
            (b"x-custom-thing", b"x-custom-thing", b"Two"),
        ]
    );
    let all: Vec<_> = request.headers().get_all(b"x-custom-thing").collect();
    assert_eq!(all, [&b"One"[..], b"Two"]);
    assert_eq!(&request.headers().iter().nth(1).unwrap().value_bytes()[..], b"One");
}

#[test]
fn the_protocol_s_own_fields_are_found_in_any_case_and_only_when_present() {
    let names = ["Host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "Expect", "TE"];
    let mut checked = 0;
    for (at, name) in names.iter().enumerate() {
        for spelled in [name.to_string(), name.to_ascii_lowercase(), name.to_ascii_uppercase()] {
            let host = if at == 0 { "" } else { "host: h\r\n" };
            let head = format!("OPTIONS * HTTP/1.1\r\n{host}X-{spelled}: decoy\r\n{spelled}: v{at}\r\n\r\n");
            let mut conn = Connection::new(Config::default(), Instant::now());
            conn.receive(Instant::now(), head.as_bytes());
            // Framing fields with "v" values are refused; the section is still built.
            let Some(Event::Request(request)) = conn.poll_event() else { continue };
            let lower = name.to_ascii_lowercase();
            let found: Vec<_> = request.headers().get_all(lower.as_bytes()).collect();
            assert_eq!(found, [format!("v{at}").as_bytes()], "{spelled}");
            assert_eq!(request.headers().get(format!("x-{lower}").as_bytes()), Some(&b"decoy"[..]));
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} spellings made a request");
    let request = first_request(b"GET / HTTP/1.1\r\nHost: a\r\nX-Connection: close\r\n\r\n");
    assert_eq!(request.headers().get(b"connection"), None);
    assert!(!request.headers().has_token(b"connection", b"close"));
    let request = first_request(b"GET / HTTP/1.1\r\nHost: a\r\nCONNECTION: Close\r\n\r\n");
    assert!(request.headers().has_token(b"connection", b"close"));
    let pairs = milpa_h1::Headers::from_pairs([(&b"TE"[..], &b"trailers"[..]), (b"host", b"b")]);
    assert!(pairs.has_token(b"te", b"trailers"));
    assert_eq!(pairs.get(b"host"), Some(&b"b"[..]));
    assert_eq!(pairs.get(b"upgrade"), None);
}

#[test]
fn header_values_are_trimmed_of_surrounding_whitespace() {
    let request = first_request(b"GET / HTTP/1.1\r\nHost:   a  \r\nX-A:\tb\t\r\n\r\n");
    assert_eq!(request.headers().get(b"host"), Some(&b"a"[..]));
    assert_eq!(request.headers().get(b"x-a"), Some(&b"b"[..]));
}

#[test]
fn absolute_form_target_wins_over_host() {
    let request = first_request(b"GET http://origin.example:8080/p/q?x=1 HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!(request.authority(), Some(&b"origin.example:8080"[..]));
    assert_eq!(request.path(), b"/p/q");
    assert_eq!(request.query(), b"x=1");
}

#[test]
fn absolute_form_without_path_has_path_slash() {
    let request = first_request(b"GET http://origin.example HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!(request.path(), b"/");
}

#[test]
fn asterisk_form_for_options() {
    let request = first_request(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(request.path(), b"*");
}

#[test]
fn leading_empty_lines_are_skipped() {
    let t = run_both_ways(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(t.requests(), 1);
    assert_eq!(t.error(), None);
}

#[test]
fn content_length_body_is_delivered() {
    let t = run_both_ways(b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world");
    assert_eq!(t.body(), b"hello world");
    assert_eq!(t.events.last(), Some(&Ev::End(None)));
}

#[test]
fn content_length_zero_has_no_body() {
    let request = first_request(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(request.body_length(), BodyLength::Empty);
}

#[test]
fn chunked_body_is_delivered() {
    let t = run_both_ways(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    assert_eq!(t.body(), b"hello world");
    assert_eq!(t.events.last(), Some(&Ev::End(None)));
}

#[test]
fn chunked_is_case_insensitive() {
    let t =
        run_both_ways(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD\r\n\r\n1\r\nx\r\n0\r\n\r\n");
    assert_eq!(t.body(), b"x");
}

#[test]
fn chunk_extensions_are_accepted_and_ignored() {
    let t = run_both_ways(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value;flag\r\nhello\r\n0 ; last=\"yes\"\r\n\r\n");
    assert_eq!(t.body(), b"hello");
    assert_eq!(t.error(), None);
}

#[test]
fn chunked_trailers_are_delivered() {
    let t = run_both_ways(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: 123\r\nX-Other: y\r\n\r\n");
    assert_eq!(
        t.events.last(),
        Some(&Ev::End(Some(vec![("x-checksum".into(), "123".into()), ("x-other".into(), "y".into())])))
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let input = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: a\r\n\r\n";
    let t = run_both_ways(input);
    assert_eq!(t.requests(), 3);
    let targets: Vec<_> = t
        .events
        .iter()
        .filter_map(|e| match e {
            Ev::Request { target, .. } => Some(target.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(targets, ["/1", "/2", "/3"]);
    assert_eq!(t.wire_str().matches("HTTP/1.1 200 OK").count(), 3);
}

#[test]
fn next_request_waits_until_the_response_ends() {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    conn.receive(now, b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(matches!(conn.poll_event(), Some(Event::Request(_))));
    assert!(matches!(conn.poll_event(), Some(Event::EndOfMessage { .. })));
    assert!(conn.poll_event().is_none(), "second request must wait for the first response");
    conn.send_response(StatusCode::OK, [("a", "b")], Some(0)).unwrap();
    assert!(conn.poll_event().is_none());
    conn.send_end(None::<(&str, &str)>).unwrap();
    match conn.poll_event() {
        Some(Event::Request(request)) => assert_eq!(request.path(), b"/2"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn body_longer_than_declared_is_the_next_request() {
    let t = run_both_ways(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(t.requests(), 2);
    assert_eq!(t.body(), b"hello");
}

#[test]
fn http_1_1_keeps_alive_by_default() {
    let t = run(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(!t.wire_str().contains("connection: close"));
    assert!(!t.finished);
}

#[test]
fn http_1_1_connection_close_closes_after_the_response() {
    let t =
        run(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(t.wire_str().contains("connection: close\r\n"));
    assert_eq!(t.requests(), 1);
    assert!(t.finished);
}

#[test]
fn http_1_0_closes_by_default() {
    let t = run(b"GET / HTTP/1.0\r\n\r\n");
    assert!(t.wire_str().contains("connection: close\r\n"));
    assert!(t.finished);
}

#[test]
fn http_1_0_keep_alive_is_honoured_and_echoed() {
    let t = run(
        b"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
    );
    assert_eq!(t.requests(), 2);
    assert_eq!(t.wire_str().matches("connection: keep-alive\r\n").count(), 2);
    assert!(!t.finished);
}

#[test]
fn clean_eof_between_requests_finishes_quietly() {
    let t = run_chunks(Config::default(), &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"], true);
    assert_eq!(t.error(), None);
    assert!(t.finished);
}

#[test]
fn half_closed_client_still_gets_its_pipelined_answers() {
    let t = run_chunks(
        Config::default(),
        &[b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"],
        true,
    );
    assert_eq!(t.requests(), 2);
    assert_eq!(t.wire_str().matches("200 OK").count(), 2);
    assert!(t.finished);
}

#[test]
fn expect_100_continue_is_sent_only_when_the_body_is_wanted() {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    conn.receive(now, b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    match conn.poll_event() {
        Some(Event::Request(request)) => assert!(request.expects_continue()),
        other => panic!("{other:?}"),
    }
    assert!(conn.poll_event().is_none());
    assert!(conn.poll_transmit(now).is_none(), "no 100 before the body is wanted");
    conn.want_body();
    assert_eq!(&conn.poll_transmit(now).unwrap()[..], b"HTTP/1.1 100 Continue\r\n\r\n");
    conn.want_body();
    assert!(conn.poll_transmit(now).is_none(), "100 is sent once");
    conn.receive(now, b"hello");
    assert!(matches!(conn.poll_event(), Some(Event::Data(d)) if &d[..] == b"hello"));
}

#[test]
fn expect_100_continue_is_ignored_for_http_1_0() {
    let request = first_request(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    assert!(!request.expects_continue());
}

#[test]
fn answering_without_reading_an_expected_body_closes() {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    conn.receive(now, b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    let _ = conn.poll_event();
    conn.send_response(StatusCode::PAYLOAD_TOO_LARGE, [("x", "y")], Some(0)).unwrap();
    conn.send_end(None::<(&str, &str)>).unwrap();
    let wire = conn.poll_transmit(now).unwrap();
    assert!(!wire.starts_with(b"HTTP/1.1 100"));
    assert!(std::str::from_utf8(&wire).unwrap().contains("connection: close\r\n"));
    assert!(conn.is_finished());
}

#[test]
fn unread_short_body_is_discarded_and_the_connection_reused() {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    conn.receive(now, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhe");
    assert!(matches!(conn.poll_event(), Some(Event::Request(_))));
    conn.send_response(StatusCode::OK, [("x", "y")], Some(0)).unwrap();
    conn.send_end(None::<(&str, &str)>).unwrap();
    assert!(conn.poll_event().is_none());
    conn.receive(now, b"lloGET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    match conn.poll_event() {
        Some(Event::Request(request)) => assert_eq!(request.path(), b"/next"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unread_long_body_closes_instead_of_discarding() {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    conn.receive(now, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\n");
    let _ = conn.poll_event();
    conn.send_response(StatusCode::PAYLOAD_TOO_LARGE, [("x", "y")], Some(0)).unwrap();
    conn.send_end(None::<(&str, &str)>).unwrap();
    let wire = conn.poll_transmit(now).unwrap();
    assert!(std::str::from_utf8(&wire).unwrap().contains("connection: close"));
    assert!(conn.is_finished());
}

#[test]
fn websocket_upgrade_hands_off_the_trailing_bytes() {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    conn.receive(now, b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x85frame");
    assert!(matches!(conn.poll_event(), Some(Event::Request(_))));
    assert!(matches!(conn.poll_event(), Some(Event::EndOfMessage { .. })));
    assert_eq!(conn.client_state(), State::MightSwitchProtocol);
    assert!(conn.poll_event().is_none(), "bytes after an upgrade request are not HTTP");
    conn.send_response(
        StatusCode::SWITCHING_PROTOCOLS,
        [("connection", "Upgrade"), ("upgrade", "websocket")],
        None,
    )
    .unwrap();
    assert!(conn.is_switched());
    let wire = conn.poll_transmit(now).unwrap();
    assert_eq!(
        &wire[..],
        b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n"
    );
    assert_eq!(conn.take_upgrade_bytes().as_deref(), Some(&b"\x81\x85frame"[..]));
}

#[test]
fn declined_upgrade_continues_as_http() {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    conn.receive(now, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
    let _ = conn.poll_event();
    let _ = conn.poll_event();
    conn.send_response(StatusCode::OK, [("a", "b")], Some(0)).unwrap();
    conn.send_end(None::<(&str, &str)>).unwrap();
    assert!(!conn.is_switched());
    assert!(matches!(conn.poll_event(), Some(Event::Request(r)) if r.path() == b"/2"));
}

#[test]
fn upgrade_without_connection_upgrade_is_not_a_proposal() {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    conn.receive(now, b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n");
    let _ = conn.poll_event();
    let _ = conn.poll_event();
    assert_eq!(conn.client_state(), State::Done);
    assert!(conn.send_response(StatusCode::SWITCHING_PROTOCOLS, [("a", "b")], None).is_err());
}

#[test]
fn h2c_upgrade_hands_off_the_preface() {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    conn.receive(now, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    let _ = conn.poll_event();
    let _ = conn.poll_event();
    conn.send_response(
        StatusCode::SWITCHING_PROTOCOLS,
        [("connection", "Upgrade"), ("upgrade", "h2c")],
        None,
    )
    .unwrap();
    assert_eq!(conn.take_upgrade_bytes().as_deref(), Some(&b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..]));
}

#[test]
fn connect_is_answered_with_2xx_and_switches() {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    conn.receive(now, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01");
    match conn.poll_event() {
        Some(Event::Request(request)) => {
            assert_eq!(request.authority(), Some(&b"example.com:443"[..]));
            assert_eq!(request.path(), b"");
        }
        other => panic!("{other:?}"),
    }
    let _ = conn.poll_event();
    conn.send_response(StatusCode::OK, [("content-length", "0")], None).unwrap();
    assert!(conn.is_switched());
    assert_eq!(&conn.poll_transmit(now).unwrap()[..], b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(conn.take_upgrade_bytes().as_deref(), Some(&b"\x16\x03\x01"[..]));
}

#[test]
fn connect_refused_with_4xx_does_not_switch() {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    conn.receive(now, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    let _ = conn.poll_event();
    let _ = conn.poll_event();
    conn.send_response(StatusCode::FORBIDDEN, [("a", "b")], Some(0)).unwrap();
    assert!(!conn.is_switched());
}

#[test]
fn wants_read_stops_when_the_client_is_far_ahead() {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    assert!(conn.wants_read());
    let request = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    for _ in 0..(70 * 1024 / request.len()) {
        conn.receive(now, request);
    }
    assert!(!conn.wants_read(), "pipelined backlog past the buffer limit must stop reading");
    let _ = conn.poll_event();
}

#[test]
fn body_data_is_zero_copy_slices_of_the_input() {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    conn.receive(now, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc");
    let _ = conn.poll_event();
    let Some(Event::Data(data)) = conn.poll_event() else { panic!() };
    assert_eq!(data, Bytes::from_static(b"abc"));
}

#[test]
fn upgrade_is_accepted_only_once_the_request_body_ended() {
    let now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    conn.receive(
        now,
        b"POST / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\nContent-Length: 5\r\n\r\nhel",
    );
    assert!(matches!(conn.poll_event(), Some(Event::Request(_))));
    let early = conn.send_response(StatusCode::SWITCHING_PROTOCOLS, [("upgrade", "websocket")], None);
    assert!(early.is_err(), "a switch while body bytes are still due must be refused");
    conn.receive(now, b"lo\x81\x80");
    while let Some(event) = conn.poll_event() {
        assert!(!matches!(event, Event::Error(_)));
    }
    conn.send_response(StatusCode::SWITCHING_PROTOCOLS, [("upgrade", "websocket")], None).unwrap();
    assert_eq!(conn.take_upgrade_bytes().as_deref(), Some(&b"\x81\x80"[..]), "only bytes after the body");
}
