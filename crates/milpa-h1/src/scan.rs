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
        while let Some(offset) = buf[self.scanned..].iter().position(|&b| b == b'\n') {
            let lf = self.scanned + offset;
            if lf == 0 || buf[lf - 1] != b'\r' {
                return Err(ErrorKind::BareLineFeed);
            }
            // A CR anywhere but right before the LF is a bare CR.
            if buf[self.line_start..lf - 1].contains(&b'\r') {
                return Err(ErrorKind::InvalidHeader);
            }
            let blank = lf - 1 == self.line_start;
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
