//! `StaticFiles`: validators, conditional and range requests, HEAD, and every
//! way out of the root refused — over raw HTTP/1.1 (so the paths reach the server
//! exactly as written) and curl.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use support::*;

/// A root with an index, a stylesheet, a 1000-byte file, a subdirectory, a
/// secret beside the root and a symlink pointing at it.
fn site(tag: &str) -> (PathBuf, PathBuf) {
    // One directory per call: the runtimes' runs of a test go on at once.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base = std::env::temp_dir().join(format!("milpa-static-{tag}-{}-{n}", std::process::id()));
    let root = base.join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("index.html"), "<h1>index</h1>").unwrap();
    std::fs::write(root.join("style.css"), "body{}").unwrap();
    std::fs::write(root.join("data.bin"), (0..1000u32).map(|i| i as u8).collect::<Vec<_>>()).unwrap();
    std::fs::write(root.join("sub").join("inner.txt"), "inner").unwrap();
    std::fs::write(root.join("digits.txt"), "0123456789".repeat(100)).unwrap();
    std::fs::write(base.join("secret.txt"), "SECRET").unwrap();
    let _ = std::fs::remove_file(root.join("link-out"));
    std::os::unix::fs::symlink(base.join("secret.txt"), root.join("link-out")).unwrap();
    let _ = std::fs::remove_file(root.join("link-in"));
    std::os::unix::fs::symlink(root.join("style.css"), root.join("link-in")).unwrap();
    (base, root)
}

