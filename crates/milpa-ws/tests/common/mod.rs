//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use bytes::Bytes;
use milpa_ws::{Connection, Event};

pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CONT: u8 = 0x0;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A raw frame. `bits` is OR-ed into the first byte (0x80 FIN, 0x40 RSV1, ...).
pub fn raw(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![b0];
    let m = if mask.is_some() { 0x80 } else { 0 };
    if payload.len() < 126 {
        out.push(m | payload.len() as u8);
    } else if payload.len() < 65536 {
        out.push(m | 126);
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A masked frame with FIN set, as a client sends.
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw(0x80 | opcode, payload, Some(KEY))
}

pub fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

pub fn transmit(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    let n = conn.poll_transmit(&mut out);
    let flat: Vec<u8> = out.iter().flat_map(|b: &Bytes| b.iter().copied()).collect();
    assert_eq!(n, flat.len());
    flat
}

/// Parses unmasked frames written by a server: (first byte, payload).
pub fn parse_frames(mut wire: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while !wire.is_empty() {
        let b0 = wire[0];
        let masked = wire[1] & 0x80 != 0;
        let (len, mut pos) = match wire[1] & 0x7f {
            126 => (u16::from_be_bytes([wire[2], wire[3]]) as usize, 4),
            127 => (u64::from_be_bytes(wire[2..10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        let mut key = None;
        if masked {
            key = Some([wire[pos], wire[pos + 1], wire[pos + 2], wire[pos + 3]]);
            pos += 4;
        }
        let mut payload = wire[pos..pos + len].to_vec();
        if let Some(k) = key {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= k[i % 4];
            }
        }
        frames.push((b0, payload));
        wire = &wire[pos + len..];
    }
    frames
}

pub fn error_code(events: &[Event]) -> Option<u16> {
    events.iter().find_map(|e| match e {
        Event::Error { code, .. } => Some(*code),
        _ => None,
    })
}

/// The close code of the (single, last) Close frame a server wrote.
pub fn sent_close_code(wire: &[u8]) -> Option<Option<u16>> {
    parse_frames(wire)
        .into_iter()
        .filter(|(b0, _)| b0 & 0x0f == CLOSE)
        .map(|(_, p)| (p.len() >= 2).then(|| u16::from_be_bytes([p[0], p[1]])))
        .next_back()
}
