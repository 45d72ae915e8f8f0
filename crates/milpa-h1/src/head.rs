//! Request heads and header lists: parsed once with `httparse`, stored as offsets
//! into the received bytes so that no header costs an allocation.

use std::fmt;
use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::{Method, Version};

use crate::error::ErrorKind;

/// Offsets of one field inside [`Headers`]' buffers.
#[derive(Debug, Clone, Copy)]
struct Field {
    name: (u32, u32),
    lower: (u32, u32),
    value: (u32, u32),
}

/// A header (or trailer) section in the order received.
///
/// Names are kept twice: as the client wrote them ([`HeaderField::raw_name`]) and
/// lower-cased ([`HeaderField::name`]), which is what lookups and ASGI-style
/// consumers use. Both are slices of two shared buffers, so cloning a value out as
/// [`Bytes`] copies nothing.
#[derive(Clone, Default)]
pub struct Headers {
    raw: Bytes,
    /// The lower-cased names, when some name in `raw` is not lower-case already.
    lower: Option<Bytes>,
    fields: Vec<Field>,
    /// Which of the [`well_known`] names are present.
    known: u8,
}

/// A bit for each field name the protocol itself looks up (framing, connection
/// management, upgrades), 0 for any other. Recording which are present as a section
/// is built lets a lookup of an absent one (the usual case) skip the scan.
/// Inlined, so that a lookup by a literal name finds its bit at compile time.
#[inline(always)]
fn well_known(name: &[u8]) -> u8 {
    match name.len() {
        2 if name == b"te" => 1,
        4 if name == b"host" => 1 << 1,
        6 if name == b"expect" => 1 << 2,
        7 if name == b"upgrade" => 1 << 3,
        10 if name == b"connection" => 1 << 4,
        14 if name == b"content-length" => 1 << 5,
        14 if name == b"http2-settings" => 1 << 6,
        17 if name == b"transfer-encoding" => 1 << 7,
        _ => 0,
    }
}

/// One header field borrowed from [`Headers`].
#[derive(Clone, Copy)]
pub struct HeaderField<'a> {
    headers: &'a Headers,
    field: Field,
}

impl<'a> HeaderField<'a> {
    /// The lower-cased name.
    pub fn name(&self) -> &'a [u8] {
        slice(self.headers.names(), self.field.lower)
    }

    /// The name exactly as the client sent it.
    pub fn raw_name(&self) -> &'a [u8] {
        slice(&self.headers.raw, self.field.name)
    }

    /// The value, without surrounding whitespace.
    pub fn value(&self) -> &'a [u8] {
        slice(&self.headers.raw, self.field.value)
    }

    /// The lower-cased name as shared [`Bytes`] (no copy).
    pub fn name_bytes(&self) -> Bytes {
        slice_bytes(self.headers.names(), self.field.lower)
    }

    /// The value as shared [`Bytes`] (no copy).
    pub fn value_bytes(&self) -> Bytes {
        slice_bytes(&self.headers.raw, self.field.value)
    }
}

fn slice(buf: &Bytes, (start, end): (u32, u32)) -> &[u8] {
    &buf[start as usize..end as usize]
}

fn slice_bytes(buf: &Bytes, (start, end): (u32, u32)) -> Bytes {
    buf.slice(start as usize..end as usize)
}

impl Headers {
    /// The buffer the lower-cased names are in.
    fn names(&self) -> &Bytes {
        self.lower.as_ref().unwrap_or(&self.raw)
    }

