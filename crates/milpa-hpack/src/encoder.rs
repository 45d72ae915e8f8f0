//! Header block encoding (RFC 7541 §6) with a bounded table and an indexing policy.
//!
//! The representation and indexing policy are documented on [`Encoder`].

use bytes::{BufMut, Bytes, BytesMut};

use crate::decoder::DEFAULT_TABLE_SIZE;
use crate::field::HeaderField;
use crate::table::{DynamicTable, ENTRY_OVERHEAD, Entry, STATIC_LEN, StaticMatch, static_lookup};
use crate::{huffman, integer};

/// The largest dynamic table the encoder uses, whatever the peer allows: 4 KiB.
pub const MAX_ENCODER_TABLE_SIZE: usize = 4096;

/// Slots of the second-sight filter.
const DOORKEEPER_SLOTS: usize = 64;

/// Fields per block whose table entry is remembered for the next block (see [`Hit`]).
const HIT_SLOTS: usize = 16;

/// The table entry the field at one position of the last block matched. Responses
/// repeat their fields in the same order, so the field at that position in the next
/// block is first compared with this entry alone: a repeated field costs two
/// comparisons instead of a static lookup, a hash and a table scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hit {
    None,
    /// A static table index.
    Static(usize),
    /// A dynamic entry's sequence number.
    Dynamic(u64),
}

/// The representation chosen for a literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Indexing,
    NotIndexed,
    NeverIndexed,
}

/// Table size changes not yet signalled to the peer.
#[derive(Debug, Clone, Copy)]
struct PendingUpdate {
    /// Smallest size set since the last block.
    min: usize,
    /// Last size set.
    last: usize,
}

/// An HPACK encoder: one per HTTP/2 connection, used for every header block we send
/// (HEADERS and PUSH_PROMISE), in the order the blocks go on the wire.
///
/// # Representation
///
/// For each field, in order of preference:
///
/// 1. an exact match in the static or dynamic table is sent as an indexed field (1–2 bytes);
/// 2. otherwise a literal, naming the field by index when the name is in a table, with each
///    string Huffman-coded when that is shorter;
/// 3. the literal is "with incremental indexing", "without indexing" or "never indexed" as
///    the policy below decides.
///
/// # Indexing policy
///
/// * **Never indexed** (RFC 7541 §7.1.3): fields marked [`HeaderField::sensitive`],
///   `authorization`, `proxy-authorization`, `set-cookie`, and `cookie` values shorter than
///   20 bytes (short enough to guess). They never enter the table and are sent as
///   never-indexed literals, so intermediaries keep them out of their tables too.
/// * **Indexed on first sight**: everything else that is small, which is what makes a
///   repeated response header set (`:status`, `content-type`, `server`, `cache-control`,
///   `vary`, …) cost one or two bytes per field from the second response on. `date` is in
///   this group: its value changes at most once a second, so it adds at most one entry a
///   second, and every other response in that second hits the table.
/// * **Indexed on second sight** ("doorkeeper"): values that usually change with every
///   message — `:path`, `content-length`, `content-range`, `etag`, `last-modified`,
///   `expires`, `age`, `location`, conditional request headers, `referer`, request and
///   trace ids — and any entry larger than a quarter of the table. The first time a
///   `(name, value)` pair is seen it is sent as a literal without indexing and its hash is
///   remembered in a small fixed array (64 slots, no allocation); it is indexed only if it
///   comes again while remembered. Unique values thus never evict useful entries, and
///   repeated ones (a polled `/health` path, a fixed `content-length`) still get indexed.
/// * **Never indexed for size**: entries larger than three quarters of the table, which
///   would flush it.
///
/// The table never grows beyond [`MAX_ENCODER_TABLE_SIZE`] (4 KiB) whatever the peer's
/// SETTINGS_HEADER_TABLE_SIZE allows: that bounds memory per connection and the time spent
/// searching it (a linear scan of at most 128 entries, filtered by a name hash).
///
/// Infallible: every field can be encoded. The bytes written for one block must be sent as
/// that block (split into HEADERS/CONTINUATION frames as needed), in order with the other
/// blocks; dropping them would desynchronize the peer's table.
///
/// `Debug` shows sizes and limits only, never header contents.
pub struct Encoder {
    table: DynamicTable,
    /// Our own cap, at most [`MAX_ENCODER_TABLE_SIZE`].
    cap: usize,
    pending: Option<PendingUpdate>,
    doorkeeper: [u32; DOORKEEPER_SLOTS],
    hits: [Hit; HIT_SLOTS],
    /// See [`Encoder::generation`].
    generation: u64,
}

