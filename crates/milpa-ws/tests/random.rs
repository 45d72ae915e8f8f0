//! A cheap stand-in for the fuzz targets: mutated frame streams, fed whole and
//! byte-split, must not panic, must agree, and must stay bounded.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use milpa_ws::{Config, Connection, DeflateConfig, Event, Role};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn run(deflate: Option<DeflateConfig>, pieces: &[&[u8]]) -> Vec<Event> {
    let mut config = Config::default();
    config.max_message_size = 8192;
    config.max_frame_size = 4096;
    let mut conn = Connection::new(Role::Server, config, deflate);
    let mut events = Vec::new();
    for p in pieces {
        conn.receive(p);
        events.extend(std::iter::from_fn(|| conn.poll_event()));
        assert!(conn.buffered_input() <= 8192 + 1 + 16 * 1024 + 256);
        let _ = transmit(&mut conn);
    }
    events
}

#[test]
fn mutated_streams() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut client = Connection::new(Role::Client, Config::default(), Some(DeflateConfig::default()));
    for round in 0..400 {
        let deflate = (round % 2 == 0).then(DeflateConfig::default);
        let mut wire = Vec::new();
        for _ in 0..rng.below(6) + 1 {
            let len = rng.below(600);
            let payload: Vec<u8> = (0..len).map(|i| b"abcde \xce\xba"[(i + rng.below(3)) % 8]).collect();
            match rng.below(5) {
                0 => wire.extend(client_frame(PING, &payload[..len.min(125)])),
                1 => wire.extend(raw(rng.below(256) as u8, &payload, Some(KEY))),
                2 if deflate.is_some() => {
                    client.send_binary(&payload).unwrap();
                    wire.extend(transmit(&mut client));
                }
                _ => wire.extend(client_frame(BINARY, &payload)),
            }
        }
        for _ in 0..rng.below(4) {
            if !wire.is_empty() {
                let i = rng.below(wire.len());
                wire[i] = rng.next() as u8;
            }
        }
        let whole = run(deflate, &[&wire]);
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(run(deflate, &bytes), whole, "round {round}");
        let mut pieces = Vec::new();
        let mut rest = wire.as_slice();
        while !rest.is_empty() {
            let (a, b) = rest.split_at(rng.below(rest.len()) + 1);
            pieces.push(a);
            rest = b;
        }
        assert_eq!(run(deflate, &pieces), whole, "round {round}");
        // A client connection shares the stream (its context must not diverge
        // from the servers we feed): recreate it whenever deflate was off.
        if deflate.is_none() {
            client = Connection::new(Role::Client, Config::default(), Some(DeflateConfig::default()));
        }
    }
}
