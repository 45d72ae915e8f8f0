//! `StaticFiles`: a directory served over HTTP — validators (`ETag`,
//! `Last-Modified`), conditional requests (304, 412), single byte ranges
//! (206/416), `HEAD`, content types, directories redirected to their slashed
//! URL — and nothing outside the directory, whatever the path says (`..`,
//! encoded `%2e%2e`, absolute paths, symlinks leading out).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, StatusCode};

use crate::app::{
    App, AppError, AppFuture, FileRange, HeaderList, Headers, HttpScope, ReceiveEvent, Scope, SendEvent,
};
use crate::exchange::{Receiver, Sender};
use crate::percent::{encode_query, encode_segment};

/// An application serving the files under one directory. A directory answers
/// with its `index.html` when asked for with a trailing slash, and redirects to
/// that URL without one; anything missing, or outside the root, is a 404.
#[derive(Debug, Clone)]
pub struct StaticFiles {
    root: PathBuf,
}

impl StaticFiles {
    /// Serves `root` (resolved now: it must exist and be a directory).
    pub fn new(root: impl AsRef<Path>) -> std::io::Result<Self> {
        let root = std::fs::canonicalize(root)?;
        if !root.is_dir() {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a directory"));
        }
        Ok(Self { root })
    }
}

impl App for StaticFiles {
    fn call(&self, scope: Scope, mut receive: Receiver, mut send: Sender) -> AppFuture {
        let root = self.root.clone();
        Box::pin(async move {
            match scope {
                Scope::Http(http) => serve(&root, &http, &mut send).await,
                Scope::Lifespan(_) => {
                    while let Some(event) = receive.receive().await {
                        match event {
                            ReceiveEvent::Startup => send.send(SendEvent::StartupComplete).await?,
                            ReceiveEvent::Shutdown => {
                                return Ok(send.send(SendEvent::ShutdownComplete).await?);
                            }
                            _ => {}
                        }
                    }
                    Ok(())
                }
                _ => Ok(send.send(SendEvent::WebSocketClose { code: 1000, reason: String::new() }).await?),
            }
        })
    }
}

/// What a request path names under the root.
enum Located {
    /// A regular file, open: its headers and its bytes both come from this handle,
    /// whatever the path names by the time the body is read.
    File(Found),
    /// A directory asked for without the trailing slash its relative links need.
    Directory,
    Missing,
}

/// A file found under the root, opened, with what `fstat` said of it.
struct Found {
    file: File,
    len: u64,
    /// The modification time, clamped into `[UNIX_EPOCH, now]`.
    modified: SystemTime,
}

async fn serve(root: &Path, scope: &HttpScope, send: &mut Sender) -> Result<(), AppError> {
    if scope.method != Method::GET && scope.method != Method::HEAD {
        let allow = vec![(Bytes::from_static(b"allow"), Bytes::from_static(b"GET, HEAD"))];
        return answer(send, StatusCode::METHOD_NOT_ALLOWED, allow, "method not allowed\n").await;
    }
    let Some(relative) = safe_relative(&scope.path) else {
        return answer(send, StatusCode::NOT_FOUND, Vec::new(), "not found\n").await;
    };
    let wants_directory = scope.path.ends_with('/');
    // The type follows the name asked for, not a symlink's target (as nginx does).
    let content_type =
        if wants_directory { content_type(Path::new("index.html")) } else { content_type(&relative) };
    let root_owned = root.to_path_buf();
    match ::blocking::unblock(move || locate(&root_owned, &relative, wants_directory)).await {
        Located::File(found) => serve_file(scope, send, found, content_type).await,
        Located::Directory => {
            let location = directory_location(&scope.root_path, &scope.path, &scope.query_string);
            let headers = vec![(Bytes::from_static(b"location"), Bytes::from(location))];
            answer(send, StatusCode::MOVED_PERMANENTLY, headers, "moved permanently\n").await
        }
        Located::Missing => answer(send, StatusCode::NOT_FOUND, Vec::new(), "not found\n").await,
    }
}

