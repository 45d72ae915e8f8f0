//! Decoding a chunked request body (RFC 9112 §7.1), one byte of framing at a time
//! and chunk data in whole slices.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::ErrorKind;
use crate::head::{Headers, parse_trailers};
use crate::scan::Scan;

/// A chunk size has at most 16 hex digits: anything longer overflows `u64`.
const MAX_SIZE_DIGITS: u32 = 16;

#[derive(Debug, Clone, Copy)]
enum Step {
    Size { size: u64, digits: u32 },
    AfterSize { size: u64 },
    Extension { size: u64 },
    SizeLf { size: u64 },
    Data { remaining: u64 },
    DataCr,
    DataLf,
    Trailers(Scan),
    Done,
}

/// What one decoding step produced.
#[derive(Debug)]
pub(crate) enum Chunk {
    Data(Bytes),
    End(Option<Headers>),
}

/// Limits that bound a chunked body's framing overhead.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkLimits {
    pub(crate) max_extensions: usize,
    pub(crate) max_trailers: usize,
    pub(crate) max_trailer_fields: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct ChunkedDecoder {
    step: Step,
    extension_bytes: usize,
}

impl ChunkedDecoder {
    pub(crate) fn new() -> Self {
        Self { step: Step::Size { size: 0, digits: 0 }, extension_bytes: 0 }
    }

    /// Consumes framing from the front of `buf` and returns the next piece of
    /// body, or `None` when more input is needed.
    pub(crate) fn decode(
        &mut self,
        buf: &mut BytesMut,
        limits: ChunkLimits,
    ) -> Result<Option<Chunk>, ErrorKind> {
        loop {
            match self.step {
                Step::Data { remaining } => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let take = usize::try_from(remaining).unwrap_or(usize::MAX).min(buf.len());
                    let data = buf.split_to(take).freeze();
                    let remaining = remaining - take as u64;
                    self.step = if remaining == 0 { Step::DataCr } else { Step::Data { remaining } };
                    return Ok(Some(Chunk::Data(data)));
                }
                Step::Trailers(mut scan) => {
                    let found = scan.find_end(buf);
                    let end = match found {
                        Ok(Some(end)) => end,
                        Ok(None) if buf.len() > limits.max_trailers => {
                            return Err(ErrorKind::TrailersTooLarge);
                        }
                        Ok(None) => {
                            self.step = Step::Trailers(scan);
                            return Ok(None);
                        }
                        Err(error) => return Err(error),
                    };
                    if end > limits.max_trailers {
                        return Err(ErrorKind::TrailersTooLarge);
                    }
                    self.step = Step::Done;
                    let block = buf.split_to(end).freeze();
                    if end == 2 {
                        return Ok(Some(Chunk::End(None)));
                    }
                    let trailers = parse_trailers(block, limits.max_trailer_fields)?;
                    return Ok(Some(Chunk::End(Some(trailers))));
                }
                Step::Done => return Ok(None),
                _ => {}
            }
            let Some(&byte) = buf.first() else {
                return Ok(None);
            };
            self.step = self.framing_byte(byte, limits)?;
            buf.advance(1);
        }
    }

    /// The next step after one byte of chunk-size line or chunk delimiter.
    fn framing_byte(&mut self, byte: u8, limits: ChunkLimits) -> Result<Step, ErrorKind> {
        let next = match (self.step, byte) {
            (_, b'\n') if !matches!(self.step, Step::SizeLf { .. } | Step::DataLf) => {
                return Err(ErrorKind::BareLineFeed);
            }
            (Step::Size { size, digits }, _) if byte.is_ascii_hexdigit() => {
                if digits == MAX_SIZE_DIGITS {
                    return Err(ErrorKind::InvalidChunk);
                }
                let digit = u64::from((byte as char).to_digit(16).unwrap_or_default());
                Step::Size { size: (size << 4) | digit, digits: digits + 1 }
            }
            (Step::Size { digits: 0, .. }, _) => return Err(ErrorKind::InvalidChunk),
            (Step::Size { size, .. } | Step::AfterSize { size }, b' ' | b'\t') => {
                self.count_extension(limits)?;
                Step::AfterSize { size }
            }
            (Step::Size { size, .. } | Step::AfterSize { size }, b';') => Step::Extension { size },
            (Step::Size { size, .. } | Step::AfterSize { size } | Step::Extension { size }, b'\r') => {
                Step::SizeLf { size }
            }
            (Step::Extension { size }, _) if byte == b'\t' || !byte.is_ascii_control() => {
                self.count_extension(limits)?;
                Step::Extension { size }
            }
            (Step::SizeLf { size: 0 }, b'\n') => Step::Trailers(Scan::default()),
            (Step::SizeLf { size }, b'\n') => Step::Data { remaining: size },
            (Step::DataCr, b'\r') => Step::DataLf,
            (Step::DataLf, b'\n') => Step::Size { size: 0, digits: 0 },
            _ => return Err(ErrorKind::InvalidChunk),
        };
        Ok(next)
    }

    fn count_extension(&mut self, limits: ChunkLimits) -> Result<(), ErrorKind> {
        self.extension_bytes += 1;
        if self.extension_bytes > limits.max_extensions {
            Err(ErrorKind::ChunkExtensionsTooLarge)
        } else {
            Ok(())
        }
    }
}
