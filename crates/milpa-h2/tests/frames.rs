//! The frame layer through its public API only: round trips for every frame type, and
//! decoding of hand-written byte vectors that follow the RFC 9113 / RFC 9218 frame layouts
//! (not produced by our encoder).

use bytes::{Bytes, BytesMut};
use milpa_h2::frame::{
    self, CONNECTION_PREFACE, ContinuationFrame, DataFrame, ErrorKind, ErrorScope, Frame, FrameError,
    FrameHeader, GoAwayFrame, HEADER_LEN, HeadersFrame, PingFrame, PriorityFrame, PriorityUpdateFrame,
    PushPromiseFrame, Reason, RstStreamFrame, Settings, SettingsFrame, StreamDependency, StreamId,
    WindowUpdateFrame,
};

/// Reads frames the way a connection does: header, validate, then payload.
fn read_frames(mut wire: Bytes, max_frame_size: u32) -> Vec<Result<Frame, FrameError>> {
    let mut frames = Vec::new();
    while !wire.is_empty() {
        let head: [u8; HEADER_LEN] = wire[..HEADER_LEN].try_into().expect("a whole header");
        let header = frame::decode_header(&head);
        if let Err(err) = header.validate(max_frame_size) {
            frames.push(Err(err));
            break;
        }
        let _ = wire.split_to(HEADER_LEN);
        let payload = wire.split_to(header.length as usize);
        frames.push(Frame::decode(header, payload, max_frame_size));
    }
    frames
}

fn read_one(wire: &[u8]) -> Result<Frame, FrameError> {
    let mut frames = read_frames(Bytes::copy_from_slice(wire), frame::DEFAULT_MAX_FRAME_SIZE);
    assert_eq!(frames.len(), 1, "{frames:?}");
    frames.remove(0)
}

fn encode(frame: &Frame) -> Bytes {
    let mut dst = BytesMut::new();
    frame.encode(&mut dst);
    dst.freeze()
}

fn sid(id: u32) -> StreamId {
    StreamId::new(id)
}

#[test]
fn every_frame_type_round_trips_in_one_stream() {
    let frames: Vec<Frame> = vec![
        SettingsFrame::new(Settings { max_concurrent_streams: Some(100), ..Settings::default() }).into(),
        SettingsFrame::ack().into(),
        HeadersFrame { end_headers: false, ..HeadersFrame::new(sid(1), Bytes::from_static(b"\x82\x87")) }
            .into(),
        ContinuationFrame::new(sid(1), Bytes::from_static(b"\x84"), true).into(),
        DataFrame {
            end_stream: true,
            padding: Some(1),
            ..DataFrame::new(sid(1), Bytes::from_static(b"body"))
        }
        .into(),
        PriorityFrame { stream_id: sid(3), dependency: StreamDependency::DEFAULT }.into(),
        RstStreamFrame::new(sid(3), Reason::REFUSED_STREAM).into(),
        PushPromiseFrame::new(sid(1), sid(2), Bytes::from_static(b"\x82")).into(),
        PingFrame::new([1, 2, 3, 4, 5, 6, 7, 8]).into(),
        WindowUpdateFrame::new(StreamId::ZERO, 65_535).into(),
        PriorityUpdateFrame::new(sid(5), Bytes::from_static(b"u=2")).into(),
        GoAwayFrame::new(sid(5), Reason::NO_ERROR).into(),
        Frame::Unknown { kind: 0xbb, flags: 1, stream_id: sid(9), payload: Bytes::from_static(b"?") },
    ];
    let mut wire = BytesMut::new();
    for frame in &frames {
        frame.encode(&mut wire);
    }
    let decoded: Result<Vec<Frame>, FrameError> =
        read_frames(wire.freeze(), frame::DEFAULT_MAX_FRAME_SIZE).into_iter().collect();
    assert_eq!(decoded.unwrap(), frames);
}

