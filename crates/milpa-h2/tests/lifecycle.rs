//! The end of a connection: graceful shutdown (RFC 9113 §6.8), the request cap, keep-alive
//! PINGs and timers.

mod support;

use std::time::Duration;

use milpa_h2::frame::{Reason, StreamId};
use milpa_h2::{ErrorKind, Event, SendError};
use support::{Client, Out, config, frames, sid};

const SHUTDOWN_PING: [u8; 8] = *b"milpa-gs";

#[test]
fn graceful_shutdown_is_goaway_max_ping_then_goaway_last() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.conn.start_shutdown();
    client.pump();
    assert!(client.conn.is_shutting_down());
    let frames = client.take_frames();
    assert_eq!(
        frames,
        [
            Out::GoAway { last: StreamId::MAX.get(), reason: Reason::NO_ERROR },
            Out::Ping { ack: false, payload: SHUTDOWN_PING }
        ]
    );
    // A request already in flight when the client saw the first GOAWAY is still served.
    client.send(frames::headers(3).request("GET", "/").eos());
    assert_eq!(client.requests(), [1, 3]);
    client.send(frames::pong(&SHUTDOWN_PING));
    assert_eq!(client.take_frames(), [Out::GoAway { last: 3, reason: Reason::NO_ERROR }]);
    // Later streams are refused.
    client.send(frames::headers(5).request("GET", "/").eos());
    client.expect_reset(5, Reason::REFUSED_STREAM);
    assert_eq!(client.requests(), [1, 3]);
    // Streams up to the last finish, then the connection does.
    client.respond(1, 200, true);
    assert!(!client.conn.is_finished());
    client.respond(3, 200, true);
    assert!(client.conn.is_finished());
}

#[test]
fn graceful_shutdown_without_streams_finishes_after_the_ack() {
    let mut client = Client::connected();
    client.conn.start_shutdown();
    client.pump();
    client.take_frames();
    assert!(!client.conn.is_finished());
    client.send(frames::pong(&SHUTDOWN_PING));
    assert_eq!(client.take_frames(), [Out::GoAway { last: 0, reason: Reason::NO_ERROR }]);
    assert!(client.conn.is_finished());
}

#[test]
fn graceful_shutdown_sends_the_final_goaway_when_the_ping_is_not_answered() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.conn.start_shutdown();
    client.pump();
    client.take_frames();
    assert_eq!(client.conn.poll_timeout(), Some(client.now + Duration::from_secs(20)));
    client.advance(Duration::from_secs(20));
    assert_eq!(client.take_frames(), [Out::GoAway { last: 1, reason: Reason::NO_ERROR }]);
    client.respond(1, 200, true);
    assert!(client.conn.is_finished());
}

#[test]
fn shutdown_before_the_preface_is_one_goaway() {
    let mut client = Client::new();
    client.conn.start_shutdown();
    client.pump();
    let frames = client.take_frames();
    assert_eq!(frames.last(), Some(&Out::GoAway { last: 0, reason: Reason::NO_ERROR }));
    assert!(client.conn.is_finished());
}

#[test]
fn shutdown_twice_is_harmless_and_push_is_refused() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.conn.start_shutdown();
    client.conn.start_shutdown();
    client.pump();
    assert_eq!(client.take_frames().len(), 2);
    let pushed = [(":method", "GET"), (":scheme", "https"), (":path", "/x")];
    assert_eq!(client.conn.push_promise(sid(1), pushed), Err(SendError::ConnectionClosed));
}

#[test]
fn max_requests_per_connection_ends_in_a_graceful_goaway() {
    let mut client =
        Client::connected_with(config(|c| c.max_requests_per_connection = Some(3)), frames::settings());
    for id in [1, 3] {
        client.send(frames::headers(id).request("GET", "/").eos());
    }
    assert!(!client.conn.is_shutting_down());
    client.send(frames::headers(5).request("GET", "/").eos());
    assert!(client.conn.is_shutting_down());
    let frames = client.take_frames();
    assert_eq!(frames[0], Out::GoAway { last: StreamId::MAX.get(), reason: Reason::NO_ERROR });
    client.send(frames::pong(&SHUTDOWN_PING));
    assert_eq!(client.take_frames(), [Out::GoAway { last: 5, reason: Reason::NO_ERROR }]);
    for id in [1, 3, 5] {
        client.respond(id, 200, true);
    }
    assert!(client.conn.is_finished());
}

