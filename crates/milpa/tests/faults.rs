//! Faults under load: applications that panic or fail while h2load drives the
//! server, and clients that leave in the middle of an upload or a download. Only
//! the requests concerned suffer; the application hears that the client left; no
//! task or connection outlives them.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use milpa::{AppError, ReceiveEvent, Receiver, Scope, SendEvent, Sender};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn h2load(args: &[&str]) -> String {
    require("h2load");
    let output = tokio::process::Command::new("h2load").args(args).output().await.unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What the application saw: uploads and downloads that ended in a disconnect.
#[derive(Default)]
struct Seen {
    upload_left: AtomicUsize,
    download_left: AtomicUsize,
    running: AtomicUsize,
}

/// `/upload` reads until the body ends or the client leaves; `/download` streams
/// until a send fails. Counts what it saw.
fn leaving_app(seen: Arc<Seen>) -> impl milpa::App {
    move |scope: Scope, mut receive: Receiver, mut send: Sender| {
        let seen = seen.clone();
        async move {
            let Scope::Http(scope) = scope else { return Ok(()) };
            seen.running.fetch_add(1, Ordering::SeqCst);
            let result = async {
                if scope.path == "/upload" {
                    loop {
                        match receive.receive().await {
                            Some(ReceiveEvent::Request { more_body: true, .. }) => {}
                            Some(ReceiveEvent::Disconnect) | None => {
                                seen.upload_left.fetch_add(1, Ordering::SeqCst);
                                return Ok(());
                            }
                            Some(_) => break,
                        }
                    }
                    send.send(SendEvent::ResponseStart {
                        status: StatusCode::OK,
                        headers: vec![],
                        trailers: false,
                    })
                    .await?;
                    return Ok(send.body(Bytes::from_static(b"whole"), false).await?);
                }
                send.send(SendEvent::ResponseStart {
                    status: StatusCode::OK,
                    headers: vec![],
                    trailers: false,
                })
                .await?;
                let piece = Bytes::from(vec![b'd'; 64 * 1024]);
                loop {
                    if send.body(piece.clone(), true).await.is_err() {
                        seen.download_left.fetch_add(1, Ordering::SeqCst);
                        return Ok::<(), AppError>(());
                    }
                }
            }
            .await;
            seen.running.fetch_sub(1, Ordering::SeqCst);
            result
        }
    }
}

/// Keeps the thousand deliberate panics out of the test output; others print as usual.
fn quiet_deliberate_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let deliberate = info.payload().downcast_ref::<&str>().is_some_and(|m| m.contains("on purpose"));
            if !deliberate {
                default(info);
            }
        }));
    });
}

/// [`test_app`], except that `call` itself panics for `/panic-in-call`, before
/// any future exists (middleware doing work up front can).
struct PanicsInCall;

impl milpa::App for PanicsInCall {
    fn call(&self, scope: milpa::Scope, receive: milpa::Receiver, send: milpa::Sender) -> milpa::AppFuture {
        if matches!(&scope, milpa::Scope::Http(http) if http.path == "/panic-in-call") {
            panic!("call panics on purpose");
        }
        Box::pin(test_app(scope, receive, send))
    }
}

