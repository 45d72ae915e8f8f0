//! `Sec-WebSocket-Extensions` (RFC 6455 §9.1) and permessage-deflate parameters (RFC 7692 §7).

use crate::config::DeflateConfig;

/// One element of a `Sec-WebSocket-Extensions` list: a name and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// Its parameters in order; quoted-string values are unquoted.
    pub params: Vec<(String, Option<String>)>,
}

/// The name of the compression extension.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// True for a non-empty RFC 9110 token.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&c| is_tchar(c))
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn token(&mut self) -> Option<String> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        let tok = self.s.get(start..self.pos)?;
        if tok.is_empty() {
            return None;
        }
        String::from_utf8(tok.to_vec()).ok()
    }

    fn quoted(&mut self) -> Option<String> {
        let mut out = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return String::from_utf8(out).ok();
                }
                b'\\' => {
                    self.pos += 1;
                    out.push(self.peek()?);
                    self.pos += 1;
                }
                c if c == b'\t' || c == b' ' || (c >= 0x21 && c != 0x7f) => {
                    out.push(c);
                    self.pos += 1;
                }
                _ => return None,
            }
        }
    }
}

/// Parses one `Sec-WebSocket-Extensions` field value, appending to `out`.
/// `None` if it is malformed. Empty list elements are skipped (RFC 9110 §5.6.1).
pub(crate) fn parse_extensions(value: &[u8], out: &mut Vec<Extension>) -> Option<()> {
    let mut c = Cursor { s: value, pos: 0 };
    loop {
        c.skip_ows();
        match c.peek() {
            None => return Some(()),
            Some(b',') => {
                c.pos += 1;
                continue;
            }
            _ => {}
        }
        let name = c.token()?;
        let mut params = Vec::new();
        loop {
            c.skip_ows();
            if !c.eat(b';') {
                break;
            }
            c.skip_ows();
            let pname = c.token()?;
            c.skip_ows();
            let value = if c.eat(b'=') {
                c.skip_ows();
                Some(if c.eat(b'"') { c.quoted()? } else { c.token()? })
            } else {
                None
            };
            params.push((pname, value));
        }
        out.push(Extension { name, params });
        c.skip_ows();
        match c.peek() {
            None => return Some(()),
            Some(b',') => c.pos += 1,
            Some(_) => return None,
        }
    }
}

/// A window-bits value: `8`..=`15`, no leading zero.
fn window_bits(v: &str) -> Option<u8> {
    if v.starts_with('0') {
        return None;
    }
    v.parse::<u8>().ok().filter(|n| (8..=15).contains(n))
}

/// Server side: the agreement for one permessage-deflate offer and the response
/// element to send, or `None` if the offer is unacceptable (unknown, repeated or
/// invalid parameter): try the next offer (RFC 7692 §5).
///
/// `server_*` parameters are honoured and echoed; `client_no_context_takeover` is
/// echoed; `client_max_window_bits` is recorded but not echoed (our inflater reads
/// any window up to 32 KiB).
pub(crate) fn negotiate_server(offer: &Extension) -> Option<(DeflateConfig, String)> {
    if !offer.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) {
        return None;
    }
    let mut cfg = DeflateConfig::default();
    let mut seen = [false; 4];
    let mut response = String::from(PERMESSAGE_DEFLATE);
    for (name, value) in &offer.params {
        let idx = param_index(name)?;
        if std::mem::replace(&mut seen[idx], true) {
            return None;
        }
        match (idx, value.as_deref()) {
            (0, None) => {
                cfg.server_no_context_takeover = true;
                response.push_str("; server_no_context_takeover");
            }
            (1, None) => {
                cfg.client_no_context_takeover = true;
                response.push_str("; client_no_context_takeover");
            }
            (2, Some(v)) => {
                let bits = window_bits(v)?;
                cfg.server_max_window_bits = bits;
                response.push_str(&format!("; server_max_window_bits={bits}"));
            }
            (3, None) => {}
            (3, Some(v)) => cfg.client_max_window_bits = window_bits(v)?,
            _ => return None,
        }
    }
    Some((cfg, response))
}

