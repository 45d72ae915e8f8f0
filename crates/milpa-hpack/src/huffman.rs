//! Huffman coding of string literals, RFC 7541 §5.2 and Appendix B.
//!
//! Encoding packs codes into a 64-bit accumulator and writes 32 bits at a time. Decoding runs
//! a 4-bit state machine (one table lookup per nibble) whose table is derived from the code
//! table at compile time; a state is an inner node of the code tree, so the padding rule
//! ("at most 7 bits, all ones") is a property of the final state, and reaching the EOS leaf
//! is an error. No decode path allocates: output goes to a caller-reserved buffer or is only
//! counted.

mod table;

use bytes::{BufMut, BytesMut};

use crate::DecodeError;
use table::CODES;

/// Upper bound of the decoded length of `encoded_len` Huffman bytes: the shortest code is
/// 5 bits long.
#[inline]
pub(crate) fn max_decoded_len(encoded_len: usize) -> usize {
    encoded_len.saturating_mul(8) / 5
}

/// Length in bytes of `src` once Huffman-encoded (padding included).
#[inline]
pub(crate) fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src.iter().map(|&b| usize::from(CODES[usize::from(b)].1)).sum();
    bits.div_ceil(8)
}

/// Appends the Huffman encoding of `src` (exactly [`encoded_len`] bytes) to `dst`.
pub(crate) fn encode(src: &[u8], dst: &mut BytesMut) {
    dst.reserve(encoded_len(src));
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    for &b in src {
        let (code, len) = CODES[usize::from(b)];
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        // At most 31 + 30 bits are pending here, so the accumulator never loses live bits.
        if bits >= 32 {
            bits -= 32;
            dst.put_u32((acc >> bits) as u32);
        }
    }
    while bits >= 8 {
        bits -= 8;
        dst.put_u8((acc >> bits) as u8);
    }
    if bits > 0 {
        // Pad with the most significant bits of EOS, which are all ones.
        dst.put_u8(((acc << (8 - bits)) as u8) | (0xff >> bits));
    }
}

/// Where decoded bytes go.
trait Sink {
    fn push(&mut self, byte: u8);
}

/// Counts decoded bytes without storing them.
struct Count(usize);

impl Sink for Count {
    #[inline]
    fn push(&mut self, _: u8) {
        self.0 += 1;
    }
}

/// Collects decoded bytes in a small stack buffer and appends them to a `BytesMut` in
/// chunks, which is much cheaper than a capacity check per byte.
struct Chunked<'a> {
    dst: &'a mut BytesMut,
    buf: [u8; 64],
    len: usize,
}

impl Sink for Chunked<'_> {
    #[inline]
    fn push(&mut self, byte: u8) {
        self.buf[self.len] = byte;
        self.len += 1;
        if self.len == self.buf.len() {
            self.dst.extend_from_slice(&self.buf);
            self.len = 0;
        }
    }
}

/// Decodes `src`, appending the result to `dst`. The caller should reserve
/// [`max_decoded_len`] (or the exact [`decoded_len`]) first so that this never reallocates.
/// On error, `dst` may hold part of the output.
pub(crate) fn decode(src: &[u8], dst: &mut BytesMut) -> Result<(), DecodeError> {
    let mut sink = Chunked { dst, buf: [0; 64], len: 0 };
    let result = run(src, &mut sink);
    sink.dst.extend_from_slice(&sink.buf[..sink.len]);
    result
}

/// Validates `src` and returns its decoded length, storing nothing.
pub(crate) fn decoded_len(src: &[u8]) -> Result<usize, DecodeError> {
    let mut count = Count(0);
    run(src, &mut count)?;
    Ok(count.0)
}

#[inline]
fn run<S: Sink>(src: &[u8], sink: &mut S) -> Result<(), DecodeError> {
    let mut state = 0usize;
    for &byte in src {
        for nibble in [byte >> 4, byte & 0x0f] {
            let step = DECODE[state][usize::from(nibble)];
            if step.flags & EMIT != 0 {
                sink.push(step.sym);
            } else if step.flags & FAIL != 0 {
                return Err(DecodeError::HuffmanEos);
            }
            state = usize::from(step.next);
        }
    }
    if ACCEPTING[state] { Ok(()) } else { Err(DecodeError::HuffmanPadding) }
}

