//! The core of a connection: preface and SETTINGS exchange, a request and its response,
//! bodies both ways, trailers, resets, GOAWAY.

mod support;

use bytes::Bytes;
use http::{Method, StatusCode};
use milpa_h2::frame::{Reason, Settings};
use milpa_h2::{Config, Connection, ErrorKind, Event};
use support::{Client, Out, frames, sid};

#[test]
fn server_preface_is_settings_then_connection_window_update() {
    let mut client = Client::new();
    client.pump();
    let frames = client.take_frames();
    let Out::Settings(settings) = &frames[0] else { panic!("{frames:?}") };
    assert_eq!(settings.max_concurrent_streams, Some(100));
    assert_eq!(settings.initial_window_size, Some(1024 * 1024));
    assert_eq!(settings.max_header_list_size, Some(16 * 1024));
    assert_eq!(settings.enable_push, None, "a server never sends ENABLE_PUSH");
    assert_eq!(settings.enable_connect_protocol, None);
    assert_eq!(settings.no_rfc7540_priorities, Some(true));
    assert_eq!(frames[1], Out::WindowUpdate { stream: 0, increment: 1024 * 1024 - 65_535 });
    assert_eq!(frames.len(), 2);
}

#[test]
fn client_settings_are_acknowledged() {
    let mut client = Client::new();
    client.send(frames::preface()).send(frames::settings().max_concurrent_streams(10));
    assert!(client.take_frames().contains(&Out::SettingsAck));
    assert!(client.conn.wants_read());
}

#[test]
fn get_request_and_response() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/index.html").field("accept", "*/*").eos());
    let events = client.take_events();
    let [Event::Request { stream, request, end_stream: true }] = &events[..] else { panic!("{events:?}") };
    assert_eq!(*stream, sid(1));
    assert_eq!(request.method(), Method::GET);
    assert_eq!(request.scheme(), Some(&b"https"[..]));
    assert_eq!(request.authority(), Some(&b"example.com"[..]));
    assert_eq!(request.path(), Some(&b"/index.html"[..]));
    assert_eq!(request.header("accept"), Some(&b"*/*"[..]));
    assert_eq!(request.headers().len(), 1);

    client.respond(1, 200, false);
    client.respond_data(1, b"hello", true);
    let frames = client.take_frames();
    assert_eq!(
        frames,
        [
            Out::Headers {
                stream: 1,
                fields: vec![(":status".into(), "200".into()), ("content-type".into(), "text/plain".into())],
                end_stream: false
            },
            Out::Data { stream: 1, data: Bytes::from_static(b"hello"), end_stream: true },
        ]
    );
    assert_eq!(client.conn.open_streams(), 0, "both halves closed");
}

#[test]
fn response_without_body_ends_the_stream_on_headers() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("HEAD", "/").eos());
    client.respond(1, 204, true);
    let frames = client.take_frames();
    assert!(matches!(&frames[..], [Out::Headers { stream: 1, end_stream: true, .. }]), "{frames:?}");
    assert_eq!(client.conn.open_streams(), 0);
}

#[test]
fn request_body_arrives_as_data_events_without_copy() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/upload").field("content-length", "10"));
    client.send(frames::data(1, "hello"));
    client.send(frames::data(1, "world").eos());
    let events = client.take_events();
    assert!(
        matches!(&events[0], Event::Request { end_stream: false, request, .. } if request.content_length() == Some(10))
    );
    assert_eq!(
        events[1..],
        [
            Event::Data { stream: sid(1), data: Bytes::from_static(b"hello"), end_stream: false },
            Event::Data { stream: sid(1), data: Bytes::from_static(b"world"), end_stream: true },
        ]
    );
}

#[test]
fn request_trailers_end_the_body() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/").field("te", "trailers"));
    client.send(frames::data(1, "body"));
    client.send(frames::headers(1).field("checksum", "abc").eos());
    let events = client.take_events();
    let Event::Trailers { stream, trailers } = &events[2] else { panic!("{events:?}") };
    assert_eq!(*stream, sid(1));
    assert_eq!(trailers.len(), 1);
    assert_eq!(trailers[0].name, "checksum");
}