    /// Number of fields, duplicates included.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The fields in the order received.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = HeaderField<'_>> + '_ {
        self.fields.iter().map(move |&field| HeaderField { headers: self, field })
    }

    /// The value of the first field called `name` (give it lower-cased).
    #[inline(always)]
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        if !self.may_have(name) {
            return None;
        }
        self.get_in_fields(name)
    }

    fn get_in_fields(&self, name: &[u8]) -> Option<&[u8]> {
        self.get_all(name).next()
    }

    /// `false` when `name` is a [`well_known`] name that is absent.
    #[inline(always)]
    fn may_have(&self, name: &[u8]) -> bool {
        let bit = well_known(name);
        self.known & bit == bit
    }

    /// The values of every field called `name` (give it lower-cased), in order.
    pub fn get_all<'s>(&'s self, name: &[u8]) -> impl Iterator<Item = &'s [u8]> {
        let fields = if self.may_have(name) { &self.fields[..] } else { &[] };
        // Lengths first: most names differ in length, and that needs no slicing.
        let names = self.names();
        fields
            .iter()
            .filter(move |f| (f.lower.1 - f.lower.0) as usize == name.len() && slice(names, f.lower) == name)
            .map(|f| slice(&self.raw, f.value))
    }

    /// Every comma-separated element of every `name` field, trimmed, empty ones skipped.
    pub(crate) fn list<'s>(&'s self, name: &[u8]) -> impl Iterator<Item = &'s [u8]> {
        self.get_all(name)
            .flat_map(|value| value.split(|&b| b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|element| !element.is_empty())
    }

    /// Whether a comma-separated `name` field (give it lower-cased) contains
    /// `token`, compared case-insensitively: `has_token(b"connection", b"close")`.
    #[inline(always)]
    pub fn has_token(&self, name: &[u8], token: &[u8]) -> bool {
        self.may_have(name) && self.has_token_in_fields(name, token)
    }

    fn has_token_in_fields(&self, name: &[u8], token: &[u8]) -> bool {
        self.list(name).any(|element| element.eq_ignore_ascii_case(token))
    }

    /// Builds a section from name/value pairs (for example from an HTTP/2 header
    /// block), copying them into one buffer; names are lower-cased.
    pub fn from_pairs<'a, I>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8]), IntoIter: Clone>,
    {
        let pairs = pairs.into_iter();
        let (count, size) =
            pairs.clone().fold((0, 0), |(count, size), (n, v)| (count + 1, size + n.len() + v.len()));
        let mut raw = BytesMut::with_capacity(size);
        let mut ranges = Vec::with_capacity(count);
        let mut known = 0;
        for (name, value) in pairs {
            let name_start = raw.len();
            raw.extend_from_slice(name);
            raw[name_start..].make_ascii_lowercase();
            known |= well_known(&raw[name_start..]);
            let value_start = raw.len();
            raw.extend_from_slice(value);
            let name = (name_start as u32, value_start as u32);
            ranges.push(Field { name, lower: name, value: (value_start as u32, raw.len() as u32) });
        }
        Self { raw: raw.freeze(), lower: None, fields: ranges, known }
    }

    /// Builds the section from `httparse` output; `raw` is the buffer the slices point into.
    /// Lower-cased names, when any name needs them, are written to `names` and split off
    /// it: a connection passes the same buffer each time, and its space is reused once
    /// the previous request's fields are dropped.
    fn from_parsed(raw: Bytes, parsed: &[httparse::Header<'_>], names: &mut BytesMut) -> Self {
        let base = raw.as_ptr() as usize;
        let offset = |s: &[u8]| (s.as_ptr() as usize - base) as u32;
        let range = |s: &[u8]| (offset(s), offset(s) + s.len() as u32);
        // Names already in lower case (HTTP/2-minded clients, most tools) are
        // looked up in place; otherwise one buffer holds the lower-cased copies.
        let needs_lowering = parsed.iter().any(|h| h.name.bytes().any(|b| b.is_ascii_uppercase()));
        if needs_lowering {
            // A few requests' worth at a time: reserving each request's exact size
            // would take the buffer back (or reallocate it) on every request.
            let size: usize = parsed.iter().map(|h| h.name.len()).sum();
            if names.capacity() - names.len() < size {
                names.reserve(size.max(NAMES_CHUNK));
            }
        }
        let mut fields = Vec::with_capacity(parsed.len());
        let mut known = 0;
        for header in parsed {
            let name = range(header.name.as_bytes());
            let lower_range = if needs_lowering {
                let start = names.len();
                names.extend_from_slice(header.name.as_bytes());
                names[start..].make_ascii_lowercase();
                known |= well_known(&names[start..]);
                (start as u32, names.len() as u32)
            } else {
                known |= well_known(header.name.as_bytes());
                name
            };
            fields.push(Field { name, lower: lower_range, value: range(header.value) });
        }
        let lower = needs_lowering.then(|| names.split().freeze());
        Self { raw, lower, fields, known }
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|field| {
                (String::from_utf8_lossy(field.raw_name()), String::from_utf8_lossy(field.value()))
            }))
            .finish()
    }
}

/// How the request body is framed, as decided from its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyLength {
    /// No body follows the head.
    Empty,
    /// Exactly this many bytes follow.
    Known(u64),
    /// A chunked body of unknown length follows.
    Chunked,
}

/// A request head: request line plus header fields.
#[derive(Clone)]
pub struct Request {
    method: Method,
    target: Bytes,
    version: Version,
    headers: Headers,
    body: BodyLength,
    expects_continue: bool,
}

