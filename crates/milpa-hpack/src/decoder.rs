//! Header block decoding (RFC 7541 §3, §6), with RFC 9113 header-list limits.
//!
//! Memory is bounded by the limits, never by what the peer announces:
//!
//! * a string literal's length is checked against the bytes left in the block before
//!   anything is reserved for it;
//! * plain literals are not copied: they are `Bytes` slices of the block;
//! * Huffman strings are decoded into one shared scratch buffer, and only when their decoded
//!   length fits the room left under the header list limit (or, for a field to be indexed,
//!   the dynamic table size); otherwise they are validated and measured without storage;
//! * fields beyond the header list limit are still decoded (so the dynamic table stays in
//!   sync with the peer's) but not stored or delivered; past 4× the limit decoding stops with
//!   a connection error;
//! * indexed fields are reference-counted clones of table entries, so a block that references
//!   one large entry many times (an "HPACK bomb") costs nothing until the limit stops it.
//!
//! Table entries are copied out of the block on insertion (one allocation per indexed
//! literal), so a table entry never keeps a whole received block alive.

use core::ops::Range;

use bytes::{Bytes, BytesMut};

use crate::field::HeaderField;
use crate::table::{DynamicTable, ENTRY_OVERHEAD, Entry, STATIC_LEN, STATIC_TABLE};
use crate::{DecodeError, huffman, integer};

/// Default maximum header list size: 16 KiB (milpa's DESIGN.md, as hyper).
pub const DEFAULT_MAX_HEADER_LIST_SIZE: usize = 16 * 1024;

/// The protocol's initial SETTINGS_HEADER_TABLE_SIZE, 4096 bytes (RFC 9113 §6.5.2).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// A block over `limit × HARD_LIMIT_FACTOR` is a connection error.
const HARD_LIMIT_FACTOR: usize = 4;

/// Smallest chunk the scratch buffer for Huffman strings grows by.
const SCRATCH_CHUNK: usize = 1024;

/// How a header block decoded.
///
/// Either way the block was fully processed and the dynamic table is in sync with the peer:
/// keep the connection.
#[must_use = "a header list over the limit must be refused (HTTP 431), not processed"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeOutcome {
    /// Every field was delivered. Validate them (HTTP/2 rules: lowercase names, pseudo-header
    /// order…) and process the request.
    Complete {
        /// Header list size: sum of `name + value + 32` over the fields.
        size: usize,
    },
    /// The header list exceeded the maximum header list size (but not 4× it). Only the
    /// fields that fit under the limit were delivered, a prefix of the list: do **not**
    /// process them as a request. Refuse the stream (a 431 response, or RST_STREAM); the
    /// connection stays usable.
    HeaderListTooLarge {
        /// Header list size of the whole block.
        size: usize,
    },
}

/// The kind of a literal representation (RFC 7541 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// §6.2.1: add the field to the dynamic table.
    Indexing,
    /// §6.2.2.
    NotIndexed,
    /// §6.2.3.
    NeverIndexed,
}

/// A string found on the wire, not yet materialized.
enum Src {
    /// A name from the static table.
    Static(&'static [u8]),
    /// A name from the dynamic table.
    Shared(Bytes),
    /// A plain literal: this range of the block.
    Raw(Range<usize>),
    /// A Huffman literal: this range of the block.
    Huffman(Range<usize>),
}

/// Where a string's decoded bytes are.
enum Part {
    Static(&'static [u8]),
    Shared(Bytes),
    /// Range of the block.
    Input(Range<usize>),
    /// Range of the scratch buffer.
    Scratch(Range<usize>),
    /// Not stored: over every budget. Only its length is known.
    Dropped,
}

/// Running header-list accounting for one block.
struct List {
    size: usize,
    limit: usize,
    hard_limit: usize,
}

impl List {
    /// Room left for a field's name and value to be stored for delivery.
    fn room(&self) -> usize {
        self.limit.saturating_sub(self.size).saturating_sub(ENTRY_OVERHEAD)
    }

