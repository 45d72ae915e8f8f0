//! RFC 9113 §3–§5: the preface, the frame format, header blocks, stream states and
//! identifiers, error handling and extensions — one test per server MUST, in the spirit of
//! h2spec's case list (written from the RFC).

mod support;

use milpa_h2::frame::{Reason, kind};
use milpa_h2::{ErrorKind, Event};
use support::{Client, Out, frames, sid};

// ----- §3.4 HTTP/2 connection preface -------------------------------------------------

#[test]
fn s3_4_invalid_preface_is_a_protocol_error() {
    let mut client = Client::new();
    client.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n".as_slice());
    let error = client.expect_goaway(Reason::PROTOCOL_ERROR).unwrap();
    assert_eq!(*error.kind(), ErrorKind::InvalidPreface);
}

#[test]
fn s3_4_preface_mismatch_is_seen_before_24_bytes() {
    let mut client = Client::new();
    client.send(b"GET".as_slice());
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s3_4_first_frame_must_be_settings() {
    let mut client = Client::new();
    client.send(frames::preface()).send(frames::ping(b"12345678"));
    let error = client.expect_goaway(Reason::PROTOCOL_ERROR).unwrap();
    assert_eq!(*error.kind(), ErrorKind::MissingSettings);
}

#[test]
fn s3_4_a_settings_ack_is_not_the_client_settings() {
    let mut client = Client::new();
    client.send(frames::preface()).send(frames::settings().ack());
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

// ----- §4.1 frame format ---------------------------------------------------------------

#[test]
fn s4_1_unknown_frame_types_are_ignored() {
    let mut client = Client::connected();
    client.send(frames::raw(0x42, 0xff, 0, b"extension")).send(frames::raw(0xfa, 0, 1, b""));
    assert!(client.take_events().is_empty());
    client.assert_alive();
}

#[test]
fn s4_1_undefined_flags_are_ignored() {
    let mut client = Client::connected();
    client.send(frames::raw(kind::PING, 0xf0 | 0x2, 0, b"flagged!"));
    assert_eq!(client.take_frames(), [Out::Ping { ack: true, payload: *b"flagged!" }]);
}

#[test]
fn s4_1_reserved_bit_of_the_stream_id_is_ignored() {
    let mut client = Client::connected();
    let mut wire = client.encode(frames::headers(1).request("GET", "/").eos());
    wire[5] |= 0x80;
    client.send(wire);
    assert_eq!(client.requests(), [1]);
}

// ----- §4.2 frame size -----------------------------------------------------------------

#[test]
fn s4_2_data_of_the_maximum_frame_size_is_accepted() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.send(frames::data(1, vec![b'x'; 16_384]));
    let events = client.take_events();
    assert!(matches!(&events[1], Event::Data { data, .. } if data.len() == 16_384));
}

#[test]
fn s4_2_data_over_the_maximum_frame_size_is_a_frame_size_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.send(frames::data(1, vec![b'x'; 16_385]));
    client.expect_goaway(Reason::FRAME_SIZE_ERROR);
}

#[test]
fn s4_2_headers_over_the_maximum_frame_size_is_a_connection_frame_size_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).raw_block(&[0x82; 16_400]).eos());
    client.expect_goaway(Reason::FRAME_SIZE_ERROR);
}

#[test]
fn s4_2_a_larger_announced_max_frame_size_is_honoured() {
    let config = support::config(|c| c.max_frame_size = 65_536);
    let mut client = Client::connected_with(config, frames::settings());
    client.send(frames::headers(1).request("POST", "/"));
    client.send(frames::data(1, vec![b'x'; 60_000]));
    assert_eq!(client.take_events().len(), 2);
}

// ----- §4.3 field section compression ----------------------------------------------

#[test]
fn s4_3_undecodable_header_block_is_a_compression_error() {
    let mut client = Client::connected();
    // Index 70 does not exist in an empty dynamic table.
    client.send(frames::headers(1).raw_block(&[0x82, 0x87, 0x84, 0xc6]).eos());
    let error = client.expect_goaway(Reason::COMPRESSION_ERROR).unwrap();
    assert!(matches!(error.kind(), ErrorKind::Compression(_)));
}

