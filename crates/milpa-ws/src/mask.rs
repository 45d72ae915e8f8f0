//! Payload masking (RFC 6455 §5.3): XOR with a 4-byte key, resumable at any offset.

/// XORs `buf` with `key`, as if `buf` started `offset` bytes into the payload.
pub(crate) fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let rot = offset % 4;
    let key = [key[rot], key[(rot + 1) % 4], key[(rot + 2) % 4], key[(rot + 3) % 4]];
    let wide = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(word) ^ wide;
        chunk.copy_from_slice(&x.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

/// A source of client mask keys: the OS random generator, read in batches.
#[derive(Debug)]
pub(crate) struct MaskSource {
    pool: [u8; 64],
    used: usize,
    fallback: u64,
}

impl MaskSource {
    pub(crate) fn new() -> Self {
        Self { pool: [0; 64], used: 64, fallback: 0x9E37_79B9_7F4A_7C15 }
    }

    /// The next mask key. Falls back to a mixing counter if the OS generator fails
    /// (masking guards intermediaries, not secrets, RFC 6455 §10.3).
    pub(crate) fn next_key(&mut self) -> [u8; 4] {
        if self.used + 4 > self.pool.len() {
            if getrandom::getrandom(&mut self.pool).is_err() {
                for chunk in self.pool.chunks_exact_mut(8) {
                    self.fallback = self
                        .fallback
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    chunk.copy_from_slice(&(self.fallback ^ (self.fallback >> 29)).to_le_bytes());
                }
            }
            self.used = 0;
        }
        let mut key = [0; 4];
        key.copy_from_slice(&self.pool[self.used..self.used + 4]);
        self.used += 4;
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
    }

    #[test]
    fn matches_naive_at_every_offset_and_length() {
        let key = [0x12, 0x34, 0x56, 0x78];
        for len in 0..40 {
            for offset in 0..8 {
                let data: Vec<u8> = (0..len as u8).collect();
                let mut a = data.clone();
                let mut b = data.clone();
                apply_mask(&mut a, key, offset);
                naive(&mut b, key, offset);
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn split_masking_equals_whole() {
        let key = [1, 2, 3, 4];
        let data: Vec<u8> = (0..=255).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        let mut parts = data.clone();
        let (a, b) = parts.split_at_mut(13);
        apply_mask(a, key, 0);
        apply_mask(b, key, 13);
        assert_eq!(whole, parts);
    }

    #[test]
    fn keys_vary() {
        let mut s = MaskSource::new();
        let keys: Vec<_> = (0..40).map(|_| s.next_key()).collect();
        assert!(keys.windows(2).any(|w| w[0] != w[1]));
    }
}
