//! Incremental UTF-8 validation of a message that arrives in pieces.

/// Tracks how far a growing buffer has been validated.
///
/// Call [`Utf8Check::advance`] after every append; bytes that could still start
/// a valid sequence (an incomplete tail of at most 3 bytes) are re-checked on the
/// next call, so a code point split across fragments at any byte boundary works,
/// while an impossible byte sequence is reported as soon as it is seen.
#[derive(Debug, Default)]
pub(crate) struct Utf8Check {
    valid_up_to: usize,
}

impl Utf8Check {
    /// Checks the bytes of `buf` not yet known valid. `Err` means `buf` can never
    /// become valid UTF-8, whatever follows.
    pub(crate) fn advance(&mut self, buf: &[u8]) -> Result<(), ()> {
        let rest = buf.get(self.valid_up_to..).unwrap_or_default();
        match std::str::from_utf8(rest) {
            Ok(_) => {
                self.valid_up_to = buf.len();
                Ok(())
            }
            Err(e) if e.error_len().is_none() => {
                self.valid_up_to += e.valid_up_to();
                Ok(())
            }
            Err(_) => Err(()),
        }
    }

    /// True when the whole of `buf` (already passed to `advance`) is valid:
    /// no incomplete sequence is left at the end.
    pub(crate) fn is_complete(&self, buf: &[u8]) -> bool {
        self.valid_up_to == buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_at_every_boundary() {
        let text = "héllo €𝄞 wörld".as_bytes();
        for cut in 0..=text.len() {
            let mut buf = Vec::new();
            let mut c = Utf8Check::default();
            buf.extend_from_slice(&text[..cut]);
            assert!(c.advance(&buf).is_ok());
            buf.extend_from_slice(&text[cut..]);
            assert!(c.advance(&buf).is_ok());
            assert!(c.is_complete(&buf));
        }
    }

    #[test]
    fn byte_at_a_time() {
        let text = "κόσμε𝄞".as_bytes();
        let mut buf = Vec::new();
        let mut c = Utf8Check::default();
        for &b in text {
            buf.push(b);
            assert!(c.advance(&buf).is_ok());
        }
        assert!(c.is_complete(&buf));
    }

    #[test]
    fn fails_fast() {
        let mut c = Utf8Check::default();
        // A valid start, then 0xF4 0x90 (> U+10FFFF) is impossible already.
        let buf = [b'a', 0xf4, 0x90];
        assert!(c.advance(&buf).is_err());
        let mut c = Utf8Check::default();
        assert!(c.advance(&[0xce, 0xba, 0xe1]).is_ok());
        assert!(!c.is_complete(&[0xce, 0xba, 0xe1]));
        assert!(
            c.advance(&[0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0])
                .is_err()
        );
    }
}
