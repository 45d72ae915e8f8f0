//! Raw bytes as a WebSocket client's frames, fed to a server connection (with and
//! without permessage-deflate) whole and split at arbitrary points: no panic, the
//! same events either way, bounded buffering, and an error always queues a Close.
#![no_main]

use libfuzzer_sys::fuzz_target;
use milpa_ws::{Config, Connection, DeflateConfig, Event, Role};

const MAX_MESSAGE: usize = 64 * 1024;

/// Runs `pieces` through a fresh server; returns its events and what it wrote.
fn run(flags: u8, pieces: &[&[u8]]) -> (Vec<Event>, Vec<u8>) {
    let deflate = (flags & 1 != 0).then(|| DeflateConfig {
        server_no_context_takeover: flags & 2 != 0,
        client_no_context_takeover: flags & 4 != 0,
        server_max_window_bits: 8 + ((flags >> 3) & 7),
        client_max_window_bits: 15,
    });
    let mut config = Config::default();
    config.max_message_size = MAX_MESSAGE;
    config.max_frame_size = 32 * 1024;
    config.compress_min_size = usize::from(flags >> 6) * 16;
    let mut conn = Connection::new(Role::Server, config, deflate);
    let mut events = Vec::new();
    let mut wire = Vec::new();
    let mut out = Vec::new();
    for piece in pieces {
        conn.receive(piece);
        while let Some(event) = conn.poll_event() {
            // Echo messages back, exercising the compressor.
            match &event {
                Event::Text(t) => {
                    let _ = conn.send_text(t);
                }
                Event::Binary(b) => {
                    let _ = conn.send_binary(b);
                }
                _ => {}
            }
            if let Event::Error { code, .. } = event {
                assert!(matches!(code, 1002 | 1007 | 1009), "unexpected code {code}");
            }
            events.push(event);
        }
        assert!(
            conn.buffered_input() <= MAX_MESSAGE + 1 + 16 * 1024 + 256,
            "unbounded input buffering: {}",
            conn.buffered_input()
        );
        let n = conn.poll_transmit(&mut out);
        assert_eq!(n, out.iter().map(|b| b.len()).sum::<usize>());
        for b in out.drain(..) {
            wire.extend_from_slice(&b);
        }
        assert_eq!(conn.buffered_output(), 0);
    }
    if events.iter().any(|e| matches!(e, Event::Error { .. })) {
        assert!(
            conn.is_closed(),
            "an error must leave the connection closed once flushed"
        );
        // A Close frame (opcode 8, unmasked) went out.
        assert!(wire.contains(&0x88), "error without a Close frame");
    }
    (events, wire)
}

fuzz_target!(|input: (u8, Vec<u8>, Vec<u8>)| {
    let (flags, data, seed) = input;
    let (whole_events, _) = run(flags, &[&data]);
    // Split at points chosen by `seed`.
    let mut pieces = Vec::new();
    let mut rest = data.as_slice();
    for &s in &seed {
        if rest.is_empty() {
            break;
        }
        let at = usize::from(s).min(rest.len());
        let (a, b) = rest.split_at(at);
        pieces.push(a);
        rest = b;
    }
    pieces.push(rest);
    let (split_events, _) = run(flags, &pieces);
    assert_eq!(whole_events, split_events);
    for event in &whole_events {
        match event {
            Event::Text(t) => assert!(t.len() <= MAX_MESSAGE),
            Event::Binary(b) => assert!(b.len() <= MAX_MESSAGE),
            _ => {}
        }
    }
});