#[test]
fn kind_and_stream_id_of_decoded_frames() {
    let frame = read_one(&encode(&RstStreamFrame::new(sid(7), Reason::CANCEL).into())).unwrap();
    assert_eq!((frame.kind(), frame.stream_id()), (frame::kind::RST_STREAM, sid(7)));
    let frame = read_one(&encode(&PingFrame::new([0; 8]).into())).unwrap();
    assert_eq!((frame.kind(), frame.stream_id()), (frame::kind::PING, StreamId::ZERO));
}

#[test]
fn rfc_client_preface_then_settings() {
    // What a client sends first (RFC 9113 §3.4): the preface, then SETTINGS with
    // MAX_CONCURRENT_STREAMS=100, INITIAL_WINDOW_SIZE=10485760, ENABLE_PUSH=0.
    let mut wire = Vec::from(&b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..]);
    wire.extend_from_slice(&[
        0x00, 0x00, 0x12, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, // length 18, SETTINGS, stream 0
        0x00, 0x03, 0x00, 0x00, 0x00, 0x64, // MAX_CONCURRENT_STREAMS = 100
        0x00, 0x04, 0x00, 0xa0, 0x00, 0x00, // INITIAL_WINDOW_SIZE = 10485760
        0x00, 0x02, 0x00, 0x00, 0x00, 0x00, // ENABLE_PUSH = 0
    ]);
    assert_eq!(&wire[..24], CONNECTION_PREFACE);
    let frame = read_one(&wire[24..]).unwrap();
    let Frame::Settings(settings) = frame else { panic!("{frame:?}") };
    assert!(!settings.is_ack());
    let expected = Settings {
        max_concurrent_streams: Some(100),
        initial_window_size: Some(10_485_760),
        enable_push: Some(false),
        ..Settings::default()
    };
    assert_eq!(*settings.settings(), expected);
}

#[test]
fn rfc_headers_with_every_field() {
    // RFC 9113 §6.2 layout: Pad Length (8), E + Stream Dependency (31), Weight (8),
    // Field Block Fragment, Padding. Flags: END_STREAM | END_HEADERS | PADDED | PRIORITY.
    let wire = [
        0x00, 0x00, 0x0b, 0x01, 0x2d, 0x00, 0x00, 0x00,
        0x03, // length 11, HEADERS, flags 0x2d, stream 3
        0x02, // pad length 2
        0x80, 0x00, 0x00, 0x01, // exclusive, depends on stream 1
        0xff, // weight 256
        0x82, 0x84, 0x87, // :method GET, :path /, :scheme https
        0x00, 0x00, // padding
    ];
    let Frame::Headers(headers) = read_one(&wire).unwrap() else { panic!() };
    assert_eq!(headers.stream_id, sid(3));
    assert_eq!(headers.header_block, Bytes::from_static(b"\x82\x84\x87"));
    assert!(headers.end_stream && headers.end_headers);
    assert_eq!(headers.padding, Some(2));
    assert_eq!(headers.priority, Some(StreamDependency { dependency: sid(1), weight: 255, exclusive: true }));
}

#[test]
fn rfc_data_padded() {
    // RFC 9113 §6.1 layout: Pad Length (8), Data, Padding. Flags: PADDED | END_STREAM.
    let wire = [0x00, 0x00, 0x08, 0x00, 0x09, 0x00, 0x00, 0x00, 0x01, 0x03, b'a', b'b', b'c', b'd', 0, 0, 0];
    let Frame::Data(data) = read_one(&wire).unwrap() else { panic!() };
    assert_eq!((data.stream_id, data.data.as_ref(), data.end_stream), (sid(1), &b"abcd"[..], true));
    assert_eq!(data.flow_controlled_len(), 8);
}

