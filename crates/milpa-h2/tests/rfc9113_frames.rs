//! RFC 9113 §6: the rules of each frame type as the connection enforces them — one test per
//! server MUST, in the spirit of h2spec's case list (written from the RFC).

mod support;

use std::time::Duration;

use bytes::Bytes;
use milpa_h2::frame::{Reason, flags, kind};
use milpa_h2::{ErrorKind, Event};
use support::{Client, Out, config, frames, sid};

// ----- §6.1 DATA -----------------------------------------------------------------------

#[test]
fn s6_1_data_on_stream_0_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::raw(kind::DATA, 0, 0, b"x"));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_1_data_with_too_much_padding_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.send(frames::raw(kind::DATA, flags::PADDED, 1, &[5, b'a', 0, 0, 0]));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_1_padding_is_stripped_and_returned_to_the_windows() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.send(frames::data(1, "abc").padded(200));
    let events = client.take_events();
    assert_eq!(
        events[1],
        Event::Data { stream: sid(1), data: Bytes::from_static(b"abc"), end_stream: false }
    );
    // Releasing only the 3 data bytes is all the application owes.
    client.conn.release_capacity(sid(1), 3).unwrap();
    assert_eq!(
        client.conn.release_capacity(sid(1), 1),
        Err(milpa_h2::SendError::WrongState(sid(1))),
        "more than was delivered"
    );
}

#[test]
fn s6_1_data_on_a_stream_that_is_not_open_is_stream_closed() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.send(frames::data(1, "x").eos());
    client.expect_reset(1, Reason::STREAM_CLOSED);
}

// ----- §6.2 HEADERS ----------------------------------------------------------------------

#[test]
fn s6_2_headers_then_headers_on_another_stream_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").no_end_headers());
    client.send(frames::headers(3).request("GET", "/").eos());
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_2_headers_on_stream_0_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::raw(kind::HEADERS, flags::END_HEADERS, 0, &[0x82]));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_2_headers_with_too_much_padding_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::raw(kind::HEADERS, flags::END_HEADERS | flags::PADDED, 1, &[3, 0x82, 0]));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_2_padded_headers_with_priority_fields_are_accepted() {
    let mut client = Client::connected();
    client.send(frames::headers(3).request("GET", "/").padded(10).depends_on(1).eos());
    assert_eq!(client.requests(), [3]);
}

// ----- §6.3 PRIORITY ----------------------------------------------------------------------

#[test]
fn s6_3_priority_on_stream_0_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::raw(kind::PRIORITY, 0, 0, &[0, 0, 0, 1, 16]));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_3_priority_of_the_wrong_length_is_a_stream_frame_size_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.send(frames::raw(kind::PRIORITY, 0, 1, &[0, 0, 0, 3]));
    client.expect_reset(1, Reason::FRAME_SIZE_ERROR);
}

// ----- §6.4 RST_STREAM ----------------------------------------------------------------------

#[test]
fn s6_4_rst_stream_on_stream_0_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::raw(kind::RST_STREAM, 0, 0, &[0, 0, 0, 8]));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_4_rst_stream_on_an_idle_stream_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.send(frames::reset(3).cancel());
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_4_rst_stream_of_the_wrong_length_is_a_frame_size_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.send(frames::raw(kind::RST_STREAM, 0, 1, &[0, 0, 0, 8, 0]));
    client.expect_goaway(Reason::FRAME_SIZE_ERROR);
}

// ----- §6.5 SETTINGS ----------------------------------------------------------------------------

#[test]
fn s6_5_settings_ack_with_a_payload_is_a_frame_size_error() {
    let mut client = Client::connected();
    client.send(frames::raw(kind::SETTINGS, flags::ACK, 0, &[0, 3, 0, 0, 0, 1]));
    client.expect_goaway(Reason::FRAME_SIZE_ERROR);
}

#[test]
fn s6_5_settings_on_a_stream_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::raw(kind::SETTINGS, 0, 1, &[]));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_5_settings_length_not_a_multiple_of_6_is_a_frame_size_error() {
    let mut client = Client::connected();
    client.send(frames::raw(kind::SETTINGS, 0, 0, &[0, 3, 0, 0, 0]));
    client.expect_goaway(Reason::FRAME_SIZE_ERROR);
}

