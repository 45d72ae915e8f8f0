//! Arbitrary bytes as a chunked request body (and whatever follows it), fed whole
//! and split: no panic, identical decisions.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "h1_common.rs"]
mod h1_common;

const HEAD: &[u8] = b"POST /upload HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked\r\n\r\n";

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (body, seed) = input;
    let data = [HEAD, &body].concat();
    let whole = h1_common::run(&[&data]);
    let pieces = h1_common::split(&data, &seed);
    let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
    let split = h1_common::run(&refs);
    assert_eq!(whole, split);
});