    /// Counts a field; `Ok(true)` when it is to be delivered.
    fn add(&mut self, field_size: usize) -> Result<bool, DecodeError> {
        self.size = self.size.saturating_add(field_size);
        if self.size > self.hard_limit {
            return Err(DecodeError::HeaderListTooLarge { size: self.size, limit: self.limit });
        }
        Ok(self.size <= self.limit)
    }
}

/// An HPACK decoder: one per HTTP/2 connection, fed every header block the peer sends, in
/// order (HEADERS/PUSH_PROMISE plus CONTINUATION payloads, concatenated).
///
/// After any [`DecodeError`] the decoder is unusable (every later call returns the same
/// error): close the connection.
///
/// `Debug` shows sizes and limits only, never header contents.
pub struct Decoder {
    table: DynamicTable,
    /// Our SETTINGS_HEADER_TABLE_SIZE: the largest size update we accept.
    max_table_size: usize,
    /// Set when `max_table_size` dropped below the peer's table size: the next block must
    /// start with a size update to at most this.
    required_update: Option<usize>,
    max_header_list_size: usize,
    /// Decoded Huffman strings; delivered fields are split off it (shared allocation).
    scratch: BytesMut,
    failed: Option<DecodeError>,
}

impl core::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decoder")
            .field("table_len", &self.table.len())
            .field("table_size", &self.table.size())
            .field("table_capacity", &self.table.max_size())
            .field("max_table_size", &self.max_table_size)
            .field("required_update", &self.required_update)
            .field("max_header_list_size", &self.max_header_list_size)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with the protocol's initial 4096-byte table and a maximum header list size of
    /// [`DEFAULT_MAX_HEADER_LIST_SIZE`]. Feed it every header block of the connection with
    /// [`Decoder::decode`].
    #[must_use]
    pub fn new() -> Self {
        Self::with_max_header_list_size(DEFAULT_MAX_HEADER_LIST_SIZE)
    }

    /// A decoder with a given maximum header list size (what we advertise as
    /// SETTINGS_MAX_HEADER_LIST_SIZE). See [`Decoder::set_max_header_list_size`].
    #[must_use]
    pub fn with_max_header_list_size(max_header_list_size: usize) -> Self {
        Decoder {
            table: DynamicTable::new(DEFAULT_TABLE_SIZE),
            max_table_size: DEFAULT_TABLE_SIZE,
            required_update: None,
            max_header_list_size,
            scratch: BytesMut::new(),
            failed: None,
        }
    }

    /// Sets the maximum header list size, RFC 9113 accounting (`name + value + 32` per field).
    /// A block over it decodes to [`DecodeOutcome::HeaderListTooLarge`]; a block over 4× it is
    /// [`DecodeError::HeaderListTooLarge`]. Applies from the next block. With 0, any
    /// non-empty block is a connection error.
    pub fn set_max_header_list_size(&mut self, max: usize) {
        self.max_header_list_size = max;
    }

    /// The maximum header list size in force.
    #[must_use]
    pub fn max_header_list_size(&self) -> usize {
        self.max_header_list_size
    }

    /// Sets the largest dynamic table the peer may use: our SETTINGS_HEADER_TABLE_SIZE.
    ///
    /// Call it when the value takes effect: when the peer **acknowledges** the SETTINGS frame
    /// that carried it (RFC 9113 §6.5.3). Calling it as the frame is sent is fine for an
    /// increase, but for a decrease it would reject blocks the peer encoded before it saw
    /// the new value.
    ///
    /// If the new limit is below the size the peer's table currently has, the next block
    /// must start with a size update to at most the smallest limit set since the previous
    /// block, or it fails with [`DecodeError::MissingSizeUpdate`] (RFC 7541 §4.2).
    pub fn set_max_table_size(&mut self, max: usize) {
        self.max_table_size = max;
        if self.table.max_size() > max {
            self.required_update = Some(self.required_update.map_or(max, |r| r.min(max)));
        }
    }

    /// Our SETTINGS_HEADER_TABLE_SIZE, as last set.
    #[must_use]
    pub fn max_table_size(&self) -> usize {
        self.max_table_size
    }

