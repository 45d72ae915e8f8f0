//! Serializing responses: the status line, validated header fields, and the body
//! framing chosen for them.

use bytes::{Bytes, BytesMut};
use http::StatusCode;

use crate::error::SendError;
use crate::framing::parse_decimal;
use crate::output::Output;

/// How the response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyWriter {
    /// `Content-Length`: this many bytes remain.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// HTTP/1.0 without a length: the body ends when the connection closes.
    CloseDelimited,
    /// The response has no body (HEAD, 1xx, 204, 304, CONNECT 2xx); data is dropped.
    Discard,
}

/// What the application's header fields said about framing and the connection.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Declared {
    pub(crate) content_length: Option<u64>,
    pub(crate) chunked: bool,
    pub(crate) connection_close: bool,
    pub(crate) connection_field: bool,
}

/// Which of the application's fields are dropped because the response cannot carry them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldPolicy {
    /// 1xx, 204 and 2xx to CONNECT: no `Content-Length` or `Transfer-Encoding` (RFC 9110 §8.6).
    pub(crate) drop_length: bool,
    /// No chunked coding can be sent (HEAD, 304, or an HTTP/1.0 client).
    pub(crate) drop_transfer_encoding: bool,
}

pub(crate) fn write_status_line(out: &mut Output, status: StatusCode) {
    let common: &[u8] = match status.as_u16() {
        200 => b"HTTP/1.1 200 OK\r\n",
        204 => b"HTTP/1.1 204 No Content\r\n",
        304 => b"HTTP/1.1 304 Not Modified\r\n",
        404 => b"HTTP/1.1 404 Not Found\r\n",
        _ => b"",
    };
    if !common.is_empty() {
        out.put_slice(common);
        return;
    }
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(status.as_str().as_bytes());
    out.put_slice(b" ");
    out.put_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.put_slice(b"\r\n");
}

/// Header fields checked once and then sent as they are with many responses, such as
/// a server's `date` (new each second) and `server`: [`Connection::send_response_with`]
/// copies them without checking them again.
///
/// Fields that decide the framing or the connection (`content-length`,
/// `transfer-encoding`, `connection`) are refused: each response must state those itself.
///
/// [`Connection::send_response_with`]: crate::Connection::send_response_with
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldBlock {
    encoded: Bytes,
}

impl FieldBlock {
    /// Checks `fields` and encodes them. `Err(InvalidHeader)` for a name that is not a
    /// token or a value with control bytes, `Err(InvalidFraming)` for the fields above.
    pub fn new<I, N, V>(fields: I) -> Result<Self, SendError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut encoded = BytesMut::new();
        for (name, value) in fields {
            let (name, value) = (name.as_ref(), value.as_ref());
            if !is_token(name) || !is_field_value(value) {
                return Err(SendError::InvalidHeader);
            }
            let framing = [&b"content-length"[..], b"transfer-encoding", b"connection"];
            if framing.iter().any(|framing| name.eq_ignore_ascii_case(framing)) {
                return Err(SendError::InvalidFraming);
            }
            encoded.extend_from_slice(name);
            encoded.extend_from_slice(b": ");
            encoded.extend_from_slice(value);
            encoded.extend_from_slice(b"\r\n");
        }
        Ok(Self { encoded: encoded.freeze() })
    }

    /// The fields as they go on the wire, each ending in CRLF.
    pub fn as_bytes(&self) -> &[u8] {
        &self.encoded
    }
}

/// Heads longer than this (status line and fields as written, or the fields as
/// given) are not remembered: the memo's memory stays small whatever the
/// application sends.
const MEMO_LIMIT: usize = 1024;

/// The last response head's status line and fields as written, what its fields
/// declared, and the fields as given. Applications tend to send the same fields
/// response after response; a head equal to the last one byte for byte (same status,
/// same fields in the same order, same policy) was checked then, so it is copied
/// rather than checked and formatted again.
#[derive(Debug, Default)]
pub(crate) struct HeadMemo {
    key: Option<(StatusCode, FieldPolicy)>,
    /// Every field's name and value, back to back.
    given: Vec<u8>,
    /// Every field's name and value lengths.
    lengths: Vec<(usize, usize)>,
    written: Vec<u8>,
    declared: Declared,
}

impl HeadMemo {
    fn matches<I, N, V>(&self, key: (StatusCode, FieldPolicy), fields: I) -> bool
    where
        I: Iterator<Item = (N, V)>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        if self.key != Some(key) {
            return false;
        }
        let mut lengths = self.lengths.iter();
        let mut rest = &self.given[..];
        for (name, value) in fields {
            let (name, value) = (name.as_ref(), value.as_ref());
            let Some(&(name_len, value_len)) = lengths.next() else { return false };
            if name_len != name.len() || value_len != value.len() || rest[..name_len] != *name {
                return false;
            }
            let (given_value, after) = rest[name_len..].split_at(value_len);
            if given_value != value {
                return false;
            }
            rest = after;
        }
        lengths.next().is_none()
    }

    fn remember<I, N, V>(
        &mut self,
        key: (StatusCode, FieldPolicy),
        fields: I,
        written: &[u8],
        declared: Declared,
    ) where
        I: Iterator<Item = (N, V)>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.key = None;
        if written.len() > MEMO_LIMIT {
            return;
        }
        self.given.clear();
        self.lengths.clear();
        for (name, value) in fields {
            let (name, value) = (name.as_ref(), value.as_ref());
            // Fields the policy dropped are not in `written` but are remembered here.
            if self.given.len() + name.len() + value.len() > MEMO_LIMIT {
                self.given.clear();
                self.lengths.clear();
                return;
            }
            self.given.extend_from_slice(name);
            self.given.extend_from_slice(value);
            self.lengths.push((name.len(), value.len()));
        }
        self.written.clear();
        self.written.extend_from_slice(written);
        self.declared = declared;
        self.key = Some(key);
    }
}