/// The step emits `sym`.
const EMIT: u8 = 1;
/// The step reached EOS.
const FAIL: u8 = 2;

/// One transition of the nibble state machine.
#[derive(Clone, Copy)]
struct Step {
    /// Inner node of the code tree reached after the nibble (0 is the root).
    next: u8,
    flags: u8,
    sym: u8,
}

/// Marks a child slot of the code tree as a leaf holding a symbol.
const LEAF: u16 = 0x8000;

/// The code tree: 256 inner nodes, each with two children (inner node index, or
/// `LEAF | symbol`). Node 0 is the root.
const TREE: [[u16; 2]; 256] = build_tree();

const fn build_tree() -> [[u16; 2]; 256] {
    let mut tree = [[0u16; 2]; 256];
    let mut nodes = 1usize;
    let mut sym = 0usize;
    while sym < CODES.len() {
        let (code, len) = CODES[sym];
        let mut node = 0usize;
        let mut i = len;
        while i > 1 {
            i -= 1;
            let bit = ((code >> i) & 1) as usize;
            if tree[node][bit] == 0 {
                tree[node][bit] = nodes as u16;
                nodes += 1;
            } else {
                assert!(tree[node][bit] & LEAF == 0, "code table is not prefix-free");
            }
            node = tree[node][bit] as usize;
        }
        let bit = (code & 1) as usize;
        assert!(tree[node][bit] == 0, "code table is not prefix-free");
        tree[node][bit] = LEAF | sym as u16;
        sym += 1;
    }
    assert!(nodes == 256, "a complete code over 257 symbols has 256 inner nodes");
    tree
}

/// States where the string may end: the root (no pending bits) and the nodes reached by
/// 1 to 7 one-bits from the root (valid padding: a prefix of EOS shorter than a byte).
const ACCEPTING: [bool; 256] = build_accepting();

const fn build_accepting() -> [bool; 256] {
    let mut accepting = [false; 256];
    accepting[0] = true;
    let mut node = 0usize;
    let mut depth = 0;
    while depth < 7 {
        node = TREE[node][1] as usize;
        assert!(node as u16 & LEAF == 0);
        accepting[node] = true;
        depth += 1;
    }
    accepting
}

/// `DECODE[state][nibble]`: the transition table.
static DECODE: [[Step; 16]; 256] = build_decode();