    /// The dynamic table's current maximum size: the peer's last size update (4096 at first).
    #[must_use]
    pub fn table_capacity(&self) -> usize {
        self.table.max_size()
    }

    /// Bytes used in the dynamic table (RFC 7541 §4.1 sizes).
    #[must_use]
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Number of entries in the dynamic table.
    #[must_use]
    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// Approximate heap memory held by the decoder: the dynamic table's names and values plus
    /// the spare capacity of its buffer for Huffman strings. Fields already delivered belong
    /// to the caller and are not counted. Useful for per-connection memory accounting.
    #[must_use]
    pub fn heap_size(&self) -> usize {
        self.table.size() - self.table.len() * ENTRY_OVERHEAD + self.scratch.capacity()
    }

    /// Decodes one complete header block, appending its fields to `out` (which is not
    /// cleared first, so one `Vec` can be reused across blocks with `clear()`).
    ///
    /// `block` is the whole block: the HEADERS or PUSH_PROMISE fragment plus every
    /// CONTINUATION fragment, concatenated. Plain literals in the output share `block`'s
    /// memory.
    ///
    /// On `Ok`, look at the [`DecodeOutcome`]. On `Err`, close the connection with
    /// [`DecodeError::http2_error_code`]; `out` may hold some of the block's fields, which
    /// must be ignored.
    pub fn decode(
        &mut self,
        block: &Bytes,
        out: &mut Vec<HeaderField>,
    ) -> Result<DecodeOutcome, DecodeError> {
        self.decode_with(block, |field| out.push(field))
    }

    /// Like [`Decoder::decode`] for a block held in a plain slice. The block is copied once
    /// into a new buffer that the plain literals of the output then share.
    pub fn decode_slice(
        &mut self,
        block: &[u8],
        out: &mut Vec<HeaderField>,
    ) -> Result<DecodeOutcome, DecodeError> {
        self.decode(&Bytes::copy_from_slice(block), out)
    }

    /// Like [`Decoder::decode`], but hands each field to `emit` as it is decoded, in order.
    ///
    /// `emit` sees only fields that fit under the header list limit; on
    /// [`DecodeOutcome::HeaderListTooLarge`] or an error it may have seen a prefix of the
    /// list, which must then be discarded.
    pub fn decode_with<F>(&mut self, block: &Bytes, mut emit: F) -> Result<DecodeOutcome, DecodeError>
    where
        F: FnMut(HeaderField),
    {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.decode_block(block, &mut emit);
        if let Err(err) = &result {
            self.failed = Some(err.clone());
            self.scratch = BytesMut::new();
        }
        result
    }

    fn decode_block<F: FnMut(HeaderField)>(
        &mut self,
        block: &Bytes,
        emit: &mut F,
    ) -> Result<DecodeOutcome, DecodeError> {
        let buf: &[u8] = block;
        let mut pos = 0;
        let mut list = List {
            size: 0,
            limit: self.max_header_list_size,
            hard_limit: self.max_header_list_size.saturating_mul(HARD_LIMIT_FACTOR),
        };
        let mut over = false;
        // Size updates are only allowed before the first field representation.
        let mut at_start = true;
        let mut min_update: Option<usize> = None;

        while let Some(&first) = buf.get(pos) {
            if first & 0xe0 == 0x20 {
                // §6.3 Dynamic Table Size Update: 001xxxxx.
                if !at_start {
                    return Err(DecodeError::SizeUpdateNotAtStart);
                }
                let size = integer::decode(buf, &mut pos, 5)?;
                if size > self.max_table_size {
                    return Err(DecodeError::SizeUpdateTooLarge { size, max: self.max_table_size });
                }
                self.table.set_max_size(size);
                min_update = Some(min_update.map_or(size, |m| m.min(size)));
                continue;
            }
            if at_start {
                at_start = false;
                self.check_required_update(min_update)?;
            }
            let delivered = if first & 0x80 != 0 {
                // §6.1 Indexed Header Field: 1xxxxxxx.
                let index = integer::decode(buf, &mut pos, 7)?;
                // Count first: a field past the limit is not even cloned.
                if list.add(self.field_size(index)?)? {
                    let (name, value) = self.get(index)?;
                    emit(HeaderField { name, value, sensitive: false });
                    true
                } else {
                    false
                }
            } else if first & 0x40 != 0 {
                // §6.2.1 Literal with Incremental Indexing: 01xxxxxx.
                self.literal(block, &mut pos, 6, Mode::Indexing, &mut list, emit)?
            } else if first & 0x10 != 0 {
                // §6.2.3 Literal Never Indexed: 0001xxxx.
                self.literal(block, &mut pos, 4, Mode::NeverIndexed, &mut list, emit)?
            } else {
                // §6.2.2 Literal without Indexing: 0000xxxx.
                self.literal(block, &mut pos, 4, Mode::NotIndexed, &mut list, emit)?
            };
            over |= !delivered;
        }
        if at_start && min_update.is_some() {
            // A block made only of size updates can satisfy a pending requirement; an empty
            // one leaves it pending for the next block.
            self.check_required_update(min_update)?;
        }
        Ok(if over {
            DecodeOutcome::HeaderListTooLarge { size: list.size }
        } else {
            DecodeOutcome::Complete { size: list.size }
        })
    }