async fn wait_for(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

on_every_runtime! {
    async fn panics_and_errors_under_load_cost_only_their_own_requests() {
        quiet_deliberate_panics();
        let server = TestServer::start(test_app).await;
        let urls: Vec<String> = ["/hello", "/panic", "/hello", "/error", "/hello", "/hello"]
            .iter()
            .map(|path| server.url(path))
            .collect();
        for protocol in [&["-c10", "-n3000", "-m10"][..], &["-c10", "-n3000", "--h1"][..]] {
            let mut args: Vec<&str> = protocol.to_vec();
            args.extend(urls.iter().map(String::as_str));
            let out = h2load(&args).await;
            // h2load takes the URIs in turn: two in six fail on purpose, and it counts
            // a 5xx as failed; none is lost (errored) or late.
            assert!(out.contains("3000 done, 2000 succeeded, 1000 failed, 0 errored, 0 timeout"), "{protocol:?}: {out}");
            assert!(out.contains("status codes: 2000 2xx, 0 3xx, 0 4xx, 1000 5xx"), "{protocol:?}: {out}");
        }
        let out = raw(server.addr, b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", Duration::from_secs(5)).await;
        assert!(out.ends_with("hello"), "{out}");
        server.stop().await.unwrap();
    }

    async fn a_panic_in_call_itself_costs_only_its_own_request() {
        quiet_deliberate_panics();
        let server = TestServer::start(PanicsInCall).await;
        let urls = [server.url("/hello"), server.url("/panic-in-call")];
        for protocol in [&["-c2", "-n200", "-m10"][..], &["-c2", "-n200", "--h1"][..]] {
            let mut args: Vec<&str> = protocol.to_vec();
            args.extend(urls.iter().map(String::as_str));
            let out = h2load(&args).await;
            assert!(out.contains("200 done, 100 succeeded, 100 failed, 0 errored, 0 timeout"), "{protocol:?}: {out}");
            assert!(out.contains("status codes: 100 2xx, 0 3xx, 0 4xx, 100 5xx"), "{protocol:?}: {out}");
        }
        server.stop().await.unwrap();
    }

    async fn clients_leaving_mid_upload_and_mid_download_are_heard_and_leave_nothing_behind() {
        let seen = Arc::new(Seen::default());
        let server = TestServer::start(leaving_app(seen.clone())).await;
        for i in 0..20 {
            // An upload of 1 MB that stops after 10 KB.
            let mut upload = TcpStream::connect(server.addr).await.unwrap();
            upload
                .write_all(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n")
                .await
                .unwrap();
            upload.write_all(&[b'u'; 10_000]).await.unwrap();
            // A download read for 100 KB, then dropped.
            let mut download = TcpStream::connect(server.addr).await.unwrap();
            download.write_all(b"GET /download HTTP/1.1\r\nHost: a\r\n\r\n").await.unwrap();
            let mut got = 0;
            let mut buf = vec![0u8; 16 * 1024];
            while got < 100_000 {
                got += download.read(&mut buf).await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(upload);
            drop(download);
            wait_for(&format!("round {i}"), || {
                seen.upload_left.load(Ordering::SeqCst) == i + 1 && seen.download_left.load(Ordering::SeqCst) == i + 1
            })
            .await;
        }
        wait_for("every application future to end", || seen.running.load(Ordering::SeqCst) == 0).await;
        // Nothing outlives them: shutdown finds no connection or task to wait for.
        let started = Instant::now();
        server.stop().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(1), "shutdown waited {:?}", started.elapsed());
    }

    async fn http2_clients_resetting_uploads_and_downloads_are_heard() {
        let seen = Arc::new(Seen::default());
        let server = TestServer::start(leaving_app(seen.clone())).await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let (mut client, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        for i in 0..20 {
            let upload = http::Request::post(server.url("/upload")).body(()).unwrap();
            let (response, mut body) = client.send_request(upload, false).unwrap();
            body.send_data(Bytes::from(vec![b'u'; 10_000]), false).unwrap();
            let download = http::Request::get(server.url("/download")).body(()).unwrap();
            let (downloading, _) = client.send_request(download, true).unwrap();
            let mut downloading = downloading.await.unwrap().into_body();
            let mut got = 0;
            while got < 100_000 {
                let data = downloading.data().await.unwrap().unwrap();
                got += data.len();
                let _ = downloading.flow_control().release_capacity(data.len());
            }
            // Dropping the streams resets them (RST_STREAM CANCEL).
            drop(body);
            drop(response);
            drop(downloading);
            wait_for(&format!("round {i}"), || {
                seen.upload_left.load(Ordering::SeqCst) == i + 1 && seen.download_left.load(Ordering::SeqCst) == i + 1
            })
            .await;
            client = client.ready().await.unwrap();
        }
        wait_for("every application future to end", || seen.running.load(Ordering::SeqCst) == 0).await;
        drop(client);
        server.stop().await.unwrap();
    }
}
