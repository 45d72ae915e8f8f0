//! Keeping a connection's buffers in cache between requests.

use bytes::BytesMut;

/// Moves an empty buffer's start back to the beginning of its allocation when
/// nothing else holds a piece of it, so that the next request (or response) lands
/// in the cache lines the last one used. Left alone, a buffer that pieces are
/// split off walks through its whole allocation before taking it back, and with
/// many connections every request then touches memory that has left the cache.
/// Allocates nothing: a shared or unsplit buffer stays as it is.
pub(crate) fn rewind(buf: &mut BytesMut) {
    // Asking for one byte more than the buffer has left can only be met by
    // taking back the space before its start, which `try_reclaim` does when the
    // buffer is unshared and empty (nothing to copy).
    if buf.is_empty() && buf.capacity() > 0 {
        let _ = buf.try_reclaim(buf.capacity() + 1);
    }
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;

    use super::*;

    #[test]
    fn an_empty_unshared_buffer_starts_again_at_its_allocation() {
        let mut buf = BytesMut::with_capacity(64);
        let start = buf.as_ptr();
        buf.put_slice(&[1; 40]);
        drop(buf.split());
        assert_ne!(buf.as_ptr(), start);
        rewind(&mut buf);
        assert_eq!(buf.as_ptr(), start);
        assert_eq!(buf.capacity(), 64);
    }

    #[test]
    fn a_buffer_with_a_piece_still_held_or_bytes_left_stays_put() {
        let mut buf = BytesMut::with_capacity(64);
        buf.put_slice(&[1; 40]);
        let held = buf.split();
        let at = buf.as_ptr();
        rewind(&mut buf);
        assert_eq!((buf.as_ptr(), buf.capacity()), (at, 24));
        drop(held);
        buf.put_slice(&[2; 4]);
        rewind(&mut buf);
        assert_eq!((buf.as_ptr(), &buf[..]), (at, &[2; 4][..]));
    }

    #[test]
    fn a_buffer_never_split_is_left_alone() {
        let mut buf = BytesMut::with_capacity(64);
        let start = buf.as_ptr();
        rewind(&mut buf);
        assert_eq!((buf.as_ptr(), buf.capacity()), (start, 64));
        let mut empty = BytesMut::new();
        rewind(&mut empty);
        assert_eq!(empty.capacity(), 0);
    }
}
