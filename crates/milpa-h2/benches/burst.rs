//! A burst of 100 concurrent request streams through the server machine, bytes
//! in to bytes out: preface, SETTINGS, 100 HEADERS, 100 responses with a body.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::StatusCode;
use milpa_h2::frame::{CONNECTION_PREFACE, Frame, HeadersFrame, Settings, SettingsFrame, StreamId};
use milpa_h2::{Config, Connection, Event};
use milpa_hpack::{Encoder, HeaderField};

const STREAMS: u32 = 100;

fn client_bytes() -> Vec<u8> {
    let mut out = BytesMut::new();
    out.extend_from_slice(CONNECTION_PREFACE);
    Frame::from(SettingsFrame::new(Settings::default())).encode(&mut out);
    let mut encoder = Encoder::new();
    for i in 0..STREAMS {
        let fields = [
            HeaderField::new(":method", "GET"),
            HeaderField::new(":scheme", "https"),
            HeaderField::new(":authority", "www.example.com"),
            HeaderField::new(":path", format!("/message/{i}/")),
            HeaderField::new("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0"),
            HeaderField::new("accept", "application/json"),
        ];
        let mut block = BytesMut::new();
        encoder.encode(&fields, &mut block);
        let mut headers = HeadersFrame::new(StreamId::new(2 * i + 1), block.freeze());
        headers.end_stream = true;
        Frame::from(headers).encode(&mut out);
    }
    out.to_vec()
}

fn serve(input: &[u8], now: Instant) -> usize {
    let mut conn = Connection::new(Config::default(), now);
    conn.receive(now, input);
    let body = Bytes::from_static(b"{\"message\": 1}");
    while let Some(event) = conn.poll_event() {
        if let Event::Request { stream, .. } = event {
            let fields = [("content-type", "application/json"), ("server", "milpa")];
            conn.send_response(stream, StatusCode::OK, fields, false).expect("open stream");
            conn.send_data(stream, body.clone(), true).expect("room");
        }
    }
    let mut written = 0;
    while let Some(bytes) = conn.poll_transmit(now) {
        written += bytes.len();
    }
    written
}

fn burst(c: &mut Criterion) {
    let input = client_bytes();
    let now = Instant::now();
    let mut group = c.benchmark_group("h2");
    group.throughput(Throughput::Elements(u64::from(STREAMS)));
    group.bench_function("100_stream_burst", |b| b.iter(|| serve(black_box(&input), now)));
    group.finish();
}

criterion_group!(benches, burst);
criterion_main!(benches);