impl core::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Encoder")
            .field("table_len", &self.table.len())
            .field("table_size", &self.table.size())
            .field("table_capacity", &self.table.max_size())
            .field("max_table_size", &self.cap)
            .field("pending_update", &self.pending)
            .finish_non_exhaustive()
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// An encoder using up to [`MAX_ENCODER_TABLE_SIZE`] bytes of dynamic table (the
    /// protocol's initial 4096). Tell it the peer's SETTINGS_HEADER_TABLE_SIZE with
    /// [`Encoder::set_max_table_size`] when it arrives.
    #[must_use]
    pub fn new() -> Self {
        Self::with_max_table_size(MAX_ENCODER_TABLE_SIZE)
    }

    /// An encoder whose table never exceeds `cap` bytes (clamped to
    /// [`MAX_ENCODER_TABLE_SIZE`]; 0 disables indexing). A cap below 4096 is signalled with a
    /// size update at the start of the first block.
    #[must_use]
    pub fn with_max_table_size(cap: usize) -> Self {
        let cap = cap.min(MAX_ENCODER_TABLE_SIZE);
        Encoder {
            table: DynamicTable::new(DEFAULT_TABLE_SIZE),
            cap,
            pending: (cap < DEFAULT_TABLE_SIZE).then_some(PendingUpdate { min: cap, last: cap }),
            doorkeeper: [0; DOORKEEPER_SLOTS],
            hits: [Hit::None; HIT_SLOTS],
            generation: 0,
        }
    }

    /// Applies the peer's SETTINGS_HEADER_TABLE_SIZE; call it for every SETTINGS frame that
    /// carries one, before encoding the next block.
    ///
    /// The table uses `min(setting, cap)`. The change is signalled at the start of the next
    /// block; if the size went down and up again between blocks, the smallest value is
    /// signalled first, then the final one (RFC 7541 §4.2).
    pub fn set_max_table_size(&mut self, setting: usize) {
        let size = setting.min(self.cap);
        self.generation += 1;
        self.pending = Some(match self.pending {
            Some(p) => PendingUpdate { min: p.min.min(size), last: size },
            None => PendingUpdate { min: size, last: size },
        });
    }

    /// The encoder's own cap on the table size.
    #[must_use]
    pub fn max_table_size(&self) -> usize {
        self.cap
    }

    /// The table's current maximum size, as last signalled to the peer.
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

    /// A count that moves whenever a block writes a literal or a table size update, or a
    /// size change is set: everything that changes what the peer's table holds or what the
    /// next block starts with. When it is the same after a block as before, that block
    /// was table references only and changed nothing; the same fields encoded again give
    /// the same bytes for as long as the count stays where it is. A caller may keep such
    /// a block and send it again instead of encoding the same fields anew.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Encodes one header block made of `fields`, appending it to `dst`. Send the appended
    /// bytes as one header block.
    pub fn encode<'f, I>(&mut self, fields: I, dst: &mut BytesMut)
    where
        I: IntoIterator<Item = &'f HeaderField>,
    {
        let mut block = self.block(dst);
        for field in fields {
            block.header(field);
        }
    }

    /// Starts a header block written to `dst`, for callers that hold names and values as
    /// plain slices (no `HeaderField` needed). Pending table size updates are written now;
    /// add fields with the returned [`BlockEncoder`]; the block ends when it is dropped.
    #[must_use = "the block's fields are added through the returned BlockEncoder"]
    pub fn block<'a>(&'a mut self, dst: &'a mut BytesMut) -> BlockEncoder<'a> {
        if let Some(p) = self.pending.take() {
            self.generation += 1;
            if p.min < self.table.max_size() {
                integer::encode(p.min, 5, 0x20, dst);
                self.table.set_max_size(p.min);
            }
            if p.last != self.table.max_size() {
                integer::encode(p.last, 5, 0x20, dst);
                self.table.set_max_size(p.last);
            }
        }
        BlockEncoder { encoder: self, dst, slot: 0 }
    }

    /// The index of the entry `slot` matched in the last block, if it still holds
    /// `name: value`. A field found here is not never-indexed: only fields that may
    /// be indexed are remembered, and that depends on the name and value alone.
    fn remembered(&self, slot: usize, name: &[u8], value: &[u8]) -> Option<usize> {
        match *self.hits.get(slot)? {
            Hit::None => None,
            Hit::Static(index) => {
                let (n, v) = crate::table::STATIC_TABLE[index - 1];
                (n == name && v == value).then_some(index)
            }
            Hit::Dynamic(sequence) => {
                let pos = self.table.position(sequence)?;
                let entry = self.table.get(pos)?;
                (entry.name == name && entry.value == value).then_some(pos + STATIC_LEN + 1)
            }
        }
    }

    fn remember(&mut self, slot: usize, hit: Hit) {
        if let Some(remembered) = self.hits.get_mut(slot) {
            *remembered = hit;
        }
    }

    /// Encodes the field at position `slot` of its block.
    fn encode_field(&mut self, slot: usize, name: &[u8], value: &[u8], sensitive: bool, dst: &mut BytesMut) {
        if !sensitive && let Some(index) = self.remembered(slot, name, value) {
            integer::encode(index, 7, 0x80, dst);
            return;
        }
        let never = sensitive || never_index(name, value);
        let static_match = static_lookup(name, value);
        if let (StaticMatch::Full(index), false) = (static_match, never) {
            integer::encode(index, 7, 0x80, dst);
            self.remember(slot, Hit::Static(index));
            return;
        }
        let name_hash = hash(name, 0);
        let mut name_pos = None;
        let mut exact = None;
        for (pos, entry) in self.table.iter().enumerate() {
            if entry.name_hash == name_hash && entry.name == name {
                if !never && entry.value == value {
                    exact = Some(pos);
                    break;
                }
                if name_pos.is_none() {
                    name_pos = Some(pos);
                }
            }
        }
        if let Some(pos) = exact {
            integer::encode(pos + STATIC_LEN + 1, 7, 0x80, dst);
            self.remember(slot, Hit::Dynamic(self.table.sequence(pos)));
            return;
        }
        // A literal: it may change the table or the second-sight filter.
        self.generation += 1;
        let mode = if never { Mode::NeverIndexed } else { self.admit(name, value, name_hash) };
        let (prefix_bits, flags) = match mode {
            Mode::Indexing => (6, 0x40),
            Mode::NotIndexed => (4, 0x00),
            Mode::NeverIndexed => (4, 0x10),
        };
        let name_index = match static_match {
            StaticMatch::Full(index) | StaticMatch::Name(index) => Some(index),
            StaticMatch::None => name_pos.map(|pos| pos + STATIC_LEN + 1),
        };
        match name_index {
            Some(index) => integer::encode(index, prefix_bits, flags, dst),
            None => {
                dst.put_u8(flags);
                write_string(name, dst);
            }
        }
        write_string(value, dst);

        if mode == Mode::Indexing {
            // A static name costs no storage. A name from another dynamic entry is copied, so
            // that an entry never keeps an evicted entry's buffer alive.
            let static_name = match static_match {
                StaticMatch::Full(index) | StaticMatch::Name(index) => {
                    Some(Bytes::from_static(crate::table::STATIC_TABLE[index - 1].0))
                }
                StaticMatch::None => None,
            };
            let (name, value) = match static_name {
                Some(name) => (name, Bytes::copy_from_slice(value)),
                None => {
                    let mut both = BytesMut::with_capacity(name.len() + value.len());
                    both.extend_from_slice(name);
                    both.extend_from_slice(value);
                    let both = both.freeze();
                    (both.slice(..name.len()), both.slice(name.len()..))
                }
            };
            self.table.insert(Entry { name, value, name_hash });
            let hit = if self.table.len() > 0 { Hit::Dynamic(self.table.sequence(0)) } else { Hit::None };
            self.remember(slot, hit);
        } else {
            self.remember(slot, Hit::None);
        }
    }

    /// Decides between indexing and not for a field that may be indexed.
    fn admit(&mut self, name: &[u8], value: &[u8], name_hash: u64) -> Mode {
        let capacity = self.table.max_size();
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        if size > capacity / 4 * 3 {
            return Mode::NotIndexed;
        }
        if !is_volatile(name) && size <= capacity / 4 {
            return Mode::Indexing;
        }
        // Second-sight admission. The stored hash is never 0, so an empty slot never matches.
        let h = (hash(value, name_hash) >> 32) as u32 | 1;
        let slot = &mut self.doorkeeper[h as usize % DOORKEEPER_SLOTS];
        if *slot == h {
            *slot = 0;
            Mode::Indexing
        } else {
            *slot = h;
            Mode::NotIndexed
        }
    }
}

