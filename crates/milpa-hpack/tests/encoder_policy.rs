//! The encoder's choices: table hits for repeated response headers, never-indexed
//! credentials, no thrashing by fast-changing values, the 4 KiB cap, Huffman only when shorter.

mod common;

use bytes::BytesMut;
use common::{decode_ok, encode_block, fields, pairs};
use milpa_hpack::{Decoder, Encoder, HeaderField, MAX_ENCODER_TABLE_SIZE};

/// A typical response's fields: `:status` from the static table, the rest indexed
/// on first sight.
const RESPONSE: [(&str, &str); 6] = [
    (":status", "200"),
    ("content-type", "application/json"),
    ("server", "milpa"),
    ("date", "Tue, 26 Nov 2024 16:42:00 GMT"),
    ("cache-control", "no-store"),
    ("vary", "accept-encoding"),
];

/// Encodes with `e`, decodes with `d`, checks the round trip, returns the block.
fn trip(e: &mut Encoder, d: &mut Decoder, f: &[HeaderField]) -> Vec<u8> {
    let block = encode_block(e, f);
    let out = decode_ok(d, &block);
    assert_eq!(pairs(&out), pairs(f));
    assert_eq!((d.table_len(), d.table_size()), (e.table_len(), e.table_size()));
    block
}

#[test]
fn repeated_response_set_hits_the_table_on_the_second_block() {
    let mut e = Encoder::new();
    let mut d = Decoder::new();
    let response = fields(&RESPONSE);
    let first = trip(&mut e, &mut d, &response);
    assert!(first.len() > 40);
    let second = trip(&mut e, &mut d, &response);
    // Every field is one indexed byte.
    assert_eq!(second.len(), response.len(), "{second:02x?}");
    assert!(second.iter().all(|b| b & 0x80 != 0));
    // A new date: only the date is a literal (and gets indexed: it is reused for a second).
    let mut next = response.clone();
    next[3] = HeaderField::new("date", "Tue, 26 Nov 2024 16:42:01 GMT");
    let third = trip(&mut e, &mut d, &next);
    assert_eq!(third.len(), 5 + 1 + 1 + 22, "{third:02x?}");
    let fourth = trip(&mut e, &mut d, &next);
    assert_eq!(fourth.len(), response.len());
}

#[test]
fn sensitive_headers_are_never_indexed() {
    let mut e = Encoder::new();
    let mut d = Decoder::new();
    let secrets = fields(&[
        ("authorization", "Bearer abcdef0123456789"),
        ("proxy-authorization", "Basic dXNlcjpwYXNz"),
        ("set-cookie", "id=a3fWa; Max-Age=2592000"),
        ("cookie", "sid=31d4d96e407aad4"), // 19 bytes: short, guessable
    ]);
    for _ in 0..3 {
        let block = encode_block(&mut e, &secrets);
        let out = decode_ok(&mut d, &block);
        assert_eq!(pairs(&out), pairs(&secrets));
        assert!(out.iter().all(|f| f.sensitive), "{out:?}");
        assert_eq!(e.table_len(), 0);
        assert_eq!(block[0] & 0xf0, 0x10, "never-indexed literal with a static name");
    }
    // A long cookie may be indexed (it is not guessable by probing).
    let long = fields(&[("cookie", "session=6b1c1f0e2d7a4c9bb0f5d1e3a2c4b6d8")]);
    trip(&mut e, &mut d, &long);
    assert_eq!(e.table_len(), 1);
    assert_eq!(trip(&mut e, &mut d, &long).len(), 1);
    // Any field can be forced never-indexed, also when it is in the table already.
    let forced = vec![HeaderField::sensitive("cookie", "session=6b1c1f0e2d7a4c9bb0f5d1e3a2c4b6d8")];
    let block = trip(&mut e, &mut d, &forced);
    assert_eq!(block[0] & 0xf0, 0x10);
    let out = decode_ok(&mut Decoder::new(), &encode_block(&mut Encoder::new(), &forced));
    assert!(out[0].sensitive);
    // Even an exact static-table match is sent as a literal when sensitive.
    let mut dst = BytesMut::new();
    Encoder::new().block(&mut dst).sensitive_field(b":method", b"GET");
    assert_eq!(&dst[..], &[0x12, 0x03, b'G', b'E', b'T']);
}

