//! Server push (RFC 9113 §8.4) and the h2c upgrade (RFC 7540 §3.2).

mod support;

use std::time::Instant;

use bytes::Bytes;
use http::StatusCode;
use milpa_h2::frame::{Reason, kind};
use milpa_h2::{Config, Connection, ErrorKind, Event, SendError};
use support::{Client, Out, config, frames, sid};

const PUSHED: [(&str, &str); 4] =
    [(":method", "GET"), (":scheme", "https"), (":authority", "example.com"), (":path", "/style.css")];

fn with_request() -> Client {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.take_events();
    client
}

#[test]
fn push_promise_then_the_pushed_response() {
    let mut client = with_request();
    let promised = client.conn.push_promise(sid(1), PUSHED).unwrap();
    assert_eq!(promised, sid(2));
    client.respond(1, 200, true);
    client.conn.send_response(promised, StatusCode::OK, [("content-type", "text/css")], false).unwrap();
    client.conn.send_data(promised, Bytes::from_static(b"body{}"), true).unwrap();
    client.pump();
    let frames = client.take_frames();
    let Out::PushPromise { stream: 1, promised: 2, fields } = &frames[0] else { panic!("{frames:?}") };
    assert_eq!(fields[3], (":path".to_owned(), "/style.css".to_owned()));
    assert_eq!(frames[1].status(), Some("200"));
    assert!(matches!(frames[2], Out::Headers { stream: 2, end_stream: false, .. }));
    assert_eq!(frames[3], Out::Data { stream: 2, data: Bytes::from_static(b"body{}"), end_stream: true });
    assert_eq!(client.conn.open_streams(), 0);
    assert_eq!(client.conn.push_promise(sid(1), PUSHED), Err(SendError::StreamClosed(sid(1))));
}

#[test]
fn promised_stream_ids_are_even_and_increasing() {
    let mut client = with_request();
    let ids: Vec<_> = (0..3).map(|_| client.conn.push_promise(sid(1), PUSHED).unwrap().get()).collect();
    assert_eq!(ids, [2, 4, 6]);
}

#[test]
fn nothing_is_pushed_when_the_client_disabled_push() {
    let mut client = Client::connected_with(Config::default(), frames::settings().enable_push(false));
    client.send(frames::headers(1).request("GET", "/").eos());
    client.take_frames();
    assert_eq!(client.conn.push_promise(sid(1), PUSHED), Err(SendError::PushDisabled));
    client.pump();
    assert!(client.take_frames().is_empty());
}

#[test]
fn nothing_is_pushed_when_the_server_disabled_push() {
    let mut client = Client::connected_with(config(|c| c.enable_push = false), frames::settings());
    client.send(frames::headers(1).request("GET", "/").eos());
    assert_eq!(client.conn.push_promise(sid(1), PUSHED), Err(SendError::PushDisabled));
}

#[test]
fn promised_streams_count_toward_the_clients_max_concurrent_streams() {
    let mut client = Client::connected_with(Config::default(), frames::settings().max_concurrent_streams(1));
    client.send(frames::headers(1).request("GET", "/").eos());
    let promised = client.conn.push_promise(sid(1), PUSHED).unwrap();
    assert_eq!(client.conn.push_promise(sid(1), PUSHED), Err(SendError::PushLimit));
    client.conn.send_response(promised, StatusCode::OK, [("a", "b")], true).unwrap();
    assert_eq!(client.conn.push_promise(sid(1), PUSHED), Ok(sid(4)));
}

#[test]
fn promised_requests_must_be_safe_and_complete() {
    let mut client = with_request();
    let post = [(":method", "POST"), (":scheme", "https"), (":authority", "x"), (":path", "/")];
    assert_eq!(client.conn.push_promise(sid(1), post), Err(SendError::InvalidPushRequest));
    let no_path = [(":method", "GET"), (":scheme", "https")];
    assert_eq!(client.conn.push_promise(sid(1), no_path), Err(SendError::InvalidPushRequest));
    client.pump();
    assert!(client.take_frames().is_empty(), "nothing was encoded");
}

#[test]
fn push_is_refused_once_the_parent_response_ended_or_on_a_pushed_stream() {
    let mut client = with_request();
    let promised = client.conn.push_promise(sid(1), PUSHED).unwrap();
    assert_eq!(client.conn.push_promise(promised, PUSHED), Err(SendError::WrongState(promised)));
    client.conn.send_response(sid(1), StatusCode::OK, [("a", "b")], false).unwrap();
    client.conn.send_data(sid(1), Bytes::from_static(b"x"), true).unwrap();
    assert_eq!(client.conn.push_promise(sid(1), PUSHED), Err(SendError::WrongState(sid(1))));
}

