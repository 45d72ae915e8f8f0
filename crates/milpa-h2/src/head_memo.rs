//! The last response head, kept as encoded while sending it again would give the same
//! bytes: applications answer most requests with the same fields, and a copied block
//! skips the field checks and the HPACK encoding.

use bytes::Bytes;
use http::StatusCode;

/// Heads larger than this (fields as given, or the encoded block) are not kept.
const MEMO_LIMIT: usize = 1024;

/// Nor are heads with more fields than this.
const MEMO_FIELDS: usize = 32;

/// A response head whose block was made of table references only (see
/// [`milpa_hpack::Encoder::generation`]): while the encoder's generation is the one kept
/// here, the same status and fields encode to exactly `block`.
#[derive(Debug, Default)]
pub(crate) struct HeadMemo {
    kept: Option<Kept>,
    /// Every field's name and value, back to back (reused between heads).
    given: Vec<u8>,
    /// Every field's name and value lengths.
    lengths: Vec<(usize, usize)>,
}

#[derive(Debug)]
struct Kept {
    status: StatusCode,
    generation: u64,
    block: Bytes,
}

impl HeadMemo {
    /// The kept block, if `status` and `fields` are the head it was encoded from and the
    /// encoder is still at `generation`.
    pub(crate) fn block_for<N, V>(
        &self,
        status: StatusCode,
        fields: impl Iterator<Item = (N, V)>,
        generation: u64,
    ) -> Option<&Bytes>
    where
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let kept =
            self.kept.as_ref().filter(|kept| kept.status == status && kept.generation == generation)?;
        let mut lengths = self.lengths.iter();
        let mut rest = &self.given[..];
        for (name, value) in fields {
            let (name, value) = (name.as_ref(), value.as_ref());
            let &(name_len, value_len) = lengths.next()?;
            if name_len != name.len() || value_len != value.len() {
                return None;
            }
            let (given, after) = rest.split_at(name_len + value_len);
            if given[..name_len] != *name || given[name_len..] != *value {
                return None;
            }
            rest = after;
        }
        lengths.next().is_none().then_some(&kept.block)
    }

    /// Keeps `block`, just encoded from `status` and `fields`, if the encoder's
    /// generation did not move while encoding it (`before` is the generation then, `after`
    /// now); otherwise forgets what was kept, which can no longer be sent as it is.
    pub(crate) fn remember<N, V>(
        &mut self,
        status: StatusCode,
        fields: impl Iterator<Item = (N, V)>,
        block: &[u8],
        (before, after): (u64, u64),
    ) where
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let old = self.kept.take();
        if before != after || block.len() > MEMO_LIMIT {
            return;
        }
        self.given.clear();
        self.lengths.clear();
        for (name, value) in fields {
            let (name, value) = (name.as_ref(), value.as_ref());
            if self.given.len() + name.len() + value.len() > MEMO_LIMIT || self.lengths.len() == MEMO_FIELDS {
                self.given.clear();
                self.lengths.clear();
                return;
            }
            self.given.extend_from_slice(name);
            self.given.extend_from_slice(value);
            self.lengths.push((name.len(), value.len()));
        }
        // The old block's storage is reused once the copies sent are gone (they are
        // copied into the output at once), so heads that take turns allocate nothing.
        let mut storage = old.and_then(|kept| kept.block.try_into_mut().ok()).unwrap_or_default();
        storage.clear();
        storage.extend_from_slice(block);
        self.kept = Some(Kept { status, generation: after, block: storage.freeze() });
    }
}
