//! The driver under awkward applications and clients: trickled uploads, large
//! streamed and file responses, applications split over tasks, clients that
//! leave, clients that never read.

#![allow(clippy::unwrap_used)]

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use milpa::{AppError, FileRange, ReceiveEvent, Receiver, Scope, SendEvent, Sender};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Counts how often the wrapped future is polled.
struct Counted<F> {
    inner: Pin<Box<F>>,
    polls: Arc<AtomicUsize>,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        self.inner.as_mut().poll(cx)
    }
}

/// `test_app`, counting in `polls` how often its futures are polled.
fn counted_test_app(polls: &Arc<AtomicUsize>) -> impl milpa::App {
    let polls = polls.clone();
    move |scope: Scope, receive: Receiver, send: Sender| Counted {
        inner: Box::pin(test_app(scope, receive, send)),
        polls: polls.clone(),
    }
}

/// An HTTP/2 client of `server` (prior knowledge), from the `h2` crate.
async fn h2_client(server: &TestServer) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    client.ready().await.unwrap()
}

/// An HTTP/2 upload to `/echo` that sends two bytes and waits, the application
/// waiting in `receive` for more: checks that the connection sleeps too (it once
/// went round without end, polling the application) and hands back the server,
/// the response and the upload to finish.
async fn upload_that_waits(
    config: milpa::Config,
) -> (TestServer, h2::client::ResponseFuture, h2::SendStream<Bytes>) {
    let polls = Arc::new(AtomicUsize::new(0));
    let server = TestServer::start_with(config, counted_test_app(&polls)).await;
    let mut client = h2_client(&server).await;
    let upload = http::Request::post(server.url("/echo")).body(()).unwrap();
    let (response, mut body) = client.send_request(upload, false).unwrap();
    body.send_data(Bytes::from_static(b"ab"), false).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = polls.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during_wait = polls.load(Ordering::Relaxed) - before;
    assert!(during_wait <= 2, "the application was polled {during_wait} times while nothing happened");
    (server, response, body)
}

async fn start(scope: &Scope, send: &mut Sender) -> Result<(), AppError> {
    if let Scope::Http(_) = scope {
        send.send(SendEvent::ResponseStart { status: StatusCode::OK, headers: vec![], trailers: false })
            .await?;
    }
    Ok(())
}

fn file_app(path: std::path::PathBuf) -> impl milpa::App {
    file_range_app(path, None)
}

/// Answers every request with `range` of the file at `path`.
fn file_range_app(path: std::path::PathBuf, range: Option<FileRange>) -> impl milpa::App {
    move |scope: Scope, _receive: Receiver, mut send: Sender| {
        let path = path.clone();
        async move {
            start(&scope, &mut send).await?;
            send.send(SendEvent::ResponseFile { path, range }).await?;
            Ok::<(), AppError>(())
        }
    }
}

/// 3 MB of a repeating pattern in a file of its own.
fn big_file(tag: &str) -> (std::path::PathBuf, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!("milpa-{tag}-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.bin");
    let contents: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &contents).unwrap();
    (path, contents)
}

/// The body of a response read over HTTP/2, with its `content-length`.
async fn h2_get(server: &TestServer, method: http::Method) -> (StatusCode, Option<String>, Vec<u8>) {
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client: h2::client::SendRequest<Bytes> = client.ready().await.unwrap();
    let request = http::Request::builder().method(method).uri(server.url("/")).body(()).unwrap();
    let (response, _) = client.send_request(request, true).unwrap();
    let response = response.await.unwrap();
    let status = response.status();
    let length = response.headers().get("content-length").map(|v| v.to_str().unwrap().to_owned());
    let got = read_h2_body(&mut response.into_body()).await;
    (status, length, got)
}