#[test]
fn client_can_refuse_a_pushed_stream() {
    let mut client = with_request();
    let promised = client.conn.push_promise(sid(1), PUSHED).unwrap();
    client.pump();
    client.send(frames::reset(2).refused());
    assert_eq!(
        client.take_events(),
        [Event::StreamReset { stream: promised, reason: Reason::REFUSED_STREAM, error: None }]
    );
    assert_eq!(
        client.conn.send_response(promised, StatusCode::OK, [("a", "b")], true),
        Err(SendError::StreamClosed(promised))
    );
}

#[test]
fn client_goaway_resets_pushed_streams_it_will_not_process() {
    let mut client = with_request();
    let promised = client.conn.push_promise(sid(1), PUSHED).unwrap();
    client.send(frames::goaway(0, Reason::NO_ERROR));
    let events = client.take_events();
    assert!(matches!(events[0], Event::GoAway { .. }));
    assert_eq!(
        events[1],
        Event::StreamReset { stream: promised, reason: Reason::REFUSED_STREAM, error: None }
    );
    assert_eq!(client.conn.push_promise(sid(1), PUSHED), Err(SendError::ConnectionClosed));
}

#[test]
fn client_data_on_a_pushed_stream_is_stream_closed() {
    let mut client = with_request();
    client.conn.push_promise(sid(1), PUSHED).unwrap();
    client.pump();
    client.send(frames::data(2, "nope"));
    client.expect_reset(2, Reason::STREAM_CLOSED);
}

#[test]
fn client_headers_on_a_pushed_stream_is_stream_closed() {
    let mut client = with_request();
    client.conn.push_promise(sid(1), PUSHED).unwrap();
    client.pump();
    client.send(frames::headers(2).request("GET", "/").eos());
    client.expect_reset(2, Reason::STREAM_CLOSED);
}

#[test]
fn pushed_stream_follows_the_clients_windows() {
    let mut client = Client::connected_with(Config::default(), frames::settings().initial_window_size(4));
    client.send(frames::headers(1).request("GET", "/").eos());
    let promised = client.conn.push_promise(sid(1), PUSHED).unwrap();
    client.conn.send_response(promised, StatusCode::OK, [("a", "b")], false).unwrap();
    client.conn.send_data(promised, Bytes::from_static(b"0123456789"), true).unwrap();
    client.pump();
    assert_eq!(Client::data_frames(&client.take_frames(), 2), [(4, false)]);
    client.send(frames::window_update(2, 6));
    assert_eq!(Client::data_frames(&client.take_frames(), 2), [(6, true)]);
}

// ----- h2c upgrade ----------------------------------------------------------------------

#[test]
fn h2c_upgrade_makes_stream_1_the_request() {
    let now = Instant::now();
    // HTTP2-Settings: INITIAL_WINDOW_SIZE = 5.
    let conn = Connection::from_h2c_upgrade(Config::default(), now, &[0, 4, 0, 0, 0, 5]).unwrap();
    let mut client = Client::from_connection(conn, now);
    client.send(frames::preface()).send(frames::settings());
    assert!(client.take_events().is_empty(), "the request came over HTTP/1.1");
    client.respond(1, 200, false);
    client.respond_data(1, b"0123456789", true);
    let frames = client.take_frames();
    assert!(matches!(&frames[0], Out::Settings(_)));
    assert_eq!(Client::data_frames(&frames, 1), [(5, false)], "the upgrade's settings apply");
    // Stream 1 is half-closed (remote): the next stream is 3.
    client.send(frames::data(1, "x"));
    client.expect_reset(1, Reason::STREAM_CLOSED);
    client.send(frames::headers(3).request("GET", "/").eos());
    assert_eq!(client.requests(), [3]);
}

#[test]
fn h2c_upgrade_still_needs_the_preface() {
    let now = Instant::now();
    let conn = Connection::from_h2c_upgrade(Config::default(), now, &[]).unwrap();
    let mut client = Client::from_connection(conn, now);
    client.send(b"GET / HTTP/1.1\r\n".as_slice());
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn h2c_upgrade_with_an_invalid_settings_payload_is_refused() {
    let now = Instant::now();
    let err = Connection::from_h2c_upgrade(Config::default(), now, &[0, 4, 0, 0, 0]).unwrap_err();
    assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
    let err = Connection::from_h2c_upgrade(Config::default(), now, &[0, 2, 0, 0, 0, 9]).unwrap_err();
    assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
    assert!(matches!(err.kind(), ErrorKind::Frame(_)));
}

#[test]
fn h2c_upgrade_counts_stream_1_as_open() {
    let now = Instant::now();
    let config = config(|c| c.max_concurrent_streams = 1);
    let conn = Connection::from_h2c_upgrade(config, now, &[]).unwrap();
    let mut client = Client::from_connection(conn, now);
    client.send(frames::preface()).send(frames::settings());
    client.send(frames::headers(3).request("GET", "/").eos());
    client.expect_reset(3, Reason::REFUSED_STREAM);
    let _ = kind::DATA;
}