async fn serve_file(
    scope: &HttpScope,
    send: &mut Sender,
    found: Found,
    content_type: &'static str,
) -> Result<(), AppError> {
    let etag = etag(&found);
    let last_modified = httpdate::fmt_http_date(found.modified);
    let mut headers: HeaderList = vec![
        (Bytes::from_static(b"etag"), Bytes::from(etag.clone())),
        (Bytes::from_static(b"last-modified"), Bytes::from(last_modified)),
    ];
    match preconditions(&scope.headers, &etag, found.modified) {
        Precondition::Failed => {
            send.send(SendEvent::ResponseStart {
                status: StatusCode::PRECONDITION_FAILED,
                headers: Vec::new(),
                trailers: false,
            })
            .await?;
            return Ok(send.body(Bytes::new(), false).await?);
        }
        Precondition::NotModified => {
            send.send(SendEvent::ResponseStart {
                status: StatusCode::NOT_MODIFIED,
                headers,
                trailers: false,
            })
            .await?;
            return Ok(send.body(Bytes::new(), false).await?);
        }
        Precondition::Proceed => {}
    }
    headers.push((Bytes::from_static(b"content-type"), Bytes::from_static(content_type.as_bytes())));
    headers.push((Bytes::from_static(b"accept-ranges"), Bytes::from_static(b"bytes")));
    let range = scope
        .header("range")
        .filter(|_| if_range_holds(scope, &etag, found.modified))
        .map(|value| parse_range(value, found.len));
    let (status, range) = match range {
        Some(Range::Unsatisfiable) => {
            headers
                .push((Bytes::from_static(b"content-range"), Bytes::from(format!("bytes */{}", found.len))));
            return answer(send, StatusCode::RANGE_NOT_SATISFIABLE, headers, "range not satisfiable\n").await;
        }
        Some(Range::Bytes(start, end)) => {
            let content_range = format!("bytes {start}-{end}/{}", found.len);
            headers.push((Bytes::from_static(b"content-range"), Bytes::from(content_range)));
            (StatusCode::PARTIAL_CONTENT, Some(FileRange { offset: start, length: end - start + 1 }))
        }
        // No range, an ignored one (several ranges, or `If-Range` no longer holds):
        // still the length the validators describe, so a file growing in place
        // is sent as it was, and one shrinking fails instead of passing as whole.
        Some(Range::Whole) | None => (StatusCode::OK, Some(FileRange { offset: 0, length: found.len })),
    };
    send.send(SendEvent::ResponseStart { status, headers, trailers: false }).await?;
    // The connection reads the file on its blocking pool, as the client takes it,
    // and sends its length; for HEAD only the head.
    Ok(send.send(SendEvent::ResponseOpenFile { file: found.file.into(), range }).await?)
}

async fn answer(
    send: &mut Sender,
    status: StatusCode,
    mut headers: HeaderList,
    text: &'static str,
) -> Result<(), AppError> {
    headers.retain(|(name, _)| &name[..] != b"content-type");
    headers.push((Bytes::from_static(b"content-type"), Bytes::from_static(b"text/plain; charset=utf-8")));
    send.send(SendEvent::ResponseStart { status, headers, trailers: false }).await?;
    Ok(send.body(Bytes::from_static(text.as_bytes()), false).await?)
}

/// The decoded request path as segments under the root, or `None` when it would
/// leave it: `..` anywhere, `.`, backslashes and NULs are refused outright rather
/// than normalised.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let mut relative = PathBuf::new();
    for segment in path.split('/').filter(|segment| !segment.is_empty()) {
        if segment == ".." || segment == "." || segment.contains(['\\', '\0']) {
            return None;
        }
        relative.push(segment);
    }
    Some(relative)
}