#[test]
fn response_trailers_follow_the_body() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.respond(1, 200, false);
    client.conn.send_data(sid(1), Bytes::from_static(b"data"), false).unwrap();
    client.conn.send_trailers(sid(1), [("grpc-status", "0")]).unwrap();
    client.pump();
    let frames = client.take_frames();
    assert_eq!(frames[1], Out::Data { stream: 1, data: Bytes::from_static(b"data"), end_stream: false });
    assert_eq!(
        frames[2],
        Out::Headers { stream: 1, fields: vec![("grpc-status".into(), "0".into())], end_stream: true }
    );
    assert_eq!(client.conn.open_streams(), 0);
}

#[test]
fn informational_response_before_the_final_one() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client
        .conn
        .send_informational(sid(1), StatusCode::EARLY_HINTS, [("link", "</a.css>; rel=preload")])
        .unwrap();
    client.respond(1, 200, true);
    let frames = client.take_frames();
    assert_eq!(frames[0].status(), Some("103"));
    assert!(matches!(frames[0], Out::Headers { end_stream: false, .. }));
    assert_eq!(frames[1].status(), Some("200"));
}

#[test]
fn misused_commands_are_errors_that_change_nothing() {
    use milpa_h2::SendError;
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    let data = Bytes::from_static(b"x");
    assert_eq!(client.conn.send_data(sid(1), data.clone(), false), Err(SendError::WrongState(sid(1))));
    assert_eq!(client.conn.send_trailers(sid(1), [("a", "b")]), Err(SendError::WrongState(sid(1))));
    assert_eq!(
        client.conn.send_response(sid(1), StatusCode::CONTINUE, [("a", "b")], false),
        Err(SendError::InvalidStatus(StatusCode::CONTINUE))
    );
    assert_eq!(
        client.conn.send_informational(sid(1), StatusCode::OK, [("a", "b")]),
        Err(SendError::InvalidStatus(StatusCode::OK))
    );
    assert_eq!(
        client.conn.send_informational(sid(1), StatusCode::SWITCHING_PROTOCOLS, [("a", "b")]),
        Err(SendError::InvalidStatus(StatusCode::SWITCHING_PROTOCOLS))
    );
    assert_eq!(
        client.conn.send_response(sid(1), StatusCode::OK, [("Bad-Name", "x")], false),
        Err(SendError::InvalidHeader)
    );
    assert_eq!(
        client.conn.send_response(sid(1), StatusCode::OK, [("x", "a\nb")], false),
        Err(SendError::InvalidHeader)
    );
    assert_eq!(
        client.conn.send_response(sid(3), StatusCode::OK, [("a", "b")], true),
        Err(SendError::StreamClosed(sid(3)))
    );
    client.pump();
    assert!(client.take_frames().is_empty(), "nothing was sent");
    client.respond(1, 200, false);
    assert_eq!(
        client.conn.send_response(sid(1), StatusCode::OK, [("a", "b")], true),
        Err(SendError::WrongState(sid(1)))
    );
}

#[test]
fn connection_specific_response_fields_are_dropped() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    let fields = [("connection", "close"), ("transfer-encoding", "chunked"), ("x-kept", "1")];
    client.conn.send_response(sid(1), StatusCode::OK, fields, true).unwrap();
    client.pump();
    let frames = client.take_frames();
    let Out::Headers { fields, .. } = &frames[0] else { panic!() };
    assert_eq!(fields, &[(":status".to_owned(), "200".to_owned()), ("x-kept".to_owned(), "1".to_owned())]);
}

#[test]
fn client_reset_is_reported_and_later_commands_fail() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.take_events();
    client.send(frames::reset(1).cancel());
    assert_eq!(
        client.take_events(),
        [Event::StreamReset { stream: sid(1), reason: Reason::CANCEL, error: None }]
    );
    assert_eq!(
        client.conn.send_response(sid(1), StatusCode::OK, [("a", "b")], true),
        Err(milpa_h2::SendError::StreamClosed(sid(1)))
    );
    client.assert_alive();
}

