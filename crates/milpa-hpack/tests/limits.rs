//! Hostile and malformed input: every error path, the header list limits (431 path and
//! connection error), and memory bounds (HPACK bomb, huge literals, Huffman expansion).

mod common;

use bytes::Bytes;
use milpa_hpack::{DecodeError, DecodeOutcome, Decoder, HeaderField};

/// A prefix integer.
fn int(value: usize, prefix_bits: u8, flags: u8) -> Vec<u8> {
    let mask = (1usize << prefix_bits) - 1;
    if value < mask {
        return vec![flags | value as u8];
    }
    let mut out = vec![flags | mask as u8];
    let mut rest = value - mask;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
    out
}

/// A plain string literal.
fn lit(s: &[u8]) -> Vec<u8> {
    let mut out = int(s.len(), 7, 0);
    out.extend_from_slice(s);
    out
}

/// A Huffman literal of `n` '0' characters (5 zero bits each), `n` a multiple of 8.
fn huffman_zeros(n: usize) -> Vec<u8> {
    assert_eq!(n % 8, 0);
    let mut out = int(n * 5 / 8, 7, 0x80);
    out.resize(out.len() + n * 5 / 8, 0);
    out
}

/// Literal with incremental indexing, new name.
fn insert(name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = vec![0x40];
    out.extend(lit(name));
    out.extend(lit(value));
    out
}

/// Literal without indexing, new name, given value encoding.
fn not_indexed(name: &[u8], value_repr: Vec<u8>) -> Vec<u8> {
    let mut out = vec![0x00];
    out.extend(lit(name));
    out.extend(value_repr);
    out
}

fn decode(d: &mut Decoder, block: &[u8]) -> (Result<DecodeOutcome, DecodeError>, Vec<HeaderField>) {
    let mut out = Vec::new();
    let r = d.decode(&Bytes::copy_from_slice(block), &mut out);
    (r, out)
}

fn err(block: &[u8]) -> DecodeError {
    let mut d = Decoder::new();
    match decode(&mut d, block).0 {
        Err(e) => e,
        Ok(o) => panic!("expected an error for {block:02x?}, got {o:?}"),
    }
}