#[test]
fn s6_5_2_enable_push_other_than_0_or_1_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::raw(kind::SETTINGS, 0, 0, &[0, 2, 0, 0, 0, 2]));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_5_2_initial_window_size_over_2_31_is_a_flow_control_error() {
    let mut client = Client::connected();
    client.send(frames::raw(kind::SETTINGS, 0, 0, &[0, 4, 0x80, 0, 0, 0]));
    client.expect_goaway(Reason::FLOW_CONTROL_ERROR);
}

#[test]
fn s6_5_2_max_frame_size_below_the_initial_value_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::raw(kind::SETTINGS, 0, 0, &[0, 5, 0, 0, 0x3f, 0xff]));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_5_2_max_frame_size_over_2_24_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::raw(kind::SETTINGS, 0, 0, &[0, 5, 0x01, 0, 0, 0]));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_5_2_max_frame_size_of_the_client_cuts_our_frames() {
    let mut client = Client::connected_with(
        milpa_h2::Config::default(),
        frames::settings().max_frame_size(20_000).initial_window_size(1 << 20),
    );
    client.send(frames::window_update(0, 1 << 20));
    client.send(frames::headers(1).request("GET", "/").eos());
    client.respond(1, 200, false);
    client.respond_data(1, &vec![b'z'; 50_000], true);
    let frames = client.take_frames();
    assert_eq!(Client::data_frames(&frames, 1), [(20_000, false), (20_000, false), (10_000, true)]);
}

#[test]
fn s6_5_3_settings_not_acknowledged_in_time_is_a_settings_timeout() {
    let mut client = Client::new();
    client.send(frames::preface()).send(frames::settings());
    let deadline = client.conn.poll_timeout().expect("the settings timer runs");
    assert_eq!(deadline, client.now + Duration::from_secs(10));
    client.advance(Duration::from_secs(9));
    assert!(!client.conn.is_finished());
    client.advance(Duration::from_secs(1));
    let error = client.expect_goaway(Reason::SETTINGS_TIMEOUT).unwrap();
    assert_eq!(*error.kind(), ErrorKind::SettingsTimeout);
}

#[test]
fn s6_5_3_settings_ack_stops_the_timer() {
    let mut client = Client::connected();
    assert_eq!(client.conn.poll_timeout(), None);
    client.advance(Duration::from_secs(60));
    client.assert_alive();
}

#[test]
fn s6_5_3_a_smaller_header_table_takes_effect_when_acknowledged() {
    let mut client = Client::with_config(config(|c| c.header_table_size = 0));
    client.pump();
    let frames = client.take_frames();
    assert!(matches!(&frames[0], Out::Settings(s) if s.header_table_size == Some(0)));
    client.send(frames::preface()).send(frames::settings());
    // Before the ACK the client may still use its 4096-byte table.
    client.send(frames::headers(1).request("GET", "/").field("x-a", "1").eos());
    assert_eq!(client.requests(), [1]);
    client.send(frames::settings().ack());
    // After it, the next block must start with a size update (our encoder does not know).
    client.send(frames::headers(3).request("GET", "/").eos());
    client.expect_goaway(Reason::COMPRESSION_ERROR);
}

#[test]
fn s6_5_3_the_clients_header_table_size_is_applied_to_our_encoder() {
    let mut client =
        Client::connected_with(milpa_h2::Config::default(), frames::settings().header_table_size(0));
    client.send(frames::headers(1).request("GET", "/").eos());
    client.respond(1, 200, true);
    // The first response block starts with a size update to 0, which the test decoder
    // accepts and applies; every frame decoded.
    assert_eq!(client.take_frames()[0].status(), Some("200"));
}

// ----- §6.7 PING --------------------------------------------------------------------------------

#[test]
fn s6_7_ping_is_answered_with_the_same_payload() {
    let mut client = Client::connected();
    client.send(frames::ping(b"\x01\x02\x03\x04\x05\x06\x07\x08"));
    assert_eq!(
        client.take_frames(),
        [Out::Ping { ack: true, payload: *b"\x01\x02\x03\x04\x05\x06\x07\x08" }]
    );
}

