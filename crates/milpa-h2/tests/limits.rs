//! The security limits, each driven past its bound: the answer is the right GOAWAY or
//! RST_STREAM code, and the connection's memory stays bounded.

mod support;

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use milpa_h2::frame::{Reason, kind};
use milpa_h2::{ErrorKind, Event};
use support::{Client, Out, config, frames, sid};

// ----- rapid reset (CVE-2023-44487) -----------------------------------------------------------

fn request_then_reset(client: &mut Client, streams: impl Iterator<Item = u32>) -> Vec<u8> {
    let mut wire = Vec::new();
    for id in streams {
        wire.extend(client.encode(frames::headers(id).request("GET", "/").eos()));
        wire.extend(client.encode(frames::reset(id).cancel()));
    }
    wire
}

#[test]
fn rapid_reset_past_20_pending_streams_is_enhance_your_calm() {
    let mut client = Client::connected();
    let wire = request_then_reset(&mut client, (0..21).map(|i| 1 + 2 * i));
    client.receive(&wire);
    let error = client.expect_goaway(Reason::ENHANCE_YOUR_CALM).unwrap();
    assert_eq!(*error.kind(), ErrorKind::TooManyPendingResets);
}

#[test]
fn rapid_reset_at_20_pending_streams_is_tolerated() {
    let mut client = Client::connected();
    let wire = request_then_reset(&mut client, (0..20).map(|i| 1 + 2 * i));
    client.receive(&wire);
    assert!(!client.conn.is_finished());
    // The application saw them all: the count is back to 0.
    let wire = request_then_reset(&mut client, (20..40).map(|i| 1 + 2 * i));
    client.receive(&wire);
    client.assert_alive();
}

#[test]
fn cancelled_requests_are_fine_when_the_application_keeps_up() {
    let mut client = Client::connected();
    for i in 0..500 {
        let id = 1 + 2 * i;
        client.send(frames::headers(id).request("GET", "/").eos());
        client.send(frames::reset(id).cancel());
    }
    assert_eq!(client.requests().len(), 500);
    client.assert_alive();
    assert_eq!(client.conn.open_streams(), 0);
}

// ----- locally caused resets ("MadeYouReset", CVE-2025-8671) ------------------------------------

/// Opens `count` streams and makes the server reset each with `provoke`, in one read.
fn provoke_resets(limit: usize, count: u32, provoke: impl Fn(&mut Client, u32) -> Vec<u8>) -> Client {
    let mut client =
        Client::connected_with(config(|c| c.max_local_error_reset_streams = limit), frames::settings());
    let mut wire = Vec::new();
    for i in 0..count {
        wire.extend(provoke(&mut client, 1 + 2 * i));
    }
    client.receive(&wire);
    client
}

fn assert_too_many_local_resets(client: &mut Client) {
    let error = client.expect_goaway(Reason::ENHANCE_YOUR_CALM).expect("a connection error event");
    assert_eq!(*error.kind(), ErrorKind::TooManyLocalResets);
}

fn open(client: &mut Client, id: u32) -> Vec<u8> {
    client.encode(frames::headers(id).request("GET", "/").eos())
}

#[test]
fn made_you_reset_with_zero_window_updates() {
    let provoke = |client: &mut Client, id| {
        let mut wire = open(client, id);
        wire.extend(frames::raw(kind::WINDOW_UPDATE, 0, id, &[0, 0, 0, 0]));
        wire
    };
    assert!(!provoke_resets(10, 10, provoke).conn.is_finished());
    assert_too_many_local_resets(&mut provoke_resets(10, 11, provoke));
}

#[test]
fn made_you_reset_with_window_overflows() {
    let provoke = |client: &mut Client, id| {
        let mut wire = open(client, id);
        wire.extend(client.encode(frames::window_update(id, 0x7fff_ffff)));
        wire
    };
    assert_too_many_local_resets(&mut provoke_resets(10, 11, provoke));
}

#[test]
fn made_you_reset_with_bad_priority_lengths() {
    let provoke = |client: &mut Client, id| {
        let mut wire = open(client, id);
        wire.extend(frames::raw(kind::PRIORITY, 0, id, &[0, 0, 0, 0]));
        wire
    };
    assert_too_many_local_resets(&mut provoke_resets(10, 11, provoke));
}

