//! Telling HTTP/2 with prior knowledge from HTTP/1.1 by a plain-text connection's
//! first bytes (RFC 9113 §3.3): HTTP/2 clients start with the connection preface,
//! which no HTTP/1.1 request can begin with.

use crate::frame::CONNECTION_PREFACE;

/// What the first bytes of a plain-text connection say it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sniffed {
    /// The whole connection preface arrived: HTTP/2. Hand every byte read so far,
    /// the preface included, to [`Connection::receive`](crate::Connection::receive).
    Http2,
    /// A byte differs from the preface: anything else (HTTP/1.1). Hand every byte
    /// read so far to the HTTP/1.1 machine.
    Other,
    /// Every byte so far matches the preface: read more. If the peer closes now,
    /// treat what arrived as [`Sniffed::Other`].
    NeedMore,
}

/// Classifies `first`, everything read from the connection so far. The answer for
/// a longer input that starts with `first` is the same once it is not `NeedMore`.
#[must_use]
pub fn sniff(first: &[u8]) -> Sniffed {
    let compared = first.len().min(CONNECTION_PREFACE.len());
    if first[..compared] != CONNECTION_PREFACE[..compared] {
        Sniffed::Other
    } else if compared == CONNECTION_PREFACE.len() {
        Sniffed::Http2
    } else {
        Sniffed::NeedMore
    }
}

/// How many more bytes [`sniff`] may need: read at most this many so as not to
/// consume bytes meant for the protocol (they are handed on either way).
#[must_use]
pub fn bytes_wanted(first: &[u8]) -> usize {
    match sniff(first) {
        Sniffed::NeedMore => CONNECTION_PREFACE.len() - first.len(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preface_byte_by_byte_then_anything_else() {
        for end in 0..CONNECTION_PREFACE.len() {
            assert_eq!(sniff(&CONNECTION_PREFACE[..end]), Sniffed::NeedMore);
            assert_eq!(bytes_wanted(&CONNECTION_PREFACE[..end]), CONNECTION_PREFACE.len() - end);
        }
        assert_eq!(sniff(CONNECTION_PREFACE), Sniffed::Http2);
        assert_eq!(sniff(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04"), Sniffed::Http2);
        assert_eq!(sniff(b"GET / HTTP/1.1\r\n"), Sniffed::Other);
        assert_eq!(sniff(b"PRI * HTTP/1.1"), Sniffed::Other);
        assert_eq!(sniff(b"P"), Sniffed::NeedMore);
        assert_eq!(bytes_wanted(b"GET"), 0);
    }
}