const fn build_decode() -> [[Step; 16]; 256] {
    let mut table = [[Step { next: 0, flags: 0, sym: 0 }; 16]; 256];
    let mut state = 0usize;
    while state < 256 {
        let mut nibble = 0usize;
        while nibble < 16 {
            let mut node = state;
            let mut flags = 0u8;
            let mut sym = 0u8;
            let mut bit = 4;
            while bit > 0 {
                bit -= 1;
                let child = TREE[node][(nibble >> bit) & 1];
                if child & LEAF != 0 {
                    let s = child & !LEAF;
                    if s == 256 {
                        flags = FAIL;
                        node = 0;
                        break;
                    }
                    // The shortest code is 5 bits, so a nibble completes at most one symbol.
                    assert!(flags & EMIT == 0);
                    flags |= EMIT;
                    sym = s as u8;
                    node = 0;
                } else {
                    node = child as usize;
                }
            }
            table[state][nibble] = Step { next: node as u8, flags, sym };
            nibble += 1;
        }
        state += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &[u8]) -> Vec<u8> {
        let mut b = BytesMut::new();
        encode(s, &mut b);
        assert_eq!(b.len(), encoded_len(s));
        b.to_vec()
    }

    fn dec(s: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let mut b = BytesMut::new();
        decode(s, &mut b)?;
        assert_eq!(decoded_len(s), Ok(b.len()));
        assert!(b.len() <= max_decoded_len(s.len()));
        Ok(b.to_vec())
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
    }

    #[test]
    fn code_is_complete_and_prefix_free() {
        // Kraft equality: sum 2^(30-len) == 2^30. (build_tree asserts prefix-freeness.)
        let total: u64 = CODES.iter().map(|&(_, len)| 1u64 << (30 - len)).sum();
        assert_eq!(total, 1 << 30);
        assert!(CODES.iter().all(|&(code, len)| u64::from(code) < (1u64 << len)));
        assert_eq!(CODES[256], (0x3fff_ffff, 30));
    }

    #[test]
    fn rfc7541_appendix_c_strings() {
        let cases: [(&str, &str); 10] = [
            ("www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"),
            ("no-cache", "a8eb 1064 9cbf"),
            ("custom-key", "25a8 49e9 5ba9 7d7f"),
            ("custom-value", "25a8 49e9 5bb8 e8b4 bf"),
            ("302", "6402"),
            ("private", "aec3 771a 4b"),
            ("Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"),
            ("https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"),
            ("gzip", "9bd9 ab"),
            (
                "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
                "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
            ),
        ];
        for (plain, coded) in cases {
            assert_eq!(enc(plain.as_bytes()), hex(coded), "{plain}");
            assert_eq!(dec(&hex(coded)).as_deref(), Ok(plain.as_bytes()), "{plain}");
        }
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(dec(&enc(&all)), Ok(all.clone()));
        for b in 0..=255u8 {
            for n in 1..=9 {
                let s = vec![b; n];
                assert_eq!(dec(&enc(&s)), Ok(s), "byte {b} x{n}");
            }
        }
    }

    #[test]
    fn empty_string() {
        assert_eq!(enc(b""), Vec::<u8>::new());
        assert_eq!(dec(b""), Ok(vec![]));
    }

    #[test]
    fn padding_longer_than_7_bits_is_rejected() {
        // A full byte of ones after a complete symbol: 8 bits of padding.
        // '0' is 00000 (5 bits) + 111 padding = 0x07; add 0xff.
        assert_eq!(dec(&[0x07]), Ok(b"0".to_vec()));
        assert_eq!(dec(&[0x07, 0xff]), Err(DecodeError::HuffmanPadding));
        // A lone 0xff: 8 ones, no symbol.
        assert_eq!(dec(&[0xff]), Err(DecodeError::HuffmanPadding));
    }

    #[test]
    fn padding_not_all_ones_is_rejected() {
        // '0' (00000) then 110: padding contains a zero.
        assert_eq!(dec(&[0x06]), Err(DecodeError::HuffmanPadding));
        // '0' then 000: that is not even a valid prefix of EOS.
        assert_eq!(dec(&[0x00]), Err(DecodeError::HuffmanPadding));
    }

    #[test]
    fn eos_is_rejected() {
        // EOS (30 ones) followed by 2 padding ones.
        assert_eq!(dec(&[0xff, 0xff, 0xff, 0xff]), Err(DecodeError::HuffmanEos));
        // 'a' (00011, 5 bits) then EOS then padding: 0x1f ff ff ff fc? build it explicitly.
        let mut bits: u64 = 0b00011;
        bits = (bits << 30) | 0x3fff_ffff;
        let total = 35;
        let padded = (bits << 5) | 0x1f; // 40 bits
        let bytes: Vec<u8> = (0..5).rev().map(|i| (padded >> (i * 8)) as u8).collect();
        assert_eq!(total + 5, 40);
        assert_eq!(dec(&bytes), Err(DecodeError::HuffmanEos));
    }

    #[test]
    fn decoded_len_bounds_hold() {
        // Five-bit symbols give the densest output.
        let s = b"00000000";
        let e = enc(s);
        assert_eq!(e.len(), 5);
        assert_eq!(max_decoded_len(e.len()), 8);
        assert_eq!(dec(&e), Ok(s.to_vec()));
    }
}
