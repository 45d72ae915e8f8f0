//! Request body framing (RFC 9112 §6): the rules that keep requests from being
//! smuggled past or through this server.

use http::Version;

use crate::error::ErrorKind;
use crate::head::{BodyLength, Headers};

/// Decides how the request body is framed, rejecting every ambiguous head.
pub(crate) fn request_body(version: Version, headers: &Headers) -> Result<BodyLength, ErrorKind> {
    let has_transfer_encoding = headers.get(b"transfer-encoding").is_some();
    let has_content_length = headers.get(b"content-length").is_some();
    if has_transfer_encoding {
        if has_content_length {
            return Err(ErrorKind::ConflictingFraming);
        }
        if version == Version::HTTP_10 {
            return Err(ErrorKind::InvalidTransferEncoding);
        }
        return transfer_coding(headers).map(|()| BodyLength::Chunked);
    }
    if has_content_length {
        return content_length(headers.get_all(b"content-length")).map(|length| match length {
            0 => BodyLength::Empty,
            n => BodyLength::Known(n),
        });
    }
    Ok(BodyLength::Empty)
}

/// Accepts exactly `chunked` as the final and only coding: a list not ending in
/// `chunked` (or repeating it) cannot be framed, and any other coding is one this
/// server does not decode (501, RFC 9112 §6.1).
fn transfer_coding(headers: &Headers) -> Result<(), ErrorKind> {
    let mut codings = headers.list(b"transfer-encoding").peekable();
    let mut other_coding = false;
    let mut saw_any = false;
    while let Some(coding) = codings.next() {
        saw_any = true;
        let is_chunked = coding.eq_ignore_ascii_case(b"chunked");
        let is_last = codings.peek().is_none();
        match (is_chunked, is_last) {
            (true, true) => {}
            (true, false) => return Err(ErrorKind::InvalidTransferEncoding),
            (false, true) => return Err(ErrorKind::InvalidTransferEncoding),
            (false, false) => other_coding = true,
        }
    }
    if !saw_any {
        return Err(ErrorKind::InvalidTransferEncoding);
    }
    if other_coding {
        return Err(ErrorKind::UnsupportedTransferEncoding);
    }
    Ok(())
}

/// Parses every `Content-Length` value: each comma-separated element must be plain
/// decimal digits without sign or prefix, fit in a `u64`, and all must agree.
pub(crate) fn content_length<'a>(values: impl Iterator<Item = &'a [u8]>) -> Result<u64, ErrorKind> {
    let mut agreed = None;
    for value in values {
        for element in value.split(|&b| b == b',') {
            let length = parse_decimal(element.trim_ascii()).ok_or(ErrorKind::InvalidContentLength)?;
            match agreed {
                Some(previous) if previous != length => return Err(ErrorKind::InvalidContentLength),
                _ => agreed = Some(length),
            }
        }
    }
    agreed.ok_or(ErrorKind::InvalidContentLength)
}

/// `1*DIGIT` into a `u64`, `None` on anything else or on overflow.
pub(crate) fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        let digit = (b as char).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_rejects_signs_prefixes_and_overflow() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        for bad in [&b""[..], b"+5", b"-1", b"0x5", b"5 ", b"18446744073709551616", b"1e3"] {
            assert_eq!(parse_decimal(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn content_length_lists_must_agree() {
        assert_eq!(content_length([&b"5, 5"[..]].into_iter()), Ok(5));
        assert_eq!(content_length([&b"5"[..], b"5"].into_iter()), Ok(5));
        assert!(content_length([&b"5,6"[..]].into_iter()).is_err());
        assert!(content_length([&b"5"[..], b"6"].into_iter()).is_err());
        assert!(content_length([&b"5,"[..]].into_iter()).is_err());
    }
}