#[test]
fn unique_paths_and_lengths_do_not_enter_the_table() {
    let mut e = Encoder::new();
    let mut d = Decoder::new();
    let stable = fields(&[(":status", "200"), ("server", "milpa")]);
    trip(&mut e, &mut d, &stable);
    let entries = e.table_len();
    for i in 0..5000 {
        let f = fields(&[
            (":path", &format!("/items/{i}")),
            ("content-length", &format!("{}", 1000 + i)),
            ("etag", &format!("\"{i:08x}\"")),
            ("x-request-id", &format!("req-{i:016}")),
        ]);
        let block = trip(&mut e, &mut d, &f);
        // All literals without indexing (0000xxxx).
        assert_eq!(block[0] & 0xf0, 0x00);
        assert_eq!(e.table_len(), entries, "iteration {i}: {block:02x?}");
    }
    assert_eq!(e.table_len(), entries, "unique values must not churn the table");
    // The stable set still hits.
    assert_eq!(trip(&mut e, &mut d, &stable), [0x88, 0xbe]);
}

#[test]
fn repeated_volatile_values_are_indexed_on_second_sight() {
    let mut e = Encoder::new();
    let mut d = Decoder::new();
    let poll = fields(&[(":path", "/health"), ("content-length", "2")]);
    let first = trip(&mut e, &mut d, &poll);
    assert_eq!(e.table_len(), 0);
    assert_eq!(first[0] & 0xf0, 0x00);
    let second = trip(&mut e, &mut d, &poll);
    assert_eq!(e.table_len(), 2);
    assert_eq!(second[0] & 0xc0, 0x40);
    let third = trip(&mut e, &mut d, &poll);
    assert_eq!(third, [0xbf, 0xbe]);
}

#[test]
fn table_never_exceeds_4_kib_whatever_the_peer_allows() {
    let mut e = Encoder::new();
    let mut d = Decoder::new();
    e.set_max_table_size(1 << 20);
    d.set_max_table_size(1 << 20);
    for i in 0..2000 {
        let name = format!("x-custom-{}", i % 300);
        let value = format!("value-{i}-{}", "z".repeat(i % 90));
        trip(&mut e, &mut d, &[HeaderField::new(name, value)]);
        assert!(e.table_size() <= MAX_ENCODER_TABLE_SIZE);
    }
    assert_eq!(e.table_capacity(), 4096);
    assert!(e.table_len() > 10);

    // A configured lower cap is announced in the first block.
    let mut e = Encoder::with_max_table_size(1024);
    let block = encode_block(&mut e, &fields(&[(":status", "200")]));
    assert_eq!(block, [0x3f, 0xe1, 0x07, 0x88]);
    assert_eq!(e.max_table_size(), 1024);
    let mut d = Decoder::new();
    decode_ok(&mut d, &block);
    assert_eq!(d.table_capacity(), 1024);
}

#[test]
fn large_values_need_a_second_sight_and_huge_ones_are_never_indexed() {
    let mut e = Encoder::new();
    let mut d = Decoder::new();
    let small = fields(&[("server", "milpa")]);
    trip(&mut e, &mut d, &small);
    // 2000 bytes: over a quarter of the table.
    let large = vec![HeaderField::new("content-security-policy", "a".repeat(2000))];
    trip(&mut e, &mut d, &large);
    assert_eq!(e.table_len(), 1);
    trip(&mut e, &mut d, &large);
    assert_eq!(e.table_len(), 2);
    assert_eq!(trip(&mut e, &mut d, &large).len(), 1);
    // 3500 bytes: would flush the table, never indexed.
    let huge = vec![HeaderField::new("x-huge", "b".repeat(3500))];
    for _ in 0..3 {
        trip(&mut e, &mut d, &huge);
    }
    assert_eq!(e.table_len(), 2);
}

#[test]
fn huffman_only_when_shorter() {
    let mut dst = BytesMut::new();
    let mut e = Encoder::with_max_table_size(0);
    // Bytes with long codes: the plain form is shorter.
    e.block(&mut dst).field(b"x-bin", &[0xff, 0xfe, 0xfd]);
    assert_eq!(dst[0], 0x20, "size update to 0 first");
    let literal = &dst[1..];
    // 0000 0000, name "x-bin" (Huffman 4 bytes < 5), value plain 3 bytes.
    assert_eq!(literal[0], 0x00);
    let name_len = usize::from(literal[1] & 0x7f);
    assert_eq!(literal[1] & 0x80, 0x80);
    assert_eq!(&literal[2 + name_len..], &[0x03, 0xff, 0xfe, 0xfd]);
    let mut d = Decoder::new();
    d.set_max_table_size(0);
    let out = decode_ok(&mut d, &dst);
    assert_eq!(&out[0].value[..], &[0xff, 0xfe, 0xfd]);
}