/// Finds `relative` under `root`, following symlinks only while they stay inside
/// it, and opens it. A directory is served (its `index.html`) only when the
/// request path ended in a slash; a file only when it did not.
fn locate(root: &Path, relative: &Path, wants_directory: bool) -> Located {
    let Some(path) = inside(root, &root.join(relative)) else { return Located::Missing };
    let Ok(metadata) = std::fs::metadata(&path) else { return Located::Missing };
    let path = match (metadata.is_dir(), wants_directory) {
        (true, false) => return Located::Directory,
        (true, true) => match inside(root, &path.join("index.html")) {
            Some(index) => index,
            None => return Located::Missing,
        },
        // `/a.txt/`: a file is no directory.
        (false, true) => return Located::Missing,
        (false, false) => path,
    };
    open_regular(&path).map_or(Located::Missing, Located::File)
}

/// `path` resolved, if it lies under `root`.
fn inside(root: &Path, path: &Path) -> Option<PathBuf> {
    let path = std::fs::canonicalize(path).ok()?;
    path.starts_with(root).then_some(path)
}

fn open_regular(path: &Path) -> Option<Found> {
    // Checked before opening: opening a FIFO would wait for a writer.
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let file = File::open(path).ok()?;
    let metadata = file.metadata().ok()?;
    if !metadata.is_file() {
        return None;
    }
    let modified = clamp_modified(metadata.modified().unwrap_or(UNIX_EPOCH), SystemTime::now());
    Some(Found { file, len: metadata.len(), modified })
}

/// A modification time fit for `Last-Modified`: not before 1970 (HTTP dates cannot
/// say it) and not after `now` (RFC 9110 §8.8.2.1: a future one is replaced by the
/// response's date).
fn clamp_modified(modified: SystemTime, now: SystemTime) -> SystemTime {
    modified.min(now).max(UNIX_EPOCH)
}

/// Where a directory asked for without its trailing slash lives: its path under
/// the mount point, re-encoded segment by segment, so the URL always starts with
/// exactly one `/` (`//host` would send the client to another site).
fn directory_location(root_path: &str, path: &str, query: &[u8]) -> String {
    let mut location = String::from("/");
    let segments = root_path.split('/').chain(path.split('/')).filter(|segment| !segment.is_empty());
    for segment in segments {
        encode_segment(segment, &mut location);
        location.push('/');
    }
    if !query.is_empty() {
        location.push('?');
        encode_query(query, &mut location);
    }
    location
}

fn etag(found: &Found) -> String {
    let nanos = found.modified.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos());
    format!("\"{:x}-{nanos:x}\"", found.len)
}

/// What the request's preconditions decide.
#[derive(Debug, PartialEq, Eq)]
enum Precondition {
    /// 412.
    Failed,
    /// 304.
    NotModified,
    Proceed,
}

/// RFC 9110 §13.2.2 steps 1–4, for a `GET` or `HEAD` of a file that exists:
/// `If-Match` (strong comparison), else `If-Unmodified-Since`; then
/// `If-None-Match` (weak comparison), else `If-Modified-Since`.
fn preconditions(headers: &Headers, etag: &str, modified: SystemTime) -> Precondition {
    let modified = truncate_to_seconds(modified);
    if headers.get(b"if-match").is_some() {
        if !matches_etag(headers.get_all(b"if-match"), etag, Comparison::Strong) {
            return Precondition::Failed;
        }
    } else if let Some(since) = headers.get(b"if-unmodified-since").and_then(parse_date)
        && modified > since
    {
        return Precondition::Failed;
    }
    if headers.get(b"if-none-match").is_some() {
        if matches_etag(headers.get_all(b"if-none-match"), etag, Comparison::Weak) {
            return Precondition::NotModified;
        }
    } else if let Some(since) = headers.get(b"if-modified-since").and_then(parse_date)
        && modified <= since
    {
        return Precondition::NotModified;
    }
    Precondition::Proceed
}

