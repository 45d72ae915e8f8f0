//! RFC 6455 framing rules, one test per rule.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;
use milpa_ws::{Config, Connection, DeflateConfig, Event, Role, SendError, State};

fn server() -> Connection {
    Connection::new(Role::Server, Config::default(), None)
}

fn deflate_server() -> Connection {
    Connection::new(Role::Server, Config::default(), Some(DeflateConfig::default()))
}

/// Feeds `wire` to a fresh server and returns (events, what it wrote).
fn run(mut conn: Connection, wire: &[u8]) -> (Vec<Event>, Vec<u8>, Connection) {
    conn.receive(wire);
    let ev = events(&mut conn);
    let out = transmit(&mut conn);
    (ev, out, conn)
}

fn expect_error(conn: Connection, wire: &[u8], code: u16) {
    let (ev, out, conn) = run(conn, wire);
    assert_eq!(error_code(&ev), Some(code), "events: {ev:?}");
    assert_eq!(sent_close_code(&out), Some(Some(code)));
    assert!(conn.is_closed());
    assert_eq!(conn.state(), State::Closed);
}

#[test]
fn masked_text_accepted() {
    let (ev, out, _) = run(server(), &client_frame(TEXT, b"Hello"));
    assert_eq!(ev, vec![Event::Text("Hello".into())]);
    assert!(out.is_empty());
}

#[test]
fn rfc_examples() {
    // RFC 6455 §5.7: a masked "Hello".
    let (ev, _, _) = run(server(), &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    assert_eq!(ev, vec![Event::Text("Hello".into())]);
    // Unmasked "Hello" to a client, in two fragments.
    let mut client = Connection::new(Role::Client, Config::default(), None);
    client.receive(&[0x01, 0x03, 0x48, 0x65, 0x6c, 0x00, 0x02, 0x6c, 0x6f]);
    client.receive(&[0x80, 0x00]);
    assert_eq!(events(&mut client), vec![Event::Text("Hello".into())]);
}

#[test]
fn unmasked_client_frame_is_1002() {
    expect_error(server(), &raw(0x81, b"hi", None), 1002);
}

#[test]
fn masked_server_frame_is_1002() {
    let mut client = Connection::new(Role::Client, Config::default(), None);
    client.receive(&raw(0x81, b"hi", Some(KEY)));
    assert_eq!(error_code(&events(&mut client)), Some(1002));
}

#[test]
fn client_masks_server_does_not() {
    let mut client = Connection::new(Role::Client, Config::default(), None);
    client.send_text("abc").unwrap();
    client.send_binary(&[1, 2, 3]).unwrap();
    client.send_ping(b"p").unwrap();
    let mut out = Vec::new();
    client.poll_transmit(&mut out);
    let wire: Vec<u8> = out.concat();
    let frames = parse_frames(&wire);
    assert_eq!(frames.len(), 3);
    let mut pos = 0;
    for (_, payload) in &frames {
        assert_eq!(wire[pos + 1] & 0x80, 0x80, "client frame must be masked");
        pos += 2 + 4 + payload.len();
    }
    let mut s = server();
    s.send_text("abc").unwrap();
    s.send_binary_bytes(Bytes::from_static(b"xyz")).unwrap();
    let wire = transmit(&mut s);
    assert_eq!(wire, [0x81, 3, b'a', b'b', b'c', 0x82, 3, b'x', b'y', b'z']);
}

#[test]
fn fragmented_with_interleaved_control() {
    let mut wire = raw(TEXT, b"frag", Some(KEY));
    wire.extend(client_frame(PING, b"ping!"));
    wire.extend(raw(CONT, b"men", Some(KEY)));
    wire.extend(client_frame(PONG, b"pong"));
    wire.extend(raw(0x80 | CONT, b"ted", Some(KEY)));
    let (ev, out, _) = run(server(), &wire);
    assert_eq!(
        ev,
        vec![
            Event::Ping(Bytes::from_static(b"ping!")),
            Event::Pong(Bytes::from_static(b"pong")),
            Event::Text("fragmented".into()),
        ]
    );
    assert_eq!(parse_frames(&out), vec![(0x80 | PONG, b"ping!".to_vec())]);
}

#[test]
fn fragmented_binary_with_empty_fragments() {
    let mut wire = raw(BINARY, b"", Some(KEY));
    wire.extend(raw(CONT, b"ab", Some(KEY)));
    wire.extend(raw(CONT, b"", Some(KEY)));
    wire.extend(raw(0x80 | CONT, b"", Some(KEY)));
    wire.extend(client_frame(BINARY, b""));
    let (ev, _, _) = run(server(), &wire);
    assert_eq!(ev, vec![Event::Binary(Bytes::from_static(b"ab")), Event::Binary(Bytes::new())]);
}

#[test]
fn control_frame_rules() {
    expect_error(server(), &client_frame(PING, &[0; 126]), 1002);
    expect_error(server(), &raw(PING, b"x", Some(KEY)), 1002);
    expect_error(server(), &raw(CLOSE, &[0x03, 0xe8], Some(KEY)), 1002);
    // 125 bytes is fine.
    let (ev, out, _) = run(server(), &client_frame(PING, &[7; 125]));
    assert_eq!(ev, vec![Event::Ping(Bytes::from(vec![7; 125]))]);
    assert_eq!(parse_frames(&out), vec![(0x80 | PONG, vec![7; 125])]);
}

#[test]
fn reserved_bits() {
    expect_error(server(), &raw(0xA0 | TEXT, b"x", Some(KEY)), 1002);
    expect_error(server(), &raw(0x90 | TEXT, b"x", Some(KEY)), 1002);
    expect_error(server(), &raw(0xC0 | TEXT, b"x", Some(KEY)), 1002);
    // With deflate: RSV1 on a continuation frame or a control frame.
    let mut wire = raw(0x40 | TEXT, &[0x4a], Some(KEY));
    wire.extend(raw(0xC0 | CONT, &[0x04, 0x00], Some(KEY)));
    expect_error(deflate_server(), &wire, 1002);
    expect_error(deflate_server(), &raw(0xC0 | PING, b"", Some(KEY)), 1002);
}

#[test]
fn reserved_opcodes() {
    for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        expect_error(server(), &raw(0x80 | op, b"", Some(KEY)), 1002);
    }
}

