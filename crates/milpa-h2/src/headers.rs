//! Validation of header sections (RFC 9113 §8.1–§8.3, RFC 8441 §4): requests and trailers
//! the client sends, and the fields the application asks us to send.

use bytes::Bytes;
use http::Method;
use milpa_hpack::HeaderField;

use crate::error::Malformed;
use crate::event::Request;
use crate::priority::Priority;

/// Checks a decoded request header section and splits it into a [`Request`].
pub(crate) fn request(mut fields: Vec<HeaderField>, connect_protocol: bool) -> Result<Request, Malformed> {
    let mut method = None;
    let mut scheme = None;
    let mut authority = None;
    let mut path = None;
    let mut protocol = None;
    let mut host = None;
    let mut content_length = None;
    let mut priority = None;
    let mut pseudo = 0;
    for (at, field) in fields.iter_mut().enumerate() {
        check_value(&field.value)?;
        if field.name.first() == Some(&b':') {
            if at > pseudo {
                return Err(Malformed::PseudoHeaderAfterRegular);
            }
            pseudo += 1;
            let slot = match &field.name[..] {
                b":method" => &mut method,
                b":scheme" => &mut scheme,
                b":authority" => &mut authority,
                b":path" => &mut path,
                b":protocol" => &mut protocol,
                _ => return Err(Malformed::UnknownPseudoHeader),
            };
            if slot.replace(std::mem::take(&mut field.value)).is_some() {
                return Err(Malformed::DuplicatePseudoHeader);
            }
            continue;
        }
        check_regular(field)?;
        match &field.name[..] {
            b"content-length" => content_length = Some(merge_content_length(content_length, &field.value)?),
            b"host" => host = Some(field.value.clone()),
            b"priority" => priority = Priority::parse(&field.value).or(priority),
            _ => {}
        }
    }
    // The regular fields become the request's list, in the same storage.
    fields.drain(..pseudo);
    let headers = fields;

    let method: Bytes = method.ok_or(Malformed::MissingPseudoHeader)?;
    let method = Method::from_bytes(&method).map_err(|_| Malformed::InvalidMethod)?;
    if method == Method::CONNECT && protocol.is_none() {
        // RFC 9113 §8.5: only `:authority`.
        if scheme.is_some() || path.is_some() {
            return Err(Malformed::ConnectWithSchemeOrPath);
        }
        if authority.is_none() {
            return Err(Malformed::MissingPseudoHeader);
        }
    } else {
        if protocol.is_some() && (method != Method::CONNECT || !connect_protocol) {
            return Err(Malformed::UnexpectedProtocol);
        }
        let (Some(scheme), Some(path)) = (&scheme, &path) else {
            return Err(Malformed::MissingPseudoHeader);
        };
        if protocol.is_some() && authority.is_none() {
            return Err(Malformed::MissingPseudoHeader);
        }
        check_path(&method, scheme, path)?;
    }
    if let (Some(host), Some(authority)) = (&host, &authority)
        && !host.eq_ignore_ascii_case(authority)
    {
        return Err(Malformed::HostMismatch);
    }
    Ok(Request {
        method,
        scheme,
        authority,
        path,
        protocol,
        headers,
        content_length,
        priority: priority.unwrap_or_default(),
    })
}

/// Checks a decoded trailer section: regular fields only.
pub(crate) fn trailers(fields: Vec<HeaderField>) -> Result<Vec<HeaderField>, Malformed> {
    for field in &fields {
        if field.name.first() == Some(&b':') {
            return Err(Malformed::PseudoHeaderInTrailers);
        }
        check_value(&field.value)?;
        check_regular(field)?;
    }
    Ok(fields)
}

/// Checks a field the application wants to send. `Err` for names that are not lowercase
/// tokens (pseudo-headers included) and for values HTTP/2 forbids. Connection-specific
/// fields pass: an application written for HTTP/1.1 may set `connection: close` or
/// `transfer-encoding`, and they are dropped silently when encoded.
pub(crate) fn outgoing(name: &[u8], value: &[u8]) -> Result<(), ()> {
    if name.is_empty() || !is_lowercase_token(name) {
        return Err(());
    }
    check_value(value).map_err(|_| ())
}

