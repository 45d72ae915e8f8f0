//! The access log, in Hypercorn's format language: `%(atom)s` placeholders.

use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{Method, StatusCode, Version};

/// Hypercorn's default: `%(h)s %(l)s %(l)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"`.
pub const DEFAULT_FORMAT: &str = r#"%(h)s %(l)s %(l)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#;

/// What one finished request contributes to the log.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) client: Option<SocketAddr>,
    pub(crate) method: Method,
    /// `http`/`https`, or `ws`/`wss` for a WebSocket handshake.
    pub(crate) scheme: &'static str,
    pub(crate) path: Bytes,
    pub(crate) query: Bytes,
    pub(crate) version: Version,
    /// The request header fields the format names (`referer` for `%(f)s`,
    /// `user-agent` for `%(a)s`, `%({name}i)s`), lower-cased names.
    pub(crate) request_headers: Vec<(String, Bytes)>,
    /// The response header fields the format names (`%({name}o)s`).
    pub(crate) response_headers: Vec<(String, Bytes)>,
    pub(crate) status: Option<StatusCode>,
    pub(crate) body_bytes: u64,
    pub(crate) started: SystemTime,
    pub(crate) duration: Duration,
}

impl Record {
    /// A request just begun: its status, size and duration are filled in as it ends.
    pub(crate) fn begin(
        client: Option<SocketAddr>,
        method: Method,
        scheme: &'static str,
        path: Bytes,
        query: Bytes,
        version: Version,
        request_headers: Vec<(String, Bytes)>,
    ) -> Box<Self> {
        Box::new(Self {
            client,
            method,
            scheme,
            path,
            query,
            version,
            request_headers,
            response_headers: Vec::new(),
            status: None,
            body_bytes: 0,
            started: SystemTime::now(),
            duration: Duration::ZERO,
        })
    }
}

/// A destination and a format.
pub(crate) struct AccessLog {
    sink: Mutex<Box<dyn Write + Send>>,
    format: String,
    request_fields: Vec<String>,
    response_fields: Vec<String>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog").field("format", &self.format).finish_non_exhaustive()
    }
}

impl AccessLog {
    pub(crate) fn open(path: &std::path::Path, format: &str) -> std::io::Result<Self> {
        let sink: Box<dyn Write + Send> = if path.as_os_str() == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(std::fs::OpenOptions::new().create(true).append(true).open(path)?)
        };
        let (request_fields, response_fields) = fields(format);
        Ok(Self { sink: Mutex::new(sink), format: format.to_owned(), request_fields, response_fields })
    }

    fn log(&self, record: &Record) {
        let mut line = render(&self.format, record);
        line.push('\n');
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        // A failing log must not fail the request; there is nowhere better to report it.
        let _ = sink.write_all(line.as_bytes()).and_then(|()| sink.flush());
    }
}

fn text(bytes: Option<&Bytes>) -> String {
    bytes.map_or_else(|| "-".to_owned(), |b| String::from_utf8_lossy(b).into_owned())
}

fn field<'r>(fields: &'r [(String, Bytes)], name: &str) -> Option<&'r Bytes> {
    fields.iter().find(|(field, _)| field.eq_ignore_ascii_case(name)).map(|(_, value)| value)
}

/// `[26/Nov/2026:22:41:35 +0000]`, Hypercorn's (and Apache's) `%(t)s`, in UTC.
fn common_log_time(time: SystemTime) -> String {
    // `Thu, 26 Nov 2026 22:41:35 GMT`, re-arranged.
    let http = httpdate::fmt_http_date(time);
    let parts: Vec<&str> = http.split(' ').collect();
    match parts[..] {
        [_, day, month, year, clock, _] => format!("[{day}/{month}/{year}:{clock} +0000]"),
        _ => format!("[{http}]"),
    }
}

fn version_text(version: Version) -> &'static str {
    match version {
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        _ => "1.1",
    }
}

