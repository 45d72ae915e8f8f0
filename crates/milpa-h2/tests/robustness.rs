//! Randomized scripts (a seeded generator, no external fuzzer): arbitrary frame sequences
//! and raw bytes against a server whose application answers at random. The properties: no
//! panic, bounded memory, and every connection error ends in a GOAWAY carrying its code.

mod support;

use bytes::Bytes;
use http::StatusCode;
use milpa_h2::frame::{Reason, kind};
use milpa_h2::{Event, Priority};
use support::{Client, Out, frames, sid};

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Mostly plausible traffic on the streams opened so far, with a small share of mistakes.
struct Script {
    next: u32,
}

impl Script {
    fn stream(&mut self, rng: &mut Rng) -> u32 {
        match rng.below(40) {
            0 => rng.pick(&[0, 2, 4, self.next + 2]),
            _ => self.next.saturating_sub(2 + 2 * rng.below(3) as u32).max(1),
        }
    }

    fn frame(&mut self, rng: &mut Rng, client: &mut Client) -> Vec<u8> {
        let stream = self.stream(rng);
        let roll = if self.next == 1 { 0 } else { rng.below(100) };
        match roll {
            0..=24 => {
                let stream = if rng.below(10) == 0 { stream } else { self.next };
                self.next = self.next.max(stream) + 2;
                let mut headers =
                    frames::headers(stream).request(rng.pick(&["GET", "POST", "CONNECT"]), "/x");
                if rng.below(6) == 0 {
                    headers = headers.field(rng.pick(&["te", "Bad", "", "content-length", "priority"]), "3");
                }
                if rng.below(2) == 0 {
                    headers = headers.eos();
                }
                if rng.below(6) == 0 {
                    headers = headers.continuations(rng.below(7) as usize);
                }
                if rng.below(30) == 0 {
                    headers = headers.no_end_headers();
                }
                client.encode(headers)
            }
            25..=49 | 94..=98 => {
                let len = rng.pick(&[0usize, 1, 100, 16_384]);
                let mut data = frames::data(stream, vec![b'd'; len]);
                if rng.below(3) == 0 {
                    data = data.eos();
                }
                if rng.below(5) == 0 {
                    data = data.padded(rng.below(256) as u8);
                }
                client.encode(data)
            }
            50..=56 => client.encode(frames::reset(stream).cancel()),
            57..=66 => client.encode(frames::window_update(stream, 1 + rng.below(1 << 20) as u32)),
            67..=72 => client.encode(frames::ping(&rng.next().to_be_bytes())),
            73..=76 => client.encode(frames::settings().initial_window_size(rng.below(1 << 20) as u32)),
            77..=82 => client.encode(frames::priority(stream, rng.pick(&[0, 1, stream]))),
            83..=88 => client.encode(frames::priority_update(stream, rng.pick(&["u=0", "u=7, i", "?"]))),
            89 => client.encode(frames::continuation(stream, &[0x82, 0x84], rng.below(2) == 0)),
            90..=91 => client.encode(frames::goaway(stream, Reason::NO_ERROR)),
            92..=93 => {
                let kinds = [kind::DATA, kind::PRIORITY, kind::RST_STREAM, kind::WINDOW_UPDATE, 0x20];
                let len = rng.below(12) as usize;
                let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                frames::raw(rng.pick(&kinds), rng.next() as u8, stream, &payload)
            }
            _ => (0..rng.below(40)).map(|_| rng.next() as u8).collect(),
        }
    }
}

