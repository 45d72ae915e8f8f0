//! Extensible priorities (RFC 9218): the `priority` field and PRIORITY_UPDATE values.

/// An RFC 9218 priority: urgency 0 (most urgent) to 7, and whether the response may be
/// interleaved with others of the same urgency (incremental) or should go out whole, in
/// stream order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Priority {
    /// `u`: 0 to 7; 3 by default.
    pub urgency: u8,
    /// `i`: false by default.
    pub incremental: bool,
}

impl Default for Priority {
    fn default() -> Self {
        Self { urgency: 3, incremental: false }
    }
}

impl Priority {
    /// Parses a `priority` field value or PRIORITY_UPDATE payload, a structured-field
    /// dictionary (RFC 8941). Unknown keys, parameters and out-of-range values are ignored;
    /// a value that does not parse gives `None` (the field is ignored, RFC 9218 §4).
    #[must_use]
    pub fn parse(value: &[u8]) -> Option<Priority> {
        let mut priority = Priority::default();
        for member in value.split(|&b| b == b',') {
            let member = trim(member);
            if member.is_empty() {
                return None;
            }
            // Parameters (`;key=value`) carry nothing for us.
            let item = member.split(|&b| b == b';').next().unwrap_or_default();
            let (key, value) = match item.iter().position(|&b| b == b'=') {
                Some(eq) => (&item[..eq], Some(&item[eq + 1..])),
                None => (item, None),
            };
            if !is_key(key) {
                return None;
            }
            match (key, value) {
                (b"u", Some(value)) => {
                    if let Some(urgency) = parse_integer(value).filter(|&u| u <= 7) {
                        priority.urgency = urgency as u8;
                    }
                }
                (b"i", None) => priority.incremental = true,
                (b"i", Some(b"?1")) => priority.incremental = true,
                (b"i", Some(b"?0")) => priority.incremental = false,
                _ => {}
            }
        }
        Some(priority)
    }
}

fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// An RFC 8941 key: `( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`.
fn is_key(key: &[u8]) -> bool {
    match key {
        [first, rest @ ..] => {
            (first.is_ascii_lowercase() || *first == b'*')
                && rest.iter().all(|&b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.' | b'*')
                })
        }
        [] => false,
    }
}

/// A non-negative sf-integer of at most 15 digits.
fn parse_integer(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 15 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(urgency: u8, incremental: bool) -> Option<Priority> {
        Some(Priority { urgency, incremental })
    }

    #[test]
    fn parses_urgency_and_incremental() {
        assert_eq!(Priority::parse(b"u=1"), p(1, false));
        assert_eq!(Priority::parse(b"u=5, i"), p(5, true));
        assert_eq!(Priority::parse(b"i=?1,u=0"), p(0, true));
        assert_eq!(Priority::parse(b"i=?0"), p(3, false));
        assert_eq!(Priority::parse(b"u=2;foo=bar, x=1"), p(2, false));
    }

    #[test]
    fn out_of_range_values_are_ignored() {
        assert_eq!(Priority::parse(b"u=8"), p(3, false));
        assert_eq!(Priority::parse(b"u=-1, i=1"), p(3, false));
    }

    #[test]
    fn unparsable_fields_are_ignored() {
        assert_eq!(Priority::parse(b"U=1"), None);
        assert_eq!(Priority::parse(b"u=1,,i"), None);
        assert_eq!(Priority::parse(b""), None);
    }
}