/// The header fields `format` logs: (request, response), lower-cased.
fn fields(format: &str) -> (Vec<String>, Vec<String>) {
    let (mut request, mut response) = (Vec::new(), Vec::new());
    let mut rest = format;
    while let Some(start) = rest.find("%(") {
        let after = &rest[start + 2..];
        let Some(end) = after.find(")s") else { break };
        let atom = &after[..end];
        match atom {
            "f" => request.push("referer".to_owned()),
            "a" => request.push("user-agent".to_owned()),
            _ => {
                if let Some(name) = atom.strip_prefix('{') {
                    if let Some(name) = name.strip_suffix("}i") {
                        request.push(name.to_ascii_lowercase());
                    } else if let Some(name) = name.strip_suffix("}o") {
                        response.push(name.to_ascii_lowercase());
                    }
                }
            }
        }
        rest = &after[end + 2..];
    }
    (request, response)
}

/// Where finished requests go: the access log, the metrics, or both.
#[derive(Debug)]
pub(crate) struct RequestLog {
    pub(crate) access: Option<AccessLog>,
    pub(crate) metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

impl RequestLog {
    /// The request's header fields the access log wants, read with `get`.
    pub(crate) fn request_headers<'h>(&self, get: impl Fn(&str) -> Option<&'h [u8]>) -> Vec<(String, Bytes)> {
        let Some(access) = &self.access else { return Vec::new() };
        access
            .request_fields
            .iter()
            .filter_map(|name| get(name).map(|value| (name.clone(), Bytes::copy_from_slice(value))))
            .collect()
    }

    /// The response's header fields the access log wants.
    pub(crate) fn response_headers(&self, headers: &[(Bytes, Bytes)]) -> Vec<(String, Bytes)> {
        let Some(access) = &self.access else { return Vec::new() };
        access
            .response_fields
            .iter()
            .filter_map(|name| {
                let (_, value) =
                    headers.iter().find(|(field, _)| field.eq_ignore_ascii_case(name.as_bytes()))?;
                Some((name.clone(), value.clone()))
            })
            .collect()
    }

    /// Completes `record` with how its request ended and writes it out:
    /// `status` as answered (none if nothing was), the time since `started`, and
    /// the client a trusted proxy named, if any.
    pub(crate) fn finish(
        &self,
        mut record: Box<Record>,
        status: Option<StatusCode>,
        started: Instant,
        forwarded_client: Option<SocketAddr>,
    ) {
        record.status = status;
        record.duration = started.elapsed();
        record.client = forwarded_client.or(record.client);
        self.log(&record);
    }

    fn log(&self, record: &Record) {
        if let Some(access) = &self.access {
            access.log(record);
        }
        if let Some(metrics) = &self.metrics {
            metrics.request_done(record.status, record.duration);
        }
    }
}

/// Expands every `%(atom)s` of `format`; unknown atoms become `-`.
pub(crate) fn render(format: &str, record: &Record) -> String {
    let mut out = String::with_capacity(format.len() + 64);
    let mut rest = format;
    while let Some(start) = rest.find("%(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find(")s") else {
            out.push_str(&rest[start..]);
            return out;
        };
        atom(&mut out, &after[..end], record);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Hypercorn's atoms (its `logging.py`): `r` is the request line without the