/// How entity tags are compared (RFC 9110 §8.8.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    /// Equal, and neither weak.
    Strong,
    /// Equal once any `W/` is set aside.
    Weak,
}

/// Whether any entity tag in the field values matches `etag` (ours, always
/// strong), or a value is `*` (the file exists).
fn matches_etag<'a>(values: impl Iterator<Item = &'a [u8]>, etag: &str, comparison: Comparison) -> bool {
    values.flat_map(|value| value.split(|&byte| byte == b',')).map(<[u8]>::trim_ascii).any(|candidate| {
        let candidate = match comparison {
            Comparison::Weak => candidate.strip_prefix(b"W/").unwrap_or(candidate),
            Comparison::Strong => candidate,
        };
        candidate == b"*" || candidate == etag.as_bytes()
    })
}

/// `If-Range` (RFC 9110 §13.1.5): the range applies only if the validator still
/// matches (strongly: an entity tag, or exactly the `Last-Modified` date).
fn if_range_holds(scope: &HttpScope, etag: &str, modified: SystemTime) -> bool {
    let Some(condition) = scope.header("if-range") else { return true };
    if condition.starts_with(b"\"") {
        return condition == etag.as_bytes();
    }
    parse_date(condition).is_some_and(|date| date == truncate_to_seconds(modified))
}

fn parse_date(value: &[u8]) -> Option<SystemTime> {
    httpdate::parse_http_date(std::str::from_utf8(value).ok()?).ok()
}

fn truncate_to_seconds(time: SystemTime) -> SystemTime {
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
    UNIX_EPOCH + std::time::Duration::from_secs(seconds)
}

#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// One satisfiable range, inclusive.
    Bytes(u64, u64),
    Unsatisfiable,
    /// Not a single byte range we serve (several ranges, another unit, malformed): the whole file.
    Whole,
}

/// One `bytes=` range of a `len`-byte file (RFC 9110 §14.1.1): `first-last`,
/// `first-` or `-suffix`, positions in decimal digits only. A position too large
/// for a `u64` is past the end of any file: as a last position it means the end,
/// as a first it is unsatisfiable.
fn parse_range(value: &[u8], len: u64) -> Range {
    let Some((unit, spec)) = std::str::from_utf8(value).ok().and_then(|v| v.trim().split_once('=')) else {
        return Range::Whole;
    };
    if !unit.eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return Range::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return Range::Whole };
    let (first, last) = (position(first.trim()), position(last.trim()));
    let (start, end) = match (first, last) {
        // `-N`: the last N bytes (of an empty file: nothing to take them from).
        (Position::Empty, Position::Digits(0)) => return Range::Unsatisfiable,
        (Position::Empty, Position::Digits(_)) if len == 0 => return Range::Whole,
        (Position::Empty, Position::Digits(suffix)) => (len.saturating_sub(suffix), len.saturating_sub(1)),
        (Position::Digits(start), Position::Empty) => (start, len.saturating_sub(1)),
        (Position::Digits(start), Position::Digits(end)) if start <= end => {
            (start, end.min(len.saturating_sub(1)))
        }
        _ => return Range::Whole,
    };
    if len == 0 || start >= len { Range::Unsatisfiable } else { Range::Bytes(start, end) }
}

/// One side of a byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    Empty,
    /// Decimal digits, saturated at `u64::MAX`.
    Digits(u64),
    /// Anything else (a sign, a space, a letter): the range is invalid.
    Invalid,
}

fn position(text: &str) -> Position {
    if text.is_empty() {
        return Position::Empty;
    }
    if !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Position::Invalid;
    }
    Position::Digits(text.parse().unwrap_or(u64::MAX))
}

