//! RFC 9113 §8 (HTTP message semantics) and RFC 8441 (extended CONNECT): what makes a
//! request malformed, answered with RST_STREAM(PROTOCOL_ERROR) while the connection goes on.

mod support;

use bytes::Bytes;
use milpa_h2::frame::Reason;
use milpa_h2::{ErrorKind, Event, Malformed};
use support::{Client, Out, config, frames, sid};

/// Sends `headers` on stream 1 and asserts the stream is reset as malformed for `why`.
fn assert_malformed(headers: frames::HeadersSpec, why: Malformed) {
    let mut client = Client::connected();
    client.send(headers);
    client.expect_reset(1, Reason::PROTOCOL_ERROR);
    let events = client.take_events();
    let [Event::StreamError { stream, error }] = &events[..] else { panic!("{events:?}") };
    assert_eq!(*stream, sid(1));
    assert_eq!(*error.kind(), ErrorKind::Malformed(why));
    // The connection (and its HPACK state) is intact.
    client.send(frames::headers(3).request("GET", "/").eos());
    assert_eq!(client.requests(), [3]);
}

fn get() -> frames::HeadersSpec {
    frames::headers(1).request("GET", "/").eos()
}

// ----- §8.1 HTTP message framing -----------------------------------------------------------

#[test]
fn s8_1_second_headers_without_end_stream_is_malformed() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.send(frames::headers(1).field("x-trailer", "1"));
    client.expect_reset(1, Reason::PROTOCOL_ERROR);
    let events = client.take_events();
    assert!(matches!(
        events.last(),
        Some(Event::StreamReset { error: Some(e), .. }) if *e.kind() == ErrorKind::Malformed(Malformed::TrailersWithoutEndStream)
    ));
}

#[test]
fn s8_1_pseudo_header_in_trailers_is_malformed() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.send(frames::headers(1).field(":method", "GET").eos());
    client.expect_reset(1, Reason::PROTOCOL_ERROR);
}

#[test]
fn s8_1_complete_response_before_the_request_ends_resets_the_stream_with_no_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.send(frames::data(1, "part of an upload"));
    client.take_events();
    client.respond(1, 413, true);
    client.conn.stop_receiving(sid(1));
    client.pump();
    let frames = client.take_frames();
    let end = frames.iter().position(|f| matches!(f, Out::Headers { end_stream: true, .. }));
    let reset = frames.iter().position(|f| *f == Out::Reset { stream: 1, reason: Reason::NO_ERROR });
    assert!(end.is_some() && reset > end, "END_STREAM, then RST_STREAM(NO_ERROR): {frames:?}");
    // The rest of the upload is credited to the connection, not to the stream.
    client.send(frames::data(1, vec![0; 16_000]));
    client.assert_alive();
    assert!(client.take_events().is_empty(), "nobody reads it");
    assert_eq!(client.conn.open_streams(), 0);
}

#[test]
fn s8_1_the_reset_waits_for_the_end_stream_to_be_written() {
    let mut client =
        Client::connected_with(milpa_h2::Config::default(), frames::settings().initial_window_size(10));
    client.send(frames::headers(1).request("POST", "/"));
    client.take_events();
    client.respond(1, 200, false);
    client.respond_data(1, b"twenty bytes of body", true);
    client.conn.stop_receiving(sid(1));
    client.pump();
    let frames = client.take_frames();
    assert!(!frames.iter().any(|f| matches!(f, Out::Reset { .. })), "the body is still held: {frames:?}");
    client.send(frames::window_update(1, 10));
    let frames = client.take_frames();
    let end = frames.iter().position(|f| matches!(f, Out::Data { end_stream: true, .. }));
    let reset = frames.iter().position(|f| *f == Out::Reset { stream: 1, reason: Reason::NO_ERROR });
    assert!(end.is_some() && reset > end, "the last DATA, then the reset: {frames:?}");
}

#[test]
fn s8_1_a_request_that_ended_is_not_reset() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/"));
    client.send(frames::data(1, "all of it").eos());
    client.take_events();
    client.respond(1, 200, true);
    client.conn.stop_receiving(sid(1));
    client.pump();
    let frames = client.take_frames();
    assert!(!frames.iter().any(|f| matches!(f, Out::Reset { .. })), "{frames:?}");
}

#[test]
fn s8_1_1_content_length_larger_than_the_data_is_malformed() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/").field("content-length", "10"));
    client.send(frames::data(1, "short").eos());
    client.expect_reset(1, Reason::PROTOCOL_ERROR);
}

#[test]
fn s8_1_1_data_beyond_the_content_length_is_malformed() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/").field("content-length", "4"));
    client.send(frames::data(1, "abc"));
    client.send(frames::data(1, "de"));
    client.expect_reset(1, Reason::PROTOCOL_ERROR);
}

#[test]
fn s8_1_1_content_length_with_trailers_is_checked() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/").field("content-length", "4"));
    client.send(frames::data(1, "abc"));
    client.send(frames::headers(1).field("x", "y").eos());
    client.expect_reset(1, Reason::PROTOCOL_ERROR);
}

