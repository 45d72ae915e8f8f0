//! Decoding errors.

use core::fmt;

/// A header block could not be decoded.
///
/// Every variant is a **connection error** (RFC 9113 §4.3): the decoder's dynamic table is no
/// longer known to match the peer's, so the HTTP/2 layer must send GOAWAY with the code that
/// [`DecodeError::http2_error_code`] returns and close the connection. The [`Decoder`] that
/// returned the error refuses every later block with the same error.
///
/// A header list that is merely larger than the configured limit (but not 4× larger) is *not*
/// an error: it is reported as [`DecodeOutcome::HeaderListTooLarge`] and only the stream is
/// refused (HTTP 431).
///
/// [`Decoder`]: crate::Decoder
/// [`DecodeOutcome::HeaderListTooLarge`]: crate::DecodeOutcome::HeaderListTooLarge
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The block ended in the middle of a representation (an integer, or a string's length).
    Truncated,
    /// A prefix integer used more than 5 continuation bytes or exceeded `u32::MAX`.
    IntegerOverflow,
    /// An index was 0 or pointed past the end of the static and dynamic tables.
    InvalidIndex {
        /// The index found on the wire.
        index: usize,
    },
    /// A string literal announced more bytes than the block has left. Rejected before any
    /// storage is allocated for it.
    StringTooLong {
        /// Announced length in (encoded) bytes.
        len: usize,
        /// Bytes left in the block after the length prefix.
        available: usize,
    },
    /// A Huffman string ended with more than 7 bits of padding, or with padding that is not
    /// all ones (RFC 7541 §5.2).
    HuffmanPadding,
    /// A Huffman string contained the EOS symbol (RFC 7541 §5.2).
    HuffmanEos,
    /// A dynamic table size update came after a header field representation
    /// (RFC 7541 §4.2: only allowed at the start of a block).
    SizeUpdateNotAtStart,
    /// A dynamic table size update asked for more than the limit we advertised in
    /// SETTINGS_HEADER_TABLE_SIZE (RFC 7541 §6.3).
    SizeUpdateTooLarge {
        /// Size requested by the peer.
        size: usize,
        /// Current limit (see [`Decoder::set_max_table_size`](crate::Decoder::set_max_table_size)).
        max: usize,
    },
    /// Our SETTINGS_HEADER_TABLE_SIZE was lowered below the size the peer's table had, and
    /// the first block after that did not start with a size update down to at most `max`
    /// (RFC 7541 §4.2).
    MissingSizeUpdate {
        /// The smallest limit set since the previous block.
        max: usize,
    },
    /// The header list grew past 4× the configured maximum header list size. Decoding stopped
    /// there, so the table is out of sync: close the connection (the suggested code is
    /// ENHANCE_YOUR_CALM).
    HeaderListTooLarge {
        /// List size (RFC 9113 §6.5.2 accounting) reached when decoding stopped.
        size: usize,
        /// The configured maximum header list size.
        limit: usize,
    },
}

/// HTTP/2 COMPRESSION_ERROR (RFC 9113 §7).
const COMPRESSION_ERROR: u32 = 0x9;
/// HTTP/2 ENHANCE_YOUR_CALM (RFC 9113 §7).
const ENHANCE_YOUR_CALM: u32 = 0xb;

impl DecodeError {
    /// The HTTP/2 error code to put in the GOAWAY frame that closes the connection:
    /// ENHANCE_YOUR_CALM (`0xb`) for [`DecodeError::HeaderListTooLarge`], COMPRESSION_ERROR
    /// (`0x9`) for everything else.
    #[must_use]
    pub fn http2_error_code(&self) -> u32 {
        match self {
            DecodeError::HeaderListTooLarge { .. } => ENHANCE_YOUR_CALM,
            _ => COMPRESSION_ERROR,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("hpack: header block truncated"),
            DecodeError::IntegerOverflow => f.write_str("hpack: integer overflow"),
            DecodeError::InvalidIndex { index } => write!(f, "hpack: invalid table index {index}"),
            DecodeError::StringTooLong { len, available } => {
                write!(f, "hpack: string literal of {len} bytes but only {available} left in the block")
            }
            DecodeError::HuffmanPadding => f.write_str("hpack: invalid Huffman padding"),
            DecodeError::HuffmanEos => f.write_str("hpack: EOS symbol in Huffman string"),
            DecodeError::SizeUpdateNotAtStart => {
                f.write_str("hpack: dynamic table size update after a header field")
            }
            DecodeError::SizeUpdateTooLarge { size, max } => {
                write!(f, "hpack: dynamic table size update to {size} exceeds the limit {max}")
            }
            DecodeError::MissingSizeUpdate { max } => write!(
                f,
                "hpack: expected a dynamic table size update to at most {max} at the start of the block"
            ),
            DecodeError::HeaderListTooLarge { size, limit } => {
                write!(f, "hpack: header list size {size} exceeds 4x the limit {limit}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}
