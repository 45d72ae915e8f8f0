//! Arbitrary header lists (and SETTINGS_HEADER_TABLE_SIZE changes) round trip through our
//! encoder and decoder: same names and values, sensitive fields stay never-indexed, both
//! tables stay in lockstep, the encoder's table stays within 4 KiB.
//!
//! Input: repeated ops. `op % 8 == 7`: table size change to `u16 LE`; otherwise a header list
//! of `op % 8 + 1`... fields read from the following bytes (see `field`).
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use milpa_hpack::{DecodeOutcome, Decoder, Encoder, HeaderField, MAX_ENCODER_TABLE_SIZE};

/// Names that exercise the static table and the encoder's policy.
const NAMES: &[&[u8]] = &[
    b":status",
    b":method",
    b":path",
    b":authority",
    b":scheme",
    b"content-type",
    b"content-length",
    b"date",
    b"server",
    b"cookie",
    b"set-cookie",
    b"authorization",
    b"proxy-authorization",
    b"etag",
    b"x-request-id",
    b"accept-encoding",
    b"cache-control",
    b"location",
    b"vary",
    b"x-custom",
];

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head.to_vec()
    }

    /// selector, [name], value length (two bytes: small or scaled up), value, flags.
    fn field(&mut self) -> Option<HeaderField> {
        let selector = self.byte()?;
        let name = if usize::from(selector) < NAMES.len() * 8 {
            NAMES[usize::from(selector) % NAMES.len()].to_vec()
        } else {
            let len = usize::from(selector % 24);
            self.bytes(len)
        };
        let len_byte = self.byte()?;
        let len = if len_byte & 0x80 != 0 {
            usize::from(len_byte & 0x7f) * 64
        } else {
            usize::from(len_byte)
        };
        let value = if len_byte == 0xff {
            // A long value of one repeated byte, cheap to produce.
            vec![self.byte()?; 5000]
        } else {
            self.bytes(len)
        };
        let sensitive = self.byte().is_some_and(|b| b & 1 == 1);
        Some(HeaderField {
            name: Bytes::from(name),
            value: Bytes::from(value),
            sensitive,
        })
    }
}

fn policy_sensitive(f: &HeaderField) -> bool {
    matches!(
        &f.name[..],
        b"authorization" | b"proxy-authorization" | b"set-cookie"
    ) || (&f.name[..] == b"cookie" && f.value.len() < 20)
}

fuzz_target!(|data: &[u8]| {
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::with_max_header_list_size(usize::MAX / 8);
    let mut input = Input(data);
    let mut wire = BytesMut::new();
    let mut out = Vec::new();
    while let Some(op) = input.byte() {
        if op % 8 == 7 {
            let lo = input.byte().unwrap_or(0);
            let hi = input.byte().unwrap_or(0);
            let size = usize::from(u16::from_le_bytes([lo, hi]));
            decoder.set_max_table_size(size);
            encoder.set_max_table_size(size);
            continue;
        }
        let count = usize::from(op >> 3) % 12;
        let fields: Vec<HeaderField> = (0..count).map_while(|_| input.field()).collect();
        encoder.encode(&fields, &mut wire);
        let block = wire.split().freeze();
        out.clear();
        match decoder.decode(&block, &mut out) {
            Ok(DecodeOutcome::Complete { size }) => {
                assert_eq!(size, fields.iter().map(HeaderField::size).sum::<usize>());
            }
            other => panic!("round trip failed: {other:?} for {fields:?}"),
        }
        assert_eq!(out.len(), fields.len());
        for (sent, got) in fields.iter().zip(&out) {
            assert_eq!((&sent.name, &sent.value), (&got.name, &got.value));
            assert_eq!(got.sensitive, sent.sensitive || policy_sensitive(sent));
        }
        assert_eq!(
            (
                decoder.table_len(),
                decoder.table_size(),
                decoder.table_capacity()
            ),
            (
                encoder.table_len(),
                encoder.table_size(),
                encoder.table_capacity()
            )
        );
        assert!(encoder.table_size() <= MAX_ENCODER_TABLE_SIZE);
    }
});
