//! permessage-deflate (RFC 7692): raw DEFLATE per message, with bounded inflation.
//!
//! Receiving: the payloads of a compressed message are inflated as they arrive,
//! followed by the `00 00 ff ff` tail the sender stripped. Output is produced in
//! chunks of at most [`INFLATE_CHUNK`] bytes into a buffer whose capacity never
//! exceeds the message limit + 1, so a deflate bomb is stopped (close 1009) after
//! allocating no more than the limit.
//!
//! Sending: a message is compressed with a sync flush and the trailing
//! `00 00 ff ff` removed. miniz_oxide always compresses with a 32 KiB window, so
//! when the peer asked for a smaller window (`max_window_bits` = N < 15) a message
//! is compressed only if it is at most 2^N bytes long, with a compressor reset
//! just before it: every back-reference then lies inside the message and is
//! shorter than 2^N. Longer messages go out as stored (level 0) DEFLATE blocks,
//! which hold no back-references at all: still a compressed message (RSV1 set),
//! valid for any window, the same size as the data plus a few bytes per block.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::close::{INVALID_PAYLOAD, MESSAGE_TOO_BIG};

/// Most bytes inflated per call into the decompressor.
pub(crate) const INFLATE_CHUNK: usize = 64 * 1024;

/// The tail a sender strips from every compressed message (RFC 7692 §7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// A close code and a reason: why inflation failed.
pub(crate) type InflateError = (u16, &'static str);

/// The receiving half: inflates the peer's compressed messages.
pub(crate) struct Inflater {
    d: Decompress,
    /// The peer resets its compressor after every message, so we reset too.
    no_context_takeover: bool,
    /// The current message ended its DEFLATE stream (BFINAL); the rest is ignored
    /// and the decompressor must be reset before the next message.
    ended: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("no_context_takeover", &self.no_context_takeover)
            .finish_non_exhaustive()
    }
}

impl Inflater {
    pub(crate) fn new(no_context_takeover: bool) -> Self {
        Self { d: Decompress::new(false), no_context_takeover, ended: false }
    }

