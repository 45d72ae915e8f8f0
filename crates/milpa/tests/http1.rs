//! HTTP/1.1 end to end: the real server on 127.0.0.1:0, driven by the `hyper`
//! client, raw sockets, curl and h2load.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Sender<B> = hyper::client::conn::http1::SendRequest<B>;

async fn connect<B>(server: &TestServer) -> Sender<B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    sender
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path).header("host", "test").body(Empty::new()).unwrap()
}

const SHORT: Duration = Duration::from_secs(3);

/// A request body sent as separate chunks of unknown total length.
struct Chunks(std::collections::VecDeque<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.get_mut().0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }
}

on_every_runtime! {
    async fn hyper_client_keeps_the_connection_alive() {
        let server = TestServer::start(test_app).await;
        let mut client = connect::<Empty<Bytes>>(&server).await;
        for _ in 0..3 {
            client.ready().await.unwrap();
            let response = client.send_request(get("/hello")).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()["content-length"], "5");
            assert!(response.headers().contains_key("date"));
            assert_eq!(response.headers()["server"], "milpa");
            assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "hello");
        }
        server.stop().await.unwrap();
    }

    async fn scope_carries_method_path_query_version_and_headers() {
        let mut config = test_config();
        config.root_path = "/mnt".to_owned();
        let server = TestServer::start_with(config, test_app).await;
        let mut client = connect::<Empty<Bytes>>(&server).await;
        let request = Request::get("/scope?a=1&b=%20")
            .header("host", "test")
            .header("X-Test", "yes")
            .body(Empty::new())
            .unwrap();
        let response = client.send_request(request).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "GET /scope a=1&b=%20 HTTP/1.1 Some(\"yes\") /mnt");
        server.stop().await.unwrap();
    }

    async fn chunked_upload_is_echoed() {
        let server = TestServer::start(test_app).await;
        let mut client = connect(&server).await;
        let body = Chunks((0..50).map(|i| Bytes::from(format!("chunk{i:03}|"))).collect());
        let request = Request::post("/echo").header("host", "test").body(body).unwrap();
        let response = client.send_request(request).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let expected: String = (0..50).map(|i| format!("chunk{i:03}|")).collect();
        assert_eq!(body, expected);
        server.stop().await.unwrap();
    }

    async fn large_upload_with_content_length_is_echoed() {
        let server = TestServer::start(test_app).await;
        let mut client = connect(&server).await;
        let payload = Bytes::from(vec![b'x'; 3 * 1024 * 1024 + 17]);
        let request = Request::post("/echo").header("host", "test").body(Full::new(payload.clone())).unwrap();
        let response = client.send_request(request).await.unwrap();
        assert_eq!(response.headers()["content-length"], payload.len().to_string().as_str());
        assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), payload);
        server.stop().await.unwrap();
    }

    async fn streamed_response_is_chunked() {
        let server = TestServer::start(test_app).await;
        let mut client = connect::<Empty<Bytes>>(&server).await;
        let response = client.send_request(get("/stream")).await.unwrap();
        assert_eq!(response.headers()["transfer-encoding"], "chunked");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "part0;part1;part2;part3;part4;");
        server.stop().await.unwrap();
    }

    async fn trailers_reach_the_client() {
        let server = TestServer::start(test_app).await;
        let mut client = connect::<Empty<Bytes>>(&server).await;
        let request =
            Request::get("/trailers").header("host", "test").header("te", "trailers").body(Empty::new()).unwrap();
        let response = client.send_request(request).await.unwrap();
        let collected = response.into_body().collect().await.unwrap();
        assert_eq!(collected.trailers().unwrap()["x-checksum"], "abc");
        assert_eq!(collected.to_bytes(), "data");
        server.stop().await.unwrap();
    }

    async fn head_has_length_but_no_body() {
        let server = TestServer::start(test_app).await;
        let mut client = connect::<Empty<Bytes>>(&server).await;
        let request =
            Request::builder().method(Method::HEAD).uri("/hello").header("host", "t").body(Empty::new()).unwrap();
        let response = client.send_request(request).await.unwrap();
        assert_eq!(response.headers()["content-length"], "5");
        assert!(response.into_body().collect().await.unwrap().to_bytes().is_empty());
        // The connection is still in sync afterwards.
        client.ready().await.unwrap();
        let response = client.send_request(get("/hello")).await.unwrap();
        assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "hello");
        server.stop().await.unwrap();
    }

    async fn early_hint_precedes_the_response() {
        let server = TestServer::start(test_app).await;
        let out =
            raw(server.addr, b"GET /early-hint HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", SHORT).await;
        assert!(
            out.starts_with(
                "HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n"
            ),
            "{out}"
        );
        server.stop().await.unwrap();
    }

    async fn pipelined_requests_are_answered_in_order() {
        let server = TestServer::start(test_app).await;
        let request = b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nabcdGET /stream HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        let out = raw(server.addr, request, SHORT).await;
        let hello = out.find("\r\n\r\nhello").unwrap();
        let echo = out.find("\r\n\r\nabcd").unwrap();
        let stream = out.find("part4;").unwrap();
        assert!(hello < echo && echo < stream, "{out}");
        assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 3);
        server.stop().await.unwrap();
    }

    async fn expect_100_continue_waits_for_the_application() {
        let server = TestServer::start(test_app).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 25];
        tokio::time::timeout(SHORT, stream.read_exact(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
        stream.write_all(b"hello").await.unwrap();
        stream.shutdown().await.unwrap();
        let out = read_until_close(&mut stream, SHORT).await;
        assert!(out.starts_with("HTTP/1.1 200 OK") && out.ends_with("hello"), "{out}");
        server.stop().await.unwrap();
    }

    async fn a_client_silent_after_100_continue_gets_408() {
        let mut config = test_config();
        config.body_idle_timeout = Duration::from_millis(300);
        let server = TestServer::start_with(config, test_app).await;
        let started = std::time::Instant::now();
        let request = b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
        let out = raw(server.addr, request, SHORT).await;
        assert!(out.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 408 Request Timeout\r\n"), "{out}");
        assert!(started.elapsed() < SHORT, "closed by the body timeout, not the test's");
        server.stop().await.unwrap();
    }

    async fn an_http_1_0_request_s_upgrade_is_ignored() {
        // RFC 9110 §7.8: answered as if it had no Upgrade field.
        let server = TestServer::start(test_app).await;
        let h2c = b"GET /hello HTTP/1.0\r\nHost: t\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n\
                    HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
        let websocket = b"GET /hello HTTP/1.0\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        for request in [&h2c[..], &websocket[..]] {
            let out = raw(server.addr, request, SHORT).await;
            assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("hello"), "{out}");
        }
        server.stop().await.unwrap();
    }

    async fn an_absolute_form_target_s_authority_is_the_host() {
        // RFC 9112 §3.2.2: Host is ignored for an absolute-form target, here by the
        // server-name check as much as by the application.
        let mut config = test_config();
        config.server_names = vec!["allowed.example".to_owned()];
        let server = TestServer::start_with(config, test_app).await;
        let allowed = b"GET http://allowed.example/hello HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n";
        let out = raw(server.addr, allowed, SHORT).await;
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("hello"), "{out}");
        let refused = b"GET http://evil.example/hello HTTP/1.1\r\nHost: allowed.example\r\nConnection: close\r\n\r\n";
        let out = raw(server.addr, refused, SHORT).await;
        assert!(out.starts_with("HTTP/1.1 421 "), "{out}");
        let websocket = b"GET http://evil.example/ws HTTP/1.1\r\nHost: allowed.example\r\nUpgrade: websocket\r\n\
                          Connection: Upgrade, close\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                          Sec-WebSocket-Version: 13\r\n\r\n";
        let out = raw(server.addr, websocket, SHORT).await;
        assert!(out.starts_with("HTTP/1.1 403 ") || out.starts_with("HTTP/1.1 421 "), "{out}");
        server.stop().await.unwrap();
    }

    async fn panic_is_a_500_and_the_server_keeps_serving() {
        let server = TestServer::start(test_app).await;
        for path in ["/panic", "/error", "/no-response"] {
            let mut client = connect::<Empty<Bytes>>(&server).await;
            let response = client.send_request(get(path)).await.unwrap();
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        }
        let mut client = connect::<Empty<Bytes>>(&server).await;
        let response = client.send_request(get("/hello")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        server.stop().await.unwrap();
    }

    async fn response_abandoned_mid_body_closes_the_connection() {
        let server = TestServer::start(test_app).await;
        let out = raw(server.addr, b"GET /half-response HTTP/1.1\r\nHost: t\r\n\r\n", SHORT).await;
        assert!(out.contains("partial"), "{out}");
        assert!(!out.ends_with("0\r\n\r\n"), "a truncated response must not look complete: {out}");
        server.stop().await.unwrap();
    }

    /// Each smuggling or limit case gets its status, `Connection: close`, a closed
    /// connection, and the next connection is still served.
    async fn bad_requests_over_a_socket_get_exact_answers() {
        let server = TestServer::start(test_app).await;
        let long_target = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(17 * 1024));
        let long_header = format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "b".repeat(17 * 1024));
        let many_headers = format!("GET / HTTP/1.1\r\nHost: t\r\n{}\r\n", "X-H: v\r\n".repeat(101));
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), "400"),
            (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".to_vec(), "400"),
            (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec(), "501"),
            (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(), "400"),
            (b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n".to_vec(), "400"),
            (b"GET / HTTP/1.1\r\n\r\n".to_vec(), "400"),
            (b"GET / HTTP/1.2\r\nHost: t\r\n\r\n".to_vec(), "505"),
            (long_target.into_bytes(), "414"),
            (long_header.into_bytes(), "431"),
            (many_headers.into_bytes(), "431"),
        ];
        for (request, status) in cases {
            let out = raw(server.addr, &request, SHORT).await;
            assert!(out.starts_with(&format!("HTTP/1.1 {status} ")), "expected {status}, got {out}");
            assert!(out.contains("connection: close\r\n"), "{out}");
            // RFC 9110 §6.6.1: an origin server with a clock dates its 4xx answers too.
            assert!(out.contains("\r\ndate: ") && out.contains(" GMT\r\n"), "{out}");
            assert_eq!(out.matches("HTTP/1.1").count(), 1, "nothing after the error: {out}");
            let mut client = connect::<Empty<Bytes>>(&server).await;
            assert_eq!(client.send_request(get("/hello")).await.unwrap().status(), StatusCode::OK);
        }
        server.stop().await.unwrap();
    }

    async fn slow_head_gets_408() {
        let mut config = test_config();
        config.header_read_timeout = Duration::from_millis(300);
        let server = TestServer::start_with(config, test_app).await;
        let out = raw(server.addr, b"GET /hello HTTP/1.1\r\nHost", SHORT).await;
        assert!(out.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{out}");
        server.stop().await.unwrap();
    }

    async fn idle_keep_alive_connection_is_closed() {
        let mut config = test_config();
        config.keep_alive_timeout = Duration::from_millis(200);
        let server = TestServer::start_with(config, test_app).await;
        let started = std::time::Instant::now();
        let out = raw(server.addr, b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", SHORT).await;
        assert!(out.starts_with("HTTP/1.1 200 OK"));
        assert!(started.elapsed() < Duration::from_secs(2), "closed by the keep-alive timeout, not the test's");
        server.stop().await.unwrap();
    }

    async fn max_requests_per_connection_closes_it() {
        let mut config = test_config();
        config.keep_alive_max_requests = 2;
        let server = TestServer::start_with(config, test_app).await;
        let out = raw(server.addr, &b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n".repeat(3), SHORT).await;
        assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
        assert!(out.contains("connection: close\r\n"));
        server.stop().await.unwrap();
    }

    async fn graceful_shutdown_lets_the_request_in_flight_finish() {
        // The stop begins once the application has the request (`/slow` then
        // answers 500 ms later): waiting a fixed time instead could, on a loaded
        // machine, stop a connection whose request was not read yet.
        let arrived = std::sync::Arc::new(tokio::sync::Notify::new());
        let mut server = TestServer::start(SignallingSlow(arrived.clone())).await;
        let addr = server.addr;
        let in_flight =
            tokio::spawn(async move { raw(addr, b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n", SHORT).await });
        tokio::time::timeout(SHORT, arrived.notified()).await.expect("the request reached the application");
        let idle = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        server.begin_stop();
        let out = in_flight.await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
        assert!(out.contains("connection: close\r\n"), "{out}");
        assert!(out.ends_with("slow done"));
        let mut idle = idle;
        assert_eq!(read_until_close(&mut idle, SHORT).await, "", "idle connections close at once");
        server.stop().await.unwrap();
        assert!(TcpStream::connect(addr).await.is_err(), "no longer accepting");
    }

    async fn shutdown_closes_a_connection_that_sent_nothing_at_once() {
        // Browsers open spare connections ahead of need: a shutdown must not wait
        // out the graceful timeout (or the header read timeout) for them.
        let mut config = test_config();
        config.graceful_timeout = Duration::from_secs(8);
        let server = TestServer::start_with(config, test_app).await;
        let mut silent = TcpStream::connect(server.addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = std::time::Instant::now();
        server.stop().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(4), "shutdown took {:?}", started.elapsed());
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(2), silent.read(&mut buf)).await.unwrap();
        assert!(matches!(read, Ok(0) | Err(_)), "closed without a word");
    }

    async fn graceful_timeout_closes_requests_that_take_too_long() {
        let mut config = test_config();
        config.graceful_timeout = Duration::from_millis(100);
        let mut server = TestServer::start_with(config, test_app).await;
        let addr = server.addr;
        let in_flight =
            tokio::spawn(async move { raw(addr, b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n", SHORT).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = std::time::Instant::now();
        server.begin_stop();
        // Empty: the request was cut off at the graceful timeout (`/slow` would have
        // answered after 500 ms). The bound only shows the stop did not hang; it is
        // loose because a loaded machine can delay joining the server by a lot.
        assert_eq!(in_flight.await.unwrap(), "");
        server.stop().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(2), "stopped after {:?}", started.elapsed());
    }

    async fn a_response_in_chunks_over_the_high_water_mark_is_sent_whole() {
        // Twenty 300 KiB pieces through a queue of ten: each piece fills the
        // output past its high-water mark, so the connection takes the queue in
        // batches and the application waits for room between them. The room a
        // finished batch frees must wake it (it once stayed asleep, and the
        // response stalled after the first batch).
        const PIECE: usize = 300 * 1024;
        let app = |scope: milpa::Scope, _receive: milpa::Receiver, mut send: milpa::Sender| async move {
            if let milpa::Scope::Http(_) = scope {
                send.start(StatusCode::OK, vec![]).await?;
                let piece = Bytes::from(vec![b'p'; PIECE]);
                for _ in 0..20 {
                    send.body(piece.clone(), true).await?;
                }
                send.body(Bytes::new(), false).await?;
            }
            Ok::<(), milpa::AppError>(())
        };
        let server = TestServer::start(app).await;
        let response = tokio::time::timeout(Duration::from_secs(20), async {
            let mut client = connect::<Empty<Bytes>>(&server).await;
            let response = client.send_request(get("/")).await.unwrap();
            response.into_body().collect().await.unwrap().to_bytes()
        })
        .await
        .expect("the whole response within 20 s");
        assert_eq!(response.len(), 20 * PIECE);
        server.stop().await.unwrap();
    }

    async fn client_that_never_reads_cannot_grow_server_memory() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        let app = move |scope: milpa::Scope, _receive: milpa::Receiver, mut send: milpa::Sender| {
            let counter = counter.clone();
            async move {
                if let milpa::Scope::Http(_) = scope {
                    send.start(StatusCode::OK, vec![]).await?;
                    let chunk = Bytes::from(vec![b'z'; 64 * 1024]);
                    loop {
                        send.body(chunk.clone(), true).await?;
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok::<(), milpa::AppError>(())
            }
        };
        let server = TestServer::start(app).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
        let sent_chunks = sent.load(Ordering::Relaxed);
        // Socket buffers plus the 256 KiB high-water mark plus 10 queued events, not more.
        assert!(sent_chunks < 200, "the application kept sending: {sent_chunks} chunks of 64 KiB");
        drop(stream);
        server.stop().await.unwrap();
    }

    async fn lifespan_failure_stops_the_server_with_the_message() {
        let app = |scope: milpa::Scope, mut receive: milpa::Receiver, mut send: milpa::Sender| async move {
            if let milpa::Scope::Lifespan(_) = scope {
                receive.receive().await;
                send.send(milpa::SendEvent::StartupFailed { message: "no database".to_owned() }).await?;
            }
            Ok::<(), milpa::AppError>(())
        };
        let server = TestServer::start(app).await;
        let error = server.stop().await.unwrap_err();
        assert_eq!(error.to_string(), "application startup failed: no database");
    }

    async fn lifespan_state_is_shared_into_every_scope() {
        #[derive(Clone)]
        struct Greeting(&'static str);
        let app = |scope: milpa::Scope, mut receive: milpa::Receiver, mut send: milpa::Sender| async move {
            match scope {
                milpa::Scope::Lifespan(lifespan) => {
                    while let Some(event) = receive.receive().await {
                        if event == milpa::ReceiveEvent::Startup {
                            lifespan.state.lock().unwrap().insert(Greeting("from startup"));
                            send.send(milpa::SendEvent::StartupComplete).await?;
                        } else if event == milpa::ReceiveEvent::Shutdown {
                            send.send(milpa::SendEvent::ShutdownComplete).await?;
                        }
                    }
                }
                milpa::Scope::Http(http) => {
                    let greeting = http.state.get::<Greeting>().map_or("missing", |g| g.0);
                    send.start(StatusCode::OK, vec![]).await?;
                    send.body(greeting, false).await?;
                }
                _ => {}
            }
            Ok::<(), milpa::AppError>(())
        };
        let server = TestServer::start(app).await;
        let mut client = connect::<Empty<Bytes>>(&server).await;
        let body = client.send_request(get("/")).await.unwrap().into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "from startup");
        server.stop().await.unwrap();
    }

    async fn handler_layer_serves_requests_and_bodies() {
        let app = milpa::handler(|request: http::Request<milpa::Body>| async move {
            let (parts, body) = request.into_parts();
            let body = body.collect(1024).await;
            match body {
                Ok(bytes) => http::Response::new(milpa::Body::from(format!(
                    "{} {} {}",
                    parts.method,
                    parts.uri,
                    bytes.len()
                ))),
                Err(_) => http::Response::builder().status(413).body(milpa::Body::empty()).unwrap(),
            }
        });
        let server = TestServer::start(app).await;
        let mut client = connect(&server).await;
        let request =
            Request::post("/h?x=1").header("host", "t").body(Full::new(Bytes::from_static(b"12345"))).unwrap();
        let body = client.send_request(request).await.unwrap().into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "POST /h?x=1 5");
        client.ready().await.unwrap();
        let request =
            Request::post("/h").header("host", "t").body(Full::new(Bytes::from(vec![0; 2000]))).unwrap();
        assert_eq!(client.send_request(request).await.unwrap().status(), StatusCode::PAYLOAD_TOO_LARGE);
        server.stop().await.unwrap();
    }

    async fn curl_gets_answers() {
        require("curl");
        let server = TestServer::start(test_app).await;
        let url = server.url("/echo");
        let output = tokio::process::Command::new("curl")
            .args(["-s", "-i", "--data-binary", "from curl", &url])
            .output()
            .await
            .unwrap();
        let out = String::from_utf8_lossy(&output.stdout);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.ends_with("\r\n\r\nfrom curl"), "{out}");
        server.stop().await.unwrap();
    }

    async fn unix_socket_is_served() {
        require("curl");
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("milpa-{}-{n}.sock", std::process::id()));
        let mut config = test_config();
        config.bind.push(format!("unix:{}", path.display()));
        let server = TestServer::start_with(config, test_app).await;
        let output = tokio::process::Command::new("curl")
            .args(["-s", "--unix-socket", path.to_str().unwrap(), "http://localhost/hello"])
            .output()
            .await
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&output.stdout), "hello");
        server.stop().await.unwrap();
        let _ = std::fs::remove_file(&path);
    }

    async fn h2load_h1_pipelined_all_succeed() {
        require("h2load");
        let server = TestServer::start(test_app).await;
        let url = server.url("/hello");
        let output = tokio::process::Command::new("h2load")
            .args(["--h1", "-c10", "-n2000", "-m5", &url])
            .output()
            .await
            .unwrap();
        let out = String::from_utf8_lossy(&output.stdout);
        assert!(out.contains("2000 succeeded, 0 failed, 0 errored, 0 timeout"), "{out}");
        assert!(out.contains("status codes: 2000 2xx"), "{out}");
        server.stop().await.unwrap();
    }
}

/// Dropping the future `serve` returned (a `select!` or timeout cancelling it)
/// stops the server: it neither keeps accepting nor keeps its connections.
#[tokio::test]
async fn dropping_the_serve_future_stops_the_server() {
    let server = milpa::Server::bind(milpa::tokio::Tokio::current(), test_config()).unwrap();
    let addr = server.local_addrs()[0];
    let serving = server.serve(test_app, std::future::pending());
    let mut idle = None;
    let connected = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 256];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(buf[..n].ends_with(b"hello"), "served while running");
        idle = Some(stream);
    };
    tokio::select! {
        _ = serving => unreachable!("serves until dropped"),
        () = connected => {}
    }
    // `serving` is dropped: the kept-alive connection closes, new ones are refused.
    let mut stream = idle.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf)).await.expect("closed");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let refused = async {
        loop {
            if TcpStream::connect(addr).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(3), refused).await.expect("the listener is closed");
}