/// Fields HTTP/1.1 uses to manage its connection, which HTTP/2 must not carry (RFC 9113
/// §8.2.2).
pub(crate) fn is_connection_specific(name: &[u8]) -> bool {
    matches!(name, b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade")
}

/// Checks a regular (non-pseudo) received field's name and the connection-specific rules.
fn check_regular(field: &HeaderField) -> Result<(), Malformed> {
    check_name(&field.name)?;
    if is_connection_specific(&field.name) {
        return Err(Malformed::ConnectionSpecific);
    }
    if &field.name[..] == b"te" && &field.value[..] != b"trailers" {
        return Err(Malformed::InvalidTe);
    }
    Ok(())
}

/// RFC 9113 §8.2.1: lowercase, and (stricter) a token.
fn check_name(name: &[u8]) -> Result<(), Malformed> {
    if name.is_empty() {
        return Err(Malformed::EmptyName);
    }
    if is_lowercase_token(name) {
        return Ok(());
    }
    Err(if name.iter().any(u8::is_ascii_uppercase) {
        Malformed::UppercaseName
    } else {
        Malformed::InvalidName
    })
}

/// RFC 9113 §8.2.1: no NUL, CR or LF; no leading or trailing space or tab.
fn check_value(value: &[u8]) -> Result<(), Malformed> {
    if !has_no_forbidden_byte(value)
        || matches!(value.first(), Some(b' ' | b'\t'))
        || matches!(value.last(), Some(b' ' | b'\t'))
    {
        return Err(Malformed::InvalidValue);
    }
    Ok(())
}

/// `:path` must not be empty; for `http`/`https` it starts with `/`, or is `*` for OPTIONS
/// (RFC 9113 §8.3.1).
fn check_path(method: &Method, scheme: &[u8], path: &[u8]) -> Result<(), Malformed> {
    if path.is_empty() {
        return Err(Malformed::InvalidPath);
    }
    if path == b"*" {
        return if method == Method::OPTIONS { Ok(()) } else { Err(Malformed::InvalidPath) };
    }
    if matches!(scheme, b"http" | b"https") && path[0] != b'/' {
        return Err(Malformed::InvalidPath);
    }
    Ok(())
}

/// Folds one `content-length` field into the value seen so far: every value (a field may
/// hold a list) must be the same number.
fn merge_content_length(seen: Option<u64>, value: &[u8]) -> Result<u64, Malformed> {
    let mut length = seen;
    for part in value.split(|&b| b == b',') {
        let part = part.trim_ascii();
        if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
            return Err(Malformed::InvalidContentLength);
        }
        let n = part.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        if length.is_some_and(|l| l != n) {
            return Err(Malformed::InvalidContentLength);
        }
        length = Some(n);
    }
    length.ok_or(Malformed::InvalidContentLength)
}

/// [`BYTE_CLASS`] bit: an RFC 9110 §5.6.2 token character other than an uppercase letter.
const LOWERCASE_TCHAR: u8 = 1;
/// [`BYTE_CLASS`] bit: NUL, CR or LF, never allowed in a field value.
const FORBIDDEN_IN_VALUE: u8 = 2;

/// Per byte, the classes above: header checks run on every field of every request and
/// response, so they look bytes up rather than test ranges.
static BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let token = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
            )
            || matches!(c, b'`' | b'|' | b'~');
        if token && !c.is_ascii_uppercase() {
            table[b] |= LOWERCASE_TCHAR;
        }
        if matches!(c, b'\0' | b'\r' | b'\n') {
            table[b] |= FORBIDDEN_IN_VALUE;
        }
        b += 1;
    }
    table
};

fn is_lowercase_tchar(b: u8) -> bool {
    BYTE_CLASS[usize::from(b)] & LOWERCASE_TCHAR != 0
}

fn is_lowercase_token(name: &[u8]) -> bool {
    name.iter().all(|&b| is_lowercase_tchar(b))
}