/// query string, `R` with it; `h` the client's address and port.
fn atom(out: &mut String, name: &str, r: &Record) {
    let status = r.status.map_or_else(|| "-".to_owned(), |s| s.as_u16().to_string());
    let path = String::from_utf8_lossy(&r.path);
    let query = String::from_utf8_lossy(&r.query);
    let path_and_query = || if query.is_empty() { path.to_string() } else { format!("{path}?{query}") };
    let _ = match name {
        "h" => match r.client {
            // A forwarded client without a port (ProxyHeaders) has port 0.
            Some(client) if client.port() != 0 => write!(out, "{client}"),
            Some(client) => write!(out, "{}", client.ip()),
            None => write!(out, "-"),
        },
        "l" | "u" => write!(out, "-"),
        "t" => write!(out, "{}", common_log_time(r.started)),
        "r" => write!(out, "{} {path} HTTP/{}", r.method, version_text(r.version)),
        "R" => write!(out, "{} {} HTTP/{}", r.method, path_and_query(), version_text(r.version)),
        "m" => write!(out, "{}", r.method),
        "U" => write!(out, "{path}"),
        "Uq" => write!(out, "{}", path_and_query()),
        "S" => write!(out, "{}", r.scheme),
        "q" => write!(out, "{query}"),
        "H" => write!(out, "HTTP/{}", version_text(r.version)),
        "s" => write!(out, "{status}"),
        "st" => write!(out, "{}", r.status.and_then(|s| s.canonical_reason()).unwrap_or("-")),
        "b" if r.body_bytes == 0 => write!(out, "-"),
        "b" | "B" => write!(out, "{}", r.body_bytes),
        "f" => write!(out, "{}", text(field(&r.request_headers, "referer"))),
        "a" => write!(out, "{}", text(field(&r.request_headers, "user-agent"))),
        "T" => write!(out, "{}", r.duration.as_secs()),
        "D" => write!(out, "{}", r.duration.as_micros()),
        "L" => write!(out, "{:.6}", r.duration.as_secs_f64()),
        "p" => write!(out, "<{}>", std::process::id()),
        _ => {
            let named = name.strip_prefix('{').and_then(|name| {
                if let Some(variable) = name.strip_suffix("}e") {
                    return Some(std::env::var(variable).unwrap_or_else(|_| "-".to_owned()));
                }
                let (name, fields) = match name.strip_suffix("}i") {
                    Some(name) => (name, &r.request_headers),
                    None => (name.strip_suffix("}o")?, &r.response_headers),
                };
                Some(text(field(fields, name)))
            });
            write!(out, "{}", named.as_deref().unwrap_or("-"))
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_hypercorn_default_format() {
        let record = Record {
            client: Some("127.0.0.1:5000".parse().unwrap()),
            method: Method::GET,
            scheme: "https",
            path: Bytes::from_static(b"/a"),
            query: Bytes::from_static(b"b=1"),
            version: Version::HTTP_11,
            request_headers: vec![("user-agent".to_owned(), Bytes::from_static(b"curl/8"))],
            response_headers: vec![("content-type".to_owned(), Bytes::from_static(b"text/plain"))],
            status: Some(StatusCode::OK),
            body_bytes: 12,
            started: SystemTime::UNIX_EPOCH,
            duration: Duration::from_millis(3),
        };
        assert_eq!(
            render(DEFAULT_FORMAT, &record),
            r#"127.0.0.1:5000 - - [01/Jan/1970:00:00:00 +0000] "GET /a HTTP/1.1" 200 12 "-" "curl/8""#
        );
        assert_eq!(
            render("%(m)s %(U)s %(q)s %(H)s %(st)s %(D)s %(x)s", &record),
            "GET /a b=1 HTTP/1.1 OK 3000 -"
        );
        assert_eq!(render("%(R)s|%(Uq)s|%(S)s", &record), "GET /a?b=1 HTTP/1.1|/a?b=1|https");
        assert_eq!(
            render("%({PATH}e)s %({MILPA_SURELY_UNSET_VARIABLE}e)s", &record),
            format!("{} -", std::env::var("PATH").unwrap_or_default())
        );
        assert_eq!(
            render("%({User-Agent}i)s %({content-type}o)s %({x-absent}i)s %({bad)s", &record),
            "curl/8 text/plain - -"
        );
        assert_eq!(
            fields("%(a)s %({X-Request-Id}i)s %({Content-Length}o)s"),
            (vec!["user-agent".to_owned(), "x-request-id".to_owned()], vec!["content-length".to_owned()])
        );
    }
}