#[test]
fn made_you_reset_with_self_dependencies() {
    let provoke = |client: &mut Client, id| {
        let mut wire = open(client, id);
        wire.extend(client.encode(frames::priority(id, id)));
        wire
    };
    assert_too_many_local_resets(&mut provoke_resets(10, 11, provoke));
}

#[test]
fn made_you_reset_with_frames_after_end_stream() {
    let provoke = |client: &mut Client, id| {
        let mut wire = open(client, id);
        wire.extend(client.encode(frames::data(id, "after the end")));
        wire
    };
    assert_too_many_local_resets(&mut provoke_resets(10, 11, provoke));
}

#[test]
fn made_you_reset_with_malformed_requests() {
    let provoke = |client: &mut Client, id| {
        client.encode(frames::headers(id).request("GET", "/").field("Bad", "x").eos())
    };
    assert_too_many_local_resets(&mut provoke_resets(10, 11, provoke));
}

#[test]
fn local_resets_default_limit_is_1024() {
    let provoke = |client: &mut Client, id| {
        let mut wire = open(client, id);
        wire.extend(frames::raw(kind::WINDOW_UPDATE, 0, id, &[0, 0, 0, 0]));
        wire
    };
    assert!(!provoke_resets(1024, 1024, provoke).conn.is_finished());
    assert_too_many_local_resets(&mut provoke_resets(1024, 1025, provoke));
}

// ----- CONTINUATION flood ---------------------------------------------------------------------

#[test]
fn continuation_flood_is_enhance_your_calm() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").no_end_headers());
    for _ in 0..5 {
        client.send(frames::continuation(1, b"", false));
    }
    assert!(!client.conn.is_finished(), "5 CONTINUATION frames are allowed");
    client.send(frames::continuation(1, b"", false));
    let error = client.expect_goaway(Reason::ENHANCE_YOUR_CALM).unwrap();
    assert_eq!(*error.kind(), ErrorKind::TooManyContinuations);
}

#[test]
fn continuation_flood_of_full_frames_keeps_memory_bounded() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").no_end_headers());
    let mut peak = 0;
    for _ in 0..1000 {
        client.send(frames::continuation(1, &[0x40; 16_384], false));
        peak = peak.max(client.conn.buffered_bytes());
        if client.conn.is_finished() {
            break;
        }
    }
    assert!(peak < 6 * 16_384 + 10_000, "peak {peak}");
    client.expect_goaway(Reason::ENHANCE_YOUR_CALM);
}

#[test]
fn header_block_left_unfinished_closes_the_connection_at_its_deadline() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").no_end_headers());
    assert_eq!(client.conn.poll_timeout(), Some(client.now + Duration::from_secs(30)));
    client.advance(Duration::from_secs(29));
    client.send(frames::continuation(1, b"", false));
    client.advance(Duration::from_secs(1));
    let error = client.expect_goaway(Reason::NO_ERROR).unwrap();
    assert_eq!(*error.kind(), ErrorKind::HeaderBlockTimeout, "a CONTINUATION does not extend the deadline");
}

#[test]
fn header_block_finished_in_time_stops_its_deadline() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").no_end_headers());
    client.advance(Duration::from_secs(29));
    client.send(frames::continuation(1, b"", true));
    assert_eq!(client.requests(), [1]);
    assert_eq!(client.conn.poll_timeout(), None);
    client.advance(Duration::from_secs(60));
    client.assert_alive();
}

#[test]
fn header_block_for_a_refused_stream_does_not_hold_a_shutdown() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").no_end_headers());
    client.conn.start_shutdown();
    client.pump();
    client.take_frames();
    // The client cannot answer the shutdown PING mid-block: its timer sends the final GOAWAY.
    client.advance(Duration::from_secs(20));
    assert_eq!(client.take_frames(), [Out::GoAway { last: 0, reason: Reason::NO_ERROR }]);
    assert!(client.conn.is_finished(), "stream 1 will never be served: nothing is left to wait for");
}

#[test]
fn five_continuations_carry_a_request() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").field("x", &"y".repeat(60)).continuations(5).eos());
    assert_eq!(client.requests(), [1]);
}

// ----- empty DATA frames ----------------------------------------------------------------------------