#[test]
fn s8_1_1_nonzero_content_length_without_a_body_is_malformed() {
    assert_malformed(
        frames::headers(1).request("POST", "/").field("content-length", "3").eos(),
        Malformed::ContentLengthMismatch,
    );
}

#[test]
fn s8_1_1_invalid_content_length_is_malformed() {
    assert_malformed(get().field("content-length", "ten"), Malformed::InvalidContentLength);
    assert_malformed(
        get().field("content-length", "1").field("content-length", "2"),
        Malformed::InvalidContentLength,
    );
}

#[test]
fn s8_1_1_matching_content_length_passes() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("POST", "/").field("content-length", "5"));
    client.send(frames::data(1, "ab"));
    client.send(frames::data(1, "cde").eos());
    assert!(client.take_frames().is_empty());
    assert_eq!(client.take_events().len(), 3);
}

// ----- §8.2 HTTP fields ------------------------------------------------------------------------

#[test]
fn s8_2_1_uppercase_field_name_is_malformed() {
    assert_malformed(get().field("X-Upper", "1"), Malformed::UppercaseName);
}

#[test]
fn s8_2_1_empty_field_name_is_malformed() {
    assert_malformed(get().field("", "value"), Malformed::EmptyName);
}

#[test]
fn s8_2_1_field_name_with_invalid_characters_is_malformed() {
    assert_malformed(get().field("x y", "1"), Malformed::InvalidName);
    assert_malformed(get().field_bytes(b"x:y", b"1"), Malformed::InvalidName);
}

#[test]
fn s8_2_1_field_value_with_cr_lf_or_nul_is_malformed() {
    assert_malformed(get().field("x", "a\r\nb"), Malformed::InvalidValue);
    assert_malformed(get().field_bytes(b"x", b"a\0b"), Malformed::InvalidValue);
}

#[test]
fn s8_2_1_field_value_with_surrounding_whitespace_is_malformed() {
    assert_malformed(get().field("x", " padded"), Malformed::InvalidValue);
    assert_malformed(get().field("x", "padded\t"), Malformed::InvalidValue);
}

#[test]
fn s8_2_2_connection_specific_fields_are_malformed() {
    for name in ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"] {
        assert_malformed(get().field(name, "x"), Malformed::ConnectionSpecific);
    }
}

#[test]
fn s8_2_2_te_other_than_trailers_is_malformed() {
    assert_malformed(get().field("te", "gzip"), Malformed::InvalidTe);
    let mut client = Client::connected();
    client.send(get().field("te", "trailers"));
    assert_eq!(client.requests(), [1]);
}

// ----- §8.3 HTTP control data ----------------------------------------------------------------

#[test]
fn s8_3_unknown_pseudo_header_is_malformed() {
    assert_malformed(get().field(":foo", "bar"), Malformed::UnknownPseudoHeader);
}

#[test]
fn s8_3_response_pseudo_header_in_a_request_is_malformed() {
    assert_malformed(get().field(":status", "200"), Malformed::UnknownPseudoHeader);
}

#[test]
fn s8_3_pseudo_header_after_a_regular_field_is_malformed() {
    let headers = frames::headers(1)
        .field(":method", "GET")
        .field(":scheme", "https")
        .field("accept", "*/*")
        .field(":path", "/")
        .eos();
    assert_malformed(headers, Malformed::PseudoHeaderAfterRegular);
}

#[test]
fn s8_3_1_duplicated_pseudo_headers_are_malformed() {
    for name in [":method", ":scheme", ":path", ":authority"] {
        let headers = frames::headers(1).request("GET", "/").field(name, "x").eos();
        assert_malformed(headers, Malformed::DuplicatePseudoHeader);
    }
}

#[test]
fn s8_3_1_missing_pseudo_headers_are_malformed() {
    let no_method = frames::headers(1).field(":scheme", "https").field(":path", "/").eos();
    assert_malformed(no_method, Malformed::MissingPseudoHeader);
    let no_scheme = frames::headers(1).field(":method", "GET").field(":path", "/").eos();
    assert_malformed(no_scheme, Malformed::MissingPseudoHeader);
    let no_path = frames::headers(1).field(":method", "GET").field(":scheme", "https").eos();
    assert_malformed(no_path, Malformed::MissingPseudoHeader);
}

#[test]
fn s8_3_1_empty_path_is_malformed() {
    assert_malformed(frames::headers(1).request("GET", "").eos(), Malformed::InvalidPath);
    assert_malformed(frames::headers(1).request("GET", "no-slash").eos(), Malformed::InvalidPath);
    assert_malformed(frames::headers(1).request("GET", "*").eos(), Malformed::InvalidPath);
}

#[test]
fn s8_3_1_asterisk_path_for_options_is_valid() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("OPTIONS", "*").eos());
    assert_eq!(client.requests(), [1]);
}

#[test]
fn s8_3_1_invalid_method_is_malformed() {
    assert_malformed(frames::headers(1).request("GE T", "/").eos(), Malformed::InvalidMethod);
}

#[test]
fn s8_3_1_host_disagreeing_with_authority_is_malformed() {
    assert_malformed(get().field("host", "evil.example"), Malformed::HostMismatch);
    let mut client = Client::connected();
    client.send(get().field("host", "EXAMPLE.com"));
    assert_eq!(client.requests(), [1]);
}

