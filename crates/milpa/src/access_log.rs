//! The access log, in Hypercorn's format language: `%(atom)s` placeholders.

use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, StatusCode, Version};

/// Hypercorn's default: `%(h)s %(l)s %(l)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"`.
pub const DEFAULT_FORMAT: &str = r#"%(h)s %(l)s %(l)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#;

/// What one finished request contributes to the log.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) client: Option<SocketAddr>,
    pub(crate) method: Method,
    pub(crate) target: Bytes,
    pub(crate) path: Bytes,
    pub(crate) query: Bytes,
    pub(crate) version: Version,
    pub(crate) referer: Option<Bytes>,
    pub(crate) user_agent: Option<Bytes>,
    pub(crate) status: Option<StatusCode>,
    pub(crate) body_bytes: u64,
    pub(crate) started: SystemTime,
    pub(crate) duration: Duration,
}

/// A destination and a format.
pub(crate) struct AccessLog {
    sink: Mutex<Box<dyn Write + Send>>,
    format: String,
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
        Ok(Self { sink: Mutex::new(sink), format: format.to_owned() })
    }

    pub(crate) fn log(&self, record: &Record) {
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

fn version_text(version: Version) -> &'static str {
    match version {
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        _ => "1.1",
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

fn atom(out: &mut String, name: &str, r: &Record) {
    let status = r.status.map_or_else(|| "-".to_owned(), |s| s.as_u16().to_string());
    let _ = match name {
        "h" => write!(out, "{}", r.client.map_or_else(|| "-".to_owned(), |c| c.ip().to_string())),
        "l" | "u" => write!(out, "-"),
        "t" => write!(out, "[{}]", httpdate::fmt_http_date(r.started)),
        "r" => write!(
            out,
            "{} {} HTTP/{}",
            r.method,
            String::from_utf8_lossy(&r.target),
            version_text(r.version)
        ),
        "R" => {
            write!(out, "{} {} HTTP/{}", r.method, String::from_utf8_lossy(&r.path), version_text(r.version))
        }
        "m" => write!(out, "{}", r.method),
        "U" => write!(out, "{}", String::from_utf8_lossy(&r.path)),
        "q" => write!(out, "{}", String::from_utf8_lossy(&r.query)),
        "H" => write!(out, "HTTP/{}", version_text(r.version)),
        "s" => write!(out, "{status}"),
        "st" => write!(out, "{}", r.status.and_then(|s| s.canonical_reason()).unwrap_or("-")),
        "b" if r.body_bytes == 0 => write!(out, "-"),
        "b" | "B" => write!(out, "{}", r.body_bytes),
        "f" => write!(out, "{}", text(r.referer.as_ref())),
        "a" => write!(out, "{}", text(r.user_agent.as_ref())),
        "T" => write!(out, "{}", r.duration.as_secs()),
        "D" => write!(out, "{}", r.duration.as_micros()),
        "L" => write!(out, "{:.6}", r.duration.as_secs_f64()),
        "p" => write!(out, "<{}>", std::process::id()),
        _ => write!(out, "-"),
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
            target: Bytes::from_static(b"/a?b=1"),
            path: Bytes::from_static(b"/a"),
            query: Bytes::from_static(b"b=1"),
            version: Version::HTTP_11,
            referer: None,
            user_agent: Some(Bytes::from_static(b"curl/8")),
            status: Some(StatusCode::OK),
            body_bytes: 12,
            started: SystemTime::UNIX_EPOCH,
            duration: Duration::from_millis(3),
        };
        assert_eq!(
            render(DEFAULT_FORMAT, &record),
            r#"127.0.0.1 - - [Thu, 01 Jan 1970 00:00:00 GMT] "GET /a?b=1 HTTP/1.1" 200 12 "-" "curl/8""#
        );
        assert_eq!(
            render("%(m)s %(U)s %(q)s %(H)s %(st)s %(D)s %(x)s", &record),
            "GET /a b=1 HTTP/1.1 OK 3000 -"
        );
    }
}
