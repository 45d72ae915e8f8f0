//! The `Date` header value, formatted once per second per thread, and the
//! HTTP/1.1 fields every response gets, checked once per second with it.

use std::cell::RefCell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use milpa_h1::FieldBlock;

/// This second's `date` value and the HTTP/1.1 blocks built from it.
#[derive(Default)]
struct Stamp {
    second: Option<u64>,
    /// When, by the monotonic clock, this second ends.
    until: Option<Instant>,
    date: Bytes,
    /// `date`, then `date` and `server: milpa`.
    h1: [FieldBlock; 2],
}

thread_local! {
    static CACHE: RefCell<Stamp> = RefCell::default();
}

fn with_stamp<T>(read: impl FnOnce(&Stamp) -> T) -> T {
    let now = SystemTime::now();
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let second = since_epoch.as_secs();
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
            let until = Instant::now()
                + Duration::from_secs(1).saturating_sub(since_epoch - Duration::from_secs(second));
            *stamp = Stamp { second: Some(second), until: Some(until), date, h1 };
        }
        read(&stamp)
    })
}

/// The current time as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) fn now() -> Bytes {
    with_stamp(|stamp| stamp.date.clone())
}

/// `date: <now>`, and `server: milpa` after it when `server`, ready to be copied
/// into an HTTP/1.1 response head, and until when (by the monotonic clock) it
/// stays current: a connection keeps it until then without reading the clock.
pub(crate) fn h1_fields(server: bool) -> (FieldBlock, Instant) {
    with_stamp(|stamp| (stamp.h1[usize::from(server)].clone(), stamp.until.unwrap_or_else(Instant::now)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn h1_fields_carry_the_date_then_the_server() {
        let (fields, until) = super::h1_fields(true);
        assert!(until <= std::time::Instant::now() + std::time::Duration::from_secs(1));
        let text = std::str::from_utf8(fields.as_bytes()).expect("ASCII");
        let date = text.strip_prefix("date: ").and_then(|rest| rest.strip_suffix("\r\nserver: milpa\r\n"));
        assert!(date.is_some_and(|date| httpdate::parse_http_date(date).is_ok()), "{text:?}");
        assert!(super::h1_fields(false).0.as_bytes().ends_with(b" GMT\r\n"));
    }
}