#[test]
fn s8_3_1_authority_is_optional() {
    let mut client = Client::connected();
    client
        .send(frames::headers(1).field(":method", "GET").field(":scheme", "https").field(":path", "/").eos());
    let events = client.take_events();
    assert!(matches!(&events[..], [Event::Request { request, .. }] if request.authority().is_none()));
}

// ----- §8.4 server push (from the client) -------------------------------------------------

#[test]
fn s8_4_push_promise_from_a_client_is_a_protocol_error() {
    let mut client = Client::connected();
    client.send(frames::headers(1).request("GET", "/").eos());
    client.send(frames::push_promise(1, 2));
    assert_eq!(*client.expect_goaway(Reason::PROTOCOL_ERROR).unwrap().kind(), ErrorKind::PushPromise);
}

// ----- §8.5 CONNECT ------------------------------------------------------------------------

#[test]
fn s8_5_connect_carries_data_both_ways() {
    let mut client = Client::connected();
    client.send(frames::headers(1).field(":method", "CONNECT").field(":authority", "db.internal:5432"));
    let events = client.take_events();
    let [Event::Request { request, end_stream: false, .. }] = &events[..] else { panic!("{events:?}") };
    assert_eq!(request.method(), http::Method::CONNECT);
    assert_eq!((request.path(), request.scheme()), (None, None));
    client.respond(1, 200, false);
    client.send(frames::data(1, "ping"));
    client.respond_data(1, b"pong", false);
    let frames = client.take_frames();
    assert_eq!(frames[1], Out::Data { stream: 1, data: Bytes::from_static(b"pong"), end_stream: false });
    assert!(matches!(&client.take_events()[..], [Event::Data { .. }]));
}

#[test]
fn s8_5_connect_with_scheme_or_path_is_malformed() {
    let connect =
        frames::headers(1).field(":method", "CONNECT").field(":authority", "x:1").field(":path", "/");
    assert_malformed(connect, Malformed::ConnectWithSchemeOrPath);
}

#[test]
fn s8_5_connect_without_authority_is_malformed() {
    assert_malformed(frames::headers(1).field(":method", "CONNECT"), Malformed::MissingPseudoHeader);
}

// ----- RFC 8441 extended CONNECT -------------------------------------------------------------

fn websocket(stream: u32) -> frames::HeadersSpec {
    frames::headers(stream)
        .field(":method", "CONNECT")
        .field(":protocol", "websocket")
        .field(":scheme", "https")
        .field(":path", "/chat")
        .field(":authority", "example.com")
        .field("sec-websocket-version", "13")
}

#[test]
fn rfc8441_setting_is_announced_only_when_enabled() {
    for enabled in [false, true] {
        let mut client = Client::with_config(config(|c| c.enable_connect_protocol = enabled));
        client.pump();
        let frames = client.take_frames();
        let Out::Settings(settings) = &frames[0] else { panic!() };
        assert_eq!(settings.enable_connect_protocol, enabled.then_some(true));
    }
}

#[test]
fn rfc8441_protocol_without_the_setting_is_malformed() {
    assert_malformed(websocket(1), Malformed::UnexpectedProtocol);
}

#[test]
fn rfc8441_protocol_on_another_method_is_malformed() {
    let mut client = Client::connected_with(config(|c| c.enable_connect_protocol = true), frames::settings());
    client.send(get().field(":protocol", "websocket"));
    client.expect_reset(1, Reason::PROTOCOL_ERROR);
}

#[test]
fn rfc8441_websocket_stream_carries_data_both_ways() {
    let mut client = Client::connected_with(config(|c| c.enable_connect_protocol = true), frames::settings());
    client.send(websocket(1));
    let events = client.take_events();
    let [Event::Request { request, end_stream: false, .. }] = &events[..] else { panic!("{events:?}") };
    assert_eq!(request.protocol(), Some(&b"websocket"[..]));
    assert_eq!(request.path(), Some(&b"/chat"[..]));
    client.respond(1, 200, false);
    for round in 0..3 {
        client.send(frames::data(1, format!("frame {round}")));
        client.respond_data(1, format!("echo {round}").as_bytes(), false);
    }
    let data_events = client.take_events().iter().filter(|e| matches!(e, Event::Data { .. })).count();
    assert_eq!(data_events, 3);
    assert_eq!(Client::data_frames(&client.take_frames(), 1).len(), 3);
    // Closing: both sides end the stream.
    client.send(frames::data(1, "").eos());
    client.respond_data(1, b"", true);
    assert_eq!(client.conn.open_streams(), 0);
}

#[test]
fn rfc8441_extended_connect_needs_scheme_path_and_authority() {
    let mut client = Client::connected_with(config(|c| c.enable_connect_protocol = true), frames::settings());
    client.send(
        frames::headers(1)
            .field(":method", "CONNECT")
            .field(":protocol", "websocket")
            .field(":authority", "x"),
    );
    client.expect_reset(1, Reason::PROTOCOL_ERROR);
}