    /// Inflates the next piece of a compressed message into `out`.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        self.run(input, out, limit, FlushDecompress::None)
    }

    /// Ends the current message: inflates the stripped tail, then resets the
    /// decompressor if the context is not taken over.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        let result = self.run(&TAIL, out, limit, FlushDecompress::Sync);
        if self.no_context_takeover || self.ended || result.is_err() {
            self.reset();
        }
        result
    }

    /// Forgets the current stream (after an error, or between messages).
    pub(crate) fn reset(&mut self) {
        self.d.reset(false);
        self.ended = false;
    }

    fn run(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
        flush: FlushDecompress,
    ) -> Result<(), InflateError> {
        let mut pos = 0;
        while !self.ended {
            reserve_bounded(out, INFLATE_CHUNK, limit.saturating_add(1));
            if out.len() == out.capacity() {
                return Err((MESSAGE_TOO_BIG, "message too big after inflation"));
            }
            let (in_before, out_before) = (self.d.total_in(), self.d.total_out());
            let rest = input.get(pos..).unwrap_or_default();
            let status = self
                .d
                .decompress_vec(rest, out, flush)
                .map_err(|_| (INVALID_PAYLOAD, "invalid compressed data"))?;
            let consumed = (self.d.total_in() - in_before) as usize;
            let produced = self.d.total_out() - out_before;
            pos += consumed;
            if out.len() > limit {
                return Err((MESSAGE_TOO_BIG, "message too big after inflation"));
            }
            match status {
                Status::StreamEnd => self.ended = true,
                Status::Ok | Status::BufError => {
                    // Room left in `out` does not prove the inflater has nothing
                    // more to give: stop only when a call produces nothing.
                    if produced == 0 && (pos >= input.len() || consumed == 0) {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Grows `buf` so it has spare room for up to `chunk` more bytes, doubling its
/// capacity when it can but never past `cap` in total.
pub(crate) fn reserve_bounded(buf: &mut Vec<u8>, chunk: usize, cap: usize) {
    let len = buf.len();
    if buf.capacity() > len || len >= cap {
        return;
    }
    let want = buf.capacity().saturating_mul(2).max(len + chunk).min(cap);
    buf.reserve_exact(want - len);
}

/// The sending half: compresses our messages.
pub(crate) struct Deflater {
    c: Compress,
    /// A level-0 compressor (stored blocks only), made when a message is too long
    /// for the peer's reduced window.
    stored: Option<Compress>,
    /// We promised to reset our compressor after every message.
    no_context_takeover: bool,
    /// Largest window (log2) the peer's decompressor accepts.
    max_window_bits: u8,
    min_size: usize,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("no_context_takeover", &self.no_context_takeover)
            .field("max_window_bits", &self.max_window_bits)
            .finish_non_exhaustive()
    }
}

impl Deflater {
    pub(crate) fn new(no_context_takeover: bool, max_window_bits: u8, level: u32, min_size: usize) -> Self {
        Self {
            c: Compress::new(Compression::new(level.min(9)), false),
            stored: None,
            no_context_takeover,
            max_window_bits,
            min_size,
        }
    }

    /// The compressed payload of `data`, or `None` to send it uncompressed
    /// (too small, or the compressor failed).
    pub(crate) fn compress(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        if data.len() < self.min_size {
            return None;
        }
        if self.max_window_bits < 15 {
            if data.len() > 1usize << self.max_window_bits {
                let stored = self.stored.get_or_insert_with(|| Compress::new(Compression::none(), false));
                let result = run(stored, data);
                stored.reset();
                return result;
            }
            self.c.reset();
        }
        let result = run(&mut self.c, data);
        if self.no_context_takeover || result.is_none() {
            self.c.reset();
        }
        result
    }
}

/// Compresses `data` with `c` and a sync flush, without the flush's empty stored block.
///
/// miniz_oxide may end a call short of a complete flush with room to spare,
/// and answers every further sync flush with another empty stored block, so
/// neither the room left nor the tail alone proves the flush complete: one more
/// flush that yields nothing but an empty stored block does (and is dropped).
fn run(c: &mut Compress, data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 64 + 64);
    let start = c.total_in();
    let mut flush = FlushCompress::None;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(1024));
        }
        let consumed = usize::try_from(c.total_in() - start).ok()?;
        let (len_before, in_before) = (out.len(), c.total_in());
        c.compress_vec(data.get(consumed..)?, &mut out, flush).ok()?;
        let consumed = usize::try_from(c.total_in() - start).ok()?;
        if consumed < data.len() {
            if c.total_in() == in_before && out.len() == len_before && out.capacity() > out.len() {
                return None;
            }
            continue;
        }
        match flush {
            FlushCompress::None => flush = FlushCompress::Sync,
            // Nothing more to flush (zlib's behaviour): complete if it ended with the block.
            _ if out.len() == len_before => {
                if !out.ends_with(&TAIL) {
                    return None;
                }
                out.truncate(out.len() - TAIL.len());
                return Some(out);
            }
            _ if out.len() - len_before <= EMPTY_STORED_BLOCK.len()
                && out[len_before..].ends_with(&TAIL)
                && out[..len_before].ends_with(&TAIL) =>
            {
                out.truncate(len_before - TAIL.len());
                return Some(out);
            }
            _ => {}
        }
    }
}