#[test]
fn rfc_fixed_size_frames() {
    // PRIORITY (§6.3), RST_STREAM (§6.4), PING ACK (§6.7), WINDOW_UPDATE (§6.9).
    let priority = [0, 0, 5, 0x02, 0, 0, 0, 0, 5, 0x00, 0x00, 0x00, 0x03, 0x0f];
    let rst = [0, 0, 4, 0x03, 0, 0, 0, 0, 5, 0x00, 0x00, 0x00, 0x08];
    let ping = [0, 0, 8, 0x06, 0x01, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1];
    let window = [0, 0, 4, 0x08, 0, 0, 0, 0, 0, 0x00, 0x01, 0x00, 0x00];
    let decoded: Vec<Frame> =
        [&priority[..], &rst, &ping, &window].iter().map(|w| read_one(w).unwrap()).collect();
    assert_eq!(
        decoded,
        vec![
            PriorityFrame {
                stream_id: sid(5),
                dependency: StreamDependency { dependency: sid(3), weight: 15, exclusive: false }
            }
            .into(),
            RstStreamFrame::new(sid(5), Reason::CANCEL).into(),
            PingFrame { ack: true, payload: [0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1] }.into(),
            WindowUpdateFrame::new(StreamId::ZERO, 65_536).into(),
        ]
    );
}

#[test]
fn rfc_goaway_with_debug_data() {
    // §6.8: R + Last-Stream-ID (31), Error Code (32), Additional Debug Data.
    let wire =
        [0, 0, 0x0b, 0x07, 0, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x00, 0x00, 0x01, b'b', b'y', b'e'];
    let Frame::GoAway(goaway) = read_one(&wire).unwrap() else { panic!() };
    assert_eq!((goaway.last_stream_id, goaway.reason), (sid(13), Reason::PROTOCOL_ERROR));
    assert_eq!(goaway.debug_data, Bytes::from_static(b"bye"));
}

#[test]
fn rfc_push_promise_and_continuation() {
    // §6.6: Pad Length?, R + Promised Stream ID (31), Field Block Fragment, Padding?
    let push = [0, 0, 6, 0x05, 0x00, 0, 0, 0, 1, 0x00, 0x00, 0x00, 0x02, 0x82, 0x84];
    // §6.10: Field Block Fragment only.
    let continuation = [0, 0, 2, 0x09, 0x04, 0, 0, 0, 1, 0x86, 0x41];
    let Frame::PushPromise(push) = read_one(&push).unwrap() else { panic!() };
    assert_eq!((push.stream_id, push.promised_id, push.end_headers), (sid(1), sid(2), false));
    assert_eq!(push.header_block, Bytes::from_static(b"\x82\x84"));
    let frame = read_one(&continuation).unwrap();
    assert_eq!(frame, ContinuationFrame::new(sid(1), Bytes::from_static(b"\x86\x41"), true).into());
}

#[test]
fn rfc9218_priority_update() {
    // RFC 9218 §7.1: type 0x10 on stream 0, R + Prioritized Stream ID (31), Priority Field Value.
    let wire = [0, 0, 7, 0x10, 0, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0x07, b'u', b'=', b'0'];
    let frame = read_one(&wire).unwrap();
    assert_eq!(frame, PriorityUpdateFrame::new(sid(7), Bytes::from_static(b"u=0")).into());
}

#[test]
fn largest_24_bit_frame_decodes_when_allowed() {
    let payload = Bytes::from(vec![0x5a; frame::MAX_MAX_FRAME_SIZE as usize]);
    let wire = encode(&DataFrame::new(sid(1), payload.clone()).into());
    assert_eq!(&wire[..3], [0xff, 0xff, 0xff]);
    let frames = read_frames(wire.clone(), frame::MAX_MAX_FRAME_SIZE);
    assert_eq!(frames, vec![Ok(DataFrame::new(sid(1), payload).into())]);

    let refused = read_frames(wire, frame::DEFAULT_MAX_FRAME_SIZE);
    let err = *refused[0].as_ref().unwrap_err();
    assert_eq!((err.scope(), err.reason()), (ErrorScope::Connection, Reason::FRAME_SIZE_ERROR));
    assert_eq!(err.kind(), ErrorKind::TooLarge { length: frame::MAX_MAX_FRAME_SIZE, max: 16_384 });
}