#[test]
fn integer_overflow_is_rejected() {
    // Indexed field whose index has six continuation bytes.
    assert_eq!(err(&[0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), DecodeError::IntegerOverflow);
    // A value past u32::MAX in five bytes.
    assert_eq!(err(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), DecodeError::IntegerOverflow);
    // As a string length.
    assert_eq!(err(&[0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x7f]), DecodeError::IntegerOverflow);
    // As a size update.
    assert_eq!(err(&[0x3f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), DecodeError::IntegerOverflow);
}

#[test]
fn oversized_literal_is_rejected_before_allocating() {
    let mut d = Decoder::new();
    // A 4 GiB - 1 string length with three bytes behind it.
    let mut block = vec![0x00];
    block.extend(int(u32::MAX as usize, 7, 0));
    block.extend_from_slice(b"abc");
    let (r, _) = decode(&mut d, &block);
    assert_eq!(r, Err(DecodeError::StringTooLong { len: u32::MAX as usize, available: 3 }));
    assert_eq!(d.heap_size(), 0, "nothing may be reserved for the announced length");

    // The same as a Huffman value, and as a value after a good name.
    let mut d = Decoder::new();
    let mut block = not_indexed(b"x", int(1 << 30, 7, 0x80));
    block.extend_from_slice(&[0; 16]);
    let (r, _) = decode(&mut d, &block);
    assert_eq!(r, Err(DecodeError::StringTooLong { len: 1 << 30, available: 16 }));
    assert_eq!(d.heap_size(), 0);
}

#[test]
fn truncated_blocks_are_rejected() {
    assert_eq!(err(&[0xff]), DecodeError::Truncated); // index continuation missing
    assert_eq!(err(&[0x40]), DecodeError::Truncated); // no name length
    assert_eq!(err(&[0x40, 0x01, b'a']), DecodeError::Truncated); // no value length
    assert_eq!(err(&[0x40, 0x01, b'a', 0x02, b'b']), DecodeError::StringTooLong { len: 2, available: 1 });
}

#[test]
fn bad_indexes_are_rejected() {
    assert_eq!(err(&[0x80]), DecodeError::InvalidIndex { index: 0 });
    assert_eq!(err(&[0xbe]), DecodeError::InvalidIndex { index: 62 }); // empty dynamic table
    assert_eq!(err(&[0x7f, 0x00, 0x00]), DecodeError::InvalidIndex { index: 63 }); // name index
    assert_eq!(err(&[0x0f, 0x30, 0x00]), DecodeError::InvalidIndex { index: 63 });
    let mut block = insert(b"a", b"b");
    block.push(0xbe); // 62: fine now
    block.push(0xbf); // 63: not there
    assert_eq!(err(&block), DecodeError::InvalidIndex { index: 63 });
}

#[test]
fn bad_huffman_padding_is_rejected() {
    // '0' (00000) + 110: padding with a zero bit.
    assert_eq!(err(&not_indexed(b"x", vec![0x81, 0x06])), DecodeError::HuffmanPadding);
    // '0' + 111 then a whole byte of ones: 11 bits of padding.
    assert_eq!(err(&not_indexed(b"x", vec![0x82, 0x07, 0xff])), DecodeError::HuffmanPadding);
    // In a name, too.
    assert_eq!(err(&[0x00, 0x81, 0xff, 0x00]), DecodeError::HuffmanPadding);
    // Valid padding for comparison.
    let mut d = Decoder::new();
    let (r, out) = decode(&mut d, &not_indexed(b"x", vec![0x81, 0x07]));
    assert!(matches!(r, Ok(DecodeOutcome::Complete { .. })));
    assert_eq!(&out[0].value[..], b"0");
}

#[test]
fn eos_in_huffman_string_is_rejected() {
    // 30 ones (EOS) + 2 padding ones.
    assert_eq!(err(&not_indexed(b"x", vec![0x84, 0xff, 0xff, 0xff, 0xff])), DecodeError::HuffmanEos);
    // Also when the string would be over the list limit and is only validated.
    let mut d = Decoder::with_max_header_list_size(40);
    let mut value = vec![0x00; 40]; // 64 '0's, over the limit
    value.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    let mut repr = int(value.len(), 7, 0x80);
    repr.extend(value);
    assert_eq!(decode(&mut d, &not_indexed(b"x", repr)).0, Err(DecodeError::HuffmanEos));
}

#[test]
fn size_update_in_the_middle_of_a_block_is_rejected() {
    assert_eq!(err(&[0x82, 0x20]), DecodeError::SizeUpdateNotAtStart);
    assert_eq!(err(&[0x20, 0x82, 0x3f, 0x01]), DecodeError::SizeUpdateNotAtStart);
    // Several updates at the start are fine.
    let mut d = Decoder::new();
    let (r, out) = decode(&mut d, &[0x20, 0x3f, 0xe1, 0x1f, 0x82]);
    assert!(matches!(r, Ok(DecodeOutcome::Complete { .. })));
    assert_eq!(out.len(), 1);
    assert_eq!(d.table_capacity(), 4096);
}

#[test]
fn size_update_above_the_setting_is_rejected() {
    // 4097 > the initial 4096.
    assert_eq!(err(&[0x3f, 0xe2, 0x1f]), DecodeError::SizeUpdateTooLarge { size: 4097, max: 4096 });
    let mut d = Decoder::new();
    d.set_max_table_size(100);
    let (r, _) = decode(&mut d, &[0x3f, 0x46]); // 101
    assert_eq!(r, Err(DecodeError::SizeUpdateTooLarge { size: 101, max: 100 }));
    // Raising the setting allows larger tables.
    let mut d = Decoder::new();
    d.set_max_table_size(8192);
    let (r, _) = decode(&mut d, &[0x3f, 0xe1, 0x3f]); // 8192
    assert!(r.is_ok());
    assert_eq!(d.table_capacity(), 8192);
}

#[test]
fn lowered_setting_requires_a_size_update() {
    // Without it: error.
    let mut d = Decoder::new();
    d.set_max_table_size(1000);
    assert_eq!(decode(&mut d, &[0x82]).0, Err(DecodeError::MissingSizeUpdate { max: 1000 }));
    // With it: fine, and only once.
    let mut d = Decoder::new();
    d.set_max_table_size(1000);
    assert!(decode(&mut d, &[0x3f, 0xc9, 0x07, 0x82]).0.is_ok()); // 1000
    assert!(decode(&mut d, &[0x82]).0.is_ok());
    // Down to 0 and back up to 4096 before the next block: the minimum must be signalled.
    let mut d = Decoder::new();
    d.set_max_table_size(0);
    d.set_max_table_size(4096);
    assert_eq!(decode(&mut d, &[0x3f, 0xe1, 0x1f, 0x82]).0, Err(DecodeError::MissingSizeUpdate { max: 0 }));
    let mut d = Decoder::new();
    d.set_max_table_size(0);
    d.set_max_table_size(4096);
    assert!(decode(&mut d, &[0x20, 0x3f, 0xe1, 0x1f, 0x82]).0.is_ok());
    // Lowering to a value the peer's table already respects needs no update.
    let mut d = Decoder::new();
    d.set_max_table_size(8192);
    assert!(decode(&mut d, &[0x82]).0.is_ok());
    d.set_max_table_size(4096);
    assert!(decode(&mut d, &[0x82]).0.is_ok());
}

#[test]
fn header_list_over_the_limit_is_refused_but_the_table_stays_in_sync() {
    let mut d = Decoder::with_max_header_list_size(200);
    // 3 fields of 1 + 60 + 32 = 93 bytes, each inserted into the table: the third is over.
    let mut block = Vec::new();
    for name in [b"a", b"b", b"c"] {
        block.extend(insert(name, &[b'v'; 60]));
    }
    // A never-indexed and an indexed field after the limit.
    block.extend([0x10, 0x01, b'p', 0x01, b'q']);
    block.push(0x82);
    let (r, out) = decode(&mut d, &block);
    let expected_size = 3 * 93 + (1 + 1 + 32) + (7 + 3 + 32);
    assert_eq!(r, Ok(DecodeOutcome::HeaderListTooLarge { size: expected_size }));
    // Only the prefix that fits was delivered.
    assert_eq!(out.len(), 2);
    assert_eq!((&out[0].name[..], &out[1].name[..]), (&b"a"[..], &b"b"[..]));
    // All three literals were inserted anyway: the next block can reference them.
    assert_eq!(d.table_len(), 3);
    let (r, out) = decode(&mut d, &[0xbe, 0xbf, 0xc0]);
    assert_eq!(r, Ok(DecodeOutcome::HeaderListTooLarge { size: 3 * 93 }));
    let names: Vec<&[u8]> = out.iter().map(|f| &f.name[..]).collect();
    assert_eq!(names, [b"c", b"b"]);
}

#[test]
fn header_list_over_4x_the_limit_is_a_connection_error() {
    let mut d = Decoder::with_max_header_list_size(100);
    // Fields of 1 + 30 + 32 = 63 bytes, not indexed: 7 of them make 441 > 400.
    let mut block = Vec::new();
    for _ in 0..7 {
        block.extend(not_indexed(b"x", lit(&[b'y'; 30])));
    }
    let (r, out) = decode(&mut d, &block);
    assert_eq!(r, Err(DecodeError::HeaderListTooLarge { size: 441, limit: 100 }));
    assert_eq!(r.as_ref().map_err(DecodeError::http2_error_code), Err(0xb));
    assert_eq!(out.len(), 1);
    // The decoder is poisoned: the connection must close.
    assert_eq!(decode(&mut d, &[0x82]).0, Err(DecodeError::HeaderListTooLarge { size: 441, limit: 100 }));
    // 6 of them (378) is only over the limit.
    let mut d = Decoder::with_max_header_list_size(100);
    let (r, _) = decode(&mut d, &block[..block.len() / 7 * 6]);
    assert_eq!(r, Ok(DecodeOutcome::HeaderListTooLarge { size: 378 }));
    assert!(decode(&mut d, &[0x82]).0.is_ok());
}

#[test]
fn hpack_bomb_stops_at_the_limit_without_copying() {
    // One entry of 4000 bytes (+1 name +32), referenced many times.
    let big = vec![b'A'; 4000];
    let mut block = insert(b"x", &big);
    block.extend(std::iter::repeat_n(0xbe, 100_000));
    let mut d = Decoder::new(); // 16 KiB limit, 64 KiB hard limit
    let block = Bytes::from(block);
    let mut out = Vec::new();
    let r = d.decode(&block, &mut out);
    // 4033 per field: 4 delivered (16132 bytes), connection error at the 17th (68561).
    assert_eq!(r, Err(DecodeError::HeaderListTooLarge { size: 17 * 4033, limit: 16 * 1024 }));
    assert_eq!(out.len(), 4);
    // Every delivered value is the table entry itself, not a copy.
    assert!(out.iter().all(|f| f.value.as_ptr() == out[0].value.as_ptr()));
    assert_ne!(out[0].value.as_ptr(), block.as_ptr().wrapping_add(4));

    // Below the hard limit: the whole block is decoded, nothing beyond the limit is stored.
    let mut block = insert(b"x", &big);
    block.extend(std::iter::repeat_n(0xbe, 10));
    let mut d = Decoder::new();
    let mut out = Vec::new();
    let r = d.decode(&Bytes::from(block), &mut out);
    assert_eq!(r, Ok(DecodeOutcome::HeaderListTooLarge { size: 11 * 4033 }));
    assert_eq!(out.len(), 4);
    assert!(d.heap_size() <= 4001 + 1024, "heap {}", d.heap_size());
}

#[test]
fn huffman_expansion_is_bounded_by_the_limit() {
    // A Huffman value that expands to 100 000 bytes, over 4x a 16 KiB limit: rejected
    // without storing it.
    let mut d = Decoder::new();
    let (r, out) = decode(&mut d, &not_indexed(b"x", huffman_zeros(100_000)));
    assert_eq!(r, Err(DecodeError::HeaderListTooLarge { size: 100_033, limit: 16 * 1024 }));
    assert!(out.is_empty());
    assert_eq!(d.heap_size(), 0);

    // 30 000 bytes: over the limit but under 4x, validated and measured, not stored.
    let mut d = Decoder::new();
    let (r, out) = decode(&mut d, &not_indexed(b"x", huffman_zeros(30_000)));
    assert_eq!(r, Ok(DecodeOutcome::HeaderListTooLarge { size: 30_033 }));
    assert!(out.is_empty());
    assert_eq!(d.heap_size(), 0);

    // Also when it was meant for the table: too big for it, so the table is emptied.
    let mut d = Decoder::new();
    let mut block = insert(b"a", b"b");
    block.extend([0x40, 0x01, b'x']);
    block.extend(huffman_zeros(30_000));
    let (r, out) = decode(&mut d, &block);
    assert_eq!(r, Ok(DecodeOutcome::HeaderListTooLarge { size: 34 + 30_033 }));
    assert_eq!(out.len(), 1);
    assert_eq!(d.table_len(), 0);
    assert!(d.heap_size() <= 1024, "heap {}", d.heap_size());

    // A value that fits is stored, in a buffer bounded by the room under the limit.
    let mut d = Decoder::new();
    let (r, out) = decode(&mut d, &not_indexed(b"x", huffman_zeros(16_000)));
    assert_eq!(r, Ok(DecodeOutcome::Complete { size: 16_033 }));
    assert_eq!(out[0].value.len(), 16_000);
    assert!(out[0].value.iter().all(|&b| b == b'0'));
}

#[test]
fn decode_with_streams_fields_and_keeps_the_never_indexed_flag() {
    let mut d = Decoder::new();
    let mut block = vec![0x82, 0x87];
    block.extend([0x10, 0x01, b'k', 0x01, b'v']); // never indexed
    block.extend(insert(b"n", b"w"));
    let mut seen = Vec::new();
    let r = d.decode_with(&Bytes::from(block), |f| seen.push((f.name, f.value, f.sensitive)));
    assert_eq!(r, Ok(DecodeOutcome::Complete { size: 42 + 44 + 34 + 34 }));
    assert_eq!(seen.len(), 4);
    assert!(seen[2].2);
    assert!(!seen[3].2);
    assert_eq!((&seen[2].0[..], &seen[2].1[..]), (&b"k"[..], &b"v"[..]));
}

#[test]
fn plain_literals_share_the_input() {
    let mut d = Decoder::new();
    let block = Bytes::from(not_indexed(b"name", lit(b"value")));
    let mut out = Vec::new();
    let _ = d.decode(&block, &mut out).expect("decodes");
    let start = block.as_ptr() as usize;
    let range = start..start + block.len();
    assert!(range.contains(&(out[0].name.as_ptr() as usize)));
    assert!(range.contains(&(out[0].value.as_ptr() as usize)));
}

#[test]
fn errors_have_messages_and_codes() {
    for e in [
        DecodeError::Truncated,
        DecodeError::IntegerOverflow,
        DecodeError::InvalidIndex { index: 99 },
        DecodeError::StringTooLong { len: 9, available: 1 },
        DecodeError::HuffmanPadding,
        DecodeError::HuffmanEos,
        DecodeError::SizeUpdateNotAtStart,
        DecodeError::SizeUpdateTooLarge { size: 2, max: 1 },
        DecodeError::MissingSizeUpdate { max: 1 },
    ] {
        assert!(e.to_string().starts_with("hpack: "));
        assert_eq!(e.http2_error_code(), 0x9, "{e}");
    }
}
