//! `Compression`: response bodies compressed with brotli or gzip when the client
//! accepts it and the content is worth it.

use std::future::poll_fn;
use std::io::Write;
use std::task::Poll;

use bytes::Bytes;
use http::StatusCode;

use crate::app::{App, AppError, AppFuture, HeaderList, HttpScope, Scope, SendEvent};
use crate::driver::{TaskEnd, poll_app};
use crate::exchange::{Exchange, Kind, Receiver, Sender};

/// Responses shorter than this (when their length is known) are sent as they are.
const MIN_SIZE: usize = 256;

/// Wraps an application so that its compressible responses (text, JSON,
/// JavaScript, XML, SVG, WebAssembly) are compressed with brotli (`br`) or gzip,
/// whichever the client's `Accept-Encoding` prefers (brotli on a tie). Responses
/// that already have a `Content-Encoding`, file responses, `HEAD` requests and
/// bodies under 256 bytes pass through. Each body piece is flushed as it comes, so
/// streaming responses keep streaming.
#[derive(Debug, Clone)]
pub struct Compression<A> {
    app: A,
}

impl<A: App> Compression<A> {
    /// Compresses `app`'s responses.
    pub fn new(app: A) -> Self {
        Self { app }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Brotli,
    Gzip,
}

impl Coding {
    fn token(self) -> &'static [u8] {
        match self {
            Self::Brotli => b"br",
            Self::Gzip => b"gzip",
        }
    }
}

impl<A: App> App for Compression<A> {
    fn call(&self, scope: Scope, receive: Receiver, send: Sender) -> AppFuture {
        let Scope::Http(http) = &scope else { return self.app.call(scope, receive, send) };
        let Some(coding) = negotiate(http) else { return self.app.call(scope, receive, send) };
        // The application sends into a queue of ours; we pass its events on, compressed.
        let (inner, _unused, inner_send) = Exchange::new(4, Kind::Http);
        let task = self.app.call(scope, receive, inner_send);
        Box::pin(pump(task, inner, send, coding))
    }
}

/// The coding to use for `http`'s response, if any.
fn negotiate(http: &HttpScope) -> Option<Coding> {
    if http.method == http::Method::HEAD {
        return None;
    }
    let accept = String::from_utf8_lossy(http.header("accept-encoding")?).to_ascii_lowercase();
    let mut best: Option<(Coding, f32)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let coding = match parts.next() {
            // Any coding: the best we have.
            Some("br" | "*") => Coding::Brotli,
            Some("gzip") => Coding::Gzip,
            _ => continue,
        };
        let q = parts.find_map(|p| p.strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
        let better = best.is_none_or(|(current, best_q)| {
            q > best_q || (q == best_q && coding == Coding::Brotli && current != coding)
        });
        if q > 0.0 && better {
            best = Some((coding, q));
        }
    }
    best.map(|(coding, _)| coding)
}

fn compressible(headers: &HeaderList) -> bool {
    let header = |name: &[u8]| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    if header(b"content-encoding").is_some() {
        return false;
    }
    let Some(content_type) = header(b"content-type") else { return false };
    let content_type = String::from_utf8_lossy(content_type).to_ascii_lowercase();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    // `xml` only as a type or suffix: office documents (`…openxmlformats…`) are zips.
    essence.starts_with("text/")
        || essence.ends_with("/xml")
        || essence.ends_with("+xml")
        || ["json", "javascript", "wasm"].iter().any(|kind| essence.contains(kind))
}

/// Other bytes than the identity's: a strong validator becomes weak (RFC 9110 §8.8.3).
fn weaken_etag(headers: &mut HeaderList) {
    for (name, value) in headers.iter_mut() {
        if name.eq_ignore_ascii_case(b"etag") && value.starts_with(b"\"") {
            *value = Bytes::from([&b"W/"[..], &value[..]].concat());
        }
    }
}

/// An encoder writing into a buffer we drain after every piece.
enum Encoder {
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
}

impl Encoder {
    fn new(coding: Coding) -> Self {
        match coding {
            Coding::Brotli => {
                Self::Brotli(Box::new(brotli::CompressorWriter::new(Vec::new(), 16 * 1024, 5, 22)))
            }
            Coding::Gzip => {
                Self::Gzip(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(5)))
            }
        }
    }

    /// Compresses `data`; with `last` the stream is finished. Returns what is ready to send.
    fn encode(&mut self, data: &[u8], last: bool) -> std::io::Result<Bytes> {
        match self {
            Self::Brotli(writer) => {
                writer.write_all(data)?;
                writer.flush()?;
                if last {
                    let finished = std::mem::replace(
                        writer,
                        Box::new(brotli::CompressorWriter::new(Vec::new(), 16, 5, 22)),
                    );
                    return Ok(Bytes::from(finished.into_inner()));
                }
                Ok(Bytes::from(std::mem::take(writer.get_mut())))
            }
            Self::Gzip(writer) => {
                writer.write_all(data)?;
                if last {
                    writer.try_finish()?;
                } else {
                    writer.flush()?;
                }
                Ok(Bytes::from(std::mem::take(writer.get_mut())))
            }
        }
    }
}

