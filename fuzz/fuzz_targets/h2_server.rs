//! Structured, arbitrary frame sequences (valid framing, hostile content) against
//! the HTTP/2 server machine: no panic, bounded memory, every connection error
//! answered with a GOAWAY.
#![no_main]

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use http::StatusCode;
use libfuzzer_sys::fuzz_target;
use milpa_h2::frame::{
    CONNECTION_PREFACE, ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame, PriorityFrame,
    Reason, RstStreamFrame, Settings, SettingsFrame, StreamDependency, StreamId,
};
use milpa_h2::{Config, Connection, Event};
use milpa_hpack::{Encoder, HeaderField};

#[derive(Debug, Arbitrary)]
enum Op {
    Request { stream: u8, path: u8, end_stream: bool, extra: Vec<(u8, u8)> },
    RawHeaders { stream: u8, block: Vec<u8>, end_headers: bool, end_stream: bool },
    Continuation { stream: u8, block: Vec<u8>, end_headers: bool },
    Data { stream: u8, len: u16, end_stream: bool },
    Reset { stream: u8, code: u8 },
    WindowUpdate { stream: u8, increment: u32 },
    Settings { window: Option<u32>, frame: Option<u32>, table: Option<u16>, ack: bool },
    Ping { ack: bool },
    Priority { stream: u8, depends_on: u8 },
    GoAway,
    Advance { millis: u16 },
    Respond,
}

const NAMES: [&str; 6] = ["accept", "te", "content-length", "connection", "cookie", "x-custom"];

fn stream(id: u8) -> StreamId {
    StreamId::new(u32::from(id))
}

fuzz_target!(|ops: Vec<Op>| {
    let mut now = Instant::now();
    let mut conn = Connection::new(Config::default(), now);
    let mut encoder = Encoder::new();
    let mut wire = Vec::new();
    let mut open = Vec::new();
    let mut connection_error = false;
    conn.receive(now, CONNECTION_PREFACE);
    let settings = SettingsFrame::new(Settings::default());
    let mut buf = BytesMut::new();
    Frame::from(settings).encode(&mut buf);
    conn.receive(now, &buf);
    for op in ops.into_iter().take(300) {
        let mut buf = BytesMut::new();
        let frame: Option<Frame> = match op {
            Op::Request { stream: id, path, end_stream, extra } => {
                let path = format!("/{path}");
                let mut fields = vec![
                    HeaderField::new(":method", "GET"),
                    HeaderField::new(":scheme", "https"),
                    HeaderField::new(":path", path),
                    HeaderField::new(":authority", "fuzz"),
                ];
                for (name, value) in extra.into_iter().take(20) {
                    fields.push(HeaderField::new(NAMES[usize::from(name) % NAMES.len()], value.to_string()));
                }
                let mut block = BytesMut::new();
                encoder.encode(&fields, &mut block);
                let mut headers = HeadersFrame::new(stream(id), block.freeze());
                headers.end_stream = end_stream;
                Some(headers.into())
            }
            Op::RawHeaders { stream: id, block, end_headers, end_stream } => {
                let mut headers = HeadersFrame::new(stream(id), Bytes::from(block));
                headers.end_headers = end_headers;
                headers.end_stream = end_stream;
                Some(headers.into())
            }
            Op::Continuation { stream: id, block, end_headers } => {
                Some(ContinuationFrame::new(stream(id), Bytes::from(block), end_headers).into())
            }
            Op::Data { stream: id, len, end_stream } => {
                let mut data = DataFrame::new(stream(id), Bytes::from(vec![b'd'; usize::from(len) % 20_000]));
                data.end_stream = end_stream;
                Some(data.into())
            }
            Op::Reset { stream: id, code } => Some(RstStreamFrame::new(stream(id), Reason::new(u32::from(code))).into()),
            Op::WindowUpdate { stream: id, increment } => {
                // Written by hand: the frame layer refuses to encode a zero increment,
                // and a hostile client sends exactly that.
                buf.extend_from_slice(&[0, 0, 4, 0x8, 0, 0, 0, 0, id]);
                buf.extend_from_slice(&(increment & 0x7fff_ffff).to_be_bytes());
                None
            }
            Op::Settings { window, frame, table, ack } => {
                if ack {
                    Some(SettingsFrame::ack().into())
                } else {
                    let mut settings = Settings::default();
                    settings.initial_window_size = window.map(|w| w & 0x7fff_ffff);
                    settings.max_frame_size = frame.map(|f| f.clamp(16_384, (1 << 24) - 1));
                    settings.header_table_size = table.map(u32::from);
                    Some(SettingsFrame::new(settings).into())
                }
            }
            Op::Ping { ack } => {
                let ping = PingFrame::new(*b"fuzzping");
                Some(if ack { ping.pong() } else { ping }.into())
            }
            Op::Priority { stream: id, depends_on } => Some(
                PriorityFrame {
                    stream_id: stream(id),
                    dependency: StreamDependency { dependency: stream(depends_on), weight: 15, exclusive: false },
                }
                .into(),
            ),
            Op::GoAway => Some(GoAwayFrame::new(StreamId::new(0), Reason::NO_ERROR).into()),
            Op::Advance { millis } => {
                now += Duration::from_millis(u64::from(millis));
                conn.handle_timeout(now);
                None
            }
            Op::Respond => {
                for id in open.drain(..) {
                    let _ = conn.send_response(id, StatusCode::OK, [("x", "y")], false);
                    let _ = conn.send_data(id, Bytes::from(vec![b'r'; 70_000]), true);
                }
                None
            }
        };
        if let Some(frame) = frame {
            frame.encode(&mut buf);
        }
        if !buf.is_empty() {
            conn.receive(now, &buf);
        }
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Request { stream, .. } => open.push(stream),
                Event::Data { stream, data, .. } => {
                    let _ = conn.release_capacity(stream, data.len());
                }
                Event::ConnectionError(_) => connection_error = true,
                _ => {}
            }
        }
        while let Some(bytes) = conn.poll_transmit(now) {
            wire.extend_from_slice(&bytes);
        }
        assert!(conn.buffered_bytes() < 64 * 1024 * 1024, "unbounded buffering");
    }
    if connection_error {
        assert!(!wire.is_empty(), "connection error without GOAWAY");
    }
});