#[test]
fn fragment_sequencing() {
    expect_error(server(), &raw(0x80 | CONT, b"x", Some(KEY)), 1002);
    let mut wire = raw(TEXT, b"a", Some(KEY));
    wire.extend(client_frame(TEXT, b"b"));
    expect_error(server(), &wire, 1002);
    let mut wire = raw(BINARY, b"a", Some(KEY));
    wire.extend(raw(BINARY, b"b", Some(KEY)));
    expect_error(server(), &wire, 1002);
}

#[test]
fn lengths() {
    // Most significant bit of a 64-bit length.
    let mut wire = vec![0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0];
    wire.extend_from_slice(&KEY);
    expect_error(server(), &wire, 1002);
    // Non-minimal encodings are accepted.
    let mut wire = vec![0x82, 0x80 | 126, 0, 2];
    wire.extend_from_slice(&KEY);
    wire.extend([b'h' ^ KEY[0], b'i' ^ KEY[1]]);
    wire.extend([0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 1]);
    wire.extend_from_slice(&KEY);
    wire.push(b'!' ^ KEY[0]);
    let (ev, _, _) = run(server(), &wire);
    assert_eq!(ev, vec![Event::Binary(Bytes::from_static(b"hi")), Event::Binary(Bytes::from_static(b"!"))]);
    // Large frames.
    let big = vec![0x5a; 70_000];
    let (ev, _, _) = run(server(), &client_frame(BINARY, &big));
    assert_eq!(ev, vec![Event::Binary(Bytes::from(big))]);
}

#[test]
fn frame_and_message_limits() {
    let mut config = Config::default();
    config.max_frame_size = 100;
    config.max_message_size = 150;
    let s = || Connection::new(Role::Server, config.clone(), None);
    // The header alone is enough to refuse.
    let wire = client_frame(BINARY, &[0; 101]);
    expect_error(s(), &wire[..8], 1009);
    let (ev, _, _) = run(s(), &client_frame(BINARY, &[0; 100]));
    assert_eq!(ev.len(), 1);
    let mut wire = raw(BINARY, &[0; 100], Some(KEY));
    wire.extend(raw(0x80 | CONT, &[0; 51], Some(KEY)));
    expect_error(s(), &wire, 1009);
    let mut wire = raw(BINARY, &[0; 100], Some(KEY));
    wire.extend(raw(0x80 | CONT, &[0; 50], Some(KEY)));
    let (ev, _, _) = run(s(), &wire);
    assert_eq!(ev, vec![Event::Binary(Bytes::from(vec![0; 150]))]);
}

#[test]
fn utf8_fails_fast_inside_a_frame() {
    // Autobahn 6.4.3: the bad bytes arrive before the rest of the frame.
    let payload = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited";
    let wire = client_frame(TEXT, payload);
    let mut s = server();
    s.receive(&wire[..6 + 11]);
    assert!(events(&mut s).is_empty());
    s.receive(&wire[6 + 11..6 + 13]);
    assert_eq!(error_code(&events(&mut s)), Some(1007));
    assert_eq!(sent_close_code(&transmit(&mut s)), Some(Some(1007)));
}