#[test]
fn server_reset_sends_rst_stream() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.conn.reset(sid(1), Reason::CANCEL).unwrap();
    client.pump();
    assert_eq!(client.take_frames(), [Out::Reset { stream: 1, reason: Reason::CANCEL }]);
    // Frames the client sent before it saw the reset are dropped quietly (§5.1, closed).
    client.send(frames::data(1, "late")).send(frames::headers(1).field("x", "y").eos());
    assert!(client.take_frames().is_empty());
    client.assert_alive();
}

#[test]
fn streams_are_served_concurrently() {
    let mut client = Client::connected();
    for id in [1, 3, 5] {
        client.send(frames::headers(id).request("GET", &format!("/{id}")).eos());
    }
    assert_eq!(client.requests(), [1, 3, 5]);
    client.respond(5, 200, true);
    client.respond(1, 200, true);
    client.respond(3, 404, true);
    let statuses: Vec<_> = client.take_frames().iter().map(|f| f.status().unwrap().to_owned()).collect();
    assert_eq!(statuses, ["200", "200", "404"]);
}

#[test]
fn client_goaway_is_reported_and_the_connection_stays_for_its_streams_and_pings() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.send(frames::goaway(0, Reason::new(0xdead)));
    let events = client.take_events();
    assert!(matches!(events.last(), Some(Event::GoAway { .. })), "{events:?}");
    client.respond(1, 200, true);
    client.take_frames();
    // No special behaviour (h2spec 7): the connection still answers a PING.
    client.send(frames::ping(b"stillhere"[..8].try_into().unwrap()));
    assert!(client.take_frames().iter().any(|f| matches!(f, Out::Ping { ack: true, .. })));
    assert!(!client.conn.is_finished());
    client.conn.start_shutdown();
}

#[test]
fn eof_resets_open_streams_and_finishes() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.take_events();
    client.conn.receive_eof();
    client.pump();
    assert_eq!(
        client.take_events(),
        [Event::StreamReset { stream: sid(1), reason: Reason::CANCEL, error: None }]
    );
    assert!(client.conn.is_finished());
    assert!(!client.conn.wants_read());
}

#[test]
fn byte_at_a_time_gives_the_same_result() {
    let whole = {
        let mut client = Client::new();
        let mut wire = frames::preface();
        wire.extend(client.encode(frames::settings()));
        wire.extend(client.encode(frames::headers(1).request("POST", "/").field("content-length", "3")));
        wire.extend(client.encode(frames::data(1, "abc").eos()));
        client.receive(&wire);
        (wire, client.take_events())
    };
    let mut client = Client::new();
    for byte in &whole.0 {
        client.receive(std::slice::from_ref(byte));
    }
    assert_eq!(client.take_events(), whole.1);
    assert_eq!(whole.1.len(), 2);
}

#[test]
fn connection_error_reports_every_known_stream() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.take_events();
    client.send(frames::raw(milpa_h2::frame::kind::PING, 0, 0, b"short"));
    let events = client.take_events();
    assert!(matches!(&events[0], Event::ConnectionError(e) if e.reason() == Reason::FRAME_SIZE_ERROR));
    assert_eq!(
        events[1],
        Event::StreamReset { stream: sid(1), reason: Reason::FRAME_SIZE_ERROR, error: None }
    );
    assert_eq!(client.take_frames(), [Out::GoAway { last: 1, reason: Reason::FRAME_SIZE_ERROR }]);
    assert!(client.conn.is_finished());
    // Nothing after a connection error is read, and commands are refused.
    client.send(frames::headers(3).request("GET", "/").eos());
    assert!(client.take_events().is_empty());
    assert_eq!(
        client.conn.send_response(sid(1), StatusCode::OK, [("a", "b")], true),
        Err(milpa_h2::SendError::ConnectionClosed)
    );
}

#[test]
fn settings_are_applied_in_order() {
    let mut client = Client::new();
    client.send(frames::preface());
    let payload = [[0u8, 4, 0, 0, 0, 10], [0, 4, 0, 0, 0, 3]].concat();
    client.send(frames::raw(milpa_h2::frame::kind::SETTINGS, 0, 0, &payload));
    client.send(frames::headers(1).request("GET", "/").eos());
    client.respond(1, 200, false);
    client.respond_data(1, b"abcdef", true);
    let frames = client.take_frames();
    assert_eq!(Client::data_frames(&frames, 1), [(3, false)], "window of 3, the last value: {frames:?}");
}