/// Adds the fields of one header block; created by [`Encoder::block`].
///
/// Every method appends to the block's buffer at once. Fields are encoded in call order.
pub struct BlockEncoder<'a> {
    encoder: &'a mut Encoder,
    dst: &'a mut BytesMut,
    /// The position of the next field in the block.
    slot: usize,
}

impl core::fmt::Debug for BlockEncoder<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BlockEncoder")
            .field("encoder", &self.encoder)
            .field("written", &self.dst.len())
            .finish()
    }
}

impl BlockEncoder<'_> {
    /// Adds a field, indexed or not as the encoder's policy decides. `name` must be
    /// lowercase for HTTP/2 (not checked).
    pub fn field(&mut self, name: &[u8], value: &[u8]) -> &mut Self {
        self.encoder.encode_field(self.slot, name, value, false, self.dst);
        self.slot += 1;
        self
    }

    /// Adds a field as a literal never indexed (RFC 7541 §6.2.3), for values that must not
    /// enter any compression table: credentials, session tokens.
    pub fn sensitive_field(&mut self, name: &[u8], value: &[u8]) -> &mut Self {
        self.encoder.encode_field(self.slot, name, value, true, self.dst);
        self.slot += 1;
        self
    }

    /// Adds a [`HeaderField`], honouring its `sensitive` flag.
    pub fn header(&mut self, field: &HeaderField) -> &mut Self {
        self.encoder.encode_field(self.slot, &field.name, &field.value, field.sensitive, self.dst);
        self.slot += 1;
        self
    }
}

