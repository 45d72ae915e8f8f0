//! Parsing throughput: one typical browser request, and a burst of 100 pipelined
//! requests answered as they come, bytes in to bytes out.

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::StatusCode;
use milpa_h1::{Config, Connection, Event};

const BROWSER_REQUEST: &[u8] = b"GET /static/js/app.4f3c2a.js HTTP/1.1\r\n\
Host: www.example.com\r\n\
Connection: keep-alive\r\n\
sec-ch-ua: \"Chromium\";v=\"130\", \"Not?A_Brand\";v=\"99\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
Accept: */*\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-Mode: no-cors\r\n\
Sec-Fetch-Dest: script\r\n\
Referer: https://www.example.com/\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Cookie: session=8f1e2d3c4b5a69788796a5b4c3d2e1f0; theme=dark\r\n\r\n";

const BODY: Bytes = Bytes::from_static(b"{\"message\": 1}");

/// Feeds `input` and answers every request; returns bytes written.
fn serve(input: &[u8], now: Instant) -> usize {
    let mut config = Config::default();
    config.max_requests_per_connection = None;
    let mut conn = Connection::new(config, now);
    conn.receive(now, input);
    let mut written = 0;
    while let Some(event) = conn.poll_event() {
        if let Event::EndOfMessage { .. } = event {
            conn.send_response(
                StatusCode::OK,
                [("content-type", "application/json")],
                Some(BODY.len() as u64),
            )
            .expect("valid response");
            conn.send_data(BODY).expect("within length");
            conn.send_end(None::<(&str, &str)>).expect("complete");
            while let Some(bytes) = conn.poll_transmit(now) {
                written += bytes.len();
            }
        }
    }
    written
}

fn parse(c: &mut Criterion) {
    let now = Instant::now();
    let mut group = c.benchmark_group("h1");
    group.throughput(Throughput::Bytes(BROWSER_REQUEST.len() as u64));
    group.bench_function("browser_request", |b| b.iter(|| serve(black_box(BROWSER_REQUEST), now)));
    let burst = BROWSER_REQUEST.repeat(100);
    group.throughput(Throughput::Bytes(burst.len() as u64));
    group.bench_function("pipelined_100", |b| b.iter(|| serve(black_box(&burst), now)));
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
