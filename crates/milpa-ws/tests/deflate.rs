//! permessage-deflate: round trips, context takeover, window bits, limits.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;
use flate2::{Compress, Compression, FlushCompress};
use milpa_ws::{Config, Connection, DeflateConfig, Event, Role};

fn pair(deflate: Option<DeflateConfig>) -> (Connection, Connection) {
    (
        Connection::new(Role::Client, Config::default(), deflate),
        Connection::new(Role::Server, Config::default(), deflate),
    )
}

/// Moves everything `from` wrote into `to`; returns the raw frames.
fn pump(from: &mut Connection, to: &mut Connection) -> Vec<u8> {
    let wire = transmit(from);
    to.receive(&wire);
    wire
}

fn sample(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| b"the quick brown fox jumps over the lazy dog "[(i * 7 + i / 29 + seed) % 44]).collect()
}

fn configs() -> Vec<Option<DeflateConfig>> {
    let d = DeflateConfig::default();
    let mut v = vec![None, Some(d)];
    for (snct, cnct) in [(true, false), (false, true), (true, true)] {
        v.push(Some(DeflateConfig {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            ..d
        }));
    }
    for bits in [8, 9, 10, 12, 14, 15] {
        v.push(Some(DeflateConfig { server_max_window_bits: bits, client_max_window_bits: bits, ..d }));
        v.push(Some(DeflateConfig {
            server_max_window_bits: bits,
            server_no_context_takeover: true,
            client_max_window_bits: 23 - bits,
            ..d
        }));
    }
    v
}

const SIZES: &[usize] = &[0, 1, 63, 64, 125, 126, 255, 256, 257, 1000, 4096, 65535, 65536, 200_000];

#[test]
fn round_trip_every_config_both_ways() {
    for deflate in configs() {
        let (mut client, mut server) = pair(deflate);
        for (i, &n) in SIZES.iter().enumerate() {
            let data = sample(n, i);
            let text = String::from_utf8(data.clone()).unwrap();
            // Twice each, so context takeover is exercised.
            for _ in 0..2 {
                client.send_binary(&data).unwrap();
                client.send_text(&text).unwrap();
                pump(&mut client, &mut server);
                assert_eq!(
                    events(&mut server),
                    vec![Event::Binary(Bytes::from(data.clone())), Event::Text(text.clone())],
                    "{deflate:?} size {n}"
                );
                server.send_binary(&data).unwrap();
                server.send_text(&text).unwrap();
                pump(&mut server, &mut client);
                assert_eq!(
                    events(&mut client),
                    vec![Event::Binary(Bytes::from(data.clone())), Event::Text(text.clone())],
                    "{deflate:?} size {n}"
                );
            }
        }
    }
}

#[test]
fn compression_actually_happens() {
    let (mut client, mut server) = pair(Some(DeflateConfig::default()));
    let data = sample(10_000, 0);
    server.send_binary(&data).unwrap();
    let wire = pump(&mut server, &mut client);
    let frames = parse_frames(&wire);
    assert_eq!(frames[0].0, 0x80 | 0x40 | BINARY, "RSV1 set");
    assert!(wire.len() < 2_000, "{}", wire.len());
    // Tiny messages are not compressed.
    server.send_text("hi").unwrap();
    let frames = parse_frames(&pump(&mut server, &mut client));
    assert_eq!(frames[0], (0x80 | TEXT, b"hi".to_vec()));
    assert_eq!(events(&mut client).len(), 2);
}

#[test]
fn context_takeover_is_respected() {
    let data = sample(5_000, 3);
    let sizes = |cfg: DeflateConfig| {
        let (mut client, mut server) = pair(Some(cfg));
        let mut sizes = Vec::new();
        for _ in 0..3 {
            server.send_binary(&data).unwrap();
            sizes.push(pump(&mut server, &mut client).len());
        }
        assert_eq!(events(&mut client).len(), 3);
        sizes
    };
    let with = sizes(DeflateConfig::default());
    assert!(with[1] < with[0] && with[2] < with[0], "{with:?}");
    let without = sizes(DeflateConfig { server_no_context_takeover: true, ..DeflateConfig::default() });
    assert_eq!(without[0], without[1]);
    assert_eq!(without[1], without[2]);
}

