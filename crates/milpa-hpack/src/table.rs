//! The static table (RFC 7541 Appendix A) and the dynamic table (RFC 7541 §2.3.2, §4).
//!
//! Index space (§2.3.3): 1..=61 is the static table, 62 and up the dynamic table, newest
//! entry first. An entry's size is `name.len() + value.len() + 32` (§4.1); inserting evicts
//! the oldest entries until the new one fits, and an entry larger than the whole table
//! empties it and is not inserted (§4.4).

use std::collections::VecDeque;

use bytes::Bytes;

/// Per-entry overhead added to the name and value lengths (RFC 7541 §4.1).
pub(crate) const ENTRY_OVERHEAD: usize = 32;

/// Number of entries of the static table; the first dynamic index is `STATIC_LEN + 1`.
pub(crate) const STATIC_LEN: usize = 61;

/// RFC 7541 Appendix A. `STATIC_TABLE[i - 1]` is index `i`.
pub(crate) static STATIC_TABLE: [(&[u8], &[u8]); STATIC_LEN] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// `(first index, number of entries)` of the static entries named `name`.
#[inline]
fn static_name(name: &[u8]) -> Option<(usize, usize)> {
    Some(match name {
        b":authority" => (1, 1),
        b":method" => (2, 2),
        b":path" => (4, 2),
        b":scheme" => (6, 2),
        b":status" => (8, 7),
        b"accept-charset" => (15, 1),
        b"accept-encoding" => (16, 1),
        b"accept-language" => (17, 1),
        b"accept-ranges" => (18, 1),
        b"accept" => (19, 1),
        b"access-control-allow-origin" => (20, 1),
        b"age" => (21, 1),
        b"allow" => (22, 1),
        b"authorization" => (23, 1),
        b"cache-control" => (24, 1),
        b"content-disposition" => (25, 1),
        b"content-encoding" => (26, 1),
        b"content-language" => (27, 1),
        b"content-length" => (28, 1),
        b"content-location" => (29, 1),
        b"content-range" => (30, 1),
        b"content-type" => (31, 1),
        b"cookie" => (32, 1),
        b"date" => (33, 1),
        b"etag" => (34, 1),
        b"expect" => (35, 1),
        b"expires" => (36, 1),
        b"from" => (37, 1),
        b"host" => (38, 1),
        b"if-match" => (39, 1),
        b"if-modified-since" => (40, 1),
        b"if-none-match" => (41, 1),
        b"if-range" => (42, 1),
        b"if-unmodified-since" => (43, 1),
        b"last-modified" => (44, 1),
        b"link" => (45, 1),
        b"location" => (46, 1),
        b"max-forwards" => (47, 1),
        b"proxy-authenticate" => (48, 1),
        b"proxy-authorization" => (49, 1),
        b"range" => (50, 1),
        b"referer" => (51, 1),
        b"refresh" => (52, 1),
        b"retry-after" => (53, 1),
        b"server" => (54, 1),
        b"set-cookie" => (55, 1),
        b"strict-transport-security" => (56, 1),
        b"transfer-encoding" => (57, 1),
        b"user-agent" => (58, 1),
        b"vary" => (59, 1),
        b"via" => (60, 1),
        b"www-authenticate" => (61, 1),
        _ => return None,
    })
}

/// What the static table knows about a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StaticMatch {
    /// The name is not in the static table.
    None,
    /// The name is at this index, with another value.
    Name(usize),
    /// Name and value are at this index.
    Full(usize),
}

/// Looks `name: value` up in the static table.
#[inline]
pub(crate) fn static_lookup(name: &[u8], value: &[u8]) -> StaticMatch {
    let Some((first, count)) = static_name(name) else {
        return StaticMatch::None;
    };
    for index in first..first + count {
        if STATIC_TABLE[index - 1].1 == value {
            return StaticMatch::Full(index);
        }
    }
    StaticMatch::Name(first)
}

/// One dynamic table entry.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) name: Bytes,
    pub(crate) value: Bytes,
    /// Hash of the name, used by the encoder to skip mismatches (0 in the decoder's table).
    pub(crate) name_hash: u64,
}

impl Entry {
    /// RFC 7541 §4.1 size.
    #[inline]
    pub(crate) fn size(&self) -> usize {
        self.name.len() + self.value.len() + ENTRY_OVERHEAD
    }
}

/// The dynamic table: a FIFO of entries bounded by `max_size` bytes of RFC 7541 size.
#[derive(Debug, Clone)]
pub(crate) struct DynamicTable {
    /// Newest first: `entries[0]` is index 62.
    entries: VecDeque<Entry>,
    size: usize,
    max_size: usize,
    /// Entries inserted so far: the newest entry's sequence number plus one. An entry
    /// keeps its sequence number while its index grows with every insertion.
    inserted: u64,
}