#[test]
fn max_requests_default_is_1000() {
    let mut client = Client::connected();
    for i in 0..999 {
        let id = 1 + 2 * i;
        client.send(frames::headers(id).request("GET", "/").eos());
        client.respond(id, 204, true);
    }
    assert!(!client.conn.is_shutting_down());
    client.send(frames::headers(1999).request("GET", "/").eos());
    assert!(client.conn.is_shutting_down());
}

#[test]
fn keep_alive_ping_after_idle_interval() {
    let mut client = Client::connected_with(
        config(|c| c.keep_alive_interval = Some(Duration::from_secs(30))),
        frames::settings(),
    );
    assert_eq!(client.conn.poll_timeout(), Some(client.now + Duration::from_secs(30)));
    client.advance(Duration::from_secs(30));
    let frames = client.take_frames();
    let [Out::Ping { ack: false, payload }] = frames[..] else { panic!("{frames:?}") };
    assert_eq!(client.conn.poll_timeout(), Some(client.now + Duration::from_secs(20)));
    client.send(frames::pong(&payload));
    assert_eq!(client.conn.poll_timeout(), Some(client.now + Duration::from_secs(30)));
    client.advance(Duration::from_secs(29));
    assert!(client.take_frames().is_empty());
}

#[test]
fn keep_alive_ping_unanswered_closes_the_connection() {
    let mut client = Client::connected_with(
        config(|c| c.keep_alive_interval = Some(Duration::from_secs(30))),
        frames::settings(),
    );
    client.send(frames::headers(1).request("GET", "/").eos());
    client.take_events();
    client.advance(Duration::from_secs(30));
    client.take_frames();
    client.advance(Duration::from_secs(20));
    let frames = client.take_frames();
    assert_eq!(frames, [Out::GoAway { last: 1, reason: Reason::NO_ERROR }]);
    let events = client.take_events();
    assert!(matches!(&events[0], Event::ConnectionError(e) if *e.kind() == ErrorKind::KeepAliveTimeout));
    assert_eq!(events[1], Event::StreamReset { stream: sid(1), reason: Reason::NO_ERROR, error: None });
    assert!(client.conn.is_finished());
}

#[test]
fn traffic_postpones_the_keep_alive_ping() {
    let mut client = Client::connected_with(
        config(|c| c.keep_alive_interval = Some(Duration::from_secs(30))),
        frames::settings(),
    );
    client.advance(Duration::from_secs(20));
    client.send(frames::window_update(0, 1));
    client.advance(Duration::from_secs(20));
    assert!(client.take_frames().is_empty());
    client.advance(Duration::from_secs(10));
    assert!(matches!(client.take_frames()[..], [Out::Ping { ack: false, .. }]));
}

#[test]
fn settings_timer_starts_when_our_settings_are_written() {
    let mut client = Client::new();
    assert_eq!(client.conn.poll_timeout(), None, "nothing written yet");
    client.advance(Duration::from_secs(100));
    client.take_frames();
    assert_eq!(client.conn.poll_timeout(), Some(client.now + Duration::from_secs(10)));
}

#[test]
fn no_timers_after_the_connection_closed() {
    let mut client = Client::connected_with(
        config(|c| c.keep_alive_interval = Some(Duration::from_secs(1))),
        frames::settings(),
    );
    client.conn.receive_eof();
    assert_eq!(client.conn.poll_timeout(), None);
    client.advance(Duration::from_secs(5));
    assert!(client.take_frames().is_empty());
    assert!(client.conn.is_finished());
}