#[test]
fn unknown_settings_are_ignored() {
    let mut client = Client::new();
    client.send(frames::preface());
    client.send(frames::raw(milpa_h2::frame::kind::SETTINGS, 0, 0, &[0xab, 0xcd, 0, 0, 0, 1]));
    assert!(client.take_frames().contains(&Out::SettingsAck));
    assert!(client.take_events().is_empty());
}

#[test]
fn default_config_matches_the_design_table() {
    let config = Config::default();
    assert_eq!(config.max_concurrent_streams, 100);
    assert_eq!(config.max_header_list_size, 16 * 1024);
    assert_eq!(config.initial_stream_window_size, 1 << 20);
    assert_eq!(config.initial_connection_window_size, 1 << 20);
    assert_eq!(config.max_send_buffer_size, 400 * 1024);
    assert_eq!(config.max_pending_accept_reset_streams, 20);
    assert_eq!(config.max_local_error_reset_streams, 1024);
    assert_eq!(config.max_empty_data_frames, 100);
    assert_eq!(config.max_requests_per_connection, Some(1000));
    assert_eq!(config.keep_alive_interval, None);
}

#[test]
fn connection_error_kinds_display() {
    let mut client = Client::new();
    client.send(b"GET / HTTP/1.1\r\n\r\n".as_slice());
    let error = client.expect_goaway(Reason::PROTOCOL_ERROR).unwrap();
    assert_eq!(*error.kind(), ErrorKind::InvalidPreface);
    assert_eq!(error.to_string(), "invalid connection preface (PROTOCOL_ERROR)");
    let _ = Settings::default();
    let _ = Connection::new(Config::default(), client.now);
}

