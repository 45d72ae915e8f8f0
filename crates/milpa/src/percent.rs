//! Percent-decoding of request paths for the scope's `path`, and percent-encoding
//! of path segments and queries for the URLs the server writes itself (redirects).

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

/// Appends `segment` to `out` as one path segment (RFC 3986 `segment`): every byte
/// but the unreserved ones, sub-delimiters, `:` and `@` escaped, `/`, `\`, `%`,
/// `?` and `#` included, so the segment can neither split nor end the path.
pub(crate) fn encode_segment(segment: &str, out: &mut String) {
    for &byte in segment.as_bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            push_escape(byte, out);
        }
    }
}

/// Appends a query string kept as the client sent it, but with any byte that may
/// not stand in a URL (controls, spaces, non-ASCII) escaped.
pub(crate) fn encode_query(query: &[u8], out: &mut String) {
    for &byte in query {
        if byte.is_ascii_graphic() {
            out.push(char::from(byte));
        } else {
            push_escape(byte, out);
        }
    }
}

fn push_escape(byte: u8, out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(DIGITS[usize::from(byte >> 4)]));
    out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
}

#[cfg(test)]
mod tests {
    use super::{decode_path, encode_query, encode_segment};

    #[test]
    fn decodes_escapes_and_keeps_malformed_ones() {
        assert_eq!(decode_path(b"/a%20b"), "/a b");
        assert_eq!(decode_path(b"/%E2%82%AC"), "/€");
        assert_eq!(decode_path(b"/100%"), "/100%");
        assert_eq!(decode_path(b"/%zz%4"), "/%zz%4");
        assert_eq!(decode_path(b"/%2e%2E"), "/..");
    }

    #[test]
    fn encoded_segments_stay_one_segment() {
        let mut out = String::new();
        encode_segment("a b/c\\d%e?f#g€", &mut out);
        assert_eq!(out, "a%20b%2Fc%5Cd%25e%3Ff%23g%E2%82%AC");
        assert_eq!(decode_path(out.as_bytes()), "a b/c\\d%e?f#g€");
        let mut out = String::new();
        encode_segment("keep-._~!$&'()*+,;=:@", &mut out);
        assert_eq!(out, "keep-._~!$&'()*+,;=:@");
        let mut out = String::new();
        encode_query(b"a=1&b=%20c d\r\n\xff", &mut out);
        assert_eq!(out, "a=1&b=%20c%20d%0D%0A%FF");
    }
}