    fn check_required_update(&mut self, min_update: Option<usize>) -> Result<(), DecodeError> {
        if let Some(max) = self.required_update {
            if min_update.is_some_and(|m| m <= max) {
                self.required_update = None;
            } else {
                return Err(DecodeError::MissingSizeUpdate { max });
            }
        }
        Ok(())
    }

    /// RFC 7541 §4.1 size of the field at `index` (static or dynamic).
    #[inline]
    fn field_size(&self, index: usize) -> Result<usize, DecodeError> {
        let len = match index {
            0 => return Err(DecodeError::InvalidIndex { index }),
            1..=STATIC_LEN => {
                let (name, value) = STATIC_TABLE[index - 1];
                name.len() + value.len()
            }
            _ => match self.table.get(index - STATIC_LEN - 1) {
                Some(entry) => entry.name.len() + entry.value.len(),
                None => return Err(DecodeError::InvalidIndex { index }),
            },
        };
        Ok(len + ENTRY_OVERHEAD)
    }

    /// Name and value at `index` (static or dynamic).
    #[inline]
    fn get(&self, index: usize) -> Result<(Bytes, Bytes), DecodeError> {
        if index == 0 {
            return Err(DecodeError::InvalidIndex { index });
        }
        if index <= STATIC_LEN {
            let (name, value) = STATIC_TABLE[index - 1];
            return Ok((Bytes::from_static(name), Bytes::from_static(value)));
        }
        match self.table.get(index - STATIC_LEN - 1) {
            Some(entry) => Ok((entry.name.clone(), entry.value.clone())),
            None => Err(DecodeError::InvalidIndex { index }),
        }
    }

    /// Name at `index` (static or dynamic).
    #[inline]
    fn get_name(&self, index: usize) -> Result<Src, DecodeError> {
        if index == 0 {
            return Err(DecodeError::InvalidIndex { index });
        }
        if index <= STATIC_LEN {
            return Ok(Src::Static(STATIC_TABLE[index - 1].0));
        }
        match self.table.get(index - STATIC_LEN - 1) {
            Some(entry) => Ok(Src::Shared(entry.name.clone())),
            None => Err(DecodeError::InvalidIndex { index }),
        }
    }

