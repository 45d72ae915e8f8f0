//! Frame headers (RFC 6455 §5.2): parsing the peer's, writing ours.

/// A frame's opcode, reserved values excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
    fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    pub(crate) fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub(crate) fin: bool,
    pub(crate) rsv1: bool,
    pub(crate) opcode: OpCode,
    pub(crate) mask: Option<[u8; 4]>,
    pub(crate) len: u64,
}

/// Why a header is refused before any role- or state-dependent check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// RSV2 or RSV3 set.
    ReservedBits,
    /// Opcode 3–7 or 0xB–0xF.
    ReservedOpcode,
    /// A 64-bit length with its most significant bit set.
    LengthOverflow,
}

/// Total header length (2 to 14 bytes) implied by the second header byte.
pub(crate) fn header_len(b1: u8) -> usize {
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
    2 + ext + mask
}

/// Parses a complete header from `buf`, which must hold at least
/// `header_len(buf[0], buf[1])` bytes; `Ok(None)` if it does not.
pub(crate) fn parse_header(buf: &[u8]) -> Result<Option<FrameHeader>, HeaderError> {
    let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
        return Ok(None);
    };
    let total = header_len(b1);
    let Some(buf) = buf.get(..total) else {
        return Ok(None);
    };
    if b0 & 0x30 != 0 {
        return Err(HeaderError::ReservedBits);
    }
    let opcode = OpCode::from_bits(b0 & 0x0f).ok_or(HeaderError::ReservedOpcode)?;
    let mut pos = 2;
    let len = match b1 & 0x7f {
        126 => {
            pos += 2;
            u64::from(u16::from_be_bytes([buf[2], buf[3]]))
        }
        127 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            pos += 8;
            let len = u64::from_be_bytes(b);
            if len >> 63 != 0 {
                return Err(HeaderError::LengthOverflow);
            }
            len
        }
        n => u64::from(n),
    };
    let mask = if b1 & 0x80 != 0 { Some([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]) } else { None };
    Ok(Some(FrameHeader { fin: b0 & 0x80 != 0, rsv1: b0 & 0x40 != 0, opcode, mask, len }))
}

/// Appends a frame header to `out`, with the minimal length encoding.
pub(crate) fn write_header(
    out: &mut Vec<u8>,
    fin: bool,
    rsv1: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    len: usize,
) {
    let mut b0 = opcode.bits();
    if fin {
        b0 |= 0x80;
    }
    if rsv1 {
        b0 |= 0x40;
    }
    out.push(b0);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if let Ok(len16) = u16::try_from(len) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&len16.to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(len: usize, mask: Option<[u8; 4]>) {
        let mut out = Vec::new();
        write_header(&mut out, true, true, OpCode::Binary, mask, len);
        assert_eq!(out.len(), header_len(out[1]));
        for cut in 0..out.len() {
            assert_eq!(parse_header(&out[..cut]), Ok(None));
        }
        let h = parse_header(&out).ok().flatten().expect("complete");
        assert_eq!(h, FrameHeader { fin: true, rsv1: true, opcode: OpCode::Binary, mask, len: len as u64 });
    }

    #[test]
    fn lengths_round_trip() {
        for len in [0, 1, 125, 126, 127, 65535, 65536, 1 << 20] {
            round_trip(len, None);
            round_trip(len, Some([9, 8, 7, 6]));
        }
    }

    #[test]
    fn minimal_encoding() {
        let mut out = Vec::new();
        write_header(&mut out, true, false, OpCode::Text, None, 125);
        assert_eq!(out, [0x81, 125]);
        out.clear();
        write_header(&mut out, true, false, OpCode::Text, None, 126);
        assert_eq!(out, [0x81, 126, 0, 126]);
        out.clear();
        write_header(&mut out, false, false, OpCode::Continuation, None, 65536);
        assert_eq!(out, [0x00, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn non_minimal_accepted() {
        let h = parse_header(&[0x82, 126, 0, 5]).ok().flatten().expect("header");
        assert_eq!(h.len, 5);
        let h = parse_header(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5]).ok().flatten().expect("header");
        assert_eq!(h.len, 5);
    }

    #[test]
    fn rejects() {
        assert_eq!(parse_header(&[0xA2, 0]), Err(HeaderError::ReservedBits));
        assert_eq!(parse_header(&[0x92, 0]), Err(HeaderError::ReservedBits));
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(parse_header(&[0x80 | op, 0]), Err(HeaderError::ReservedOpcode));
        }
        assert_eq!(parse_header(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]), Err(HeaderError::LengthOverflow));
    }
}
