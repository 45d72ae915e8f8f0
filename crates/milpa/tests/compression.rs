//! `Compression`: brotli and gzip bodies decoded by curl (its own zlib and
//! brotli), streaming kept, small and binary bodies passed through.

#![allow(clippy::unwrap_used)]

mod support;

use bytes::Bytes;
use http::StatusCode;
use milpa::{AppError, Receiver, Scope, Sender};
use support::*;

fn text() -> String {
    (0..400).map(|i| format!("line {i}: spam, egg, spam and spam\n")).collect()
}

async fn app(scope: Scope, _receive: Receiver, mut send: Sender) -> Result<(), AppError> {
    let Scope::Http(http) = scope else { return Ok(()) };
    let header = |name: &'static str, value: &'static str| {
        (Bytes::from_static(name.as_bytes()), Bytes::from_static(value.as_bytes()))
    };
    match http.path.as_str() {
        "/text" => {
            send.start(StatusCode::OK, vec![header("content-type", "text/plain")]).await?;
            let body = text();
            let (a, b) = body.split_at(body.len() / 2);
            send.body(a.to_owned(), true).await?;
            send.body(b.to_owned(), true).await?;
            send.body(Bytes::new(), false).await?;
        }
        "/cached" => {
            send.start(StatusCode::NOT_MODIFIED, vec![header("etag", "\"v1\"")]).await?;
            send.body(Bytes::new(), false).await?;
        }
        "/small" => {
            send.start(StatusCode::OK, vec![header("content-type", "application/json")]).await?;
            send.body(Bytes::from_static(b"{\"ok\":true}"), false).await?;
        }
        _ => {
            send.start(StatusCode::OK, vec![header("content-type", "image/png")]).await?;
            send.body(vec![0u8; 4096], false).await?;
        }
    }
    Ok(())
}

/// curl's verdict: the response head (lower-cased) and the decoded body.
async fn curl(server: &TestServer, path: &str, accept: &str) -> (String, String) {
    require("curl");
    let url = server.url(path);
    let mut args = vec!["-s", "-D", "-", "-o", "/dev/stderr", url.as_str()];
    let header = format!("Accept-Encoding: {accept}");
    if !accept.is_empty() {
        args.extend(["--compressed", "-H", header.as_str()]);
    }
    let output = tokio::process::Command::new("curl").args(&args).output().await.unwrap();
    (
        String::from_utf8_lossy(&output.stdout).to_ascii_lowercase(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

on_every_runtime! {
    async fn brotli_and_gzip_bodies_decode_to_the_original() {
        let server = TestServer::start(milpa::Compression::new(app)).await;
        for (accept, coding) in [("br", "br"), ("gzip", "gzip"), ("gzip;q=0.5, br;q=0.9", "br"), ("br;q=0.1, gzip", "gzip")] {
            let (head, body) = curl(&server, "/text", accept).await;
            assert!(head.contains(&format!("content-encoding: {coding}\r\n")), "{accept}: {head}");
            assert!(head.contains("vary: accept-encoding"), "{head}");
            assert_eq!(body, text(), "{accept}");
        }
        let (head, body) = curl(&server, "/text", "").await;
        assert!(!head.contains("content-encoding"), "{head}");
        assert_eq!(body, text());
        let (head, body) = curl(&server, "/small", "br").await;
        assert!(!head.contains("content-encoding"), "small bodies pass: {head}");
        assert_eq!(body, "{\"ok\":true}");
        let (head, _) = curl(&server, "/image", "br, gzip").await;
        assert!(!head.contains("content-encoding"), "binary types pass: {head}");
        // A 304 stands for the compressed 200: its weak validator, and Vary.
        let (head, _) = curl(&server, "/cached", "br").await;
        assert!(head.contains("etag: w/\"v1\"\r\n") && head.contains("vary: accept-encoding"), "{head}");
        server.stop().await.unwrap();
    }
}