on_every_runtime! {
    async fn waiting_for_a_trickled_body_does_not_spin() {
        let polls = Arc::new(AtomicUsize::new(0));
        let server = TestServer::start(counted_test_app(&polls)).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        stream.write_all(b"cd").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let before = polls.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let during_wait = polls.load(Ordering::Relaxed) - before;
        assert!(during_wait <= 2, "the application was polled {during_wait} times while nothing happened");
        stream.write_all(b"efghij").await.unwrap();
        stream.shutdown().await.unwrap();
        let out = read_until_close(&mut stream, Duration::from_secs(3)).await;
        assert!(out.ends_with("\r\n\r\nabcdefghij"), "{out}");
        server.stop().await.unwrap();
    }

    async fn an_http2_body_timeout_of_zero_is_off_and_does_not_spin() {
        let mut config = test_config();
        config.body_idle_timeout = Duration::ZERO;
        let (server, response, mut body) = upload_that_waits(config).await;
        body.send_data(Bytes::from_static(b"cd"), true).unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "no timeout");
        server.stop().await.unwrap();
    }

    async fn waiting_for_an_http2_body_does_not_spin() {
        let (server, response, mut body) = upload_that_waits(test_config()).await;
        body.send_data(Bytes::from_static(b"cdefghij"), true).unwrap();
        let echoed = read_h2_body(&mut response.await.unwrap().into_body()).await;
        assert_eq!(echoed, b"abcdefghij");
        server.stop().await.unwrap();
    }

    async fn http2_file_responses_wait_for_a_small_window() {
        // The client's 64 KiB windows hold the file back far longer than one
        // send buffer's worth: chunks must wait for room, not overflow it.
        let dir = std::env::temp_dir().join(format!("milpa-file-h2-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.bin");
        let contents: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &contents).unwrap();
        let server = TestServer::start(file_app(path)).await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let (client, connection) = h2::client::Builder::new()
            .initial_window_size(65_535)
            .initial_connection_window_size(65_535)
            .handshake::<_, Bytes>(tcp)
            .await
            .unwrap();
        tokio::spawn(connection);
        let mut client = client.ready().await.unwrap();
        let (response, _) = client.send_request(http::Request::get(server.url("/")).body(()).unwrap(), true).unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let mut body = response.into_body();
        let read = read_h2_body(&mut body);
        let got = tokio::time::timeout(Duration::from_secs(20), read).await.expect("the download finishes");
        assert!(got == contents, "the body is the file ({} of {} bytes)", got.len(), contents.len());
        let _ = std::fs::remove_dir_all(&dir);
        server.stop().await.unwrap();
    }

    async fn large_streamed_response_is_complete_when_the_app_returns_at_once() {
        let app = |scope: Scope, _receive: Receiver, mut send: Sender| async move {
            start(&scope, &mut send).await?;
            for _ in 0..40 {
                send.body(Bytes::from(vec![b'x'; 64 * 1024]), true).await?;
            }
            send.body(Bytes::new(), false).await?;
            Ok::<(), AppError>(())
        };
        let server = TestServer::start(app).await;
        let out =
            raw(server.addr, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", Duration::from_secs(5))
                .await;
        assert_eq!(out.matches('x').count(), 40 * 64 * 1024);
        assert!(out.ends_with("\r\n0\r\n\r\n"), "the chunked body must end");
        server.stop().await.unwrap();
    }

    async fn app_may_receive_and_send_from_different_tasks() {
        let saw_disconnect = Arc::new(AtomicUsize::new(0));
        let flag = saw_disconnect.clone();
        // The application's helper tasks run on the test's tokio runtime, whatever
        // runtime the server is on: the point is that they are other tasks.
        let tasks = tokio::runtime::Handle::current();
        let app = move |scope: Scope, mut receive: Receiver, mut send: Sender| {
            let flag = flag.clone();
            let tasks = tasks.clone();
            async move {
                let Scope::Http(_) = scope else { return Ok(()) };
                let _ = receive.receive().await;
                let watcher = tasks.spawn(async move {
                    while let Some(event) = receive.receive().await {
                        if event == ReceiveEvent::Disconnect {
                            flag.store(1, Ordering::SeqCst);
                        }
                    }
                });
                let sender = tasks.spawn(async move {
                    start(&scope, &mut send).await?;
                    for _ in 0..400 {
                        send.body(Bytes::from(vec![b'y'; 16 * 1024]), true).await?;
                    }
                    send.body(Bytes::new(), false).await?;
                    Ok::<(), AppError>(())
                });
                sender.await.unwrap()?;
                watcher.await.unwrap();
                Ok::<(), AppError>(())
            }
        };
        let server = TestServer::start(app).await;
        let out =
            raw(server.addr, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", Duration::from_secs(6))
                .await;
        assert_eq!(out.matches('y').count(), 400 * 16 * 1024);
        assert!(
            eventually(|| saw_disconnect.load(Ordering::SeqCst) == 1).await,
            "the watching task heard the response end"
        );
        server.stop().await.unwrap();
    }

    async fn client_closing_is_reported_to_a_waiting_app() {
        let heard = Arc::new(AtomicUsize::new(0));
        let flag = heard.clone();
        let app = move |scope: Scope, mut receive: Receiver, _send: Sender| {
            let flag = flag.clone();
            async move {
                if let Scope::Http(_) = scope {
                    let _ = receive.receive().await;
                    if receive.receive().await == Some(ReceiveEvent::Disconnect) {
                        flag.store(1, Ordering::SeqCst);
                    }
                }
                Ok::<(), AppError>(())
            }
        };
        let server = TestServer::start(app).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"GET /events HTTP/1.1\r\nHost: a\r\n\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(stream);
        for _ in 0..50 {
            if heard.load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(heard.load(Ordering::SeqCst), 1, "a long-poll app must learn that its client left");
        server.stop().await.unwrap();
    }

    async fn client_that_never_reads_is_dropped_at_the_send_timeout() {
        let mut config = test_config();
        config.send_timeout = Duration::from_millis(300);
        let app = |scope: Scope, _receive: Receiver, mut send: Sender| async move {
            start(&scope, &mut send).await?;
            loop {
                send.body(Bytes::from(vec![b'z'; 64 * 1024]), true).await?;
            }
        };
        let server = TestServer::start_with(config, app).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // The server gave up: reading now reaches the end (or a reset) instead of data forever.
        let mut total = 0usize;
        let mut buf = vec![0u8; 64 * 1024];
        let ended = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => total += n,
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "the connection was still streaming after the send timeout");
        assert!(total < 64 * 1024 * 1024, "read {total} bytes");
        server.stop().await.unwrap();
    }

    async fn head_with_an_empty_body_gets_no_made_up_length() {
        let app = |scope: Scope, _receive: Receiver, mut send: Sender| async move {
            start(&scope, &mut send).await?;
            send.body(Bytes::new(), false).await?;
            Ok::<(), AppError>(())
        };
        let server = TestServer::start(app).await;
        let out =
            raw(server.addr, b"HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", Duration::from_secs(2))
                .await;
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(!out.contains("content-length"), "{out}");
        server.stop().await.unwrap();
    }

    async fn http2_early_answer_to_an_unread_upload_stops_the_upload() {
        // RFC 9113 §8.1: a complete response while the client still sends its body
        // is followed by RST_STREAM(NO_ERROR), so the client stops uploading (and
        // the stream stops counting against the concurrency limit).
        let server = TestServer::start(test_app).await;
        let mut client = h2_client(&server).await;
        let upload = http::Request::post(server.url("/hello")).body(()).unwrap();
        let (response, mut body) = client.send_request(upload, false).unwrap();
        body.send_data(Bytes::from_static(b"the first part"), false).unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let reset = tokio::time::timeout(Duration::from_secs(5), std::future::poll_fn(|cx| body.poll_reset(cx)))
            .await
            .expect("the upload is reset");
        assert_eq!(reset.unwrap(), h2::Reason::NO_ERROR);
        let mut client = client.ready().await.unwrap();
        let (next, _) = client.send_request(http::Request::get(server.url("/hello")).body(()).unwrap(), true).unwrap();
        assert_eq!(next.await.unwrap().status(), StatusCode::OK, "the connection goes on");
        server.stop().await.unwrap();
    }

    async fn http2_upload_that_stalls_gets_408_and_the_connection_goes_on() {
        let mut config = test_config();
        config.body_idle_timeout = Duration::from_millis(300);
        let server = TestServer::start_with(config, test_app).await;
        let mut client = h2_client(&server).await;
        let started = std::time::Instant::now();
        let upload = http::Request::post(server.url("/echo")).body(()).unwrap();
        let (response, mut body) = client.send_request(upload, false).unwrap();
        body.send_data(Bytes::from_static(b"a start, then nothing"), false).unwrap();
        let response = tokio::time::timeout(Duration::from_secs(5), response).await.expect("answered").unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert!(started.elapsed() < Duration::from_secs(5));
        let mut client = client.ready().await.unwrap();
        let (next, _) = client.send_request(http::Request::get(server.url("/hello")).body(()).unwrap(), true).unwrap();
        assert_eq!(next.await.unwrap().status(), StatusCode::OK, "the connection goes on");
        server.stop().await.unwrap();
    }

    async fn a_response_head_the_protocol_refuses_is_a_500() {
        let app = |scope: Scope, _receive: Receiver, mut send: Sender| async move {
            if let Scope::Http(_) = scope {
                let headers = vec![(Bytes::from_static(b"x-bad"), Bytes::from_static(b"a\r\nset-cookie: evil"))];
                send.send(SendEvent::ResponseStart { status: StatusCode::OK, headers, trailers: false }).await?;
                send.send(SendEvent::ResponseBody { body: Bytes::from_static(b"body"), more_body: false }).await?;
            }
            Ok::<(), AppError>(())
        };
        let server = TestServer::start(app).await;
        let out = raw(server.addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Duration::from_secs(3)).await;
        assert!(out.starts_with("HTTP/1.1 500 Internal Server Error\r\n"), "{out}");
        assert!(!out.contains("evil"), "{out}");
        let mut client = h2_client(&server).await;
        let (response, _) = client.send_request(http::Request::get(server.url("/")).body(()).unwrap(), true).unwrap();
        assert_eq!(response.await.unwrap().status(), StatusCode::INTERNAL_SERVER_ERROR);
        // A HEAD's 500 has no content: curl (nghttp2) takes a DATA frame for a protocol error.
        require("curl");
        let output = tokio::process::Command::new("curl")
            .args(["-s", "-I", "-o", "/dev/null", "-w", "%{http_code}", "--http2-prior-knowledge", &server.url("/")])
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "curl: {:?}", output.status);
        assert_eq!(String::from_utf8_lossy(&output.stdout), "500");
        server.stop().await.unwrap();
    }

    async fn http2_file_that_is_not_the_declared_length_is_a_500() {
        let path = std::env::temp_dir().join(format!("milpa-declared-{}-{}", std::process::id(), unique()));
        std::fs::write(&path, b"ten bytes!").unwrap();
        let file = path.clone();
        let app = move |scope: Scope, _receive: Receiver, mut send: Sender| {
            let path = file.clone();
            async move {
                if let Scope::Http(_) = scope {
                    let headers = vec![(Bytes::from_static(b"content-length"), Bytes::from_static(b"3"))];
                    send.send(SendEvent::ResponseStart { status: StatusCode::OK, headers, trailers: false }).await?;
                    send.send(SendEvent::ResponseFile { path, range: None }).await?;
                }
                Ok::<(), AppError>(())
            }
        };
        let server = TestServer::start(app).await;
        let mut client = h2_client(&server).await;
        let (response, _) = client.send_request(http::Request::get(server.url("/")).body(()).unwrap(), true).unwrap();
        assert_eq!(response.await.unwrap().status(), StatusCode::INTERNAL_SERVER_ERROR);
        let _ = std::fs::remove_file(&path);
        server.stop().await.unwrap();
    }

    async fn http2_body_that_breaks_its_content_length_is_reset_not_ended() {
        // `/DECLARED/SENT`: a content-length of DECLARED, then SENT bytes in two
        // pieces (none: one empty final piece).
        let app = |scope: Scope, _receive: Receiver, mut send: Sender| async move {
            let Scope::Http(http) = scope else { return Ok(()) };
            let mut numbers = http.path.split('/').filter_map(|n| n.parse::<usize>().ok());
            let (declared, sent) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
            let headers = vec![(Bytes::from_static(b"content-length"), Bytes::from(declared.to_string()))];
            send.send(SendEvent::ResponseStart { status: StatusCode::OK, headers, trailers: false }).await?;
            if sent == 0 {
                send.send(SendEvent::ResponseBody { body: Bytes::new(), more_body: false }).await?;
                return Ok(());
            }
            let half = Bytes::from(vec![b'x'; sent / 2]);
            send.send(SendEvent::ResponseBody { body: half, more_body: true }).await?;
            let rest = Bytes::from(vec![b'x'; sent - sent / 2]);
            send.send(SendEvent::ResponseBody { body: rest, more_body: false }).await?;
            Ok::<(), AppError>(())
        };
        let server = TestServer::start(app).await;
        let mut client = h2_client(&server).await;
        for (path, whole) in [("/100/50", false), ("/4/10", false), ("/10/10", true), ("/0/0", true)] {
            client = client.ready().await.unwrap();
            let (response, _) = client.send_request(http::Request::get(server.url(path)).body(()).unwrap(), true).unwrap();
            let mut body = response.await.unwrap().into_body();
            let mut ended_well = true;
            while let Some(data) = body.data().await {
                match data {
                    Ok(data) => drop(body.flow_control().release_capacity(data.len())),
                    Err(error) => {
                        assert_eq!(error.reason(), Some(h2::Reason::INTERNAL_ERROR), "{path}");
                        ended_well = false;
                        break;
                    }
                }
            }
            assert_eq!(ended_well, whole, "{path}");
        }
        client = client.ready().await.unwrap();
        let (response, _) = client.send_request(http::Request::get(server.url("/10/0")).body(()).unwrap(), true).unwrap();
        assert_eq!(response.await.unwrap().status(), StatusCode::INTERNAL_SERVER_ERROR, "a promised body never sent");
        server.stop().await.unwrap();
    }

    async fn early_answer_to_an_unread_upload_reaches_the_client() {
        let server = TestServer::start(test_app).await;
        for _ in 0..3 {
            let mut stream = TcpStream::connect(server.addr).await.unwrap();
            stream
                .write_all(b"POST /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 4000000\r\n\r\n")
                .await
                .unwrap();
            let chunk = vec![b'u'; 64 * 1024];
            for _ in 0..30 {
                if stream.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            let out = read_until_close(&mut stream, Duration::from_secs(4)).await;
            assert!(out.starts_with("HTTP/1.1 200 OK") && out.contains("connection: close"), "{out}");
        }
        server.stop().await.unwrap();
    }

    async fn file_responses_stream_the_file_with_its_length() {
        let dir = std::env::temp_dir().join(format!("milpa-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.bin");
        let contents: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &contents).unwrap();
        let server = TestServer::start(file_app(path)).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut out = Vec::new();
        let finished = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
        assert!(finished.is_ok(), "stalled after {} bytes", out.len());
        let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&out[..split]);
        assert!(head.contains("content-length: 3000000\r\n"), "{head}");
        assert!(out[split..] == contents[..], "the body is the file");
        server.stop().await.unwrap();
    }

    async fn a_file_range_is_sent_with_its_length_over_http1_and_http2() {
        let (path, contents) = big_file("file-range");
        let range = FileRange { offset: 1_000_001, length: 1_500_000 };
        let server = TestServer::start(file_range_app(path.clone(), Some(range))).await;
        let expected = &contents[1_000_001..2_500_001];
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut out = Vec::new();
        let finished = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
        assert!(finished.is_ok(), "stalled after {} bytes", out.len());
        let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&out[..split]);
        assert!(head.contains("content-length: 1500000\r\n"), "{head}");
        assert!(out[split..] == expected[..], "the body is the range ({} bytes)", out.len() - split);
        let (status, length, body) = h2_get(&server, http::Method::GET).await;
        assert_eq!((status, length.as_deref()), (StatusCode::OK, Some("1500000")));
        assert!(body == expected, "the body is the range ({} bytes)", body.len());
        server.stop().await.unwrap();

        // A range the file does not hold is refused before anything is sent.
        let past_the_end = FileRange { offset: 2_000_000, length: 1_000_001 };
        let server = TestServer::start(file_range_app(path.clone(), Some(past_the_end))).await;
        let out = raw(server.addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Duration::from_secs(3)).await;
        assert!(out.starts_with("HTTP/1.1 500 Internal Server Error"), "{out}");
        assert_eq!(h2_get(&server, http::Method::GET).await.0, StatusCode::INTERNAL_SERVER_ERROR);
        server.stop().await.unwrap();
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    async fn head_of_a_file_response_sends_the_head_without_reading_the_file() {
        // Opened for writing only: any read of it fails, and a failed read after
        // the head closes the connection. HEAD must not read it at all.
        let (path, _) = big_file("file-head");
        let dir = path.parent().unwrap().to_owned();
        let app = move |scope: Scope, _receive: Receiver, mut send: Sender| {
            let path = path.clone();
            async move {
                start(&scope, &mut send).await?;
                let unreadable = std::fs::OpenOptions::new().write(true).open(path)?;
                let range = Some(FileRange { offset: 10, length: 100 });
                send.send(SendEvent::ResponseOpenFile { file: unreadable.into(), range }).await?;
                Ok::<(), AppError>(())
            }
        };
        let server = TestServer::start(app).await;
        let heads = b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nHEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
        let out = raw(server.addr, heads, Duration::from_secs(3)).await;
        assert_eq!(out.matches("HTTP/1.1 200 OK\r\n").count(), 2, "both answered on one connection: {out}");
        assert_eq!(out.matches("content-length: 100\r\n").count(), 2, "{out}");
        assert!(out.ends_with("\r\n\r\n"), "no body: {out}");
        let (status, length, body) = h2_get(&server, http::Method::HEAD).await;
        assert_eq!((status, length.as_deref(), body.len()), (StatusCode::OK, Some("100"), 0));
        server.stop().await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    async fn missing_file_is_a_500() {
        let server = TestServer::start(file_app("/nonexistent/milpa/file".into())).await;
        let out = raw(server.addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Duration::from_secs(3)).await;
        assert!(out.starts_with("HTTP/1.1 500 Internal Server Error"), "{out}");
        server.stop().await.unwrap();
    }

    async fn handler_sees_a_truncated_upload_as_an_error() {
        let outcome = Arc::new(std::sync::Mutex::new(String::new()));
        let seen = outcome.clone();
        let app = milpa::handler(move |request: http::Request<milpa::Body>| {
            let seen = seen.clone();
            async move {
                let result = request.into_body().collect(1 << 20).await;
                *seen.lock().unwrap() = match result {
                    Ok(bytes) => format!("complete {}", bytes.len()),
                    Err(error) => format!("error {error}"),
                };
                http::Response::new(milpa::Body::empty())
            }
        });
        let server = TestServer::start(app).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly part").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(stream);
        assert!(eventually(|| !outcome.lock().unwrap().is_empty()).await, "the handler saw the upload end");
        let outcome = outcome.lock().unwrap().clone();
        assert!(outcome.starts_with("error"), "{outcome}");
        server.stop().await.unwrap();
    }

    async fn protocol_switch_the_connection_cannot_serve_is_a_500() {
        let app = |scope: Scope, _receive: Receiver, mut send: Sender| async move {
            if let Scope::Http(_) = scope {
                let headers = vec![(Bytes::from_static(b"upgrade"), Bytes::from_static(b"irc/6.9"))];
                send.send(SendEvent::ResponseStart {
                    status: StatusCode::SWITCHING_PROTOCOLS,
                    headers,
                    trailers: false,
                })
                .await?;
            }
            Ok::<(), AppError>(())
        };
        let server = TestServer::start(app).await;
        let request = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: irc/6.9\r\n\r\n";
        let out = raw(server.addr, request, Duration::from_secs(2)).await;
        assert!(out.starts_with("HTTP/1.1 500 Internal Server Error"), "{out}");
        server.stop().await.unwrap();
    }

    async fn http2_body_in_tiny_frames_reaches_the_app_in_few_events() {
        // A client may send its body a byte per DATA frame: the window bounds the
        // bytes, not the frames. Each must not become a queued event of its own
        // (a million of them fit in one window).
        let events = Arc::new(AtomicUsize::new(0));
        let counted = events.clone();
        let app = move |scope: Scope, mut receive: Receiver, mut send: Sender| {
            let events = counted.clone();
            async move {
                let mut body = Vec::new();
                while let Some(ReceiveEvent::Request { body: chunk, more_body }) = receive.receive().await {
                    events.fetch_add(1, Ordering::Relaxed);
                    body.extend_from_slice(&chunk);
                    if !more_body {
                        break;
                    }
                }
                start(&scope, &mut send).await?;
                send.send(SendEvent::ResponseBody { body: body.into(), more_body: false }).await?;
                Ok::<(), AppError>(())
            }
        };
        let server = TestServer::start(app).await;
        let mut client = h2_client(&server).await;
        let upload = http::Request::post(server.url("/")).body(()).unwrap();
        let (response, mut body) = client.send_request(upload, false).unwrap();
        const FRAMES: usize = 20_000;
        for i in 0..FRAMES {
            body.send_data(Bytes::from(vec![b'a' + (i % 26) as u8]), false).unwrap();
        }
        body.send_data(Bytes::new(), true).unwrap();
        let echoed = read_h2_body(&mut response.await.unwrap().into_body()).await;
        let sent: Vec<u8> = (0..FRAMES).map(|i| b'a' + (i % 26) as u8).collect();
        assert!(echoed == sent, "the body arrives whole and in order ({} bytes)", echoed.len());
        let events = events.load(Ordering::Relaxed);
        assert!(events < FRAMES / 10, "{FRAMES} one-byte frames became {events} events");
        server.stop().await.unwrap();
    }
}