/// `Server::serve` honours `metrics_bind` as `run` does.
#[tokio::test]
async fn serve_exposes_the_metrics_it_is_configured_with() {
    let metrics_addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut config = test_config();
    config.metrics_bind = Some(metrics_addr.to_string());
    let server = TestServer::start_with(config, test_app).await;
    let hello = raw(server.addr, b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", SHORT).await;
    assert!(hello.ends_with("hello"), "{hello}");
    let mut page = String::new();
    for _ in 0..50 {
        page =
            raw(metrics_addr, b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", SHORT).await;
        if page.contains("milpa_requests_total 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(page.contains("milpa_requests_total 1"), "{page}");
    server.stop().await.unwrap();
}

/// milpa embedded on a smol executor the program already runs.
#[cfg(feature = "smol")]
#[tokio::test]
async fn serves_on_an_executor_the_program_runs() {
    let executor = std::sync::Arc::new(async_executor::Executor::new());
    let running = executor.clone();
    let (stop, stopped) = async_channel_pair();
    std::thread::spawn(move || async_io::block_on(running.run(stopped)));
    let server = milpa::Server::bind(milpa::smol::Smol::new(executor.clone()), test_config()).unwrap();
    let addr = server.local_addrs()[0];
    let serving = executor.spawn(server.serve(test_app, std::future::pending()));
    let out = raw(addr, b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", SHORT).await;
    assert!(out.starts_with("HTTP/1.1 200 OK") && out.ends_with("hello"), "{out}");
    drop(serving);
    let _ = stop.send(());
}

/// A one-shot signal usable from any executor.
#[cfg(feature = "smol")]
fn async_channel_pair() -> (tokio::sync::oneshot::Sender<()>, impl std::future::Future<Output = ()>) {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    (sender, async move {
        let _ = receiver.await;
    })
}
