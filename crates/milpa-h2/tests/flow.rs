//! Flow control both ways (RFC 9113 §5.2, §6.9), the send buffer's backpressure, zero-copy
//! output, and the scheduler: round robin, RFC 9218 urgency and incremental delivery.

mod support;

use bytes::Bytes;
use milpa_h2::frame::Reason;
use milpa_h2::{Event, SendError};
use support::{Client, Out, config, frames, sid};

const MIB: u32 = 1 << 20;

/// A client with a huge receive window, so only the server's choices shape its output.
fn roomy() -> Client {
    let mut client = Client::connected_with(
        milpa_h2::Config::default(),
        frames::settings().initial_window_size(0x7fff_0000),
    );
    client.send(frames::window_update(0, 0x7fff_0000));
    client
}

fn get(client: &mut Client, stream: u32) {
    client.send(frames::headers(stream).request("GET", "/").eos());
    client.respond(stream, 200, false);
}

fn order(frames: &[Out]) -> Vec<u32> {
    frames
        .iter()
        .filter_map(|f| match f {
            Out::Data { stream, .. } => Some(*stream),
            _ => None,
        })
        .collect()
}

// ----- receiving --------------------------------------------------------------------------------

#[test]
fn window_updates_follow_what_the_application_consumes() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    for _ in 0..40 {
        client.send(frames::data(1, vec![1u8; 16_000]));
    }
    assert!(client.take_frames().is_empty(), "nothing is credited before the application consumes");
    // Consuming less than half a window is not worth a frame...
    client.conn.release_capacity(sid(1), 400_000).unwrap();
    client.pump();
    assert!(client.take_frames().is_empty());
    // ...half a window is.
    client.conn.release_capacity(sid(1), 200_000).unwrap();
    client.pump();
    let frames = client.take_frames();
    assert_eq!(
        frames,
        [
            Out::WindowUpdate { stream: 1, increment: 600_000 },
            Out::WindowUpdate { stream: 0, increment: 600_000 }
        ]
    );
}

#[test]
fn a_client_that_ignores_the_window_is_stopped() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    for _ in 0..65 {
        client.send(frames::data(1, vec![1u8; 16_384]));
    }
    client.expect_goaway(Reason::FLOW_CONTROL_ERROR);
}

#[test]
fn data_of_a_reset_stream_is_credited_back_to_the_connection() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    for _ in 0..40 {
        client.send(frames::data(1, vec![1u8; 16_000]));
    }
    client.send(frames::reset(1).cancel());
    let frames = client.take_frames();
    assert_eq!(frames, [Out::WindowUpdate { stream: 0, increment: 640_000 }]);
    // Releasing later for the gone stream is harmless.
    client.conn.release_capacity(sid(1), 1000).unwrap();
}

// ----- sending ---------------------------------------------------------------------------------

#[test]
fn response_waits_for_the_clients_windows() {
    let mut client = Client::connected();
    get(&mut client, 1);
    client.respond_data(1, &vec![7u8; 100_000], true);
    let sent: usize = Client::data_frames(&client.take_frames(), 1).iter().map(|(len, _)| len).sum();
    assert_eq!(sent, 65_535, "the initial windows");
    client.send(frames::window_update(1, 50_000));
    assert!(Client::data_frames(&client.take_frames(), 1).is_empty(), "connection window still closed");
    client.send(frames::window_update(0, 50_000));
    let frames = Client::data_frames(&client.take_frames(), 1);
    assert_eq!(frames.iter().map(|(len, _)| len).sum::<usize>(), 34_465);
    assert_eq!(frames.last(), Some(&(1_697, true)));
}

#[test]
fn data_payloads_are_not_copied() {
    let mut client = roomy();
    get(&mut client, 1);
    client.pieces.clear();
    let body = Bytes::from(vec![9u8; 40_000]);
    client.conn.send_data(sid(1), body.clone(), true).unwrap();
    client.pump();
    let pieces: Vec<_> = client.pieces.iter().filter(|p| p.len() > 1000).collect();
    assert_eq!(pieces.len(), 3, "three frames of at most 16 KiB");
    assert_eq!(pieces[0].as_ptr(), body.as_ptr());
    assert_eq!(pieces[1].as_ptr(), body[16_384..].as_ptr());
}