#[test]
fn repeated_response_heads_decode_as_sent_whatever_came_between() {
    let mut client = Client::connected();
    let mut next_stream = 1;
    // Sends `fields` with `status` on a new stream; returns what the client decoded.
    let mut respond = |client: &mut Client, status: u16, fields: &[(&str, &str)]| {
        let stream = next_stream;
        next_stream += 2;
        client.send(frames::headers(stream).request("GET", "/").eos());
        client.take_events();
        if status == 103 {
            // An early hint first, whose block adds an entry to the table.
            let hint = [("link", "</style.css>; rel=preload")];
            client.conn.send_informational(sid(stream), StatusCode::EARLY_HINTS, hint).unwrap();
            client.pump();
            client.take_frames();
        }
        let status = StatusCode::from_u16(status.max(200)).unwrap();
        let sent = client.conn.send_response(sid(stream), status, fields.iter().copied(), true);
        client.pump();
        (sent, client.take_frames())
    };
    let expect = |status: &str, fields: &[(&str, &str)]| {
        let mut all = vec![(":status".to_owned(), status.to_owned())];
        all.extend(
            fields
                .iter()
                .filter(|(name, _)| *name != "connection")
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        all
    };
    let head = [
        ("content-type", "application/json"),
        ("server", "milpa"),
        ("date", "Tue, 26 Nov 2024 16:42:00 GMT"),
    ];
    let new_date = [
        ("content-type", "application/json"),
        ("server", "milpa"),
        ("date", "Tue, 26 Nov 2024 16:42:01 GMT"),
    ];
    let with_connection = [head[0], head[1], ("connection", "close"), head[2]];
    let mut steps: Vec<(u16, &[(&str, &str)])> = vec![
        (200, &head),
        (200, &head),
        (200, &head),
        (404, &head),
        (200, &head),
        (200, &new_date),
        (200, &new_date),
        (200, &with_connection),
        (200, &new_date),
        (200, &head[..2]),
        (200, &new_date),
        // 103: an early hint's block changes the table between two equal heads.
        (103, &new_date),
        (200, &new_date),
    ];
    for (status, fields) in steps.drain(..) {
        let (sent, frames) = respond(&mut client, status, fields);
        sent.unwrap();
        let [Out::Headers { fields: got, .. }] = &frames[..] else { panic!("{frames:?}") };
        assert_eq!(*got, expect(&status.max(200).to_string(), fields), "{status} {fields:?}");
    }

    // A repeat with one value changed to a bad one is checked, not copied.
    let bad = [head[0], head[1], ("date", "Tue\n")];
    let (sent, _) = respond(&mut client, 200, &bad);
    assert!(matches!(sent, Err(milpa_h2::SendError::InvalidHeader)), "{sent:?}");

    // The client shrinks its table: the kept block's references would now be wrong.
    for (status, fields) in [(200, &new_date), (200, &new_date)] {
        let (sent, frames) = respond(&mut client, status, fields);
        sent.unwrap();
        assert!(matches!(&frames[..], [Out::Headers { .. }]), "{frames:?}");
    }
    client.send(frames::settings().header_table_size(0));
    assert!(client.take_frames().contains(&Out::SettingsAck));
    client.apply_header_table_size(0);
    for _ in 0..2 {
        let (sent, frames) = respond(&mut client, 200, &new_date);
        sent.unwrap();
        let [Out::Headers { fields: got, .. }] = &frames[..] else { panic!("{frames:?}") };
        assert_eq!(*got, expect("200", &new_date));
    }
    assert_eq!(client.conn.open_streams(), 1, "only the stream whose head was refused");
}

/// A small deterministic generator (xorshift64*), so the sequence below is the same
/// on every run.
struct Steps(u64);

impl Steps {
    fn pick(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

#[test]
fn heads_drawn_at_random_decode_as_sent_through_table_changes_and_evictions() {
    let mut client = Client::connected();
    let mut steps = Steps(0x9e37_79b9_7f4a_7c15);
    let dates =
        ["Tue, 26 Nov 2024 16:42:00 GMT", "Tue, 26 Nov 2024 16:42:01 GMT", "Wed, 27 Nov 2024 08:00:00 GMT"];
    let lengths = ["14", "15", "2048"];
    let big = "x".repeat(1500);
    let mut stream = 1;
    for step in 0..3000 {
        match steps.pick(12) {
            // The client changes its table size (and its decoder expects the update).
            0 => {
                let size = [0, 64, 300, 4096][steps.pick(4)];
                client.send(frames::settings().header_table_size(size));
                assert!(client.take_frames().contains(&Out::SettingsAck));
                client.apply_header_table_size(size as usize);
                continue;
            }
            1 => {
                // An early hint first: its block may add an entry, moving the indices.
                client.send(frames::headers(stream).request("GET", "/").eos());
                client.take_events();
                let link = ["</a.css>; rel=preload", "</b.js>; rel=preload"][steps.pick(2)];
                client
                    .conn
                    .send_informational(sid(stream), StatusCode::EARLY_HINTS, [("link", link)])
                    .unwrap();
            }
            _ => {
                client.send(frames::headers(stream).request("GET", "/").eos());
                client.take_events();
            }
        }
        client.pump();
        client.take_frames();
        let mut fields = vec![("content-type", "application/json"), ("server", "milpa")];
        fields.push(("date", dates[steps.pick(dates.len())]));
        if steps.pick(3) == 0 {
            fields.push(("content-length", lengths[steps.pick(lengths.len())]));
        }
        match steps.pick(8) {
            0 => fields.push(("set-cookie", "id=1")),
            // Larger than a small table: it evicts everything when indexed.
            1 => fields.push(("x-big", &big)),
            2 => fields.reverse(),
            _ => {}
        }
        let status = [200, 200, 200, 404][steps.pick(4)];
        client
            .conn
            .send_response(sid(stream), StatusCode::from_u16(status).unwrap(), fields.iter().copied(), true)
            .unwrap();
        client.pump();
        let frames = client.take_frames();
        let [Out::Headers { fields: got, .. }] = &frames[..] else { panic!("step {step}: {frames:?}") };
        let mut expected = vec![(":status".to_owned(), status.to_string())];
        expected.extend(fields.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
        assert_eq!(*got, expected, "step {step}");
        stream += 2;
    }
}
