//! The header field type shared by the decoder and the encoder.

use core::fmt;

use bytes::Bytes;

/// One header field: a name, a value and the never-indexed flag.
///
/// The decoder produces these (names and values are cheap `Bytes` handles: slices of the
/// block for plain literals, shared table entries for indexed fields, or slices of one shared
/// buffer for Huffman strings). The encoder accepts them through [`Encoder::encode`].
///
/// `Debug` prints the value of a sensitive field as `<sensitive>`, so logging a header list
/// does not leak credentials.
///
/// [`Encoder::encode`]: crate::Encoder::encode
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct HeaderField {
    /// Field name. HTTP/2 requires lowercase names; HPACK itself carries any bytes and does
    /// not check, so the HTTP/2 layer must validate names (and values) it receives.
    pub name: Bytes,
    /// Field value, as raw bytes.
    pub value: Bytes,
    /// Never-indexed (RFC 7541 §6.2.3, §7.1.3).
    ///
    /// On decode: the peer sent the field as a literal never indexed; an intermediary that
    /// forwards it must re-encode it never-indexed too (the [`Encoder`](crate::Encoder) does
    /// when this is set). On encode: forces a never-indexed literal, whatever the policy says.
    pub sensitive: bool,
}

impl HeaderField {
    /// A field that is not marked sensitive. Pass `&'static` data or `Bytes` to avoid copies:
    /// `HeaderField::new(":status", "200")` costs no allocation.
    #[must_use]
    pub fn new(name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        HeaderField { name: name.into(), value: value.into(), sensitive: false }
    }

    /// A field that must be sent as a literal never indexed (credentials, session cookies).
    #[must_use]
    pub fn sensitive(name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        HeaderField { name: name.into(), value: value.into(), sensitive: true }
    }

    /// Size of the field for header-list accounting: `name + value + 32`
    /// (RFC 7541 §4.1, RFC 9113 §6.5.2 SETTINGS_MAX_HEADER_LIST_SIZE).
    #[must_use]
    pub fn size(&self) -> usize {
        self.name.len() + self.value.len() + crate::table::ENTRY_OVERHEAD
    }
}

impl fmt::Debug for HeaderField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("HeaderField");
        s.field("name", &String::from_utf8_lossy(&self.name));
        if self.sensitive {
            s.field("value", &format_args!("<sensitive>"));
        } else {
            s.field("value", &String::from_utf8_lossy(&self.value));
        }
        s.field("sensitive", &self.sensitive).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_sensitive_values() {
        let f = HeaderField::sensitive("authorization", "Bearer secret");
        let shown = format!("{f:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("authorization"));
        let g = HeaderField::new("server", "milpa");
        assert!(format!("{g:?}").contains("milpa"));
        assert_eq!(g.size(), 6 + 5 + 32);
    }
}
