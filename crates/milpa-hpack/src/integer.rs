//! Prefix-coded integers, RFC 7541 §5.1.
//!
//! Decoding accepts at most [`MAX_CONTINUATION_BYTES`] continuation bytes and values up to
//! `u32::MAX`; anything longer or larger is [`DecodeError::IntegerOverflow`]. No length,
//! index or table size in HPACK needs more, and the bound keeps a hostile block from making
//! the decoder loop over an endless run of `0x80` bytes.

use bytes::{BufMut, BytesMut};

use crate::DecodeError;

/// Most continuation bytes accepted after the prefix (5 × 7 = 35 bits of payload).
pub(crate) const MAX_CONTINUATION_BYTES: usize = 5;

/// Largest value accepted.
pub(crate) const MAX_VALUE: u64 = u32::MAX as u64;

/// Decodes an integer whose prefix is the low `prefix_bits` bits of `buf[*pos]`, advancing
/// `*pos` past it. `prefix_bits` is 1..=8.
#[inline]
pub(crate) fn decode(buf: &[u8], pos: &mut usize, prefix_bits: u8) -> Result<usize, DecodeError> {
    debug_assert!((1..=8).contains(&prefix_bits));
    let Some(&first) = buf.get(*pos) else {
        return Err(DecodeError::Truncated);
    };
    *pos += 1;
    let mask = ((1u16 << prefix_bits) - 1) as u8;
    let prefix = first & mask;
    if prefix < mask {
        return Ok(usize::from(prefix));
    }
    let mut value = u64::from(mask);
    let mut shift = 0u32;
    for _ in 0..MAX_CONTINUATION_BYTES {
        let Some(&byte) = buf.get(*pos) else {
            return Err(DecodeError::Truncated);
        };
        *pos += 1;
        value += u64::from(byte & 0x7f) << shift;
        if value > MAX_VALUE {
            return Err(DecodeError::IntegerOverflow);
        }
        if byte & 0x80 == 0 {
            return usize::try_from(value).map_err(|_| DecodeError::IntegerOverflow);
        }
        shift += 7;
    }
    Err(DecodeError::IntegerOverflow)
}

/// Appends `value` with a `prefix_bits`-bit prefix; `flags` supplies the bits above the
/// prefix in the first byte (for example `0x80` for an indexed field).
#[inline]
pub(crate) fn encode(value: usize, prefix_bits: u8, flags: u8, dst: &mut BytesMut) {
    debug_assert!((1..=8).contains(&prefix_bits));
    let mask = ((1u16 << prefix_bits) - 1) as usize;
    if value < mask {
        dst.put_u8(flags | value as u8);
        return;
    }
    let mut buf = [0u8; 11];
    buf[0] = flags | mask as u8;
    let mut n = 1;
    let mut rest = value - mask;
    while rest >= 0x80 {
        buf[n] = (rest as u8 & 0x7f) | 0x80;
        rest >>= 7;
        n += 1;
    }
    buf[n] = rest as u8;
    dst.extend_from_slice(&buf[..=n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(value: usize, prefix: u8) -> Vec<u8> {
        let mut b = BytesMut::new();
        encode(value, prefix, 0, &mut b);
        b.to_vec()
    }

    fn dec(buf: &[u8], prefix: u8) -> Result<usize, DecodeError> {
        let mut pos = 0;
        let v = decode(buf, &mut pos, prefix)?;
        assert_eq!(pos, buf.len(), "trailing bytes");
        Ok(v)
    }

    #[test]
    fn rfc7541_c1_examples() {
        // C.1.1: 10 with a 5-bit prefix.
        assert_eq!(enc(10, 5), [0x0a]);
        assert_eq!(dec(&[0x0a], 5), Ok(10));
        // C.1.2: 1337 with a 5-bit prefix.
        assert_eq!(enc(1337, 5), [0x1f, 0x9a, 0x0a]);
        assert_eq!(dec(&[0x1f, 0x9a, 0x0a], 5), Ok(1337));
        // C.1.3: 42 starting at an octet boundary.
        assert_eq!(enc(42, 8), [0x2a]);
        assert_eq!(dec(&[0x2a], 8), Ok(42));
    }

    #[test]
    fn flags_are_kept_and_ignored() {
        let mut b = BytesMut::new();
        encode(3, 7, 0x80, &mut b);
        assert_eq!(&b[..], [0x83]);
        assert_eq!(dec(&[0x83], 7), Ok(3));
        assert_eq!(dec(&[0xff, 0x00], 7), Ok(127));
    }

    #[test]
    fn round_trips_edges() {
        for prefix in 1..=8u8 {
            let mask = (1usize << prefix) - 1;
            for v in
                [0, 1, mask - 1, mask, mask + 1, mask + 127, mask + 128, 16_383, 1 << 20, u32::MAX as usize]
            {
                assert_eq!(dec(&enc(v, prefix), prefix), Ok(v), "v={v} prefix={prefix}");
            }
        }
    }

    #[test]
    fn max_value_fits_in_five_continuation_bytes() {
        let bytes = enc(u32::MAX as usize, 1);
        assert_eq!(bytes.len(), 1 + MAX_CONTINUATION_BYTES);
    }

    #[test]
    fn rejects_too_many_continuation_bytes() {
        // Six continuation bytes, even if the value would be small (overlong zeros).
        let buf = [0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert_eq!(dec(&buf, 5), Err(DecodeError::IntegerOverflow));
        // Five continuation bytes ending the integer are fine.
        assert_eq!(dec(&[0x1f, 0x80, 0x80, 0x80, 0x80, 0x00], 5), Ok(31));
    }

    #[test]
    fn rejects_values_above_u32() {
        // 0xff + 2^32: overflows u32.
        assert_eq!(dec(&[0xff, 0x81, 0xfe, 0xff, 0xff, 0x0f], 8), Err(DecodeError::IntegerOverflow));
        // u32::MAX with an 8-bit prefix is accepted.
        assert_eq!(dec(&enc(u32::MAX as usize, 8), 8), Ok(u32::MAX as usize));
        // A huge 5th continuation byte.
        assert_eq!(dec(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0x7f], 5), Err(DecodeError::IntegerOverflow));
    }

    #[test]
    fn rejects_truncation() {
        assert_eq!(dec(&[], 5), Err(DecodeError::Truncated));
        assert_eq!(dec(&[0x1f], 5), Err(DecodeError::Truncated));
        assert_eq!(dec(&[0x1f, 0x9a], 5), Err(DecodeError::Truncated));
    }
}