/// Client side: the agreement a server's response element describes, given
/// what we offered (`permessage-deflate; client_max_window_bits`). `None` if the
/// response is invalid (RFC 7692 §5: fail the connection).
pub(crate) fn negotiate_client(response: &Extension) -> Option<DeflateConfig> {
    if !response.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) {
        return None;
    }
    let mut cfg = DeflateConfig::default();
    let mut seen = [false; 4];
    for (name, value) in &response.params {
        let idx = param_index(name)?;
        if std::mem::replace(&mut seen[idx], true) {
            return None;
        }
        match (idx, value.as_deref()) {
            (0, None) => cfg.server_no_context_takeover = true,
            (1, None) => cfg.client_no_context_takeover = true,
            (2, Some(v)) => cfg.server_max_window_bits = window_bits(v)?,
            (3, Some(v)) => cfg.client_max_window_bits = window_bits(v)?,
            _ => return None,
        }
    }
    Some(cfg)
}

fn param_index(name: &str) -> Option<usize> {
    [
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    ]
    .iter()
    .position(|p| p.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &str) -> Option<Vec<Extension>> {
        let mut out = Vec::new();
        parse_extensions(v.as_bytes(), &mut out).map(|()| out)
    }

    #[test]
    fn parses_lists_and_params() {
        let exts = parse(
            "permessage-deflate; client_max_window_bits, permessage-deflate ;server_max_window_bits=\"10\" , x-foo",
        )
        .expect("valid");
        assert_eq!(exts.len(), 3);
        assert_eq!(exts[0].params, vec![("client_max_window_bits".into(), None)]);
        assert_eq!(exts[1].params, vec![("server_max_window_bits".into(), Some("10".into()))]);
        assert_eq!(exts[2].name, "x-foo");
        assert_eq!(parse("").expect("empty").len(), 0);
        assert_eq!(parse(" , ,").expect("empty elements").len(), 0);
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["a b", "a; =1", "a; b=", "a; b=\"x", "a;;b", "@", "a; b=c d"] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    fn server(v: &str) -> Option<(DeflateConfig, String)> {
        let exts = parse(v)?;
        negotiate_server(&exts[0])
    }

    #[test]
    fn autobahn_offers() {
        let (cfg, resp) = server("permessage-deflate; client_max_window_bits").expect("ok");
        assert_eq!(cfg, DeflateConfig::default());
        assert_eq!(resp, "permessage-deflate");
        let (cfg, resp) =
            server("permessage-deflate; client_no_context_takeover; client_max_window_bits").expect("ok");
        assert!(cfg.client_no_context_takeover);
        assert_eq!(resp, "permessage-deflate; client_no_context_takeover");
        let (cfg, resp) =
            server("permessage-deflate; server_max_window_bits=8; client_max_window_bits").expect("ok");
        assert_eq!(cfg.server_max_window_bits, 8);
        assert_eq!(resp, "permessage-deflate; server_max_window_bits=8");
        let (cfg, _) = server("permessage-deflate; server_max_window_bits=15").expect("ok");
        assert_eq!(cfg.server_max_window_bits, 15);
        let (cfg, resp) = server("permessage-deflate; server_no_context_takeover").expect("ok");
        assert!(cfg.server_no_context_takeover);
        assert_eq!(resp, "permessage-deflate; server_no_context_takeover");
        let (cfg, _) = server("permessage-deflate; client_max_window_bits=9").expect("ok");
        assert_eq!(cfg.client_max_window_bits, 9);
    }

    #[test]
    fn refuses_bad_offers() {
        for bad in [
            "permessage-deflate; foo",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=08",
            "permessage-deflate; client_max_window_bits=abc",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            "x-webkit-deflate-frame",
        ] {
            assert!(server(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn client_side() {
        let exts =
            parse("permessage-deflate; server_no_context_takeover; client_max_window_bits=10").expect("ok");
        let cfg = negotiate_client(&exts[0]).expect("ok");
        assert!(cfg.server_no_context_takeover);
        assert_eq!(cfg.client_max_window_bits, 10);
        let exts = parse("permessage-deflate; client_max_window_bits").expect("ok");
        assert!(negotiate_client(&exts[0]).is_none());
    }
}