#[test]
fn utf8_fails_fast_across_fragments() {
    // Autobahn 6.4.1: the second fragment makes the message invalid, FIN not yet seen.
    let mut s = server();
    s.receive(&raw(TEXT, "κόσμε".as_bytes(), Some(KEY)));
    assert!(events(&mut s).is_empty());
    s.receive(&raw(CONT, b"\xf4\x90\x80\x80", Some(KEY)));
    assert_eq!(error_code(&events(&mut s)), Some(1007));
}

#[test]
fn utf8_split_at_every_boundary() {
    let text = "aé€𝄞κόσμε";
    let bytes = text.as_bytes();
    for cut in 0..=bytes.len() {
        let mut wire = raw(TEXT, &bytes[..cut], Some(KEY));
        wire.extend(raw(0x80 | CONT, &bytes[cut..], Some(KEY)));
        let (ev, _, _) = run(server(), &wire);
        assert_eq!(ev, vec![Event::Text(text.into())], "cut at {cut}");
    }
}

#[test]
fn utf8_incomplete_at_end_is_1007() {
    expect_error(server(), &client_frame(TEXT, b"ab\xe2\x82"), 1007);
    let mut wire = raw(TEXT, b"\xe2\x82", Some(KEY));
    wire.extend(raw(0x80 | CONT, b"", Some(KEY)));
    expect_error(server(), &wire, 1007);
    // Binary messages are not checked.
    let (ev, _, _) = run(server(), &client_frame(BINARY, b"\xff\xfe"));
    assert_eq!(ev, vec![Event::Binary(Bytes::from_static(b"\xff\xfe"))]);
}

#[test]
fn close_payload_rules() {
    expect_error(server(), &client_frame(CLOSE, &[0x03]), 1002);
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535] {
        expect_error(server(), &client_frame(CLOSE, &code.to_be_bytes()), 1002);
    }
    let mut body = 1000u16.to_be_bytes().to_vec();
    body.extend_from_slice(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80");
    expect_error(server(), &client_frame(CLOSE, &body), 1007);
}

#[test]
fn close_echo() {
    for code in [1000u16, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999] {
        let mut body = code.to_be_bytes().to_vec();
        body.extend_from_slice(b"bye");
        let (ev, out, conn) = run(server(), &client_frame(CLOSE, &body));
        assert_eq!(ev, vec![Event::Close { code: Some(code), reason: "bye".into() }]);
        assert_eq!(parse_frames(&out), vec![(0x88, code.to_be_bytes().to_vec())]);
        assert!(conn.is_closed());
    }
    let (ev, out, conn) = run(server(), &client_frame(CLOSE, b""));
    assert_eq!(ev, vec![Event::Close { code: None, reason: String::new() }]);
    assert_eq!(out, [0x88, 0x00]);
    assert!(conn.is_closed());
}

#[test]
fn nothing_read_after_close() {
    let mut wire = client_frame(CLOSE, &1000u16.to_be_bytes());
    wire.extend(client_frame(TEXT, b"late"));
    let (ev, _, _) = run(server(), &wire);
    assert_eq!(ev.len(), 1);
}

#[test]
fn we_close_first() {
    let mut s = server();
    s.close(Some(1001), "going away").unwrap();
    assert_eq!(s.state(), State::Closing { we_sent_close: true, peer_sent_close: false });
    assert_eq!(s.send_text("x"), Err(SendError::Closed));
    assert_eq!(s.close(Some(1000), ""), Err(SendError::Closed));
    let out = transmit(&mut s);
    assert_eq!(parse_frames(&out), vec![(0x88, b"\x03\xe9going away".to_vec())]);
    assert!(!s.is_closed());
    // Data frames are ignored now, even a fragmented message; control frames are not.
    s.receive(&raw(TEXT, b"ignored", Some(KEY)));
    s.receive(&client_frame(PING, b"p"));
    s.receive(&raw(0x80 | CONT, b"\xff", Some(KEY)));
    s.receive(&client_frame(BINARY, b"ignored"));
    assert_eq!(events(&mut s), vec![Event::Ping(Bytes::from_static(b"p"))]);
    assert!(transmit(&mut s).is_empty(), "no pong after our close");
    s.receive(&client_frame(CLOSE, &1001u16.to_be_bytes()));
    assert_eq!(events(&mut s), vec![Event::Close { code: Some(1001), reason: String::new() }]);
    assert!(transmit(&mut s).is_empty(), "no second close");
    assert!(s.is_closed());
    assert_eq!(s.state(), State::Closed);
}

#[test]
fn close_in_the_middle_of_a_message() {
    let mut wire = raw(TEXT, b"part", Some(KEY));
    wire.extend(client_frame(CLOSE, &1000u16.to_be_bytes()));
    let (ev, _, conn) = run(server(), &wire);
    assert_eq!(ev, vec![Event::Close { code: Some(1000), reason: String::new() }]);
    assert!(conn.is_closed());
}