    /// Decodes a literal representation (§6.2) whose first byte is at `*pos`. Returns whether
    /// the field was delivered.
    fn literal<F: FnMut(HeaderField)>(
        &mut self,
        block: &Bytes,
        pos: &mut usize,
        prefix_bits: u8,
        mode: Mode,
        list: &mut List,
        emit: &mut F,
    ) -> Result<bool, DecodeError> {
        let buf: &[u8] = block;
        let name_index = integer::decode(buf, pos, prefix_bits)?;
        let name = if name_index == 0 { read_string(buf, pos)? } else { self.get_name(name_index)? };
        let value = read_string(buf, pos)?;

        // Storage budget for name + value: what can still be delivered, or, for a field to be
        // indexed, what the dynamic table can hold.
        let list_room = list.room();
        let room = if mode == Mode::Indexing {
            list_room.max(self.table.max_size().saturating_sub(ENTRY_OVERHEAD))
        } else {
            list_room
        };
        debug_assert!(self.scratch.is_empty());
        let (name_len, name) = self.materialize(buf, name, room)?;
        let (value_len, value) = self.materialize(buf, value, room.saturating_sub(name_len))?;
        let size = name_len + value_len + ENTRY_OVERHEAD;

        if mode == Mode::Indexing {
            if self.table.fits(size) {
                // Both strings were materialized: size - 32 <= table room <= room.
                let entry = self.make_entry(buf, name, value);
                let (name, value) = (entry.name.clone(), entry.value.clone());
                self.table.insert(entry);
                self.scratch.clear();
                if !list.add(size)? {
                    return Ok(false);
                }
                emit(HeaderField { name, value, sensitive: false });
                return Ok(true);
            }
            // RFC 7541 §4.4: an entry larger than the table empties it.
            self.table.clear();
        }
        self.deliver(block, name, value, mode, list, size, emit)
    }

    /// Counts a non-indexed field and delivers it if it fits.
    #[allow(clippy::too_many_arguments)]
    fn deliver<F: FnMut(HeaderField)>(
        &mut self,
        block: &Bytes,
        name: Part,
        value: Part,
        mode: Mode,
        list: &mut List,
        size: usize,
        emit: &mut F,
    ) -> Result<bool, DecodeError> {
        if !list.add(size)? {
            self.scratch.clear();
            return Ok(false);
        }
        let needs_scratch = matches!(name, Part::Scratch(_)) || matches!(value, Part::Scratch(_));
        let frozen = if needs_scratch { self.scratch.split().freeze() } else { Bytes::new() };
        let to_bytes = |part: Part| match part {
            Part::Static(s) => Bytes::from_static(s),
            Part::Shared(b) => b,
            Part::Input(r) => block.slice(r),
            Part::Scratch(r) => frozen.slice(r),
            // Unreachable: a delivered field fits the list room, so both parts were stored.
            Part::Dropped => Bytes::new(),
        };
        emit(HeaderField {
            name: to_bytes(name),
            value: to_bytes(value),
            sensitive: mode == Mode::NeverIndexed,
        });
        Ok(true)
    }

    /// Builds a table entry that owns its bytes: one allocation for name and value (the
    /// value alone for a static name). A name taken from another dynamic entry is copied
    /// too, so that an entry never keeps an evicted entry's buffer alive.
    fn make_entry(&self, buf: &[u8], name: Part, value: Part) -> Entry {
        let value_bytes = self.part_bytes(buf, &value);
        match name {
            Part::Static(name) => Entry {
                name: Bytes::from_static(name),
                value: Bytes::copy_from_slice(value_bytes),
                name_hash: 0,
            },
            name => {
                let name_bytes = self.part_bytes(buf, &name);
                let mut both = BytesMut::with_capacity(name_bytes.len() + value_bytes.len());
                both.extend_from_slice(name_bytes);
                both.extend_from_slice(value_bytes);
                let both = both.freeze();
                Entry {
                    name: both.slice(..name_bytes.len()),
                    value: both.slice(name_bytes.len()..),
                    name_hash: 0,
                }
            }
        }
    }

    fn part_bytes<'a>(&'a self, buf: &'a [u8], part: &'a Part) -> &'a [u8] {
        match part {
            Part::Static(s) => s,
            Part::Shared(b) => b,
            Part::Input(r) => &buf[r.clone()],
            Part::Scratch(r) => &self.scratch[r.clone()],
            Part::Dropped => &[],
        }
    }

    /// Makes a string's bytes available if its decoded length is at most `room`; returns its
    /// decoded length either way (validating Huffman data even when not storing it).
    fn materialize(&mut self, buf: &[u8], src: Src, room: usize) -> Result<(usize, Part), DecodeError> {
        Ok(match src {
            Src::Static(s) => (s.len(), Part::Static(s)),
            Src::Shared(b) => (b.len(), Part::Shared(b)),
            Src::Raw(r) => (r.len(), Part::Input(r)),
            Src::Huffman(r) => {
                let data = &buf[r];
                let upper = huffman::max_decoded_len(data.len());
                let reserve = if upper <= room {
                    upper
                } else {
                    let len = huffman::decoded_len(data)?;
                    if len > room {
                        return Ok((len, Part::Dropped));
                    }
                    len
                };
                let start = self.scratch.len();
                if self.scratch.capacity() - start < reserve {
                    self.scratch.reserve(reserve.max(SCRATCH_CHUNK));
                }
                huffman::decode(data, &mut self.scratch)?;
                let end = self.scratch.len();
                (end - start, Part::Scratch(start..end))
            }
        })
    }
}

