//! RFC 7541 Appendix C.2–C.6, inline: each example decodes to the listed fields, leaves the
//! dynamic table the RFC shows, and (where our policy picks the same representations) our
//! encoder produces the RFC's exact bytes.

mod common;

use bytes::BytesMut;
use common::{decode_ok, fields, hex, pairs};
use milpa_hpack::{Decoder, Encoder, HeaderField};

fn h(s: &str) -> Vec<u8> {
    hex(s).expect("valid hex")
}

/// Fields expected from one block, then the table's entry count and size after it.
type Step = (&'static [(&'static str, &'static str)], usize, usize);

fn expect(decoded: &[HeaderField], pairs_: &[(&str, &str)]) {
    assert_eq!(pairs(decoded), pairs(&fields(pairs_)));
}

// C.2 Header field representation examples.

#[test]
fn c2_1_literal_with_indexing() {
    let mut d = Decoder::new();
    let out = decode_ok(&mut d, &h("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
    expect(&out, &[("custom-key", "custom-header")]);
    assert!(!out[0].sensitive);
    assert_eq!((d.table_len(), d.table_size()), (1, 55));
}

#[test]
fn c2_2_literal_without_indexing() {
    let mut d = Decoder::new();
    let out = decode_ok(&mut d, &h("040c 2f73 616d 706c 652f 7061 7468"));
    expect(&out, &[(":path", "/sample/path")]);
    assert!(!out[0].sensitive);
    assert_eq!((d.table_len(), d.table_size()), (0, 0));
}

#[test]
fn c2_3_literal_never_indexed_keeps_the_flag() {
    let mut d = Decoder::new();
    let out = decode_ok(&mut d, &h("1008 7061 7373 776f 7264 0673 6563 7265 74"));
    expect(&out, &[("password", "secret")]);
    assert!(out[0].sensitive, "never-indexed flag must be preserved");
    assert_eq!((d.table_len(), d.table_size()), (0, 0));

    // An encoder forwarding the field re-encodes it never-indexed: the same bytes.
    let mut e = Encoder::new();
    let mut dst = BytesMut::new();
    e.encode(&out, &mut dst);
    let mut d2 = Decoder::new();
    let again = decode_ok(&mut d2, &dst);
    assert!(again[0].sensitive);
    assert_eq!(dst[0] & 0xf0, 0x10, "literal never indexed");
    assert_eq!(e.table_len(), 0);
}

#[test]
fn c2_4_indexed_field() {
    let mut d = Decoder::new();
    let out = decode_ok(&mut d, &h("82"));
    expect(&out, &[(":method", "GET")]);
    assert_eq!(d.table_len(), 0);
}

// C.3 / C.4: requests, without and with Huffman, 4096-byte table.

const REQ1: &[(&str, &str)] =
    &[(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")];
const REQ2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQ3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];

fn check_requests(wires: [&str; 3]) {
    let mut d = Decoder::new();
    let expected: [Step; 3] = [(REQ1, 1, 57), (REQ2, 2, 110), (REQ3, 3, 164)];
    for (wire, (req, len, size)) in wires.iter().zip(expected) {
        let out = decode_ok(&mut d, &h(wire));
        expect(&out, req);
        assert_eq!((d.table_len(), d.table_size()), (len, size), "after {wire}");
    }
}

#[test]
fn c3_requests_without_huffman() {
    check_requests([
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ]);
}

const C4: [&str; 3] = [
    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
    "8286 84be 5886 a8eb 1064 9cbf",
    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
];

#[test]
fn c4_requests_with_huffman() {
    check_requests(C4);
}

#[test]
fn c4_our_encoder_produces_the_rfc_bytes() {
    let mut e = Encoder::new();
    for (req, wire) in [REQ1, REQ2, REQ3].iter().zip(C4) {
        let mut dst = BytesMut::new();
        e.encode(&fields(req), &mut dst);
        assert_eq!(dst.to_vec(), h(wire));
    }
    assert_eq!((e.table_len(), e.table_size()), (3, 164));
}

// C.5 / C.6: responses, without and with Huffman, 256-byte table (evictions).

const RES1: &[(&str, &str)] = &[
    (":status", "302"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RES2: &[(&str, &str)] = &[
    (":status", "307"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RES3: &[(&str, &str)] = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    ("location", "https://www.example.com"),
    ("content-encoding", "gzip"),
    ("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"),
];

fn check_responses(wires: [&str; 3]) {
    let mut d = Decoder::new();
    d.set_max_table_size(256);
    // The peer's table is 4096 until it signals otherwise; the RFC example assumes the
    // encoder and decoder agreed on 256 beforehand, which an explicit size update models.
    let out = decode_ok(&mut d, &h("3fe101")); // size update to 256
    assert!(out.is_empty());
    assert_eq!(d.table_capacity(), 256);
    let expected: [Step; 3] = [(RES1, 4, 222), (RES2, 4, 222), (RES3, 3, 215)];
    for (wire, (res, len, size)) in wires.iter().zip(expected) {
        let out = decode_ok(&mut d, &h(wire));
        expect(&out, res);
        assert_eq!((d.table_len(), d.table_size()), (len, size), "after {wire}");
    }
}

#[test]
fn c5_responses_without_huffman_with_eviction() {
    check_responses([
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 \
         2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 \
         6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d \
         54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 \
         5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
    ]);
}

#[test]
fn c6_responses_with_huffman_with_eviction() {
    check_responses([
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 \
         2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab \
         77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f \
         9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ]);
}

#[test]
fn c6_responses_round_trip_through_our_encoder_with_a_256_byte_table() {
    let mut e = Encoder::new();
    e.set_max_table_size(256);
    let mut d = Decoder::new();
    d.set_max_table_size(256);
    for res in [RES1, RES2, RES3] {
        let mut dst = BytesMut::new();
        e.encode(&fields(res), &mut dst);
        let out = decode_ok(&mut d, &dst);
        expect(&out, res);
        assert!(e.table_size() <= 256);
        assert_eq!((d.table_len(), d.table_size()), (e.table_len(), e.table_size()));
        // set-cookie goes out never-indexed, and nothing else does.
        assert!(out.iter().all(|f| f.sensitive == (f.name == "set-cookie")));
    }
}