#[test]
fn s6_7_ping_ack_is_not_answered() {
    let mut client = Client::connected();
    client.send(frames::pong(b"whatever"));
    assert!(client.take_frames().is_empty());
}

#[test]
fn s6_7_ping_on_a_stream_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::raw(kind::PING, 0, 1, b"12345678"));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_7_ping_of_the_wrong_length_is_a_frame_size_error() {
    let mut client = Client::connected();
    client.send(frames::raw(kind::PING, 0, 0, b"123456789"));
    client.expect_goaway(Reason::FRAME_SIZE_ERROR);
}

// ----- §6.8 GOAWAY -----------------------------------------------------------------------------

#[test]
fn s6_8_goaway_on_a_stream_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::raw(kind::GOAWAY, 0, 1, &[0, 0, 0, 0, 0, 0, 0, 0]));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_8_goaway_with_no_streams_leaves_closing_to_the_client() {
    let mut client = Client::connected();
    client.send(frames::goaway(0, Reason::NO_ERROR));
    assert!(client.take_frames().is_empty(), "no special behaviour on a GOAWAY");
    assert!(!client.conn.is_finished());
    client.conn.receive_eof();
    assert!(client.conn.is_finished(), "the client's close ends it");
}

// ----- §6.9 WINDOW_UPDATE ------------------------------------------------------------------------

#[test]
fn s6_9_zero_increment_on_the_connection_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::raw(kind::WINDOW_UPDATE, 0, 0, &[0, 0, 0, 0]));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_9_zero_increment_on_a_stream_is_a_stream_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.send(frames::raw(kind::WINDOW_UPDATE, 0, 1, &[0, 0, 0, 0]));
    client.expect_reset(1, Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_9_window_update_of_the_wrong_length_is_a_frame_size_error() {
    let mut client = Client::connected();
    client.send(frames::raw(kind::WINDOW_UPDATE, 0, 0, &[0, 0, 1]));
    client.expect_goaway(Reason::FRAME_SIZE_ERROR);
}

#[test]
fn s6_9_1_initial_window_of_1_gives_1_byte_frames() {
    let mut client =
        Client::connected_with(milpa_h2::Config::default(), frames::settings().initial_window_size(1));
    client.send(frames::headers(1).request("GET", "/").eos());
    client.respond(1, 200, false);
    client.respond_data(1, b"abc", true);
    assert_eq!(Client::data_frames(&client.take_frames(), 1), [(1, false)]);
    client.send(frames::window_update(1, 1));
    assert_eq!(Client::data_frames(&client.take_frames(), 1), [(1, false)]);
    client.send(frames::window_update(1, 5));
    assert_eq!(Client::data_frames(&client.take_frames(), 1), [(1, true)]);
}

#[test]
fn s6_9_1_connection_window_over_2_31_is_a_flow_control_error() {
    let mut client = Client::connected();
    client.send(frames::window_update(0, 0x7fff_ffff));
    client.expect_goaway(Reason::FLOW_CONTROL_ERROR);
}

#[test]
fn s6_9_1_stream_window_over_2_31_is_a_stream_flow_control_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.send(frames::window_update(1, 0x7fff_ffff));
    client.expect_reset(1, Reason::FLOW_CONTROL_ERROR);
}

#[test]
fn s6_9_1_data_beyond_the_connection_window_is_a_flow_control_error() {
    let mut client =
        Client::connected_with(config(|c| c.initial_connection_window_size = 65_535), frames::settings());
    client.send(frames::headers(1).request("POST", "/"));
    for _ in 0..4 {
        client.send(frames::data(1, vec![0u8; 16_000]));
    }
    client.send(frames::data(1, vec![0u8; 2_000]));
    client.expect_goaway(Reason::FLOW_CONTROL_ERROR);
}

#[test]
fn s6_9_1_data_beyond_the_stream_window_is_a_stream_flow_control_error() {
    let mut client =
        Client::connected_with(config(|c| c.initial_stream_window_size = 20_000), frames::settings());
    client.send(frames::headers(1).request("POST", "/"));
    client.send(frames::data(1, vec![0u8; 16_000]));
    client.send(frames::data(1, vec![0u8; 5_000]));
    client.expect_reset(1, Reason::FLOW_CONTROL_ERROR);
    client.assert_alive();
}