#[test]
fn empty_data_flood_is_enhance_your_calm() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    let mut wire = Vec::new();
    for _ in 0..100 {
        wire.extend(client.encode(frames::data(1, "")));
    }
    client.receive(&wire);
    assert!(!client.conn.is_finished(), "100 are allowed");
    client.send(frames::data(1, ""));
    let error = client.expect_goaway(Reason::ENHANCE_YOUR_CALM).unwrap();
    assert_eq!(*error.kind(), ErrorKind::TooManyEmptyDataFrames);
}

#[test]
fn data_with_payload_restarts_the_empty_data_count() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    for _ in 0..3 {
        for _ in 0..60 {
            client.send(frames::data(1, ""));
        }
        client.send(frames::data(1, "x"));
    }
    client.assert_alive();
}

// ----- PING and SETTINGS floods ---------------------------------------------------------------------

#[test]
fn ping_flood_keeps_one_ack_pending_and_memory_flat() {
    let mut client = Client::connected();
    let mut wire = BytesMut::new();
    for i in 0..10_000u64 {
        wire.put_slice(&client.encode(frames::ping(&i.to_be_bytes())));
    }
    client.conn.receive(client.now, &wire);
    assert!(!client.conn.wants_read(), "an ack waits to be written");
    let mut acks = 0;
    while let Some(piece) = client.conn.poll_transmit(client.now) {
        assert_eq!(piece.len(), 17, "one PING ACK at a time");
        assert!(client.conn.pending_output() <= 17);
        acks += 1;
    }
    assert_eq!(acks, 10_000);
    assert!(client.conn.wants_read());
    assert_eq!(client.conn.buffered_bytes(), 0);
}

#[test]
fn settings_flood_keeps_one_ack_pending() {
    let mut client = Client::connected();
    let mut wire = Vec::new();
    for _ in 0..1000 {
        wire.extend(client.encode(frames::settings().max_concurrent_streams(5)));
    }
    client.conn.receive(client.now, &wire);
    assert!(!client.conn.wants_read());
    let mut acks = 0;
    while let Some(piece) = client.conn.poll_transmit(client.now) {
        assert_eq!(&piece[..], [0, 0, 0, kind::SETTINGS, 1, 0, 0, 0, 0]);
        acks += 1;
    }
    assert_eq!(acks, 1000);
}

#[test]
fn requests_behind_a_held_back_ping_are_processed_after_the_ack_is_written() {
    let mut client = Client::connected();
    let mut wire = client.encode(frames::ping(b"11111111"));
    wire.extend(client.encode(frames::ping(b"22222222")));
    wire.extend(client.encode(frames::headers(1).request("GET", "/").eos()));
    client.conn.receive(client.now, &wire);
    assert!(client.conn.poll_event().is_none(), "held behind the second PING");
    client.pump();
    assert_eq!(client.requests(), [1]);
    let frames = client.take_frames();
    assert_eq!(frames.len(), 2);
}

// ----- header lists -------------------------------------------------------------------------------

#[test]
fn header_list_over_the_limit_is_answered_431() {
    let mut client = Client::connected();
    let value = "v".repeat(6000);
    let headers =
        frames::headers(1).request("GET", "/").field("x-a", &value).field("x-b", &value).field("x-c", &value);
    client.send(headers.continuations(2).eos());
    let frames = client.take_frames();
    assert_eq!(
        frames,
        [Out::Headers { stream: 1, fields: vec![(":status".into(), "431".into())], end_stream: true }]
    );
    let events = client.take_events();
    assert!(
        matches!(&events[..], [Event::StreamError { error, .. }] if matches!(error.kind(), ErrorKind::HeaderListTooLarge { .. }))
    );
    // HPACK stayed in sync: the next request refers to entries the refused one added.
    client.send(frames::headers(3).request("GET", "/").field("x-a", &value).eos());
    assert_eq!(client.requests(), [3]);
}

#[test]
fn header_list_over_the_limit_with_a_body_coming_also_resets() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/").field("x-a", &"v".repeat(17_000)).continuations(2));
    let frames = client.take_frames();
    assert_eq!(frames[0].status(), Some("431"));
    assert_eq!(frames[1], Out::Reset { stream: 1, reason: Reason::NO_ERROR });
    client.send(frames::data(1, "ignored"));
    assert!(client.take_frames().is_empty());
}

