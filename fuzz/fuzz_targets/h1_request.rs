//! Raw bytes as a client's input, fed whole and split at arbitrary points: no
//! panic, and the same events and the same answer either way.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "h1_common.rs"]
mod h1_common;

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (data, seed) = input;
    let whole = h1_common::run(&[&data]);
    let pieces = h1_common::split(&data, &seed);
    let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
    let split = h1_common::run(&refs);
    assert_eq!(whole, split);
});
