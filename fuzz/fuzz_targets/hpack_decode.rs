//! Arbitrary bytes as a sequence of header blocks and SETTINGS changes fed to one decoder.
//! Must never panic; delivered fields stay under the header list limit; memory stays bounded
//! by the limits (checked here with `heap_size`, and by libFuzzer's -malloc_limit_mb).
//!
//! Input: repeated `op: u8`, `arg: u16 LE`, then for op % 4 == 0 (decode) `arg` bytes of block.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use milpa_hpack::{DecodeOutcome, Decoder};

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::with_max_header_list_size(4096);
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 3 {
        let op = rest[0];
        let arg = usize::from(u16::from_le_bytes([rest[1], rest[2]]));
        rest = &rest[3..];
        match op % 4 {
            0 | 3 => {
                let len = arg.min(rest.len());
                let block = Bytes::copy_from_slice(&rest[..len]);
                rest = &rest[len..];
                out.clear();
                let limit = decoder.max_header_list_size();
                let result = if op % 4 == 0 {
                    decoder.decode(&block, &mut out)
                } else {
                    decoder.decode_with(&block, |f| out.push(f))
                };
                let delivered: usize = out.iter().map(|f| f.size()).sum();
                assert!(delivered <= limit, "delivered {delivered} > limit {limit}");
                match result {
                    Ok(DecodeOutcome::Complete { size }) => assert_eq!(size, delivered),
                    Ok(DecodeOutcome::HeaderListTooLarge { size }) => {
                        assert!(size > limit && size <= limit.saturating_mul(4));
                    }
                    Ok(_) => unreachable!("no other outcome exists"),
                    Err(_) => {
                        // Poisoned: every later block fails too.
                        assert!(
                            decoder
                                .decode(&Bytes::from_static(&[0x82]), &mut out)
                                .is_err()
                        );
                        return;
                    }
                }
                assert!(decoder.table_size() <= decoder.table_capacity());
                let bound = decoder.table_size() + 2 * limit.max(decoder.table_capacity()) + 4096;
                assert!(
                    decoder.heap_size() <= bound,
                    "heap {} > {bound}",
                    decoder.heap_size()
                );
            }
            1 => decoder.set_max_table_size(arg),
            _ => decoder.set_max_header_list_size(arg),
        }
    }
});