#[test]
fn close_command_validation() {
    let mut s = server();
    for code in [999u16, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        assert_eq!(s.close(Some(code), ""), Err(SendError::InvalidCloseCode));
    }
    assert_eq!(s.close(Some(1000), &"x".repeat(124)), Err(SendError::ReasonTooLong));
    assert_eq!(s.close(None, "why"), Err(SendError::ReasonWithoutCode));
    assert_eq!(s.state(), State::Open);
    assert_eq!(s.buffered_output(), 0);
    s.close(Some(4000), &"x".repeat(123)).unwrap();
    assert_eq!(s.buffered_output(), 2 + 2 + 123);
    let mut s = server();
    s.close(None, "").unwrap();
    assert_eq!(transmit(&mut s), [0x88, 0]);
}

#[test]
fn control_payload_limits() {
    let mut s = server();
    assert_eq!(s.send_ping(&[0; 126]), Err(SendError::PayloadTooLong));
    assert_eq!(s.send_pong(&[0; 126]), Err(SendError::PayloadTooLong));
    s.send_ping(&[0; 125]).unwrap();
    s.send_pong(b"u").unwrap();
    let frames = parse_frames(&transmit(&mut s));
    assert_eq!(frames, vec![(0x89, vec![0; 125]), (0x8A, b"u".to_vec())]);
}

#[test]
fn auto_pong() {
    let mut wire = client_frame(PING, b"1");
    wire.extend(client_frame(PING, b"2"));
    let (ev, out, _) = run(server(), &wire);
    assert_eq!(ev.len(), 2);
    // Every ping is answered, in order.
    assert_eq!(parse_frames(&out), vec![(0x8A, b"1".to_vec()), (0x8A, b"2".to_vec())]);
    // A flood keeps only the latest answers.
    let mut flood = Vec::new();
    for i in 0..100u8 {
        flood.extend(client_frame(PING, &[i]));
    }
    let (_, out, _) = run(server(), &flood);
    let pongs = parse_frames(&out);
    assert_eq!(pongs.len(), milpa_ws::MAX_PENDING_PONGS);
    assert_eq!(pongs.last(), Some(&(0x8A, vec![99])));
    let mut config = Config::default();
    config.auto_pong = false;
    let (ev, out, _) = run(Connection::new(Role::Server, config, None), &wire);
    assert_eq!(ev.len(), 2);
    assert!(out.is_empty());
}

#[test]
fn pong_goes_before_a_later_close() {
    let mut s = server();
    s.receive(&client_frame(PING, b"x"));
    s.close(Some(1000), "").unwrap();
    let frames = parse_frames(&transmit(&mut s));
    assert_eq!(frames, vec![(0x8A, b"x".to_vec()), (0x88, vec![0x03, 0xe8])]);
}

#[test]
fn eof() {
    let mut s = server();
    s.receive(&raw(TEXT, b"part", Some(KEY)));
    s.receive_eof();
    assert_eq!(events(&mut s), vec![Event::Eof]);
    assert!(s.is_closed());
    assert_eq!(s.send_text("x"), Err(SendError::Closed));
    // After a completed handshake EOF is not an event.
    let (_, _, mut conn) = run(server(), &client_frame(CLOSE, b""));
    conn.receive_eof();
    assert!(events(&mut conn).is_empty());
}

#[test]
fn error_stops_reading() {
    let mut wire = raw(0x81, b"x", None);
    wire.extend(client_frame(TEXT, b"after"));
    let (ev, _, mut conn) = run(server(), &wire);
    assert_eq!(ev.len(), 1);
    conn.receive(&client_frame(TEXT, b"more"));
    assert!(events(&mut conn).is_empty());
    assert_eq!(conn.send_text("x"), Err(SendError::Closed));
}

#[test]
fn byte_at_a_time_matches_whole() {
    let mut wire = raw(TEXT, "héllo ".as_bytes(), Some(KEY));
    wire.extend(client_frame(PING, b"ping"));
    wire.extend(raw(0x80 | CONT, "wörld 𝄞".as_bytes(), Some(KEY)));
    wire.extend(client_frame(BINARY, &[9; 300]));
    wire.extend(client_frame(BINARY, &[3; 70_000]));
    wire.extend(client_frame(PONG, b""));
    wire.extend(client_frame(CLOSE, b"\x03\xe8done"));
    let (whole_ev, whole_out, _) = run(server(), &wire);
    assert_eq!(whole_ev.len(), 6);
    let mut s = server();
    let mut ev = Vec::new();
    let mut out = Vec::new();
    for b in &wire {
        s.receive(std::slice::from_ref(b));
        ev.extend(events(&mut s));
        out.extend(transmit(&mut s));
    }
    assert_eq!(ev, whole_ev);
    assert_eq!(out, whole_out);
}
