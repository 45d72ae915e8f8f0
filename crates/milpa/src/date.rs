//! The `Date` header value, formatted once per second per thread, and the
//! HTTP/1.1 fields every response gets, checked once per second with it.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use milpa_h1::FieldBlock;

/// This second's `date` value and the HTTP/1.1 blocks built from it.
#[derive(Default)]
struct Stamp {
    second: Option<u64>,
    date: Bytes,
    /// `date`, then `date` and `server: milpa`.
    h1: [FieldBlock; 2],
}

thread_local! {
    static CACHE: RefCell<Stamp> = RefCell::default();
}

fn with_stamp<T>(read: impl FnOnce(&Stamp) -> T) -> T {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
    CACHE.with(|cache| {
        let mut stamp = cache.borrow_mut();
        if stamp.second != Some(second) {
            let date = Bytes::from(httpdate::fmt_http_date(now));
            let date_field = (&b"date"[..], &date[..]);
            // Both are well-formed fields, which `FieldBlock` never refuses.
            let h1 = [
                FieldBlock::new([date_field]).unwrap_or_default(),
                FieldBlock::new([date_field, (b"server", b"milpa")]).unwrap_or_default(),
            ];
            *stamp = Stamp { second: Some(second), date, h1 };
        }
        read(&stamp)
    })
}

/// The current time as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) fn now() -> Bytes {
    with_stamp(|stamp| stamp.date.clone())
}

/// `date: <now>`, and `server: milpa` after it when `server`, ready to be copied
/// into an HTTP/1.1 response head.
pub(crate) fn h1_fields(server: bool) -> FieldBlock {
    with_stamp(|stamp| stamp.h1[usize::from(server)].clone())
}

#[cfg(test)]
mod tests {
    #[test]
    fn h1_fields_carry_the_date_then_the_server() {
        let fields = super::h1_fields(true);
        let text = std::str::from_utf8(fields.as_bytes()).expect("ASCII");
        let date = text.strip_prefix("date: ").and_then(|rest| rest.strip_suffix("\r\nserver: milpa\r\n"));
        assert!(date.is_some_and(|date| httpdate::parse_http_date(date).is_ok()), "{text:?}");
        assert!(super::h1_fields(false).as_bytes().ends_with(b" GMT\r\n"));
    }
}