/// Fields that are always sent never-indexed.
#[inline]
fn never_index(name: &[u8], value: &[u8]) -> bool {
    match name {
        b"authorization" | b"proxy-authorization" | b"set-cookie" => true,
        b"cookie" => value.len() < 20,
        _ => false,
    }
}

/// Names whose values usually change with every message: indexed on second sight only.
#[inline]
fn is_volatile(name: &[u8]) -> bool {
    matches!(
        name,
        b":path"
            | b"content-length"
            | b"content-range"
            | b"content-md5"
            | b"content-digest"
            | b"digest"
            | b"etag"
            | b"last-modified"
            | b"expires"
            | b"age"
            | b"location"
            | b"if-match"
            | b"if-none-match"
            | b"if-modified-since"
            | b"if-unmodified-since"
            | b"if-range"
            | b"range"
            | b"referer"
            | b"x-request-id"
            | b"x-correlation-id"
            | b"traceparent"
            | b"tracestate"
            | b"x-amzn-trace-id"
            | b"x-b3-traceid"
            | b"x-b3-spanid"
            | b"x-b3-parentspanid"
    )
}

/// A fast non-cryptographic hash: a folded 64×64→128-bit multiply per 8-byte word, then
/// MurmurHash3's `fmix64`. Collisions only cost compression, never correctness: table hits are
/// confirmed byte by byte.
#[inline]
fn hash(bytes: &[u8], seed: u64) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    #[inline]
    fn fold_mul(a: u64, b: u64) -> u64 {
        let p = u128::from(a) * u128::from(b);
        (p as u64) ^ ((p >> 64) as u64)
    }
    let mut h = seed ^ 0xd6e8_feb8_6659_fd93;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = fold_mul(h ^ u64::from_le_bytes(word), K);
    }
    let rest = chunks.remainder();
    let mut word = [0u8; 8];
    word[..rest.len()].copy_from_slice(rest);
    h = fold_mul(h ^ u64::from_le_bytes(word), K) ^ bytes.len() as u64;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Writes a string literal (§5.2), Huffman-coded when that is strictly shorter.