/// The content type of a file, by its extension.
fn content_type(path: &Path) -> &'static str {
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        Some("xml") => "application/xml",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("avif") => "image/avif",
        Some("ico") => "image/x-icon",
        Some("wasm") => "application/wasm",
        Some("pdf") => "application/pdf",
        Some("woff") => "font/woff",
        Some("woff2") => "font/woff2",
        Some("mp4") => "video/mp4",
        Some("webm") => "video/webm",
        Some("mp3") => "audio/mpeg",
        Some("ogg") => "audio/ogg",
        Some("zip") => "application/zip",
        Some("gz") => "application/gzip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;
    use std::sync::Arc;
    use std::time::Duration;

    use http::Version;

    use super::*;
    use crate::app::Extensions;
    use crate::exchange::Exchange;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(b"bytes=0-9", 100), Range::Bytes(0, 9));
        assert_eq!(parse_range(b"bytes=90-", 100), Range::Bytes(90, 99));
        assert_eq!(parse_range(b"bytes=-10", 100), Range::Bytes(90, 99));
        assert_eq!(parse_range(b"bytes=-1000", 100), Range::Bytes(0, 99));
        assert_eq!(parse_range(b"bytes=50-1000", 100), Range::Bytes(50, 99));
        assert_eq!(parse_range(b"bytes=100-", 100), Range::Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-0", 100), Range::Unsatisfiable);
        assert_eq!(parse_range(b"bytes=0-0", 0), Range::Unsatisfiable);
        assert_eq!(parse_range(b"bytes=0-1,5-6", 100), Range::Whole);
        assert_eq!(parse_range(b"items=0-1", 100), Range::Whole);
        assert_eq!(parse_range(b"bytes=9-1", 100), Range::Whole);
        assert_eq!(parse_range(b"bytes=x-1", 100), Range::Whole);
    }

    #[test]
    fn range_positions_are_digits_and_the_unit_has_any_case() {
        assert_eq!(parse_range(b"Bytes=0-3", 100), Range::Bytes(0, 3));
        assert_eq!(parse_range(b"BYTES=-3", 100), Range::Bytes(97, 99));
        // RFC 9110 §14.1.1: a suffix is the one range an empty file satisfies; it
        // is the whole (empty) file.
        assert_eq!(parse_range(b"bytes=-3", 0), Range::Whole);
        for invalid in ["bytes=+2-4", "bytes=2-+4", "bytes=--3", "bytes=-", "bytes=0x1-2", "bytes=1 2-3"] {
            assert_eq!(parse_range(invalid.as_bytes(), 100), Range::Whole, "{invalid}");
        }
    }

    #[test]
    fn range_positions_too_large_for_a_u64_lie_past_the_end() {
        assert_eq!(parse_range(b"bytes=0-99999999999999999999999", 100), Range::Bytes(0, 99));
        assert_eq!(parse_range(b"bytes=99999999999999999999999-", 100), Range::Unsatisfiable);
        assert_eq!(
            parse_range(b"bytes=99999999999999999999999-99999999999999999999999", 100),
            Range::Unsatisfiable
        );
        assert_eq!(parse_range(b"bytes=-99999999999999999999999", 100), Range::Bytes(0, 99));
    }

    #[test]
    fn paths_that_leave_the_root_are_refused() {
        assert_eq!(safe_relative("/a/b.txt"), Some(PathBuf::from("a/b.txt")));
        assert_eq!(safe_relative("//a//b"), Some(PathBuf::from("a/b")));
        assert_eq!(safe_relative("/"), Some(PathBuf::new()));
        for bad in ["/../x", "/a/../../x", "/./x", "/a\\..\\x", "/a\0"] {
            assert_eq!(safe_relative(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn directory_redirects_stay_on_this_site() {
        assert_eq!(directory_location("", "/sub", b""), "/sub/");
        assert_eq!(directory_location("", "//evil.com", b""), "/evil.com/");
        assert_eq!(directory_location("//", "///evil.com//x", b""), "/evil.com/x/");
        assert_eq!(directory_location("/app/", "/a b/c", b"x=1&y"), "/app/a%20b/c/?x=1&y");
        assert_eq!(directory_location("", "/%2F/evil.com", b""), "/%252F/evil.com/");
        assert_eq!(directory_location("", "/a%5Cb", b""), "/a%255Cb/");
    }

    #[test]
    fn modification_times_are_clamped_to_what_http_can_say() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let before_1970 = UNIX_EPOCH - Duration::from_secs(86_400 * 365 * 10);
        let future = now + Duration::from_secs(86_400);
        assert_eq!(clamp_modified(before_1970, now), UNIX_EPOCH);
        assert_eq!(clamp_modified(future, now), now);
        let past = now - Duration::from_secs(60);
        assert_eq!(clamp_modified(past, now), past);
        assert_eq!(
            httpdate::fmt_http_date(clamp_modified(before_1970, now)),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        Headers::from_pairs(pairs.iter().map(|(name, value)| (name.as_bytes(), value.as_bytes())))
    }

    #[test]
    fn preconditions_are_evaluated_in_the_order_of_rfc_9110() {
        let etag = "\"3e8-1\"";
        let modified = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let before = "Sat, 08 Sep 2001 00:00:00 GMT";
        let at = "Sun, 09 Sep 2001 01:46:40 GMT";
        let check = |pairs: &[(&str, &str)]| preconditions(&headers(pairs), etag, modified);
        assert_eq!(check(&[]), Precondition::Proceed);
        // If-Match: strong comparison; `*` for a file that exists.
        assert_eq!(check(&[("if-match", "\"3e8-1\"")]), Precondition::Proceed);
        assert_eq!(check(&[("if-match", "\"x\", \"3e8-1\"")]), Precondition::Proceed);
        assert_eq!(check(&[("if-match", "\"x\""), ("if-match", "\"3e8-1\"")]), Precondition::Proceed);
        assert_eq!(check(&[("if-match", "*")]), Precondition::Proceed);
        assert_eq!(check(&[("if-match", "W/\"3e8-1\"")]), Precondition::Failed);
        assert_eq!(check(&[("if-match", "\"x\"")]), Precondition::Failed);
        // If-Unmodified-Since, only without If-Match.
        assert_eq!(check(&[("if-unmodified-since", before)]), Precondition::Failed);
        assert_eq!(check(&[("if-unmodified-since", at)]), Precondition::Proceed);
        assert_eq!(check(&[("if-unmodified-since", "garbage")]), Precondition::Proceed);
        assert_eq!(check(&[("if-match", "*"), ("if-unmodified-since", before)]), Precondition::Proceed);
        // A failed If-Match wins over a matching If-None-Match.
        assert_eq!(check(&[("if-match", "\"x\""), ("if-none-match", etag)]), Precondition::Failed);
        // If-None-Match: weak comparison, and it overrides If-Modified-Since.
        assert_eq!(check(&[("if-none-match", "W/\"3e8-1\"")]), Precondition::NotModified);
        assert_eq!(check(&[("if-none-match", "*")]), Precondition::NotModified);
        assert_eq!(check(&[("if-none-match", "\"x\""), ("if-modified-since", at)]), Precondition::Proceed);
        assert_eq!(check(&[("if-modified-since", at)]), Precondition::NotModified);
        assert_eq!(check(&[("if-modified-since", before)]), Precondition::Proceed);
        assert_eq!(check(&[("if-match", etag), ("if-none-match", etag)]), Precondition::NotModified);
    }

    fn scope(path: &str, pairs: &[(&str, &str)]) -> HttpScope {
        HttpScope {
            http_version: Version::HTTP_11,
            method: Method::GET,
            scheme: "http",
            path: path.to_owned(),
            raw_path: Bytes::copy_from_slice(path.as_bytes()),
            query_string: Bytes::new(),
            root_path: String::new(),
            headers: headers(pairs),
            client: None,
            server: None,
            extensions: Extensions::default(),
            tls: None,
            state: Arc::default(),
        }
    }

    /// What the application sends for `scope`, taken once it is done.
    fn served(root: &Path, scope: &HttpScope) -> Vec<SendEvent> {
        let (exchange, _receiver, mut sender) = Exchange::new_http(10, None);
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(serve(root, scope, &mut sender)).unwrap();
        std::iter::from_fn(|| exchange.pop()).collect()
    }

    fn header_value<'a>(event: &'a SendEvent, name: &str) -> Option<&'a str> {
        let SendEvent::ResponseStart { headers, .. } = event else { return None };
        let (_, value) = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))?;
        std::str::from_utf8(value).ok()
    }

    /// The body a file event stands for, read now the way the connection would.
    fn file_body(event: &SendEvent) -> Vec<u8> {
        let (whole, range) = match event {
            SendEvent::ResponseOpenFile { file, range } => {
                let file = file.clone().into_inner();
                let mut whole = vec![0; usize::try_from(file.metadata().unwrap().len()).unwrap()];
                file.read_exact_at(&mut whole, 0).unwrap();
                (whole, *range)
            }
            SendEvent::ResponseFile { path, range } => (std::fs::read(path).unwrap(), *range),
            other => panic!("the body is not left to the connection's file sender: {other:?}"),
        };
        match range {
            Some(FileRange { offset, length }) => {
                let offset = usize::try_from(offset).unwrap();
                whole[offset..offset + usize::try_from(length).unwrap()].to_vec()
            }
            None => whole,
        }
    }

    fn site(tag: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("milpa-static-unit-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("file.txt"), vec![b'a'; 1000]).unwrap();
        root
    }

    /// Replaces `name` the way deployments do: a new file renamed over the old.
    fn replace_atomically(root: &Path, name: &str) {
        std::fs::write(root.join("new.tmp"), vec![b'b'; 3000]).unwrap();
        std::fs::rename(root.join("new.tmp"), root.join(name)).unwrap();
    }

    #[test]
    fn a_range_is_read_by_the_connection_from_the_file_its_headers_describe() {
        let root = site("range");
        let events = served(&root, &scope("/file.txt", &[("range", "bytes=900-")]));
        replace_atomically(&root, "file.txt");
        let [start, body] = &events[..] else { panic!("{events:?}") };
        assert!(matches!(start, SendEvent::ResponseStart { status: StatusCode::PARTIAL_CONTENT, .. }));
        assert_eq!(header_value(start, "content-range"), Some("bytes 900-999/1000"));
        let sent = file_body(body);
        assert!(sent == [b'a'; 100], "the old file's last 100 bytes, not {} of the new one's", sent.len());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_file_growing_in_place_is_sent_at_the_length_its_headers_describe() {
        let root = site("grow");
        let events = served(&root, &scope("/file.txt", &[]));
        let mut file = std::fs::OpenOptions::new().append(true).open(root.join("file.txt")).unwrap();
        std::io::Write::write_all(&mut file, &[b'c'; 500]).unwrap();
        let [_, body] = &events[..] else { panic!("{events:?}") };
        let sent = file_body(body);
        assert!(sent == [b'a'; 1000], "the 1000 bytes the headers describe, not {}", sent.len());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_file_replaced_after_its_headers_are_made_is_sent_as_they_describe_it() {
        let root = site("replace");
        let events = served(&root, &scope("/file.txt", &[]));
        replace_atomically(&root, "file.txt");
        let [start, body] = &events[..] else { panic!("{events:?}") };
        assert!(header_value(start, "etag").is_some_and(|etag| etag.starts_with("\"3e8-")), "{start:?}");
        let sent = file_body(body);
        assert!(sent == [b'a'; 1000], "the old file's 1000 bytes, not the new one's {}", sent.len());
        let _ = std::fs::remove_dir_all(&root);
    }
}