#[test]
fn s4_3_table_size_update_over_the_limit_is_a_compression_error() {
    let mut client = Client::connected();
    // Size update to 8192 (more than the 4096 we allow), then :method GET.
    client.send(frames::headers(1).raw_block(&[0x3f, 0xe1, 0x3f, 0x82]).eos());
    client.expect_goaway(Reason::COMPRESSION_ERROR);
}

#[test]
fn s4_3_table_size_update_at_the_start_is_accepted() {
    let mut client = Client::connected();
    // Size update to 0, then :method GET, :scheme https, :path /, :authority (literal).
    let block = [&[0x20, 0x82, 0x87, 0x84, 0x41, 0x01][..], b"x"].concat();
    client.send(frames::headers(1).raw_block(&block).eos());
    assert_eq!(client.requests(), [1]);
}

#[test]
fn s4_3_header_block_interrupted_by_priority_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").no_end_headers());
    client.send(frames::priority(1, 0));
    let error = client.expect_goaway(Reason::PROTOCOL_ERROR).unwrap();
    assert_eq!(*error.kind(), ErrorKind::ExpectedContinuation);
}

#[test]
fn s4_3_refused_streams_are_still_decoded_to_keep_hpack_in_sync() {
    let config = support::config(|c| c.max_concurrent_streams = 1);
    let mut client = Client::connected_with(config, frames::settings());
    client.send(frames::headers(1).request("GET", "/").field("x-indexed", "value").eos());
    // Refused, but its block inserts into the dynamic table...
    client.send(frames::headers(3).request("GET", "/").field("x-other", "value2").eos());
    client.expect_reset(3, Reason::REFUSED_STREAM);
    client.respond(1, 200, true);
    // ...which the next block refers to.
    client.send(frames::headers(5).request("GET", "/").field("x-other", "value2").eos());
    let events = client.take_events();
    let Some(Event::Request { request, .. }) = events.last() else { panic!("{events:?}") };
    assert_eq!(request.header("x-other"), Some(&b"value2"[..]));
}

// ----- §5.1 stream states --------------------------------------------------------------

#[test]
fn s5_1_idle_data_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::data(1, "x"));
    assert_eq!(*client.expect_goaway(Reason::PROTOCOL_ERROR).unwrap().kind(), ErrorKind::IdleStream);
}

#[test]
fn s5_1_idle_rst_stream_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::reset(1).cancel());
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s5_1_idle_window_update_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::window_update(1, 100));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s5_1_idle_continuation_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::continuation(1, &[0x82], true));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s5_1_idle_priority_is_allowed() {
    let mut client = Client::connected();
    client.send(frames::priority(7, 0));
    client.send(frames::headers(3).request("GET", "/").eos());
    assert_eq!(client.requests(), [3], "PRIORITY on 7 did not open it");
    client.assert_alive();
}

#[test]
fn s5_1_half_closed_remote_data_is_stream_closed() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.send(frames::data(1, "late"));
    client.expect_reset(1, Reason::STREAM_CLOSED);
    client.assert_alive();
}

#[test]
fn s5_1_half_closed_remote_headers_is_stream_closed() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.send(frames::headers(1).field("x", "y").eos());
    client.expect_reset(1, Reason::STREAM_CLOSED);
    let events = client.take_events();
    assert!(matches!(
        events.last(),
        Some(Event::StreamReset { reason: Reason::STREAM_CLOSED, error: Some(_), .. })
    ));
}

#[test]
fn s5_1_half_closed_remote_continuation_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.send(frames::continuation(1, &[0x82], true));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s5_1_half_closed_remote_accepts_window_update_priority_and_reset() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.send(frames::window_update(1, 10)).send(frames::priority(1, 0));
    assert!(client.take_frames().is_empty());
    client.send(frames::reset(1).cancel());
    assert!(client.take_frames().is_empty());
    client.assert_alive();
}