impl Request {
    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request target exactly as sent (origin, absolute, authority or asterisk form).
    pub fn target(&self) -> &Bytes {
        &self.target
    }

    /// The path part of the target, still percent-encoded (`*` for asterisk form,
    /// empty for authority form).
    pub fn path(&self) -> &[u8] {
        let without_query = self.target_without_query();
        match absolute_form_split(without_query) {
            Some((_, b"")) => b"/",
            Some((_, path)) => path,
            None if self.method == Method::CONNECT => b"",
            None => without_query,
        }
    }

    /// The query string after `?`, without it; empty when there is none.
    pub fn query(&self) -> &[u8] {
        match self.target.iter().position(|&b| b == b'?') {
            Some(at) => &self.target[at + 1..],
            None => b"",
        }
    }

    /// The authority the request is for: the absolute-form target's authority (which
    /// wins over `Host`, RFC 9112 §3.2.2), the CONNECT target, or the `Host` field.
    pub fn authority(&self) -> Option<&[u8]> {
        if self.method == Method::CONNECT {
            return Some(&self.target);
        }
        match absolute_form_split(self.target_without_query()) {
            Some((authority, _)) => Some(authority),
            None => self.headers.get(b"host"),
        }
    }

    /// `HTTP_10` or `HTTP_11`.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields in order.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Takes the header fields out, leaving this request with none: for callers
    /// that hand the fields on without copying them.
    pub fn take_headers(&mut self) -> Headers {
        std::mem::take(&mut self.headers)
    }

    /// How the body is framed.
    pub fn body_length(&self) -> BodyLength {
        self.body
    }

    /// Whether the client sent `Expect: 100-continue` (HTTP/1.1 only) and waits
    /// for the server to ask for the body.
    pub fn expects_continue(&self) -> bool {
        self.expects_continue
    }

    fn target_without_query(&self) -> &[u8] {
        let end = self.target.iter().position(|&b| b == b'?').unwrap_or(self.target.len());
        &self.target[..end]
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("target", &String::from_utf8_lossy(&self.target))
            .field("version", &self.version)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .finish()
    }
}

/// Splits `scheme://authority/path` into authority and path.
fn absolute_form_split(target: &[u8]) -> Option<(&[u8], &[u8])> {
    let scheme_end = target.windows(3).position(|w| w == b"://")?;
    let scheme = &target[..scheme_end];
    if scheme.is_empty() || !scheme.iter().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b)) {
        return None;
    }
    let rest = &target[scheme_end + 3..];
    let path_start = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
    Some(rest.split_at(path_start))
}

/// The lower-cased names buffer grows by at least this much.
const NAMES_CHUNK: usize = 512;

/// Header arrays up to this size live on the stack, uninitialised, so a parse
/// costs no allocation and no zeroing.
const STACK_HEADERS: usize = 128;

/// Parses a complete request head (request line through the blank line), with at
/// most `max_headers` fields.
pub(crate) fn parse_request(
    head: Bytes,
    max_headers: usize,
    names: &mut BytesMut,
) -> Result<Request, ErrorKind> {
    if max_headers <= STACK_HEADERS {
        let mut stack = [const { MaybeUninit::uninit() }; STACK_HEADERS];
        parse_request_into(&head, &mut stack[..max_headers], names)
    } else {
        let mut heap: Vec<_> = (0..max_headers).map(|_| MaybeUninit::uninit()).collect();
        parse_request_into(&head, &mut heap, names)
    }
}

fn parse_request_into<'h>(
    head: &'h Bytes,
    headers: &mut [MaybeUninit<httparse::Header<'h>>],
    names: &mut BytesMut,
) -> Result<Request, ErrorKind> {
    let mut parsed = httparse::Request::new(&mut []);
    let status =
        parsed.parse_with_uninit_headers(head, headers).map_err(|error| map_parse_error(error, head))?;
    if status.is_partial() {
        return Err(ErrorKind::BadRequestLine);
    }
    let method = parsed.method.ok_or(ErrorKind::BadRequestLine)?;
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| ErrorKind::BadRequestLine)?;
    let target = parsed.path.ok_or(ErrorKind::BadRequestLine)?;
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(ErrorKind::UnsupportedVersion),
    };
    let target_start = target.as_ptr() as usize - head.as_ptr() as usize;
    let target = head.slice(target_start..target_start + target.len());
    let headers = Headers::from_parsed(head.clone(), parsed.headers, names);
    validate_target(&method, &target)?;
    validate_host(version, &headers)?;
    let body = crate::framing::request_body(version, &headers)?;
    let expects_continue = version == Version::HTTP_11 && headers.has_token(b"expect", b"100-continue");
    Ok(Request { method, target, version, headers, body, expects_continue })
}