/// Reads a string literal header (§5.2) and checks its length against the block before
/// anything is allocated.
#[inline]
fn read_string(buf: &[u8], pos: &mut usize) -> Result<Src, DecodeError> {
    let Some(&first) = buf.get(*pos) else {
        return Err(DecodeError::Truncated);
    };
    let len = integer::decode(buf, pos, 7)?;
    let available = buf.len() - *pos;
    if len > available {
        return Err(DecodeError::StringTooLong { len, available });
    }
    let range = *pos..*pos + len;
    *pos += len;
    Ok(if first & 0x80 != 0 { Src::Huffman(range) } else { Src::Raw(range) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Literal with incremental indexing, new name, Huffman value of `n` '0's.
    fn indexed_huffman_block(name: u8, n: usize) -> Bytes {
        let mut block = vec![0x40, 0x01, name];
        let encoded = n * 5 / 8;
        let mut len = BytesMut::new();
        integer::encode(encoded, 7, 0x80, &mut len);
        block.extend_from_slice(&len);
        block.resize(block.len() + encoded, 0);
        Bytes::from(block)
    }

    #[test]
    fn scratch_is_reused_for_indexed_huffman_fields() {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for i in 0..200u8 {
            out.clear();
            let r = d.decode(&indexed_huffman_block(i, 800), &mut out);
            assert_eq!(r, Ok(DecodeOutcome::Complete { size: 833 }));
            // The table copy is what is delivered, so the scratch is free again at once.
            assert!(d.scratch.is_empty());
            assert!(d.scratch.capacity() <= 2 * 1280, "{}", d.scratch.capacity());
        }
        assert_eq!(d.table_len(), 4);
    }

    #[test]
    fn entries_do_not_share_storage_with_other_entries() {
        // B names its field by A's index: B must not keep A's (big) buffer alive once A is
        // evicted.
        let mut d = Decoder::new();
        let mut block = vec![0x40, 0x01, b'x', 0x7f, 0xd1, 0x0e]; // value of 2000 bytes
        block.resize(block.len() + 2000, b'v');
        block.extend_from_slice(&[0x7e, 0x01, b'w']); // name index 62 (A), value "w"
        let mut out = Vec::new();
        let r = d.decode(&Bytes::from(block), &mut out);
        assert_eq!(r, Ok(DecodeOutcome::Complete { size: 2033 + 34 }));
        let (b, a) = (d.table.get(0).expect("B").name.as_ptr(), d.table.get(1).expect("A").name.as_ptr());
        assert_ne!(a, b);
        assert_eq!(&d.table.get(0).expect("B").name[..], b"x");
    }

    #[test]
    fn list_room_accounts_for_the_overhead() {
        let mut list = List { size: 0, limit: 100, hard_limit: 400 };
        assert_eq!(list.room(), 68);
        assert_eq!(list.add(100), Ok(true));
        assert_eq!(list.room(), 0);
        assert_eq!(list.add(1), Ok(false));
        assert_eq!(list.add(299), Ok(false));
        assert!(list.add(1).is_err());
    }

    #[test]
    fn debug_does_not_show_contents() {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        let block = Bytes::from_static(b"\x40\x06secret\x06hidden");
        assert!(d.decode(&block, &mut out).is_ok());
        let shown = format!("{d:?}");
        assert!(!shown.contains("secret") && !shown.contains("hidden"), "{shown}");
    }
}