#[test]
fn header_list_over_4x_the_limit_is_enhance_your_calm() {
    let mut client = Client::connected_with(config(|c| c.max_header_list_size = 4096), frames::settings());
    let headers = frames::headers(1).request("GET", "/").field("x-a", &"v".repeat(17_000)).continuations(2);
    client.send(headers.eos());
    let error = client.expect_goaway(Reason::ENHANCE_YOUR_CALM).unwrap();
    assert!(matches!(error.kind(), ErrorKind::Compression(_)));
}

#[test]
fn hpack_bomb_is_stopped_with_bounded_memory() {
    let mut client = Client::connected();
    // One 4000-byte entry in the dynamic table, then referenced 1000 times (1 byte each).
    let mut block = vec![0x82, 0x87, 0x84, 0x40, 0x05];
    block.extend(b"x-big");
    block.extend([0x7f, 0x81, 0x1e]); // value length 4000 (127 + 3873)
    block.extend(std::iter::repeat_n(b'z', 4000));
    block.extend(std::iter::repeat_n(0xbe, 1000)); // index 62: the new entry
    client.send(frames::headers(1).raw_block(&block).eos());
    assert!(client.conn.buffered_bytes() < 16_384, "{}", client.conn.buffered_bytes());
    client.expect_goaway(Reason::ENHANCE_YOUR_CALM);
}

#[test]
fn zero_length_header_names_are_malformed_or_too_large() {
    let mut client = Client::connected();
    let mut headers = frames::headers(1).request("GET", "/");
    for _ in 0..10 {
        headers = headers.field("", "");
    }
    client.send(headers.eos());
    client.expect_reset(1, Reason::PROTOCOL_ERROR);
    // Hundreds of them cost 32 bytes each against the list limit: refused with 431.
    let mut headers = frames::headers(3).request("GET", "/");
    for _ in 0..600 {
        headers = headers.field("", "");
    }
    client.send(headers.eos());
    assert_eq!(client.take_frames()[0].status(), Some("431"));
    client.assert_alive();
}

// ----- PRIORITY floods -------------------------------------------------------------------------------

#[test]
fn priority_flood_creates_no_state() {
    let mut client = Client::connected();
    let mut wire = Vec::new();
    for i in 0..50_000u32 {
        wire.extend(client.encode(frames::priority(1 + 2 * i, 3 + 2 * i)));
    }
    client.receive(&wire);
    assert_eq!(client.conn.open_streams(), 0);
    assert_eq!(client.conn.buffered_bytes(), 0);
    assert!(client.take_frames().is_empty());
    // PRIORITY did not open anything: stream 1 is still idle and can be opened.
    client.send(frames::headers(1).request("GET", "/").eos());
    assert_eq!(client.requests(), [1]);
}

#[test]
fn priority_update_flood_for_idle_streams_is_bounded() {
    let mut client = Client::connected();
    let mut wire = Vec::new();
    for i in 0..20_000u32 {
        wire.extend(client.encode(frames::priority_update(1001 + 2 * i, "u=1")));
    }
    client.receive(&wire);
    assert!(client.take_frames().is_empty());
    client.assert_alive();
}

// ----- streams -----------------------------------------------------------------------------------------

#[test]
fn refused_stream_flood_counts_against_local_resets() {
    let mut client = Client::connected_with(
        config(|c| {
            c.max_concurrent_streams = 1;
            c.max_local_error_reset_streams = 50;
        }),
        frames::settings(),
    );
    let mut wire = Vec::new();
    for i in 0..60 {
        wire.extend(client.encode(frames::headers(1 + 2 * i).request("GET", "/").eos()));
    }
    client.receive(&wire);
    client.expect_goaway(Reason::ENHANCE_YOUR_CALM);
}

#[test]
fn goaway_flood_reports_once() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.take_events();
    for _ in 0..1000 {
        client.send(frames::goaway(1, Reason::NO_ERROR));
    }
    assert_eq!(client.take_events().len(), 1);
}

#[test]
fn window_update_flood_is_harmless() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    let mut wire = Vec::new();
    for _ in 0..10_000 {
        wire.extend(client.encode(frames::window_update(1, 1)));
        wire.extend(client.encode(frames::window_update(0, 1)));
    }
    client.receive(&wire);
    assert!(client.take_frames().is_empty());
    client.respond(1, 200, true);
    let _ = sid(1);
}