#[test]
fn s5_1_half_closed_local_still_receives_the_body() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.respond(1, 200, true);
    client.send(frames::data(1, "still coming").eos());
    let events = client.take_events();
    assert!(matches!(events.last(), Some(Event::Data { end_stream: true, .. })), "{events:?}");
    assert_eq!(client.conn.open_streams(), 0);
}

#[test]
fn s5_1_closed_after_client_reset_data_is_stream_closed() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.send(frames::reset(1).cancel());
    client.send(frames::data(1, "late"));
    client.expect_reset(1, Reason::STREAM_CLOSED);
}

#[test]
fn s5_1_headers_after_client_reset_end_the_connection() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.send(frames::reset(1).cancel());
    client.send(frames::headers(1).field("x", "y").eos());
    client.expect_goaway(Reason::STREAM_CLOSED);
}

#[test]
fn s5_1_closed_after_end_stream_data_is_stream_closed() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.respond(1, 200, true);
    client.send(frames::data(1, "late"));
    client.expect_reset(1, Reason::STREAM_CLOSED);
}

#[test]
fn s5_1_headers_on_a_finished_stream_end_the_connection() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.respond(1, 200, true);
    client.send(frames::headers(1).field("x", "y").eos());
    // Reusing the identifier of a finished stream ends the connection (h2spec 5.1).
    client.expect_goaway(Reason::STREAM_CLOSED);
}

#[test]
fn s5_1_late_data_is_reset_once() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.respond(1, 200, true);
    client.send(frames::data(1, "late"));
    client.expect_reset(1, Reason::STREAM_CLOSED);
    // A second late frame is dropped: one reset per stream at most.
    client.send(frames::data(1, "again"));
    assert!(client.take_frames().is_empty());
}

#[test]
fn s5_1_closed_after_end_stream_continuation_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.respond(1, 200, true);
    client.send(frames::continuation(1, &[0x82], true));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn s5_1_closed_accepts_window_update_priority_and_reset() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.respond(1, 200, true);
    client.take_frames();
    client.send(frames::window_update(1, 1)).send(frames::priority(1, 0)).send(frames::reset(1).cancel());
    assert!(client.take_frames().is_empty());
    client.assert_alive();
}

#[test]
fn s5_1_data_on_a_closed_stream_still_counts_against_the_connection_window() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.conn.reset(sid(1), Reason::CANCEL).unwrap();
    client.pump();
    client.take_frames();
    // 600 KiB of late DATA: all dropped, and the connection window credited back.
    for _ in 0..40 {
        client.send(frames::data(1, vec![0u8; 16_000]));
    }
    let frames = client.take_frames();
    assert!(frames.iter().any(|f| matches!(f, Out::WindowUpdate { stream: 0, .. })), "{frames:?}");
    assert!(!frames.iter().any(|f| matches!(f, Out::GoAway { .. })));
}

// ----- §5.1.1 stream identifiers -------------------------------------------------------

#[test]
fn s5_1_1_even_stream_id_from_the_client_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::headers(2).request("GET", "/").eos());
    assert_eq!(*client.expect_goaway(Reason::PROTOCOL_ERROR).unwrap().kind(), ErrorKind::InvalidStreamId);
}

#[test]
fn s5_1_1_decreasing_stream_id_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::headers(5).request("GET", "/").eos());
    client.send(frames::headers(3).request("GET", "/").eos());
    assert_eq!(*client.expect_goaway(Reason::PROTOCOL_ERROR).unwrap().kind(), ErrorKind::InvalidStreamId);
}

#[test]
fn s5_1_1_skipped_ids_are_closed() {
    let mut client = Client::connected();
    client.send(frames::headers(7).request("GET", "/").eos());
    assert_eq!(client.requests(), [7]);
    client.send(frames::data(3, "x"));
    client.expect_reset(3, Reason::STREAM_CLOSED);
}