/// Runs the application, passing its events on and compressing the body when
/// the response turns out compressible.
async fn pump(task: AppFuture, inner: Exchange, mut send: Sender, coding: Coding) -> Result<(), AppError> {
    let mut task = Some(task);
    let mut ended: Option<TaskEnd> = None;
    let mut held: Option<(StatusCode, HeaderList, bool)> = None;
    let mut encoder: Option<Encoder> = None;
    loop {
        let next = poll_fn(|cx| {
            loop {
                inner.unpark();
                if let Some(running) = task.as_mut()
                    && let Poll::Ready(end) = poll_app(running, cx)
                {
                    task = None;
                    ended = Some(end);
                }
                if let Some(event) = inner.pop() {
                    return Poll::Ready(Some(event));
                }
                if task.is_none() {
                    return Poll::Ready(None);
                }
                if inner.park(cx.waker(), true, false) {
                    return Poll::Pending;
                }
            }
        })
        .await;
        let Some(event) = next else { break };
        let forwarded = match event {
            SendEvent::ResponseStart { status, headers, trailers } => {
                // A 206 names identity bytes in its Content-Range: compressing it would corrupt it.
                let ranged = headers.iter().any(|(name, _)| name.eq_ignore_ascii_case(b"content-range"));
                let worth = compressible(&headers)
                    && !ranged
                    && !matches!(
                        status,
                        StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED | StatusCode::PARTIAL_CONTENT
                    )
                    && !status.is_informational();
                if worth {
                    held = Some((status, headers, trailers));
                    continue;
                }
                let mut headers = headers;
                if status == StatusCode::NOT_MODIFIED {
                    // It stands for the 200 this client would get, compressed: the
                    // same validator and Vary (RFC 9110 §15.4.5), or a cache
                    // revalidating its compressed copy would take a strong ETag for it.
                    weaken_etag(&mut headers);
                    headers.push((Bytes::from_static(b"vary"), Bytes::from_static(b"accept-encoding")));
                }
                SendEvent::ResponseStart { status, headers, trailers }
            }
            SendEvent::ResponseBody { body, more_body } if held.is_some() || encoder.is_some() => {
                if let Some((status, mut headers, trailers)) = held.take() {
                    if !more_body && body.len() < MIN_SIZE {
                        send.send(SendEvent::ResponseStart { status, headers, trailers }).await?;
                        send.send(SendEvent::ResponseBody { body, more_body }).await?;
                        continue;
                    }
                    headers.retain(|(name, _)| !name.eq_ignore_ascii_case(b"content-length"));
                    weaken_etag(&mut headers);
                    headers
                        .push((Bytes::from_static(b"content-encoding"), Bytes::from_static(coding.token())));
                    headers.push((Bytes::from_static(b"vary"), Bytes::from_static(b"accept-encoding")));
                    send.send(SendEvent::ResponseStart { status, headers, trailers }).await?;
                    encoder = Some(Encoder::new(coding));
                }
                let Some(active) = encoder.as_mut() else { continue };
                let compressed = active.encode(&body, !more_body)?;
                SendEvent::ResponseBody { body: compressed, more_body }
            }
            // A file (or anything else) after a held start: the start goes out as it was.
            other => {
                if let Some((status, headers, trailers)) = held.take() {
                    send.send(SendEvent::ResponseStart { status, headers, trailers }).await?;
                }
                other
            }
        };
        if let Err(error) = send.send(forwarded).await {
            inner.disconnect();
            return Err(error.into());
        }
    }
    match ended {
        Some(TaskEnd::Failed(error)) => Err(error),
        Some(TaskEnd::Panicked(message)) => Err(format!("panic: {message}").into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderList {
        pairs
            .iter()
            .map(|(n, v)| (Bytes::from_static(n.as_bytes()), Bytes::from_static(v.as_bytes())))
            .collect()
    }

    #[test]
    fn only_textual_unencoded_content_is_compressed() {
        assert!(compressible(&headers(&[("content-type", "text/html; charset=utf-8")])));
        assert!(compressible(&headers(&[("content-type", "application/json")])));
        assert!(!compressible(&headers(&[("content-type", "image/png")])));
        assert!(!compressible(&headers(&[("content-type", "text/plain"), ("content-encoding", "gzip")])));
        assert!(!compressible(&headers(&[])));
        assert!(compressible(&headers(&[("content-type", "image/svg+xml")])));
        assert!(compressible(&headers(&[("content-type", "application/xml")])));
        let docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
        assert!(!compressible(&headers(&[("content-type", docx)])), "a zip already");
    }
}