/// Parses a complete trailer section (fields through the blank line).
pub(crate) fn parse_trailers(block: Bytes, max_fields: usize) -> Result<Headers, ErrorKind> {
    let mut headers = vec![httparse::EMPTY_HEADER; max_fields];
    match httparse::parse_headers(&block, &mut headers) {
        Ok(httparse::Status::Complete((_, parsed))) => {
            Ok(Headers::from_parsed(block.clone(), parsed, &mut BytesMut::new()))
        }
        Ok(httparse::Status::Partial) => Err(ErrorKind::InvalidTrailers),
        Err(httparse::Error::TooManyHeaders) => Err(ErrorKind::TrailersTooLarge),
        Err(_) => Err(ErrorKind::InvalidTrailers),
    }
}

fn map_parse_error(error: httparse::Error, head: &[u8]) -> ErrorKind {
    match error {
        httparse::Error::TooManyHeaders => ErrorKind::TooManyHeaders,
        httparse::Error::HeaderName | httparse::Error::HeaderValue => ErrorKind::InvalidHeader,
        httparse::Error::Version if names_an_http_version(head) => ErrorKind::UnsupportedVersion,
        _ => ErrorKind::BadRequestLine,
    }
}

/// Whether the request line ends in a well-formed `HTTP/d.d` that httparse did not
/// accept, which deserves 505 rather than 400.
fn names_an_http_version(head: &[u8]) -> bool {
    let line_end = head.iter().position(|&b| b == b'\r').unwrap_or(head.len());
    let line = &head[..line_end];
    match line.iter().rposition(|&b| b == b' ') {
        Some(at) => {
            let version = &line[at + 1..];
            version.len() == 8
                && version.starts_with(b"HTTP/")
                && version[5].is_ascii_digit()
                && version[6] == b'.'
                && version[7].is_ascii_digit()
        }
        None => false,
    }
}

/// RFC 9112 §3.2: origin form for most methods, authority form only (and always)
/// for CONNECT, asterisk form only for OPTIONS, absolute form for any but CONNECT.
fn validate_target(method: &Method, target: &[u8]) -> Result<(), ErrorKind> {
    // RFC 9112 §3.2: a request target never carries a fragment.
    if target.contains(&b'#') {
        return Err(ErrorKind::InvalidTarget);
    }
    let valid = if *method == Method::CONNECT {
        is_authority_form(target)
    } else if target == b"*" {
        *method == Method::OPTIONS
    } else {
        target.starts_with(b"/") || absolute_form_split(target).is_some_and(|(a, _)| !a.is_empty())
    };
    if valid { Ok(()) } else { Err(ErrorKind::InvalidTarget) }
}

fn is_authority_form(target: &[u8]) -> bool {
    match target.iter().rposition(|&b| b == b':') {
        Some(colon) => {
            let (host, port) = (&target[..colon], &target[colon + 1..]);
            !host.is_empty()
                && !host.contains(&b'/')
                && !host.contains(&b'@')
                && !port.is_empty()
                && port.iter().all(u8::is_ascii_digit)
        }
        None => false,
    }
}

/// RFC 9112 §3.2: an HTTP/1.1 request carries exactly one `Host`; no request carries two.
fn validate_host(version: Version, headers: &Headers) -> Result<(), ErrorKind> {
    let mut hosts = headers.get_all(b"host");
    let first = hosts.next();
    let count = usize::from(first.is_some()) + hosts.take(1).count();
    if first.is_some_and(|host| !host.iter().all(|&b| is_host_byte(b))) {
        return Err(ErrorKind::InvalidHost);
    }
    match count {
        0 if version == Version::HTTP_11 => Err(ErrorKind::InvalidHost),
        0 | 1 => Ok(()),
        _ => Err(ErrorKind::InvalidHost),
    }
}

/// RFC 3986 `host [":" port]` characters: unreserved, percent, sub-delims, `:`
/// and the brackets of an IP literal. Anything else (spaces, `/`, `@`…) is not a host.
fn is_host_byte(b: u8) -> bool {
    const HOST: [bool; 256] = crate::writer::byte_class(b"-._~%!$&'()*+,;=:[]");
    HOST[usize::from(b)]
}