#[test]
fn s5_1_1_stream_id_exhaustion() {
    let mut client = Client::connected();
    let max = 0x7fff_ffff;
    client.send(frames::headers(max).request("GET", "/").eos());
    assert_eq!(client.requests(), [max]);
    client.respond(max, 200, true);
    // No identifier is left: whatever the client opens now goes backwards.
    client.send(frames::headers(1).request("GET", "/").eos());
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

// ----- §5.1.2 stream concurrency -------------------------------------------------------

#[test]
fn s5_1_2_streams_past_max_concurrent_streams_are_refused() {
    let config = support::config(|c| c.max_concurrent_streams = 2);
    let mut client = Client::connected_with(config, frames::settings());
    for id in [1, 3, 5] {
        client.send(frames::headers(id).request("GET", "/").eos());
    }
    client.expect_reset(5, Reason::REFUSED_STREAM);
    assert_eq!(client.requests(), [1, 3]);
    let events = client.take_events();
    assert!(
        matches!(events.last(), Some(Event::StreamError { error, .. }) if *error.kind() == ErrorKind::TooManyStreams)
    );
    // Once one closes, a new one fits.
    client.respond(1, 200, true);
    client.send(frames::headers(7).request("GET", "/").eos());
    assert_eq!(client.requests(), [7]);
}

// ----- §5.3 prioritization (RFC 7540 scheme, deprecated) ------------------------------------

#[test]
fn s5_3_1_headers_depending_on_itself_is_a_stream_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").depends_on(1).eos());
    client.expect_reset(1, Reason::PROTOCOL_ERROR);
    // The block was decoded: the connection is fine.
    client.send(frames::headers(3).request("GET", "/").eos());
    assert_eq!(client.requests(), [3]);
}

#[test]
fn s5_3_1_priority_depending_on_itself_is_a_stream_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.send(frames::priority(1, 1));
    client.expect_reset(1, Reason::PROTOCOL_ERROR);
    client.assert_alive();
}

// ----- §5.4 error handling --------------------------------------------------------------

#[test]
fn s5_4_1_connection_error_goaway_names_the_last_stream_processed() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.send(frames::headers(3).request("GET", "/").eos());
    client.send(frames::raw(kind::SETTINGS, 0, 0, &[0, 1, 2]));
    let frames = client.take_frames();
    assert_eq!(frames.last(), Some(&Out::GoAway { last: 3, reason: Reason::FRAME_SIZE_ERROR }));
    assert!(client.conn.is_finished());
    assert_eq!(client.conn.poll_timeout(), None);
}

#[test]
fn s5_4_2_stream_error_keeps_the_connection() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").field("Upper", "x").eos());
    client.expect_reset(1, Reason::PROTOCOL_ERROR);
    client.send(frames::headers(3).request("GET", "/").eos());
    assert_eq!(client.requests(), [3]);
}

// ----- §5.5 extending HTTP/2 ------------------------------------------------------------

#[test]
fn s5_5_unknown_extension_frames_are_ignored_on_streams_too() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.send(frames::raw(0x77, 0, 1, b"x")).send(frames::raw(0x77, 0, 99, b"y"));
    client.send(frames::data(1, "ok").eos());
    assert_eq!(client.take_events().len(), 2);
    assert!(client.take_frames().is_empty());
}

#[test]
fn s5_5_unknown_frame_inside_a_header_block_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").no_end_headers());
    client.send(frames::raw(0x77, 0, 1, b"x"));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

// ----- §7 error codes ---------------------------------------------------------------------

#[test]
fn s7_unknown_error_codes_trigger_nothing_special() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.take_events();
    client.send(frames::reset(1).code(Reason::new(0xbeef)));
    assert_eq!(
        client.take_events(),
        [Event::StreamReset { stream: sid(1), reason: Reason::new(0xbeef), error: None }]
    );
    client.send(frames::goaway(0, Reason::new(0xdead)));
    assert!(matches!(&client.take_events()[..], [Event::GoAway { reason, .. }] if reason.get() == 0xdead));
    assert!(client.take_frames().iter().all(|f| !matches!(f, Out::Reset { .. })));
}