async fn get(server: &TestServer, target: &str, extra: &str) -> String {
    let request = format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{extra}\r\n");
    raw(server.addr, request.as_bytes(), Duration::from_secs(5)).await
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.split("\r\n\r\n").next()?.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

on_every_runtime! {
    async fn files_validators_conditionals_and_ranges() {
        let (_base, root) = site("serve");
        let server = TestServer::start(milpa::StaticFiles::new(&root).unwrap()).await;
        let css = get(&server, "/style.css", "").await;
        assert!(css.starts_with("HTTP/1.1 200"), "{css}");
        assert_eq!(header(&css, "content-type"), Some("text/css; charset=utf-8"));
        assert_eq!(header(&css, "content-length"), Some("6"));
        assert!(css.ends_with("body{}"));
        let etag = header(&css, "etag").unwrap().to_owned();
        let modified = header(&css, "last-modified").unwrap().to_owned();

        let cached = get(&server, "/style.css", &format!("If-None-Match: {etag}\r\n")).await;
        assert!(cached.starts_with("HTTP/1.1 304"), "{cached}");
        let cached = get(&server, "/style.css", &format!("If-Modified-Since: {modified}\r\n")).await;
        assert!(cached.starts_with("HTTP/1.1 304"), "{cached}");
        let stale = get(&server, "/style.css", "If-None-Match: \"other\"\r\n").await;
        assert!(stale.starts_with("HTTP/1.1 200"), "{stale}");

        let part = get(&server, "/data.bin", "Range: bytes=10-19\r\n").await;
        assert!(part.starts_with("HTTP/1.1 206"), "{part}");
        assert_eq!(header(&part, "content-range"), Some("bytes 10-19/1000"));
        assert_eq!(header(&part, "content-length"), Some("10"));
        let unsatisfiable = get(&server, "/data.bin", "Range: bytes=2000-\r\n").await;
        assert!(unsatisfiable.starts_with("HTTP/1.1 416"), "{unsatisfiable}");
        assert_eq!(header(&unsatisfiable, "content-range"), Some("bytes */1000"));
        let moved = get(&server, "/data.bin", "Range: bytes=0-9\r\nIf-Range: \"old\"\r\n").await;
        assert!(moved.starts_with("HTTP/1.1 200"), "{moved}");

        let head = raw(server.addr, b"HEAD /data.bin HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", Duration::from_secs(5)).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(header(&head, "content-length"), Some("1000"));
        assert!(head.ends_with("\r\n\r\n"), "no body: {head}");

        let index = get(&server, "/", "").await;
        assert!(index.ends_with("<h1>index</h1>"), "{index}");
        assert!(get(&server, "/sub/inner.txt", "").await.ends_with("inner"));
        assert!(get(&server, "/link-in", "").await.ends_with("body{}"), "a symlink inside the root is served");
        let post = raw(server.addr, b"POST /style.css HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", Duration::from_secs(5)).await;
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
        assert_eq!(header(&post, "allow"), Some("GET, HEAD"));
        server.stop().await.unwrap();
    }

    async fn nothing_outside_the_root_is_served() {
        let (_base, root) = site("escape");
        let server = TestServer::start(milpa::StaticFiles::new(&root).unwrap()).await;
        for target in [
            "/../secret.txt",
            "/sub/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/sub/%2E%2E%2F%2E%2E%2Fsecret.txt",
            "/..%5csecret.txt",
            "//secret.txt",
            "/link-out",
            "/missing.txt",
        ] {
            let response = get(&server, target, "").await;
            assert!(
                response.starts_with("HTTP/1.1 404") || response.starts_with("HTTP/1.1 403") || response.starts_with("HTTP/1.1 400"),
                "{target}: {response}"
            );
            assert!(!response.contains("SECRET"), "{target} leaked the secret");
        }
        // An absolute path: the root's file of that name (none), never the filesystem's.
        let absolute = get(&server, &format!("{}", root.parent().unwrap().join("secret.txt").display()), "").await;
        assert!(!absolute.contains("SECRET"), "{absolute}");
        server.stop().await.unwrap();
    }

    async fn directories_redirect_to_their_slashed_url_and_files_have_none() {
        let (_base, root) = site("slash");
        std::fs::create_dir_all(root.join("evil.com")).unwrap();
        let server = TestServer::start(milpa::StaticFiles::new(&root).unwrap()).await;
        for (target, location) in [
            ("/sub", "/sub/"),
            ("/sub?x=1&y=%20", "/sub/?x=1&y=%20"),
            ("/%73ub", "/sub/"),
            // Never `//evil.com/`: a client reads that as another site.
            ("//evil.com", "/evil.com/"),
        ] {
            let response = get(&server, target, "").await;
            assert!(response.starts_with("HTTP/1.1 301"), "{target}: {response}");
            assert_eq!(header(&response, "location"), Some(location), "{target}");
        }
        let no_index = get(&server, "/sub/", "").await;
        assert!(no_index.starts_with("HTTP/1.1 404"), "{no_index}");
        std::fs::write(root.join("sub").join("index.html"), "<h1>sub</h1>").unwrap();
        let index = get(&server, "/sub/", "").await;
        assert!(index.starts_with("HTTP/1.1 200") && index.ends_with("<h1>sub</h1>"), "{index}");
        assert_eq!(header(&index, "content-type"), Some("text/html; charset=utf-8"));
        for target in ["/style.css/", "/sub/inner.txt/", "/link-in/"] {
            let response = get(&server, target, "").await;
            assert!(response.starts_with("HTTP/1.1 404"), "a file is no directory: {target}: {response}");
        }
        server.stop().await.unwrap();

        let mut config = test_config();
        config.root_path = "/app".to_owned();
        let server = TestServer::start_with(config, milpa::StaticFiles::new(&root).unwrap()).await;
        let response = get(&server, "/sub", "").await;
        assert_eq!(header(&response, "location"), Some("/app/sub/"), "{response}");
        server.stop().await.unwrap();
    }

    async fn the_content_type_follows_the_name_asked_for() {
        let (_base, root) = site("type");
        std::os::unix::fs::symlink(root.join("style.css"), root.join("alias.txt")).unwrap();
        let server = TestServer::start(milpa::StaticFiles::new(&root).unwrap()).await;
        let alias = get(&server, "/alias.txt", "").await;
        assert!(alias.ends_with("body{}"), "{alias}");
        assert_eq!(header(&alias, "content-type"), Some("text/plain; charset=utf-8"));
        let no_extension = get(&server, "/link-in", "").await;
        assert_eq!(header(&no_extension, "content-type"), Some("application/octet-stream"));
        server.stop().await.unwrap();
    }

    async fn modification_dates_before_1970_or_in_the_future_are_clamped() {
        let (_base, root) = site("dates");
        let year = Duration::from_secs(365 * 86_400);
        for (name, modified) in [("old.txt", UNIX_EPOCH - 10 * year), ("future.txt", SystemTime::now() + year)] {
            std::fs::write(root.join(name), "dated").unwrap();
            std::fs::File::options().write(true).open(root.join(name)).unwrap().set_modified(modified).unwrap();
        }
        let server = TestServer::start(milpa::StaticFiles::new(&root).unwrap()).await;
        let old = get(&server, "/old.txt", "").await;
        assert!(old.starts_with("HTTP/1.1 200") && old.ends_with("dated"), "{old}");
        assert_eq!(header(&old, "last-modified"), Some("Thu, 01 Jan 1970 00:00:00 GMT"));
        let cached = get(&server, "/old.txt", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n").await;
        assert!(cached.starts_with("HTTP/1.1 304"), "{cached}");
        // RFC 9110 §8.8.2.1: a date in the future is replaced by the response's date.
        let future = get(&server, "/future.txt", "").await;
        assert!(future.starts_with("HTTP/1.1 200") && future.ends_with("dated"), "{future}");
        let date = |name| httpdate::parse_http_date(header(&future, name).unwrap()).unwrap();
        let (modified, sent) = (date("last-modified"), date("date"));
        assert!(modified <= sent + Duration::from_secs(1), "{future}");
        assert!(modified + Duration::from_secs(5) >= sent, "{future}");
        server.stop().await.unwrap();
    }

    async fn if_match_and_if_unmodified_since_are_preconditions() {
        let (_base, root) = site("preconditions");
        let server = TestServer::start(milpa::StaticFiles::new(&root).unwrap()).await;
        let css = get(&server, "/style.css", "").await;
        let etag = header(&css, "etag").unwrap().to_owned();
        let modified = header(&css, "last-modified").unwrap().to_owned();
        for (condition, status) in [
            ("If-Match: \"other\"\r\n".to_owned(), "412"),
            (format!("If-Match: W/{etag}\r\n"), "412"),
            (format!("If-Match: \"other\", {etag}\r\n"), "200"),
            ("If-Match: *\r\n".to_owned(), "200"),
            ("If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n".to_owned(), "412"),
            (format!("If-Unmodified-Since: {modified}\r\n"), "200"),
            // If-Match decides alone; the range is not looked at after a failure.
            (format!("If-Match: {etag}\r\nIf-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"), "200"),
            ("If-Match: \"other\"\r\nRange: bytes=0-1\r\n".to_owned(), "412"),
            (format!("If-Match: {etag}\r\nIf-None-Match: {etag}\r\n"), "304"),
        ] {
            let response = get(&server, "/style.css", &condition).await;
            assert!(response.starts_with(&format!("HTTP/1.1 {status}")), "{condition}: {response}");
            if status == "412" {
                assert!(response.ends_with("\r\n\r\n"), "no body: {response}");
            }
        }
        server.stop().await.unwrap();
    }

    async fn byte_ranges_over_http1_and_http2() {
        let (_base, root) = site("ranges");
        let digits = "0123456789".repeat(100);
        let server = TestServer::start(milpa::StaticFiles::new(&root).unwrap()).await;
        for (range, status, content_range, body) in [
            ("bytes=10-19", "206", Some("bytes 10-19/1000"), &digits[10..20]),
            ("bytes=-4", "206", Some("bytes 996-999/1000"), &digits[996..]),
            ("bytes=2000-", "416", Some("bytes */1000"), "range not satisfiable\n"),
            ("bytes=5-1", "200", None, &digits[..]),
            // The unit is case-insensitive; positions are digits only; a number too
            // large for a u64 lies past the end.
            ("Bytes=3-5", "206", Some("bytes 3-5/1000"), &digits[3..6]),
            ("bytes=990-99999999999999999999999", "206", Some("bytes 990-999/1000"), &digits[990..]),
            ("bytes=99999999999999999999999-", "416", Some("bytes */1000"), "range not satisfiable\n"),
            ("bytes=+2-4", "200", None, &digits[..]),
            ("bytes=--3", "200", None, &digits[..]),
        ] {
            let response = get(&server, "/digits.txt", &format!("Range: {range}\r\n")).await;
            assert!(response.starts_with(&format!("HTTP/1.1 {status}")), "{range}: {response}");
            assert_eq!(header(&response, "content-range"), content_range, "{range}");
            let length = body.len().to_string();
            assert_eq!(header(&response, "content-length"), Some(&length[..]), "{range}");
            assert!(response.ends_with(&format!("\r\n\r\n{body}")), "{range}: {response}");
        }
        let head = b"HEAD /digits.txt HTTP/1.1\r\nHost: test\r\nRange: bytes=10-19\r\nConnection: close\r\n\r\n";
        let head = raw(server.addr, head, Duration::from_secs(5)).await;
        assert!(head.starts_with("HTTP/1.1 206"), "{head}");
        assert_eq!(header(&head, "content-length"), Some("10"));
        assert!(head.ends_with("\r\n\r\n"), "no body: {head}");

        let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let (client, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut client: h2::client::SendRequest<Bytes> = client.ready().await.unwrap();
        let request = http::Request::get(server.url("/digits.txt")).header("range", "bytes=100-349").body(()).unwrap();
        let (response, _) = client.send_request(request, true).unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), http::StatusCode::PARTIAL_CONTENT);
        assert_eq!(response.headers()["content-range"], "bytes 100-349/1000");
        assert_eq!(response.headers()["content-length"], "250");
        let got = read_h2_body(&mut response.into_body()).await;
        assert_eq!(String::from_utf8(got).unwrap(), digits[100..350]);
        server.stop().await.unwrap();
    }
}