#[test]
fn zero_sized_table_indexes_nothing() {
    let mut e = Encoder::new();
    let mut d = Decoder::new();
    e.set_max_table_size(0);
    d.set_max_table_size(0);
    let f = fields(&[("server", "milpa"), ("content-type", "text/html")]);
    for _ in 0..3 {
        trip(&mut e, &mut d, &f);
        assert_eq!(e.table_len(), 0);
    }
}

#[test]
fn block_encoder_accepts_plain_slices() {
    let mut e = Encoder::new();
    let mut dst = BytesMut::new();
    e.block(&mut dst)
        .field(b":status", b"204")
        .field(b"server", b"milpa")
        .sensitive_field(b"x-api-key", b"k");
    let out = decode_ok(&mut Decoder::new(), &dst);
    assert_eq!(pairs(&out), pairs(&fields(&[(":status", "204"), ("server", "milpa"), ("x-api-key", "k")])));
    assert_eq!(out.iter().map(|f| f.sensitive).collect::<Vec<_>>(), [false, false, true]);
    assert_eq!(dst[0], 0x89);
}

#[test]
fn fields_are_recognised_by_position_through_reordering_eviction_and_resizing() {
    // The encoder first compares each field with the entry the field at the same position
    // matched in the previous block; that shortcut must never change what goes on the wire.
    let mut e = Encoder::with_max_table_size(256);
    let mut d = Decoder::new();
    let a = fields(&[
        (":status", "200"),
        ("content-type", "application/json"),
        ("server", "milpa"),
        ("x-trace", "abc"),
    ]);
    let mut b = a.clone();
    b.reverse();
    let big = "x".repeat(150);
    let c = fields(&[(":status", "404"), ("x-big", big.as_str()), ("server", "milpa")]);
    let all_indexed =
        |block: &[u8], f: &[HeaderField]| block.len() == f.len() && block.iter().all(|b| b & 0x80 != 0);
    trip(&mut e, &mut d, &a);
    assert!(all_indexed(&trip(&mut e, &mut d, &a), &a));
    // The same fields in another order: every position now holds another entry.
    assert!(all_indexed(&trip(&mut e, &mut d, &b), &b));
    assert!(all_indexed(&trip(&mut e, &mut d, &a), &a));
    // A large entry (twice: second sight) evicts what `a` matched.
    trip(&mut e, &mut d, &c);
    trip(&mut e, &mut d, &c);
    trip(&mut e, &mut d, &a);
    assert!(all_indexed(&trip(&mut e, &mut d, &a), &a));
    // A smaller table (as a peer's SETTINGS would set) drops entries the positions remember.
    e.set_max_table_size(64);
    trip(&mut e, &mut d, &a);
    e.set_max_table_size(0);
    let block = trip(&mut e, &mut d, &a);
    assert_eq!(e.table_len(), 0);
    // Only `:status: 200` is in the static table: the rest are literals now.
    assert!(block.iter().filter(|&&b| b & 0x80 != 0).count() >= 1 && block.len() > a.len());
    e.set_max_table_size(4096);
    trip(&mut e, &mut d, &a);
    assert!(all_indexed(&trip(&mut e, &mut d, &a), &a));
}

#[test]
fn the_generation_stays_put_exactly_across_blocks_of_table_references() {
    let mut e = Encoder::new();
    let mut d = Decoder::new();
    let response = fields(&RESPONSE[..4]);
    // First sight: literals, so the generation moves.
    let before = e.generation();
    trip(&mut e, &mut d, &response);
    assert_ne!(e.generation(), before);
    // All references now: it stays, and the same fields give the same bytes again.
    let before = e.generation();
    let kept = trip(&mut e, &mut d, &response);
    assert_eq!(e.generation(), before);
    assert_eq!(trip(&mut e, &mut d, &response), kept);
    assert_eq!(e.generation(), before);

    // Any literal moves it: a new value, a never-indexed one, a volatile one not yet indexed.
    for literal in
        [("date", "Tue, 26 Nov 2024 16:42:01 GMT"), ("set-cookie", "a=b"), ("content-length", "14")]
    {
        let before = e.generation();
        trip(&mut e, &mut d, &fields(&[(":status", "200"), literal]));
        assert_ne!(e.generation(), before, "{literal:?}");
    }
    // So does a table size change, as soon as it is set (the next block signals it).
    let before = e.generation();
    e.set_max_table_size(2048);
    assert_ne!(e.generation(), before);
    let before = e.generation();
    trip(&mut e, &mut d, &fields(&[(":status", "200")]));
    assert_ne!(e.generation(), before, "the block that signals the new size");
}
