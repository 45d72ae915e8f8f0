//! Close frame bodies (RFC 6455 §5.5.1, §7.4): which codes may be received or sent.

/// Largest close reason: a control payload is at most 125 bytes, 2 go to the code.
pub const MAX_CLOSE_REASON: usize = 123;

/// Normal closure.
pub const NORMAL: u16 = 1000;
/// Protocol error: the peer broke a framing rule.
pub const PROTOCOL_ERROR: u16 = 1002;
/// Invalid payload data: a text message (or close reason) is not UTF-8, or a
/// compressed message does not inflate.
pub const INVALID_PAYLOAD: u16 = 1007;
/// Message too big for the configured limits.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The transport ended without a close handshake (reported to the application
/// only, never sent).
pub const ABNORMAL: u16 = 1006;

/// True when `code` may appear in a received Close frame.
///
/// 1000–1003, 1007–1014 and 3000–4999. 1004–1006 and 1015 are reserved and must
/// never be on the wire; everything else below 3000 is unassigned.
#[must_use]
pub fn is_valid_received_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// True when `code` may be sent by [`Connection::close`](crate::Connection::close):
/// the same set as [`is_valid_received_code`].
#[must_use]
pub fn is_valid_send_code(code: u16) -> bool {
    is_valid_received_code(code)
}

/// A received Close body, or the close code it earns.
pub(crate) fn parse_close(payload: &[u8]) -> Result<(Option<u16>, String), (u16, &'static str)> {
    match payload {
        [] => Ok((None, String::new())),
        [_] => Err((PROTOCOL_ERROR, "close frame with a 1-byte body")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_received_code(code) {
                return Err((PROTOCOL_ERROR, "invalid close code"));
            }
            match std::str::from_utf8(reason) {
                Ok(reason) => Ok((Some(code), reason.to_owned())),
                Err(_) => Err((INVALID_PAYLOAD, "close reason is not UTF-8")),
            }
        }
    }
}

/// The body of a Close frame we send.
pub(crate) fn close_body(code: Option<u16>, reason: &str) -> Vec<u8> {
    match code {
        None => Vec::new(),
        Some(code) => {
            let mut body = Vec::with_capacity(2 + reason.len());
            body.extend_from_slice(&code.to_be_bytes());
            body.extend_from_slice(reason.as_bytes());
            body
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_codes() {
        for code in 0..=u16::MAX {
            let expected = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert_eq!(is_valid_received_code(code), expected, "{code}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert!(!is_valid_received_code(bad));
        }
    }

    #[test]
    fn parse() {
        assert_eq!(parse_close(&[]), Ok((None, String::new())));
        assert_eq!(parse_close(&[3]), Err((PROTOCOL_ERROR, "close frame with a 1-byte body")));
        assert_eq!(parse_close(&[0x03, 0xe8, b'o', b'k']), Ok((Some(1000), "ok".into())));
        assert_eq!(parse_close(&[0x03, 0xed]).map_err(|e| e.0), Err(PROTOCOL_ERROR));
        assert_eq!(parse_close(&[0x03, 0xe8, 0xff]).map_err(|e| e.0), Err(INVALID_PAYLOAD));
        assert_eq!(close_body(Some(1000), "x"), [0x03, 0xe8, b'x']);
        assert!(close_body(None, "").is_empty());
    }
}