#[test]
fn send_buffer_cap_is_backpressure_then_writable() {
    let mut client =
        Client::connected_with(milpa_h2::Config::default(), frames::settings().initial_window_size(0));
    get(&mut client, 1);
    let chunk = Bytes::from(vec![0u8; 100 * 1024]);
    for _ in 0..4 {
        client.conn.send_data(sid(1), chunk.clone(), false).unwrap();
    }
    assert_eq!(client.conn.send_capacity(sid(1)), Ok(0));
    assert_eq!(client.conn.send_data(sid(1), chunk.clone(), false), Err(SendError::BufferFull(sid(1))));
    client.pump();
    client.take_events();
    client.send(frames::settings().initial_window_size(MIB));
    client.send(frames::window_update(0, MIB));
    let events = client.take_events();
    assert_eq!(events, [Event::Writable { stream: sid(1) }]);
    client.conn.send_data(sid(1), chunk, true).unwrap();
    // An empty end of stream is always accepted.
    assert_eq!(client.conn.send_data(sid(1), Bytes::new(), true), Err(SendError::WrongState(sid(1))));
}

#[test]
fn empty_end_of_stream_is_a_bare_data_frame() {
    let mut client = Client::connected();
    get(&mut client, 1);
    client.take_frames();
    client.conn.send_data(sid(1), Bytes::new(), true).unwrap();
    client.pump();
    assert_eq!(client.take_frames(), [Out::Data { stream: 1, data: Bytes::new(), end_stream: true }]);
}

#[test]
fn end_of_stream_waits_behind_blocked_data() {
    let mut client =
        Client::connected_with(milpa_h2::Config::default(), frames::settings().initial_window_size(2));
    get(&mut client, 1);
    client.respond_data(1, b"abcd", true);
    assert_eq!(Client::data_frames(&client.take_frames(), 1), [(2, false)]);
    client.send(frames::window_update(1, 2));
    assert_eq!(Client::data_frames(&client.take_frames(), 1), [(2, true)]);
}

#[test]
fn server_reset_drops_queued_data() {
    let mut client =
        Client::connected_with(milpa_h2::Config::default(), frames::settings().initial_window_size(0));
    get(&mut client, 1);
    client.respond_data(1, &[0u8; 1000], true);
    client.conn.reset(sid(1), Reason::CANCEL).unwrap();
    client.send(frames::settings().initial_window_size(MIB));
    let frames = client.take_frames();
    assert!(Client::data_frames(&frames, 1).is_empty(), "{frames:?}");
}

// ----- scheduling -------------------------------------------------------------------------------

#[test]
fn streams_without_priority_are_interleaved_round_robin() {
    let mut client = roomy();
    for id in [1, 3, 5] {
        get(&mut client, id);
    }
    for id in [1, 3, 5] {
        client.conn.send_data(sid(id), Bytes::from(vec![0u8; 3 * 16_384]), true).unwrap();
    }
    client.pump();
    assert_eq!(order(&client.take_frames()), [1, 3, 5, 1, 3, 5, 1, 3, 5]);
}

#[test]
fn urgency_from_the_priority_field_goes_first() {
    let mut client = roomy();
    client.send(frames::headers(1).request("GET", "/big").field("priority", "u=5").eos());
    client.send(frames::headers(3).request("GET", "/css").field("priority", "u=0").eos());
    for id in [1, 3] {
        client.respond(id, 200, false);
    }
    for id in [1, 3] {
        client.conn.send_data(sid(id), Bytes::from(vec![0u8; 2 * 16_384]), true).unwrap();
    }
    client.pump();
    assert_eq!(order(&client.take_frames()), [3, 3, 1, 1]);
}

#[test]
fn non_incremental_streams_of_one_urgency_go_one_after_another() {
    let mut client = roomy();
    for id in [1, 3] {
        client.send(frames::headers(id).request("GET", "/").field("priority", "u=3").eos());
        client.respond(id, 200, false);
    }
    for id in [3, 1] {
        client.conn.send_data(sid(id), Bytes::from(vec![0u8; 2 * 16_384]), true).unwrap();
    }
    client.pump();
    assert_eq!(order(&client.take_frames()), [1, 1, 3, 3]);
}