#[test]
fn small_window_sends_long_messages_as_stored_blocks() {
    // A message longer than the peer's window is still compressed (RSV1) but with
    // stored blocks only: no back-reference, so any window reads it. Its payload is
    // then at least as long as the message; a short one is really compressed.
    let cfg = DeflateConfig { server_max_window_bits: 8, ..DeflateConfig::default() };
    let (mut client, mut server) = pair(Some(cfg));
    let sent = [sample(256, 0), sample(257, 0), sample(200, 0), sample(70_000, 1)];
    for message in &sent {
        server.send_binary(message).unwrap();
    }
    let frames = parse_frames(&pump(&mut server, &mut client));
    assert!(frames.iter().all(|frame| frame.0 & 0x40 == 0x40), "all compressed");
    assert!(frames[0].1.len() < 256);
    assert!(frames[1].1.len() >= 257 && frames[3].1.len() >= 70_000, "stored blocks");
    let got: Vec<_> = events(&mut client)
        .into_iter()
        .map(|event| match event {
            Event::Binary(data) => data.to_vec(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, sent);
    // The client's side of the same rule.
    let cfg = DeflateConfig { client_max_window_bits: 9, ..DeflateConfig::default() };
    let (mut client, mut server) = pair(Some(cfg));
    client.send_binary(&sample(512, 0)).unwrap();
    client.send_binary(&sample(513, 0)).unwrap();
    let frames = parse_frames(&pump(&mut client, &mut server));
    assert!(frames[0].1.len() < 512 && frames[1].1.len() >= 513);
    assert_eq!(events(&mut server).len(), 2);
}

/// Raw DEFLATE with a sync flush and the tail stripped, as a peer would send.
fn compress(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::new(6), false);
    let mut out = Vec::with_capacity(data.len() + 1024);
    c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

fn deflate_server(max_message_size: usize) -> Connection {
    let mut config = Config::default();
    config.max_message_size = max_message_size;
    Connection::new(Role::Server, config, Some(DeflateConfig::default()))
}

#[test]
fn fragmented_compressed_message() {
    let text = "Hello, compressed and fragmented world! ".repeat(20);
    let c = compress(text.as_bytes());
    let (a, rest) = c.split_at(c.len() / 3);
    let (b, d) = rest.split_at(rest.len() / 2);
    let mut wire = raw(0x40 | TEXT, a, Some(KEY));
    wire.extend(client_frame(PING, b""));
    wire.extend(raw(CONT, b, Some(KEY)));
    wire.extend(raw(0x80 | CONT, d, Some(KEY)));
    let mut s = deflate_server(1 << 20);
    s.receive(&wire);
    assert_eq!(events(&mut s), vec![Event::Ping(Bytes::new()), Event::Text(text.clone())]);
    // Byte at a time gives the same.
    let mut s = deflate_server(1 << 20);
    let mut ev = Vec::new();
    for b in &wire {
        s.receive(std::slice::from_ref(b));
        ev.extend(events(&mut s));
    }
    assert_eq!(ev, vec![Event::Ping(Bytes::new()), Event::Text(text)]);
}

#[test]
fn compressed_invalid_utf8_fails_fast() {
    let mut payload = b"valid start ".repeat(10);
    payload.extend_from_slice(b"\xf4\x90\x80\x80 and more");
    let c = compress(&payload);
    let mut s = deflate_server(1 << 20);
    // No FIN: the error must come before the message ends.
    s.receive(&raw(0x40 | TEXT, &c, Some(KEY)));
    assert_eq!(error_code(&events(&mut s)), Some(1007));
}

#[test]
fn garbage_compressed_data_is_1007() {
    let mut s = deflate_server(1 << 20);
    s.receive(&raw(0xC0 | BINARY, &[0xff; 20], Some(KEY)));
    assert_eq!(error_code(&events(&mut s)), Some(1007));
    assert_eq!(sent_close_code(&transmit(&mut s)), Some(Some(1007)));
}

#[test]
fn compressed_empty_message() {
    let mut s = deflate_server(1 << 20);
    s.receive(&raw(0xC0 | TEXT, &[0x00], Some(KEY)));
    s.receive(&raw(0xC0 | BINARY, &[], Some(KEY)));
    assert_eq!(events(&mut s), vec![Event::Text(String::new()), Event::Binary(Bytes::new())]);
}

#[test]
fn inflated_size_limit() {
    let data = vec![b'a'; 5000];
    let c = compress(&data);
    let mut s = deflate_server(4999);
    s.receive(&raw(0xC0 | BINARY, &c, Some(KEY)));
    assert_eq!(error_code(&events(&mut s)), Some(1009));
    let mut s = deflate_server(5000);
    s.receive(&raw(0xC0 | BINARY, &c, Some(KEY)));
    assert_eq!(events(&mut s), vec![Event::Binary(Bytes::from(data))]);
}

#[test]
fn deflate_bomb_is_stopped_early() {
    // 1 MiB of zeros, sync-flushed (tail kept): repeating it gives a valid
    // stream of 100 MiB; the last tail is stripped as a sender does.
    let mut unit = compress(&vec![0u8; 1 << 20]);
    unit.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut bomb: Vec<u8> = unit.iter().copied().cycle().take(unit.len() * 100).collect();
    bomb.truncate(bomb.len() - 4);
    // Sanity: the bomb really inflates to 100 MiB when allowed to.
    let mut big = deflate_server(usize::MAX / 2);
    big.receive(&raw(0xC0 | BINARY, &bomb, Some(KEY)));
    match events(&mut big).as_slice() {
        [Event::Binary(b)] => assert_eq!(b.len(), 100 << 20),
        other => panic!("{:?}", other.len()),
    }
    drop(big);
    let limit = 16 << 20;
    let mut s = deflate_server(limit);
    let wire = raw(0xC0 | BINARY, &bomb, Some(KEY));
    let mut peak = 0;
    let mut error = None;
    for chunk in wire.chunks(4096) {
        s.receive(chunk);
        peak = peak.max(s.buffered_input());
        if let Some(code) = error_code(&events(&mut s)) {
            error = Some(code);
            break;
        }
    }
    assert_eq!(error, Some(1009));
    assert!(peak <= limit + (1 << 20), "peak {peak}");
    assert_eq!(s.buffered_input(), 0);
    assert_eq!(sent_close_code(&transmit(&mut s)), Some(Some(1009)));
    assert!(s.is_closed());
}

#[test]
fn rsv1_without_deflate_is_1002() {
    let mut s = Connection::new(Role::Server, Config::default(), None);
    s.receive(&raw(0xC0 | BINARY, &compress(b"abc"), Some(KEY)));
    assert_eq!(error_code(&events(&mut s)), Some(1002));
}

#[test]
fn byte_at_a_time_with_deflate() {
    let cfg = Some(DeflateConfig::default());
    let mut client = Connection::new(Role::Client, Config::default(), cfg);
    for i in 0..5 {
        client.send_text(&String::from_utf8(sample(300 * i, i)).unwrap()).unwrap();
        client.send_ping(b"x").unwrap();
    }
    client.close(Some(1000), "done").unwrap();
    let wire = transmit(&mut client);
    let mut whole = Connection::new(Role::Server, Config::default(), cfg);
    whole.receive(&wire);
    let whole_ev = events(&mut whole);
    assert_eq!(whole_ev.len(), 11);
    let mut s = Connection::new(Role::Server, Config::default(), cfg);
    let mut ev = Vec::new();
    for b in &wire {
        s.receive(std::slice::from_ref(b));
        ev.extend(events(&mut s));
    }
    assert_eq!(ev, whole_ev);
}