#[test]
fn s6_9_2_initial_window_change_adjusts_open_streams() {
    let mut client =
        Client::connected_with(milpa_h2::Config::default(), frames::settings().initial_window_size(0));
    client.send(frames::headers(1).request("GET", "/").eos());
    client.respond(1, 200, false);
    client.respond_data(1, b"hello", true);
    assert!(Client::data_frames(&client.take_frames(), 1).is_empty(), "no window yet");
    client.send(frames::settings().initial_window_size(3));
    let frames = client.take_frames();
    assert_eq!(Client::data_frames(&frames, 1), [(3, false)], "{frames:?}");
}

#[test]
fn s6_9_2_initial_window_change_can_make_a_window_negative() {
    let mut client =
        Client::connected_with(milpa_h2::Config::default(), frames::settings().initial_window_size(5));
    client.send(frames::headers(1).request("GET", "/").eos());
    client.respond(1, 200, false);
    client.respond_data(1, b"0123456789", true);
    assert_eq!(Client::data_frames(&client.take_frames(), 1), [(5, false)]);
    client.send(frames::settings().initial_window_size(2)); // window: 2 - 5 = -3
    client.send(frames::window_update(1, 3)); // 0
    assert!(Client::data_frames(&client.take_frames(), 1).is_empty());
    client.send(frames::window_update(1, 5)); // 5
    assert_eq!(Client::data_frames(&client.take_frames(), 1), [(5, true)]);
}

#[test]
fn s6_9_2_initial_window_change_overflowing_a_stream_is_a_flow_control_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.send(frames::window_update(1, 0x7fff_ffff - 65_535));
    client.send(frames::settings().initial_window_size(65_536));
    client.expect_goaway(Reason::FLOW_CONTROL_ERROR);
}

// ----- §6.10 CONTINUATION ---------------------------------------------------------------------

#[test]
fn s6_10_headers_split_over_continuations() {
    let mut client = Client::connected();
    client.send(
        frames::headers(1).request("GET", "/").field("x-long", &"a".repeat(100)).continuations(3).eos(),
    );
    assert_eq!(client.requests(), [1]);
}

#[test]
fn s6_10_continuation_followed_by_another_frame_is_a_protocol_error() {
    let mut client = Client::connected();
    let mut wire = client.encode(frames::headers(1).request("GET", "/").continuations(1).no_end_headers());
    wire.extend(client.encode(frames::data(1, "x")));
    client.send(wire);
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_10_continuation_on_stream_0_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").no_end_headers());
    client.send(frames::raw(kind::CONTINUATION, flags::END_HEADERS, 0, &[0x82]));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_10_continuation_after_end_headers_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.send(frames::continuation(1, &[0x82], true));
    let error = client.expect_goaway(Reason::PROTOCOL_ERROR).unwrap();
    assert_eq!(*error.kind(), ErrorKind::UnexpectedContinuation);
}

#[test]
fn s6_10_continuation_after_a_finished_continuation_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/").continuations(1));
    client.send(frames::continuation(1, &[0x82], true));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_10_continuation_after_data_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.send(frames::data(1, "x"));
    client.send(frames::continuation(1, &[0x82], true));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s6_10_continuation_on_another_stream_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").no_end_headers());
    client.send(frames::continuation(3, &[0x82], true));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

// ----- our own frames --------------------------------------------------------------------------

#[test]
fn large_response_headers_are_split_into_continuations() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    let value: String = (0..40_000u32).map(|i| char::from(b'a' + (i * 7 % 26) as u8)).collect();
    client.conn.send_response(sid(1), http::StatusCode::OK, [("x-big", value.as_str())], true).unwrap();
    let mut sizes = Vec::new();
    while let Some(piece) = client.conn.poll_transmit(client.now) {
        sizes.push(piece.len());
    }
    assert!(sizes.iter().sum::<usize>() > 16_384 + 9, "{sizes:?}");
}