#[inline]
fn write_string(s: &[u8], dst: &mut BytesMut) {
    let huffman_len = huffman::encoded_len(s);
    if huffman_len < s.len() {
        integer::encode(huffman_len, 7, 0x80, dst);
        huffman::encode(s, dst);
    } else {
        integer::encode(s.len(), 7, 0, dst);
        dst.extend_from_slice(s);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn hash_separates_near_identical_values() {
        // Sequential ids, paths and etags differ in a byte or two: the second-sight filter
        // needs them to land on different 32-bit keys (a weak hash once admitted them).
        let mut keys = HashSet::new();
        let mut total = 0;
        for i in 0..20_000 {
            for (name, value) in [
                (&b":path"[..], format!("/items/{i}")),
                (b"etag", format!("\"{i:08x}\"")),
                (b"x-request-id", format!("req-{i:016}")),
                (b"content-length", format!("{i}")),
            ] {
                let key = (hash(value.as_bytes(), hash(name, 0)) >> 32) as u32 | 1;
                keys.insert(key);
                total += 1;
            }
        }
        // 80 000 random 31-bit keys collide about once or twice.
        assert!(total - keys.len() <= 5, "{} collisions", total - keys.len());
    }

    #[test]
    fn policy_classification() {
        assert!(never_index(b"authorization", b"x"));
        assert!(never_index(b"proxy-authorization", b"x"));
        assert!(never_index(b"set-cookie", &[b'a'; 100]));
        assert!(never_index(b"cookie", &[b'a'; 19]));
        assert!(!never_index(b"cookie", &[b'a'; 20]));
        assert!(!never_index(b"server", b"milpa"));
        assert!(is_volatile(b":path") && is_volatile(b"content-length"));
        assert!(!is_volatile(b"date") && !is_volatile(b"content-type"));
    }

    #[test]
    fn second_sight_admission() {
        let mut e = Encoder::new();
        let nh = hash(b":path", 0);
        assert_eq!(e.admit(b":path", b"/a", nh), Mode::NotIndexed);
        assert_eq!(e.admit(b":path", b"/b", nh), Mode::NotIndexed);
        assert_eq!(e.admit(b":path", b"/a", nh), Mode::Indexing);
        // Admission consumes the memory of it.
        assert_eq!(e.admit(b":path", b"/a", nh), Mode::NotIndexed);
        assert_eq!(e.admit(b"server", b"milpa", hash(b"server", 0)), Mode::Indexing);
    }
}
