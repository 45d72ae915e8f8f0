//! HPACK micro-benchmarks: encoding a repeated response header set (the server's hot path)
//! and decoding a typical browser request.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, criterion_group, criterion_main};
use milpa_hpack::{Decoder, Encoder, HeaderField};

fn response() -> Vec<HeaderField> {
    vec![
        HeaderField::new(":status", "200"),
        HeaderField::new("content-type", "application/json"),
        HeaderField::new("server", "milpa"),
        HeaderField::new("date", "Tue, 26 Nov 2024 16:42:00 GMT"),
        HeaderField::new("content-length", "1234"),
        HeaderField::new("cache-control", "no-store"),
    ]
}

fn request() -> Vec<HeaderField> {
    vec![
        HeaderField::new(":method", "GET"),
        HeaderField::new(":scheme", "https"),
        HeaderField::new(":authority", "www.example.com"),
        HeaderField::new(":path", "/api/v1/items?page=3"),
        HeaderField::new(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        ),
        HeaderField::new("accept", "application/json, text/plain, */*"),
        HeaderField::new("accept-language", "en-US,en;q=0.5"),
        HeaderField::new("accept-encoding", "gzip, deflate, br, zstd"),
        HeaderField::new("cookie", "session=6b1c1f0e2d7a4c9bb0f5d1e3a2c4b6d8; theme=dark"),
    ]
}

fn encode(c: &mut Criterion) {
    let fields = response();
    let mut encoder = Encoder::new();
    let mut buf = BytesMut::with_capacity(4096);
    c.bench_function("encode repeated response", |b| {
        b.iter(|| {
            buf.clear();
            encoder.encode(black_box(&fields), &mut buf);
            black_box(buf.len())
        })
    });
}

fn decode(c: &mut Criterion) {
    let fields = request();
    // The first block (literals, Huffman) and a warmed-up one: by the third block every
    // field is indexed (`:path` is admitted on its second sight), so decoding it again and
    // again leaves the table unchanged.
    let mut encoder = Encoder::new();
    let mut buf = BytesMut::new();
    encoder.encode(&fields, &mut buf);
    let first = buf.split().freeze();
    encoder.encode(&fields, &mut buf);
    let second = buf.split().freeze();
    encoder.encode(&fields, &mut buf);
    let third = buf.split().freeze();
    assert_eq!(third.len(), fields.len());

    let mut out = Vec::with_capacity(16);
    c.bench_function("decode request (cold table)", |b| {
        b.iter(|| {
            let mut decoder = Decoder::new();
            out.clear();
            let outcome = decoder.decode(black_box(&first), &mut out);
            black_box(outcome.is_ok())
        })
    });
    let mut decoder = Decoder::new();
    for block in [&first, &second] {
        out.clear();
        let _ = decoder.decode(block, &mut out);
    }
    c.bench_function("decode request (warm table)", |b| {
        b.iter(|| {
            out.clear();
            let outcome = decoder.decode(black_box(&third), &mut out);
            black_box(outcome.is_ok())
        })
    });
}

fn huffman(c: &mut Criterion) {
    // One never-indexed field with a 1 KiB value: dominated by Huffman decoding.
    let value: String = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        .repeat(15)
        .chars()
        .take(1024)
        .collect();
    let field = [HeaderField::sensitive("user-agent", value)];
    let mut buf = BytesMut::new();
    Encoder::new().encode(&field, &mut buf);
    let block = buf.split().freeze();
    let mut decoder = Decoder::new();
    let mut out = Vec::with_capacity(1);
    c.bench_function("decode 1 KiB Huffman value", |b| {
        b.iter(|| {
            out.clear();
            let outcome = decoder.decode(black_box(&block), &mut out);
            black_box(outcome.is_ok())
        })
    });
    let mut encoder = Encoder::new();
    c.bench_function("encode 1 KiB Huffman value", |b| {
        b.iter(|| {
            buf.clear();
            encoder.encode(black_box(&field), &mut buf);
            black_box(buf.len())
        })
    });
}

/// Every `wire` of the nghttp2 stories of the shared test vectors, story by story
/// (each with a fresh decoder, as the stories share context only within themselves).
fn nghttp2_stories() -> Vec<Vec<Vec<u8>>> {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = manifest
        .ancestors()
        .map(|a| a.join("shared/testdata/hpack-test-case/nghttp2"))
        .find(|p| p.is_dir())
        .expect("shared/testdata/hpack-test-case/nghttp2 next to the repository");
    let mut stories = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable test data") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("story");
        let story: serde_json::Value = serde_json::from_str(&text).expect("json");
        let cases = story["cases"].as_array().expect("cases");
        let wires = cases
            .iter()
            .filter_map(|case| case["wire"].as_str())
            .map(|hex| {
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                    .collect()
            })
            .collect();
        stories.push(wires);
    }
    stories
}

fn decode_stories(c: &mut Criterion) {
    let stories = nghttp2_stories();
    let bytes: usize = stories.iter().flatten().map(Vec::len).sum();
    let mut group = c.benchmark_group("hpack");
    group.throughput(criterion::Throughput::Bytes(bytes as u64));
    group.bench_function("decode_nghttp2_stories", |b| {
        b.iter(|| {
            let mut fields = Vec::new();
            for story in &stories {
                let mut decoder = Decoder::new();
                for wire in story {
                    fields.clear();
                    let _ = black_box(decoder.decode_slice(wire, &mut fields));
                }
            }
        })
    });
    group.finish();
}

criterion_group!(benches, encode, decode, huffman, decode_stories);
criterion_main!(benches);
