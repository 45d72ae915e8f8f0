//! Arbitrary bytes as the compressed payload of a properly framed, masked,
//! RSV1 message (optionally fragmented) sent to a permessage-deflate server with
//! a small message limit: no panic, and nothing inflated past the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use milpa_ws::{Config, Connection, DeflateConfig, Event, Role};

const LIMIT: usize = 4096;
const KEY: [u8; 4] = [0xa5, 0x3c, 0x0f, 0x71];

fn frame(b0: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.push(b0);
    if payload.len() < 126 {
        out.push(0x80 | payload.len() as u8);
    } else if payload.len() < 65536 {
        out.push(0x80 | 126);
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    }
    out.extend_from_slice(&KEY);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
}

fuzz_target!(|input: (u8, u16, Vec<u8>)| {
    let (flags, split, payload) = input;
    let deflate = DeflateConfig {
        client_no_context_takeover: flags & 1 != 0,
        ..DeflateConfig::default()
    };
    let mut config = Config::default();
    config.max_message_size = LIMIT;
    let mut conn = Connection::new(Role::Server, config, Some(deflate));
    let opcode = if flags & 2 != 0 { 0x1 } else { 0x2 };
    let mut wire = Vec::new();
    if flags & 4 != 0 {
        // Two fragments: RSV1 only on the first.
        let at = usize::from(split).min(payload.len());
        frame(0x40 | opcode, &payload[..at], &mut wire);
        frame(0x80, &payload[at..], &mut wire);
    } else {
        frame(0xC0 | opcode, &payload, &mut wire);
    }
    // The same message twice, to exercise context takeover after it.
    let once = wire.clone();
    wire.extend_from_slice(&once);
    let mut out = Vec::new();
    for chunk in wire.chunks(usize::from(split % 997) + 1) {
        conn.receive(chunk);
        assert!(
            conn.buffered_input() <= LIMIT + 1 + 16 * 1024 + 256,
            "input buffering past the limit: {}",
            conn.buffered_input()
        );
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Text(t) => assert!(t.len() <= LIMIT),
                Event::Binary(b) => assert!(b.len() <= LIMIT),
                Event::Error { code, .. } => assert!(matches!(code, 1002 | 1007 | 1009)),
                _ => {}
            }
        }
        conn.poll_transmit(&mut out);
        out.clear();
    }
});