/// The application: answers, streams, pushes, resets and consumes at random.
fn play_app(rng: &mut Rng, client: &mut Client, events: &[Event]) {
    for event in events {
        match event {
            Event::Request { stream, .. } => match rng.below(4) {
                0 => {
                    let _ = client.conn.send_response(*stream, StatusCode::OK, [("x", "y")], true);
                }
                1 => {
                    let _ = client.conn.send_response(*stream, StatusCode::OK, [("x", "y")], false);
                    let _ = client.conn.send_data(*stream, Bytes::from(vec![1u8; 70_000]), rng.below(2) == 0);
                }
                2 => {
                    let pushed = [(":method", "GET"), (":scheme", "https"), (":path", "/p")];
                    if let Ok(promised) = client.conn.push_promise(*stream, pushed) {
                        let _ = client.conn.send_response(promised, StatusCode::OK, [("x", "y")], true);
                    }
                }
                _ => {
                    let _ = client.conn.reset(*stream, Reason::CANCEL);
                }
            },
            Event::Data { stream, data, .. } => {
                let _ = client.conn.release_capacity(*stream, data.len());
            }
            Event::Writable { stream } => {
                let _ = client.conn.send_trailers(*stream, [("t", "1")]);
            }
            _ => {}
        }
    }
    if rng.below(50) == 0 {
        client.conn.start_shutdown();
    }
}

fn check(client: &mut Client, seen_errors: &mut Vec<Reason>) {
    let events = client.take_events();
    for event in &events {
        if let Event::ConnectionError(error) = event {
            seen_errors.push(error.reason());
        }
    }
    if let Some(reason) = seen_errors.first() {
        let frames = client.take_frames();
        let goaway = frames.iter().rev().find_map(|f| match f {
            Out::GoAway { reason, .. } => Some(*reason),
            _ => None,
        });
        if !frames.is_empty() || goaway.is_some() {
            assert_eq!(goaway, Some(*reason), "connection error without its GOAWAY: {frames:?}");
        }
        assert!(client.conn.is_finished());
    }
    assert!(client.conn.buffered_bytes() < 2 << 20, "memory: {}", client.conn.buffered_bytes());
    assert!(client.conn.open_streams() <= 200);
}

#[test]
fn random_frame_sequences_never_panic_and_always_end_in_goaway() {
    let mut errors = 0;
    let mut steps = 0;
    let mut requests = 0;
    // `H2_RANDOM_SEEDS=100000 cargo test --release --test robustness` for a longer run.
    let seeds = std::env::var("H2_RANDOM_SEEDS").ok().and_then(|n| n.parse().ok()).unwrap_or(1000u64);
    for seed in 1..=seeds {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut client = Client::connected();
        let mut script = Script { next: 1 };
        let mut seen = Vec::new();
        for _ in 0..200 {
            let wire = script.frame(&mut rng, &mut client);
            client.conn.receive(client.now, &wire);
            let mut events = Vec::new();
            while let Some(event) = client.conn.poll_event() {
                events.push(event);
            }
            play_app(&mut rng, &mut client, &events);
            steps += 1;
            requests += events.iter().filter(|e| matches!(e, Event::Request { .. })).count();
            client.events.extend(events);
            client.pump();
            check(&mut client, &mut seen);
            if client.conn.is_finished() {
                errors += usize::from(!seen.is_empty());
                break;
            }
        }
    }
    // The generator reaches both deep into connections and into many connection errors.
    assert!(
        errors > 200 && requests > 1000 && steps > 5000,
        "errors {errors} requests {requests} steps {steps}"
    );
}

#[test]
fn random_bytes_after_the_preface_never_panic() {
    let seeds = std::env::var("H2_RANDOM_SEEDS").ok().and_then(|n| n.parse().ok()).unwrap_or(300u64);
    for seed in 1..=seeds {
        let mut rng = Rng(seed | 1);
        let mut client = Client::connected();
        let mut seen = Vec::new();
        for _ in 0..20 {
            let len = rng.below(64) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            client.receive(&bytes);
            check(&mut client, &mut seen);
            if client.conn.is_finished() {
                break;
            }
        }
    }
}

#[test]
fn every_valid_priority_value_round_trips() {
    for urgency in 0..=7u8 {
        for incremental in [false, true] {
            let value = format!("u={urgency}{}", if incremental { ", i" } else { "" });
            assert_eq!(Priority::parse(value.as_bytes()), Some(Priority { urgency, incremental }));
        }
    }
    let _ = sid(1);
}
