//! Percent-decoding of request paths for the scope's `path`.

/// Decodes `%XX` escapes; malformed escapes are kept as they are. Invalid UTF-8
/// after decoding is replaced, as ASGI servers do.
pub(crate) fn decode_path(raw: &[u8]) -> String {
    if !raw.contains(&b'%') {
        return match std::str::from_utf8(raw) {
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(raw).into_owned(),
        };
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%'
            && i + 2 < raw.len()
            && let (Some(hi), Some(lo)) = (hex(raw[i + 1]), hex(raw[i + 2]))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::decode_path;

    #[test]
    fn decodes_escapes_and_keeps_malformed_ones() {
        assert_eq!(decode_path(b"/a%20b"), "/a b");
        assert_eq!(decode_path(b"/%E2%82%AC"), "/€");
        assert_eq!(decode_path(b"/100%"), "/100%");
        assert_eq!(decode_path(b"/%zz%4"), "/%zz%4");
        assert_eq!(decode_path(b"/%2e%2E"), "/..");
    }
}