impl DynamicTable {
    pub(crate) fn new(max_size: usize) -> Self {
        DynamicTable { entries: VecDeque::new(), size: 0, max_size, inserted: 0 }
    }

    /// The sequence number of the entry at position `i`.
    #[inline]
    pub(crate) fn sequence(&self, i: usize) -> u64 {
        self.inserted - 1 - i as u64
    }

    /// The position of the entry with sequence number `sequence`, if it is still in the table.
    #[inline]
    pub(crate) fn position(&self, sequence: u64) -> Option<usize> {
        let age = self.inserted.checked_sub(sequence + 1)?;
        usize::try_from(age).ok().filter(|&i| i < self.entries.len())
    }

    /// Number of entries.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Sum of the entries' sizes.
    #[inline]
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Current maximum size (the last size update).
    #[inline]
    pub(crate) fn max_size(&self) -> usize {
        self.max_size
    }

    /// Entry at zero-based position `i` (HPACK index `i + 62`).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&Entry> {
        self.entries.get(i)
    }

    /// Entries, newest first.
    #[inline]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Applies a size update, evicting the oldest entries as needed.
    pub(crate) fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    /// Whether an entry of `size` bytes would be inserted (rather than empty the table).
    #[inline]
    pub(crate) fn fits(&self, size: usize) -> bool {
        size <= self.max_size
    }

    /// Inserts `entry` as the newest entry, evicting as needed. An entry larger than the
    /// table empties it and is dropped (RFC 7541 §4.4).
    pub(crate) fn insert(&mut self, entry: Entry) {
        let size = entry.size();
        if size > self.max_size {
            self.clear();
            return;
        }
        self.evict_to(self.max_size - size);
        self.size += size;
        self.inserted += 1;
        self.entries.push_front(entry);
    }

    /// Removes every entry.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.size = 0;
    }

    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            match self.entries.pop_back() {
                Some(old) => self.size -= old.size(),
                None => {
                    debug_assert_eq!(self.size, 0);
                    self.size = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &'static str, value: &'static str) -> Entry {
        Entry {
            name: Bytes::from_static(name.as_bytes()),
            value: Bytes::from_static(value.as_bytes()),
            name_hash: 0,
        }
    }

    #[test]
    fn static_table_lookup_matches_table() {
        for (i, (name, value)) in STATIC_TABLE.iter().enumerate() {
            let index = i + 1;
            assert_eq!(static_lookup(name, value), StaticMatch::Full(index));
            let (first, count) = static_name(name).expect("every static name is matched");
            assert!((first..first + count).contains(&index));
            assert_eq!(STATIC_TABLE[first - 1].0, *name);
        }
        assert_eq!(static_lookup(b":status", b"201"), StaticMatch::Name(8));
        assert_eq!(static_lookup(b"content-type", b"text/html"), StaticMatch::Name(31));
        assert_eq!(static_lookup(b"x-custom", b""), StaticMatch::None);
        assert_eq!(static_lookup(b"accept-encoding", b"gzip"), StaticMatch::Name(16));
    }

    #[test]
    fn eviction_is_fifo_with_32_byte_overhead() {
        // Each entry: 1 + 1 + 32 = 34 bytes; a 100-byte table holds two.
        let mut t = DynamicTable::new(100);
        t.insert(entry("a", "1"));
        t.insert(entry("b", "2"));
        assert_eq!((t.len(), t.size()), (2, 68));
        t.insert(entry("c", "3"));
        assert_eq!((t.len(), t.size()), (2, 68));
        assert_eq!(&t.get(0).expect("newest").name[..], b"c");
        assert_eq!(&t.get(1).expect("older").name[..], b"b");
        assert!(t.get(2).is_none());
    }

    #[test]
    fn entry_exactly_max_size_fits() {
        let mut t = DynamicTable::new(34);
        t.insert(entry("a", "1"));
        assert_eq!((t.len(), t.size()), (1, 34));
        t.insert(entry("b", "2"));
        assert_eq!((t.len(), t.size()), (1, 34));
    }

    #[test]
    fn oversized_entry_empties_the_table() {
        let mut t = DynamicTable::new(40);
        t.insert(entry("a", "1"));
        t.insert(entry("too-long-name", "value"));
        assert_eq!((t.len(), t.size()), (0, 0));
    }

    #[test]
    fn shrinking_evicts_and_zero_empties() {
        let mut t = DynamicTable::new(4096);
        for _ in 0..10 {
            t.insert(entry("ab", "cd"));
        }
        assert_eq!(t.size(), 360);
        t.set_max_size(100);
        assert_eq!((t.len(), t.size()), (2, 72));
        t.set_max_size(0);
        assert_eq!((t.len(), t.size()), (0, 0));
        t.insert(entry("a", ""));
        assert_eq!(t.len(), 0);
    }
}