/// Writes the status line and the application's fields (see [`write_fields`]),
/// copying them from `memo` when they are the last head's again.
pub(crate) fn write_head<I, N, V>(
    out: &mut Output,
    memo: &mut HeadMemo,
    status: StatusCode,
    fields: I,
    policy: FieldPolicy,
) -> Result<Declared, SendError>
where
    I: Iterator<Item = (N, V)> + Clone,
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let key = (status, policy);
    if memo.matches(key, fields.clone()) {
        out.put_slice(&memo.written);
        return Ok(memo.declared);
    }
    let mark = out.mark();
    write_status_line(out, status);
    let declared = write_fields(out, fields.clone(), policy)?;
    memo.remember(key, fields, out.written_since(mark), declared);
    Ok(declared)
}

/// Writes the application's fields, validating each and noting framing; nothing
/// is rolled back here: the caller truncates `out` on error.
pub(crate) fn write_fields<I, N, V>(
    out: &mut Output,
    fields: I,
    policy: FieldPolicy,
) -> Result<Declared, SendError>
where
    I: IntoIterator<Item = (N, V)>,
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut declared = Declared::default();
    for (name, value) in fields {
        let (name, value) = (name.as_ref(), value.as_ref());
        if !is_token(name) || !is_field_value(value) {
            return Err(SendError::InvalidHeader);
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            if policy.drop_length {
                continue;
            }
            let length = parse_decimal(value.trim_ascii()).ok_or(SendError::InvalidFraming)?;
            if declared.content_length.is_some_and(|previous| previous != length) {
                return Err(SendError::InvalidFraming);
            }
            declared.content_length = Some(length);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if policy.drop_length || policy.drop_transfer_encoding {
                continue;
            }
            if !value.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return Err(SendError::InvalidFraming);
            }
            declared.chunked = true;
        } else if name.eq_ignore_ascii_case(b"connection") {
            declared.connection_field = true;
            declared.connection_close |=
                value.split(|&b| b == b',').any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"));
        }
        write_field(out, name, value);
    }
    if declared.chunked && declared.content_length.is_some() {
        return Err(SendError::InvalidFraming);
    }
    Ok(declared)
}

pub(crate) fn write_field(out: &mut Output, name: &[u8], value: &[u8]) {
    out.put_field(name, value);
}

pub(crate) fn write_decimal(out: &mut Output, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&digits[at..]);
}

/// Writes a chunk-size line: the length in hex and CRLF.
pub(crate) fn write_chunk_size(out: &mut Output, n: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut n = n as u64;
    loop {
        at -= 1;
        digits[at] = HEX[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&digits[at..]);
    out.put_slice(b"\r\n");
}

/// A lookup table of the bytes that are ASCII alphanumeric or in `extra`: checks
/// that run on every header name or host byte cost one load per byte.
pub(crate) const fn byte_class(extra: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = (byte as u8).is_ascii_alphanumeric();
        byte += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
}

/// RFC 9110 §5.6.2 token characters.
const TOKEN: [bool; 256] = byte_class(b"!#$%&'*+-.^_`|~");

/// Whether `bytes` is a non-empty token.
pub(crate) fn is_token(bytes: &[u8]) -> bool {
    // A fold without early exit: branch-free on the short names it sees.
    !bytes.is_empty() && bytes.iter().fold(true, |ok, &b| ok & TOKEN[usize::from(b)])
}

/// RFC 9110 §5.5: visible characters, obs-text, spaces and tabs; no CR, LF, NUL or
/// other control bytes, so a value can never inject a line.
fn is_field_value(bytes: &[u8]) -> bool {
    // Eight bytes at a time: most values have no control byte at all, and only a
    // word that has one (a tab, usually) is looked at byte by byte.
    let (words, rest) = bytes.as_chunks::<8>();
    words.iter().all(|word| !has_control(u64::from_le_bytes(*word)) || word.iter().all(|&b| is_value_byte(b)))
        && rest.iter().all(|&b| is_value_byte(b))
}

fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// Whether any byte of `word` is below 0x20 or is 0x7f (exact, per the classic
/// "has zero byte" bit trick; bytes of 0x80 and up never match).
const fn has_control(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    let del = word ^ (ONES * 0x7f);
    let is_del = del.wrapping_sub(ONES) & !del & HIGHS;
    (below_space | is_del) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_values_reject_every_control_byte_but_tab() {
        for byte in 0u8..=255 {
            for position in [0, 3, 7, 8, 12] {
                let mut value = *b"abcdefghijklmn";
                value[position] = byte;
                assert_eq!(is_field_value(&value), is_value_byte(byte), "byte {byte:#x} at {position}");
            }
        }
    }
}
