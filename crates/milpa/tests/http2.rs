//! HTTP/2 end to end: h2c with prior knowledge and TLS with ALPN, driven by the
//! `hyper` HTTP/2 client, curl, nghttp and h2load.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use milpa::{Receiver, Scope, Sender};
use support::*;
use tokio::net::TcpStream;

type H2Sender<B> = hyper::client::conn::http2::SendRequest<B>;

async fn connect_h2c<B>(server: &TestServer) -> H2Sender<B>
where
    B: hyper::body::Body + Unpin + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    sender
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(format!("http://test{path}")).body(Empty::new()).unwrap()
}

async fn run(program: &str, args: &[&str]) -> String {
    require(program);
    let output = tokio::process::Command::new(program).args(args).output().await.unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

on_every_runtime! {
    async fn many_concurrent_streams_on_one_connection() {
        let server = TestServer::start(test_app).await;
        let client = connect_h2c::<Empty<Bytes>>(&server).await;
        let mut requests = Vec::new();
        for i in 0..64 {
            let mut client = client.clone();
            let path = if i % 8 == 0 { "/slow" } else { "/hello" };
            requests.push(tokio::spawn(async move {
                let response = client.send_request(get(path)).await.unwrap();
                assert_eq!(response.version(), Version::HTTP_2);
                assert_eq!(response.status(), StatusCode::OK);
                response.into_body().collect().await.unwrap().to_bytes()
            }));
        }
        for (i, request) in requests.into_iter().enumerate() {
            let body = request.await.unwrap();
            assert_eq!(body, if i % 8 == 0 { "slow done" } else { "hello" });
        }
        server.stop().await.unwrap();
    }

    async fn uploads_and_downloads_larger_than_the_windows() {
        let server = TestServer::start(test_app).await;
        let mut client = connect_h2c::<Full<Bytes>>(&server).await;
        let payload = Bytes::from((0..5_000_000u32).map(|i| (i % 253) as u8).collect::<Vec<_>>());
        let request = Request::post("http://test/echo").body(Full::new(payload.clone())).unwrap();
        let response = client.send_request(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(body == payload, "echoed {} bytes", body.len());
        server.stop().await.unwrap();
    }

    async fn trailers_reach_an_http2_client() {
        let server = TestServer::start(test_app).await;
        let mut client = connect_h2c::<Empty<Bytes>>(&server).await;
        let request = Request::get("http://test/trailers").header("te", "trailers").body(Empty::new()).unwrap();
        let collected = client.send_request(request).await.unwrap().into_body().collect().await.unwrap();
        assert_eq!(collected.trailers().unwrap()["x-checksum"], "abc");
        assert_eq!(collected.to_bytes(), "data");
        server.stop().await.unwrap();
    }

    async fn a_panicking_stream_does_not_disturb_the_others() {
        let server = TestServer::start(test_app).await;
        let mut client = connect_h2c::<Empty<Bytes>>(&server).await;
        let slow = {
            let mut client = client.clone();
            tokio::spawn(async move { client.send_request(get("/slow")).await.unwrap().status() })
        };
        assert_eq!(client.send_request(get("/panic")).await.unwrap().status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(client.send_request(get("/error")).await.unwrap().status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(slow.await.unwrap(), StatusCode::OK);
        assert_eq!(client.send_request(get("/hello")).await.unwrap().status(), StatusCode::OK);
        server.stop().await.unwrap();
    }

    async fn scope_of_an_http2_request() {
        let server = TestServer::start(test_app).await;
        let mut client = connect_h2c::<Empty<Bytes>>(&server).await;
        let request = Request::get("http://test/scope?q=1").header("x-test", "h2").body(Empty::new()).unwrap();
        let body = client.send_request(request).await.unwrap().into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "GET /scope q=1 HTTP/2.0 Some(\"h2\") ");
        server.stop().await.unwrap();
    }

    async fn curl_prior_knowledge_and_nghttp() {
        let server = TestServer::start(test_app).await;
        let url = server.url("/hello");
        let out = run("curl", &["-s", "--http2-prior-knowledge", "-w", " %{http_version}", &url]).await;
        assert_eq!(out, "hello 2");
        let out = run("nghttp", &["-nv", &url]).await;
        assert!(out.contains(":status: 200") && out.contains("END_STREAM"), "{out}");
        server.stop().await.unwrap();
    }

    async fn a_204_has_no_length_and_no_content_and_names_go_lower_case() {
        let server = TestServer::start(test_app).await;
        let mut client = connect_h2c::<Empty<Bytes>>(&server).await;
        let request = Request::get("http://test/no-content").body(Empty::new()).unwrap();
        let response = client.send_request(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(response.headers().get("content-length").is_none(), "{:?}", response.headers());
        assert_eq!(response.headers()["x-mixed-case"], "yes");
        assert!(response.into_body().collect().await.unwrap().to_bytes().is_empty());
        // The connection serves on.
        let request = Request::get("http://test/hello").body(Empty::new()).unwrap();
        assert_eq!(client.send_request(request).await.unwrap().status(), StatusCode::OK);
        server.stop().await.unwrap();
    }

    async fn head_with_a_file_response_sends_its_length_but_not_the_file() {
        let server = TestServer::start(test_app).await;
        let mut client = connect_h2c::<Empty<Bytes>>(&server).await;
        let length = std::fs::metadata(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap().len();
        let request = Request::head("http://test/file").body(Empty::new()).unwrap();
        let response = client.send_request(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-length"], length.to_string());
        assert!(response.into_body().collect().await.unwrap().to_bytes().is_empty());
        let request = Request::get("http://test/file").body(Empty::new()).unwrap();
        let body = client.send_request(request).await.unwrap().into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.len() as u64, length);
        server.stop().await.unwrap();
    }

    async fn expect_100_continue_is_answered_when_the_application_reads() {
        let server = TestServer::start(test_app).await;
        // curl would wait 20 s for the 100 before sending its body anyway; -m gives up at 10.
        let args = ["-s", "--http2-prior-knowledge", "-H", "Expect: 100-continue", "--expect100-timeout", "20"];
        // Reading the body first, and after starting the response (its head held back).
        for path in ["/echo", "/echo-after-start"] {
            let url = server.url(path);
            let out =
                run("curl", &[&args[..], &["-m", "10", "--data-binary", "hello", "-w", " %{http_code}", &url]].concat())
                    .await;
            assert_eq!(out, "hello 200", "{path}");
        }
        server.stop().await.unwrap();
    }

    async fn a_connect_answered_with_2xx_gets_500_and_no_tunnel() {
        let server = TestServer::start(test_app).await;
        let mut client = connect_h2c::<Empty<Bytes>>(&server).await;
        let request = Request::connect("a.example:443").body(Empty::new()).unwrap();
        let response = client.send_request(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().contains_key("date"), "{:?}", response.headers());
        drop(response);
        let request = Request::get("http://test/hello").body(Empty::new()).unwrap();
        assert_eq!(client.send_request(request).await.unwrap().status(), StatusCode::OK);
        server.stop().await.unwrap();
    }

    async fn cancelling_many_slow_requests_does_not_cost_the_connection() {
        let arrived = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = arrived.clone();
        let counting = move |scope: Scope, receive: Receiver, send: Sender| {
            if matches!(&scope, Scope::Http(http) if http.path == "/slow") {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            test_app(scope, receive, send)
        };
        let server = TestServer::start(counting).await;
        let client = connect_h2c::<Empty<Bytes>>(&server).await;
        let mut survivor = client.clone();
        let survivor = tokio::spawn(async move { survivor.send_request(get("/slow")).await.map(|r| r.status()) });
        // 25 slow requests abandoned once sent: their applications run on past the
        // limit of 20 for reset streams.
        let abandoned: Vec<_> = (0..25)
            .map(|_| {
                let mut client = client.clone();
                tokio::spawn(async move { client.send_request(get("/slow")).await.map(|_| ()) })
            })
            .collect();
        // Reset once the applications run: resets of requests not yet taken are the
        // rapid-reset attack, which closes the connection (a loaded machine can take
        // longer than any fixed wait to take them).
        let all_running = eventually(|| arrived.load(std::sync::atomic::Ordering::SeqCst) == 26).await;
        assert!(all_running, "{} of 26 requests reached the application", arrived.load(std::sync::atomic::Ordering::SeqCst));
        for request in abandoned {
            request.abort();
        }
        assert_eq!(survivor.await.unwrap().unwrap(), StatusCode::OK, "the other stream goes on");
        // New requests are refused (REFUSED_STREAM) only until those applications end.
        let mut client = client;
        let mut answered = None;
        for _ in 0..50 {
            if let Ok(response) = client.send_request(get("/hello")).await {
                answered = Some(response.status());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(answered, Some(StatusCode::OK));
        server.stop().await.unwrap();
    }

    async fn curl_upgrades_to_h2c_and_the_upgrading_request_is_answered_on_stream_1() {
        let path = std::env::temp_dir().join(format!("milpa-h2c-log-{}-{}", std::process::id(), unique()));
        let mut config = test_config();
        config.access_log = Some(path.clone());
        config.access_log_format = "%(r)s %(s)s".to_owned();
        let server = TestServer::start_with(config, test_app).await;
        let url = server.url("/scope?via=upgrade");
        let out = run("curl", &["-s", "--http2", "-w", " %{http_version}", &url]).await;
        assert_eq!(out, "GET /scope via=upgrade HTTP/2.0 None  2");
        // A request with a body is not upgraded (RFC 7540 §3.2 lets the server choose).
        let url = server.url("/echo");
        let out = run("curl", &["-s", "--http2", "-d", "body", "-w", " %{http_version}", &url]).await;
        assert_eq!(out, "body 1.1");
        server.stop().await.unwrap();
        // The upgraded request is logged like any other.
        let log = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(log, "GET /scope HTTP/2 200\nPOST /echo HTTP/1.1 200\n");
    }

    async fn h2c_upgrade_with_invalid_settings_is_answered_over_http_1_1() {
        let server = TestServer::start(test_app).await;
        // ENABLE_PUSH=2; a 5-byte payload; INITIAL_WINDOW_SIZE=2^31; not base64url.
        for settings in ["AAIAAAAC", "AAIAAAA", "AASAAAAA", "AA!="] {
            let request = format!(
                "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings, close\r\n\
                 Upgrade: h2c\r\nHTTP2-Settings: {settings}\r\n\r\n"
            );
            let out = raw(server.addr, request.as_bytes(), Duration::from_secs(3)).await;
            assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("hello"), "{settings}: {out}");
        }
        server.stop().await.unwrap();
    }

    async fn h2c_upgrade_can_be_turned_off() {
        let mut config = test_config();
        config.h2c_upgrade = false;
        let server = TestServer::start_with(config, test_app).await;
        let out = run("curl", &["-s", "--http2", "-w", " %{http_version}", &server.url("/hello")]).await;
        assert_eq!(out, "hello 1.1");
        server.stop().await.unwrap();
    }

    async fn h2load_over_h2c_all_succeed() {
        let server = TestServer::start(test_app).await;
        let url = server.url("/hello");
        let out = run("h2load", &["-c10", "-n3000", "-m10", &url]).await;
        assert!(out.contains("3000 succeeded, 0 failed, 0 errored, 0 timeout"), "{out}");
        server.stop().await.unwrap();
    }

    async fn idle_connection_is_shut_down_after_the_keep_alive_timeout() {
        let mut config = test_config();
        config.keep_alive_timeout = Duration::from_millis(200);
        let server = TestServer::start_with(config, test_app).await;
        let stream = TcpStream::connect(server.addr).await.unwrap();
        let (mut client, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
        let conn = tokio::spawn(conn);
        assert_eq!(client.send_request(get("/hello")).await.unwrap().status(), StatusCode::OK);
        let ended = tokio::time::timeout(Duration::from_secs(3), conn).await;
        assert!(ended.is_ok(), "the idle connection must be closed by the server");
        server.stop().await.unwrap();
    }

    async fn graceful_shutdown_lets_streams_finish() {
        // The stop begins once the application has the request (see SignallingSlow).
        let arrived = std::sync::Arc::new(tokio::sync::Notify::new());
        let mut server = TestServer::start(SignallingSlow(arrived.clone())).await;
        let mut client = connect_h2c::<Empty<Bytes>>(&server).await;
        let slow = tokio::spawn(async move {
            let response = client.send_request(get("/slow")).await.unwrap();
            response.into_body().collect().await.unwrap().to_bytes()
        });
        tokio::time::timeout(Duration::from_secs(3), arrived.notified())
            .await
            .expect("the request reached the application");
        server.begin_stop();
        assert_eq!(slow.await.unwrap(), "slow done");
        server.stop().await.unwrap();
    }
}