#[test]
fn frame_decode_checks_the_header_again() {
    let header = FrameHeader::new(frame::kind::PING, 0, sid(1), 8);
    let err = Frame::decode(header, Bytes::from_static(&[0; 8]), frame::DEFAULT_MAX_FRAME_SIZE).unwrap_err();
    assert_eq!((err.reason(), err.kind()), (Reason::PROTOCOL_ERROR, ErrorKind::StreamIdNotZero));
}

#[test]
fn reserved_bit_on_the_wire_is_ignored() {
    // Stream identifier 0x80000001: the reserved bit is set, the stream is 1.
    let wire = [0, 0, 1, 0x00, 0x00, 0x80, 0, 0, 1, b'x'];
    assert_eq!(read_one(&wire).unwrap().stream_id(), sid(1));
    // On stream 0x80000000 a DATA frame is on stream 0: a connection error.
    let wire = [0, 0, 1, 0x00, 0x00, 0x80, 0, 0, 0, b'x'];
    let err = read_one(&wire).unwrap_err();
    assert_eq!((err.is_connection_error(), err.kind()), (true, ErrorKind::StreamIdZero));
}

#[test]
fn stream_error_leaves_the_next_frame_readable() {
    // A PRIORITY frame of length 4 (stream error), then a valid PING.
    let mut wire = vec![0, 0, 4, 0x02, 0, 0, 0, 0, 3, 0, 0, 0, 1];
    wire.extend_from_slice(&[0, 0, 8, 0x06, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    let frames = read_frames(Bytes::from(wire), frame::DEFAULT_MAX_FRAME_SIZE);
    let err = *frames[0].as_ref().unwrap_err();
    assert_eq!(err.stream_id(), Some(sid(3)));
    assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
    assert_eq!(frames[1], Ok(PingFrame::new([1, 2, 3, 4, 5, 6, 7, 8]).into()));
}

#[test]
fn unknown_frame_type_on_any_stream_is_passed_up() {
    let wire = [0, 0, 2, 0xff, 0xff, 0, 0, 0, 0, 0xab, 0xcd];
    let frame = read_one(&wire).unwrap();
    let Frame::Unknown { kind: 0xff, flags: 0xff, stream_id, payload } = frame else { panic!() };
    assert_eq!((stream_id, payload.as_ref()), (StreamId::ZERO, &[0xab, 0xcd][..]));
}

#[test]
fn header_block_fragments_are_slices_of_the_payload() {
    let payload = Bytes::from_static(b"\x01\0\0\0\x03\x0f\x82\x84\0");
    let header = FrameHeader::new(frame::kind::HEADERS, 0x2c, sid(1), 9);
    let Frame::Headers(headers) =
        Frame::decode(header, payload.clone(), frame::DEFAULT_MAX_FRAME_SIZE).unwrap()
    else {
        panic!()
    };
    assert_eq!(headers.header_block.as_ptr(), payload[6..].as_ptr());
    assert_eq!(headers.header_block.len(), 2);
}

#[test]
fn data_header_for_vectored_writes() {
    let frame = DataFrame { end_stream: true, ..DataFrame::new(sid(3), Bytes::from_static(b"payload")) };
    let mut head = BytesMut::new();
    frame.encode_header(&mut head);
    assert_eq!(&head[..], [0, 0, 7, 0x00, 0x01, 0, 0, 0, 3]);
    assert_eq!(frame.header(), frame::decode_header(head[..].try_into().unwrap()));
}

#[test]
fn errors_display_their_scope_and_reason() {
    let err = read_one(&[0, 0, 4, 0x08, 0, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap_err();
    assert_eq!(err.to_string(), "stream 1 error PROTOCOL_ERROR: WINDOW_UPDATE increment of 0");
    let boxed: Box<dyn std::error::Error> = Box::new(err);
    assert!(boxed.to_string().starts_with("stream 1"));
}
