//! Finding the blank line that ends a head or a trailer section, incrementally.

use crate::error::ErrorKind;

/// Progress of a scan over a growing buffer, kept between calls so every byte is
/// looked at once even when the peer sends one byte at a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Bytes already examined.
    scanned: usize,
    /// Start of the line being examined.
    line_start: usize,
}

impl Scan {
    /// Whether at least one whole line (the request line, for a head) has been seen.
    pub(crate) fn first_line_done(&self) -> bool {
        self.line_start > 0
    }

    /// Looks for the end of the section in `buf`; returns its length (blank line
    /// included) once found. Every line must end in CRLF: a bare LF is an error.
    pub(crate) fn find_end(&mut self, buf: &[u8]) -> Result<Option<usize>, ErrorKind> {
        // One pass over the new bytes: a CR must be followed by LF, an LF preceded by CR.
        while let Some(offset) = memchr::memchr2(b'\n', b'\r', &buf[self.scanned..]) {
            let at = self.scanned + offset;
            let lf = if buf[at] == b'\r' {
                match buf.get(at + 1) {
                    Some(b'\n') => at + 1,
                    Some(_) => return Err(ErrorKind::InvalidHeader),
                    None => {
                        // The LF may still come: look at this CR again next time.
                        self.scanned = at;
                        return Ok(None);
                    }
                }
            } else {
                return Err(ErrorKind::BareLineFeed);
            };
            let blank = at == self.line_start;
            self.scanned = lf + 1;
            self.line_start = lf + 1;
            if blank {
                return Ok(Some(lf + 1));
            }
        }
        self.scanned = buf.len();
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_blank_line_across_calls() {
        let data = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest";
        let mut scan = Scan::default();
        for end in 1..data.len() {
            if let Some(len) = scan.find_end(&data[..end]).unwrap() {
                assert_eq!(len, data.len() - 4);
                return;
            }
        }
        panic!("no end found");
    }

    #[test]
    fn empty_section_is_one_crlf() {
        assert_eq!(Scan::default().find_end(b"\r\nX"), Ok(Some(2)));
    }

    #[test]
    fn bare_lf_is_rejected() {
        assert_eq!(Scan::default().find_end(b"GET / HTTP/1.1\n"), Err(ErrorKind::BareLineFeed));
        assert_eq!(Scan::default().find_end(b"\n"), Err(ErrorKind::BareLineFeed));
    }
}