#[test]
fn incremental_streams_of_one_urgency_share() {
    let mut client = roomy();
    for id in [1, 3] {
        client.send(frames::headers(id).request("GET", "/").field("priority", "u=2, i").eos());
        client.respond(id, 200, false);
    }
    for id in [1, 3] {
        client.conn.send_data(sid(id), Bytes::from(vec![0u8; 2 * 16_384]), true).unwrap();
    }
    client.pump();
    assert_eq!(order(&client.take_frames()), [1, 3, 1, 3]);
}

#[test]
fn priority_update_reprioritizes_an_open_stream() {
    let mut client = roomy();
    for id in [1, 3] {
        get(&mut client, id);
    }
    client.send(frames::priority_update(3, "u=0"));
    for id in [1, 3] {
        client.conn.send_data(sid(id), Bytes::from(vec![0u8; 2 * 16_384]), true).unwrap();
    }
    client.pump();
    assert_eq!(order(&client.take_frames()), [3, 3, 1, 1]);
}

#[test]
fn priority_update_before_the_request_is_kept_for_it() {
    let mut client = roomy();
    client.send(frames::priority_update(3, "u=1"));
    get(&mut client, 1);
    get(&mut client, 3);
    for id in [1, 3] {
        client.conn.send_data(sid(id), Bytes::from(vec![0u8; 2 * 16_384]), true).unwrap();
    }
    client.pump();
    assert_eq!(order(&client.take_frames()), [3, 3, 1, 1]);
}

#[test]
fn priority_update_for_an_unpromised_push_stream_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::priority_update(2, "u=1"));
    client.expect_goaway(Reason::PROTOCOL_ERROR);
}

#[test]
fn invalid_priority_values_are_ignored() {
    let mut client = roomy();
    client.send(frames::headers(1).request("GET", "/").field("priority", "u=9, i=maybe").eos());
    let events = client.take_events();
    let [Event::Request { request, .. }] = &events[..] else { panic!() };
    assert_eq!(request.priority(), milpa_h2::Priority { urgency: 3, incremental: false });
    client.send(frames::priority_update(1, "not a dictionary!"));
    client.assert_alive();
}

#[test]
fn blocked_streams_do_not_hold_back_others() {
    let mut client = Client::connected();
    get(&mut client, 1);
    get(&mut client, 3);
    client.respond_data(1, &vec![0u8; 70_000], true);
    client.take_frames();
    // Stream 1 used the connection window; stream 3's data waits with it.
    client.respond_data(3, b"small", true);
    assert!(Client::data_frames(&client.take_frames(), 3).is_empty());
    client.send(frames::window_update(0, 100));
    let frames = client.take_frames();
    assert_eq!(Client::data_frames(&frames, 3), [(5, true)], "stream 1 has no stream window: {frames:?}");
}

#[test]
fn window_update_batches_for_many_small_frames() {
    let mut client =
        Client::connected_with(config(|c| c.initial_stream_window_size = 1000), frames::settings());
    client.send(frames::headers(1).request("POST", "/"));
    for _ in 0..10 {
        client.send(frames::data(1, vec![0u8; 100]));
        client.conn.release_capacity(sid(1), 100).unwrap();
        client.pump();
    }
    let updates: Vec<_> = client
        .take_frames()
        .into_iter()
        .filter(|f| matches!(f, Out::WindowUpdate { stream: 1, .. }))
        .collect();
    assert_eq!(
        updates,
        [Out::WindowUpdate { stream: 1, increment: 500 }, Out::WindowUpdate { stream: 1, increment: 500 }]
    );
}

#[test]
fn connection_receive_window_is_what_the_client_may_still_send() {
    let mut client = Client::connected();
    let before = client.conn.connection_receive_window();
    assert_eq!(before, 1024 * 1024, "the connection window we announced");
    client.send(frames::headers(1).request("POST", "/"));
    client.send(frames::data(1, vec![0; 16_000]));
    assert_eq!(client.conn.connection_receive_window(), before - 16_000, "unread, it stays used");
}