/// An empty stored block: what a sync flush emits when it has nothing else to flush.
const EMPTY_STORED_BLOCK: [u8; 5] = [0x00, 0x00, 0x00, 0xff, 0xff];

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| b"abcdefghij klmnop"[(i * 7 + i / 13) % 17]).collect()
    }

    #[test]
    fn round_trip_with_context() {
        let mut d = Deflater::new(false, 15, 6, 0);
        let mut i = Inflater::new(false);
        for n in [0, 1, 100, 5000, 70_000, 300_000] {
            let data = sample(n);
            let c = d.compress(&data).expect("compressed");
            let mut out = Vec::new();
            i.inflate(&c, &mut out, usize::MAX / 2).expect("inflate");
            i.finish(&mut out, usize::MAX / 2).expect("finish");
            assert_eq!(out, data);
        }
    }

    #[test]
    fn empty_message_is_one_zero_byte() {
        let mut d = Deflater::new(false, 15, 6, 0);
        assert_eq!(d.compress(b""), Some(vec![0x00]));
    }

    #[test]
    fn small_window_stores_long_messages() {
        let mut d = Deflater::new(false, 8, 6, 0);
        assert!(d.compress(&sample(256)).is_some_and(|c| c.len() < 256));
        let stored = d.compress(&sample(257)).expect("stored");
        // One stored block (a header byte, LEN, NLEN, the message itself), then the
        // first byte of the sync flush's empty block, whose tail is stripped.
        assert_eq!(stored.len(), 5 + 257 + 1);
        assert_eq!(&stored[5..5 + 257], &sample(257)[..]);
        let mut inflater = Inflater::new(false);
        let mut out = Vec::new();
        inflater.inflate(&stored, &mut out, usize::MAX).expect("inflates");
        inflater.finish(&mut out, usize::MAX).expect("inflates");
        assert_eq!(out, sample(257));
    }

    #[test]
    fn bounded_inflation() {
        let zeros = vec![0u8; 4 * 1024 * 1024];
        let mut d = Deflater::new(false, 15, 6, 0);
        let c = d.compress(&zeros).expect("compressed");
        let mut i = Inflater::new(false);
        let mut out = Vec::new();
        let limit = 100_000;
        let r = i.inflate(&c, &mut out, limit).and_then(|()| i.finish(&mut out, limit));
        assert_eq!(r.map_err(|e| e.0), Err(MESSAGE_TOO_BIG));
        assert!(out.capacity() <= limit + 1, "{}", out.capacity());
    }

    #[test]
    fn garbage_is_1007() {
        let mut i = Inflater::new(false);
        let mut out = Vec::new();
        let r = i.inflate(&[0xff, 0xff, 0xff, 0xff], &mut out, 1000).and_then(|()| i.finish(&mut out, 1000));
        assert_eq!(r.map_err(|e| e.0), Err(INVALID_PAYLOAD));
    }

    #[test]
    fn bfinal_block_then_next_message() {
        // A complete raw deflate stream with BFINAL, as some peers send.
        let mut c = Compress::new(Compression::new(6), false);
        let mut stream = Vec::with_capacity(256);
        c.compress_vec(b"hello hello hello", &mut stream, FlushCompress::Finish).expect("compress");
        let mut i = Inflater::new(false);
        let mut out = Vec::new();
        i.inflate(&stream, &mut out, 1000).expect("inflate");
        i.finish(&mut out, 1000).expect("finish");
        assert_eq!(out, b"hello hello hello");
        let mut d = Deflater::new(false, 15, 6, 0);
        let next = d.compress(b"second message").expect("c");
        let mut out = Vec::new();
        i.inflate(&next, &mut out, 1000).expect("inflate");
        i.finish(&mut out, 1000).expect("finish");
        assert_eq!(out, b"second message");
    }
}

#[cfg(test)]
mod flush_tests {
    use super::*;

    /// miniz_oxide can end a call short of a complete sync flush with room to
    /// spare (seen with a 65535-byte message after two others); every size must
    /// still come out compressed and whole.
    #[test]
    fn every_message_is_compressed_whatever_its_size_and_history() {
        // Words picked by a linear congruential generator: text-like, compressible
        // but not trivially; then noise, which deflate stores.
        let words: [&[u8]; 8] =
            [b"milpa ", b"maize ", b"beans ", b"squash ", b"\n", b"0x1f ", b"%PDF ", b"stream "];
        let mut seed = 12_345u32;
        let mut data = Vec::new();
        while data.len() < 200_000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            data.extend_from_slice(words[(seed >> 16) as usize % words.len()]);
        }
        data.extend((0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        let mut d = Deflater::new(false, 15, 1, 0);
        let mut inflater = Inflater::new(false);
        for n in [16usize, 1000, 65_535, 65_536, 65_537, 131_072, 4_095, 200_000, 400_000] {
            let compressed = d.compress(&data[..n]).expect("compressed");
            assert!(n < 1000 || compressed.len() < n, "size {n} compresses");
            let mut out = Vec::new();
            inflater.inflate(&compressed, &mut out, usize::MAX).expect("inflates");
            inflater.finish(&mut out, usize::MAX).expect("inflates");
            assert_eq!(out, &data[..n], "size {n}");
        }
    }
}