/// Whether `value` holds no NUL, CR or LF, eight bytes at a time (SWAR): a word with no
/// byte below 0x0e needs no byte checks; one with such a byte (a tab, which is allowed,
/// or a forbidden one) is checked byte by byte. The last word may overlap the one before
/// it; values shorter than a word go byte by byte.
fn has_no_forbidden_byte(value: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let allowed = |b: u8| BYTE_CLASS[usize::from(b)] & FORBIDDEN_IN_VALUE == 0;
    // The high bit of each ASCII byte below 0x0e; the sum never carries between bytes.
    let low_controls = |x: u64| !((x & (ONES * 0x7f)) + ONES * (0x80 - 0x0e)) & !x & (ONES * 0x80);
    let Some(last) = value.last_chunk::<8>() else {
        return value.iter().all(|&b| allowed(b));
    };
    let (words, _) = value.as_chunks::<8>();
    words
        .iter()
        .chain([last])
        .all(|word| low_controls(u64::from_le_bytes(*word)) == 0 || word.iter().all(|&b| allowed(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(list: &[(&str, &str)]) -> Vec<HeaderField> {
        list.iter().map(|(n, v)| HeaderField::new(n.to_string(), v.to_string())).collect()
    }

    fn get(extra: &[(&str, &str)]) -> Vec<HeaderField> {
        let mut list = fields(&[(":method", "GET"), (":scheme", "https"), (":path", "/")]);
        list.extend(fields(extra));
        list
    }

    #[test]
    fn a_plain_get_is_valid() {
        let request = request(get(&[("accept", "*/*")]), false).unwrap();
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.path(), Some(&b"/"[..]));
        assert_eq!(request.headers().len(), 1);
    }

    #[test]
    fn content_length_lists_must_agree() {
        assert_eq!(merge_content_length(None, b"5, 5"), Ok(5));
        assert_eq!(merge_content_length(Some(5), b"6"), Err(Malformed::InvalidContentLength));
        assert_eq!(merge_content_length(None, b"-1"), Err(Malformed::InvalidContentLength));
        assert_eq!(merge_content_length(None, b"99999999999999999999"), Err(Malformed::InvalidContentLength));
    }

    #[test]
    fn extended_connect_needs_the_setting() {
        let list = fields(&[
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "https"),
            (":path", "/chat"),
            (":authority", "example.com"),
        ]);
        assert_eq!(request(list.clone(), false), Err(Malformed::UnexpectedProtocol));
        assert_eq!(request(list, true).unwrap().protocol(), Some(&b"websocket"[..]));
    }

    #[test]
    fn value_words_agree_with_the_byte_table() {
        // Every byte at every position of a word of value bytes.
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut value = *b"ab c/*\x80~";
                value[at] = b;
                let byte_ok = value.iter().all(|&c| !matches!(c, b'\0' | b'\r' | b'\n'));
                let trimmed = !matches!(value[0], b' ' | b'\t') && !matches!(value[7], b' ' | b'\t');
                assert_eq!(check_value(&value[..]).is_ok(), byte_ok && trimmed, "{value:?}");
            }
        }
        assert!(has_no_forbidden_byte(b"\x0e\x7f\xff\x80 abc\t"));
        assert!(!has_no_forbidden_byte(b"\x0e\x7f\xff\x80 abc\0"));
        assert!(check_value(b"Fri, 27 Nov 2026 08:31:26 GMT\ttail").is_ok());
        assert!(check_value(b"Fri, 27 Nov 2026 08:31:26 GMT\ntail").is_err());
    }

    #[test]
    fn outgoing_fields() {
        assert_eq!(outgoing(b"content-type", b"text/plain"), Ok(()));
        assert_eq!(outgoing(b"connection", b"close"), Ok(()));
        assert!(is_connection_specific(b"connection"));
        assert!(!is_connection_specific(b"content-type"));
        assert_eq!(outgoing(b"Content-Type", b"x"), Err(()));
        assert_eq!(outgoing(b":status", b"200"), Err(()));
        assert_eq!(outgoing(b"x", b"a\r\nb"), Err(()));
    }
}
