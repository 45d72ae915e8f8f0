//! Error codes (RFC 9113 §7), carried by RST_STREAM and GOAWAY frames.

use core::fmt;

/// An HTTP/2 error code: why a stream was reset or a connection closed (RFC 9113 §7).
///
/// Codes this crate does not know are kept as they are: RFC 9113 §7 says an unknown code
/// "MUST NOT trigger any special behavior" and MAY be treated as [`Reason::INTERNAL_ERROR`],
/// so a caller that receives one should act as for `INTERNAL_ERROR`, and must not send one
/// it has no meaning for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reason(u32);

impl Reason {
    /// `0x0`: graceful shutdown, or a stream that is no longer needed.
    pub const NO_ERROR: Reason = Reason(0x0);
    /// `0x1`: a generic protocol violation.
    pub const PROTOCOL_ERROR: Reason = Reason(0x1);
    /// `0x2`: an unexpected internal error.
    pub const INTERNAL_ERROR: Reason = Reason(0x2);
    /// `0x3`: the peer violated the flow-control protocol.
    pub const FLOW_CONTROL_ERROR: Reason = Reason(0x3);
    /// `0x4`: a SETTINGS frame was not acknowledged in time.
    pub const SETTINGS_TIMEOUT: Reason = Reason(0x4);
    /// `0x5`: a frame arrived on a stream that was already half-closed.
    pub const STREAM_CLOSED: Reason = Reason(0x5);
    /// `0x6`: a frame had an invalid size.
    pub const FRAME_SIZE_ERROR: Reason = Reason(0x6);
    /// `0x7`: the stream was refused before any application processing: safe to retry.
    pub const REFUSED_STREAM: Reason = Reason(0x7);
    /// `0x8`: the stream is no longer needed.
    pub const CANCEL: Reason = Reason(0x8);
    /// `0x9`: the HPACK context could not be maintained.
    pub const COMPRESSION_ERROR: Reason = Reason(0x9);
    /// `0xa`: the connection of a CONNECT request was reset or abnormally closed.
    pub const CONNECT_ERROR: Reason = Reason(0xa);
    /// `0xb`: the peer is behaving in a way that might generate excessive load.
    pub const ENHANCE_YOUR_CALM: Reason = Reason(0xb);
    /// `0xc`: the transport does not meet minimum security requirements.
    pub const INADEQUATE_SECURITY: Reason = Reason(0xc);
    /// `0xd`: HTTP/1.1 must be used instead of HTTP/2.
    pub const HTTP_1_1_REQUIRED: Reason = Reason(0xd);

    /// Wraps an error code read from the wire or chosen by the caller; any value is kept.
    #[must_use]
    pub const fn new(code: u32) -> Reason {
        Reason(code)
    }

    /// The 32-bit code, as written on the wire.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The RFC 9113 name of the code (`"PROTOCOL_ERROR"`…), or `None` for a code this crate
    /// does not know.
    #[must_use]
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0 => "NO_ERROR",
            0x1 => "PROTOCOL_ERROR",
            0x2 => "INTERNAL_ERROR",
            0x3 => "FLOW_CONTROL_ERROR",
            0x4 => "SETTINGS_TIMEOUT",
            0x5 => "STREAM_CLOSED",
            0x6 => "FRAME_SIZE_ERROR",
            0x7 => "REFUSED_STREAM",
            0x8 => "CANCEL",
            0x9 => "COMPRESSION_ERROR",
            0xa => "CONNECT_ERROR",
            0xb => "ENHANCE_YOUR_CALM",
            0xc => "INADEQUATE_SECURITY",
            0xd => "HTTP_1_1_REQUIRED",
            _ => return None,
        })
    }
}

impl From<u32> for Reason {
    fn from(code: u32) -> Reason {
        Reason(code)
    }
}

impl From<Reason> for u32 {
    fn from(reason: Reason) -> u32 {
        reason.0
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Reason({:#x})", self.0),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown error code {:#x}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rfc9113_code_has_its_name() {
        let names = [
            "NO_ERROR",
            "PROTOCOL_ERROR",
            "INTERNAL_ERROR",
            "FLOW_CONTROL_ERROR",
            "SETTINGS_TIMEOUT",
            "STREAM_CLOSED",
            "FRAME_SIZE_ERROR",
            "REFUSED_STREAM",
            "CANCEL",
            "COMPRESSION_ERROR",
            "CONNECT_ERROR",
            "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY",
            "HTTP_1_1_REQUIRED",
        ];
        for (code, name) in (0u32..).zip(names) {
            assert_eq!(Reason::new(code).name(), Some(name));
            assert_eq!(Reason::new(code).to_string(), name);
            assert_eq!(format!("{:?}", Reason::new(code)), name);
        }
        assert_eq!(Reason::HTTP_1_1_REQUIRED.get(), 0xd);
        assert_eq!(Reason::ENHANCE_YOUR_CALM, Reason::from(0xb));
    }

    #[test]
    fn unknown_codes_pass_through() {
        let reason = Reason::from(0xdead_beef);
        assert_eq!(u32::from(reason), 0xdead_beef);
        assert_eq!(reason.name(), None);
        assert_eq!(reason.to_string(), "unknown error code 0xdeadbeef");
        assert_eq!(format!("{reason:?}"), "Reason(0xdeadbeef)");
    }
}
