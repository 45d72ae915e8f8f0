//! `Dispatcher`: apps mounted by path prefix (root_path adjusted), 404 for the
//! rest, WebSockets routed too, and the lifespan fanned out to every mounted app.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use milpa::{AppError, Dispatcher, ReceiveEvent, Receiver, Scope, SendEvent, Sender};
use support::*;

/// Answers with its name, path and root path; records its lifespan events.
fn named(name: &'static str, log: Arc<Mutex<Vec<String>>>, fail_startup: bool) -> impl milpa::App {
    move |scope: Scope, mut receive: Receiver, mut send: Sender| {
        let log = log.clone();
        async move {
            match scope {
                Scope::Http(http) => {
                    let raw = String::from_utf8_lossy(&http.raw_path);
                    let body = format!("{name} path={} root={} raw={raw}", http.path, http.root_path);
                    send.start(StatusCode::OK, vec![]).await?;
                    send.body(Bytes::from(body), false).await?;
                }
                Scope::Lifespan(_) => {
                    while let Some(event) = receive.receive().await {
                        log.lock().unwrap().push(format!("{name} {event:?}"));
                        match event {
                            ReceiveEvent::Startup if fail_startup => {
                                send.send(SendEvent::StartupFailed {
                                    message: format!("{name} cannot start"),
                                })
                                .await?;
                            }
                            ReceiveEvent::Startup => send.send(SendEvent::StartupComplete).await?,
                            ReceiveEvent::Shutdown => {
                                send.send(SendEvent::ShutdownComplete).await?;
                                break;
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
            Ok::<(), AppError>(())
        }
    }
}

async fn get(server: &TestServer, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    raw(server.addr, request.as_bytes(), Duration::from_secs(5)).await
}

/// Answers with the scope's client address, scheme and host, as the app sees them.
async fn who(scope: Scope, _receive: Receiver, mut send: Sender) -> Result<(), AppError> {
    let Scope::Http(http) = scope else { return Ok(()) };
    let host = http.header("host").map(|h| String::from_utf8_lossy(h).into_owned()).unwrap_or_default();
    let body = format!(
        "client={} scheme={} host={host}",
        http.client.map(|c| c.ip().to_string()).unwrap_or_default(),
        http.scheme
    );
    send.start(StatusCode::OK, vec![]).await?;
    Ok(send.body(Bytes::from(body), false).await?)
}

async fn ask(server: &TestServer, headers: &str) -> String {
    let request = format!("GET / HTTP/1.1\r\nHost: inner:8000\r\nConnection: close\r\n{headers}\r\n");
    let response = raw(server.addr, request.as_bytes(), Duration::from_secs(5)).await;
    response.rsplit("\r\n\r\n").next().unwrap_or_default().to_owned()
}

/// An application whose lifespan counts ticks of its own between startup and
/// shutdown (a cache refresher, say), and answers requests with the count.
fn ticking(ticks: Arc<std::sync::atomic::AtomicUsize>) -> impl milpa::App {
    use std::sync::atomic::Ordering;
    move |scope: Scope, mut receive: Receiver, mut send: Sender| {
        let ticks = ticks.clone();
        async move {
            if !matches!(scope, Scope::Lifespan(_)) {
                return Ok::<(), AppError>(());
            }
            while let Some(event) = receive.receive().await {
                if event == ReceiveEvent::Startup {
                    send.send(SendEvent::StartupComplete).await?;
                    break;
                }
            }
            loop {
                let mut timer = async_io::Timer::after(Duration::from_millis(10));
                let mut next = std::pin::pin!(receive.receive());
                let event = std::future::poll_fn(|cx| {
                    if let std::task::Poll::Ready(event) = next.as_mut().poll(cx) {
                        return std::task::Poll::Ready(Some(event));
                    }
                    std::pin::Pin::new(&mut timer).poll(cx).map(|_| None)
                })
                .await;
                match event {
                    None => {
                        ticks.fetch_add(1, Ordering::SeqCst);
                    }
                    Some(Some(ReceiveEvent::Shutdown)) => {
                        return Ok(send.send(SendEvent::ShutdownComplete).await?);
                    }
                    Some(None) => return Ok(()),
                    Some(Some(_)) => {}
                }
            }
        }
    }
}

on_every_runtime! {
    async fn proxy_headers_are_believed_only_from_trusted_proxies() {
        // The test client connects from 127.0.0.1: a trusted proxy by default.
        let server = TestServer::start(milpa::ProxyHeaders::new(who).trust_host()).await;
        let body = ask(&server, "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: example.com\r\n").await;
        assert_eq!(body, "client=203.0.113.7 scheme=https host=example.com");
        // A forged left-most entry is ignored: the right-most untrusted hop is the client.
        let body = ask(&server, "X-Forwarded-For: 1.2.3.4, 198.51.100.9, 127.0.0.1\r\n").await;
        assert_eq!(body, "client=198.51.100.9 scheme=http host=inner:8000");
        // Forwarded is not read unless asked for: a client could have written it.
        let forged = "Forwarded: for=192.0.2.1, for=\"[2001:db8::7]:4711\";proto=https;host=shop.example\r\n";
        assert_eq!(ask(&server, forged).await, "client=127.0.0.1 scheme=http host=inner:8000");
        // An unreadable hop stops the walk: the peer stays the client.
        let body = ask(&server, "X-Forwarded-For: 203.0.113.7, unknown\r\n").await;
        assert_eq!(body, "client=127.0.0.1 scheme=http host=inner:8000");

        // Behind two proxies (a CDN, then a trusted load balancer), the scheme and
        // host are the ones the client used, not the ones the balancer received.
        let chain = "X-Forwarded-For: 1.2.3.4, 127.0.0.1\r\nX-Forwarded-Proto: https, http\r\nX-Forwarded-Host: public.example, lb.internal\r\n";
        assert_eq!(ask(&server, chain).await, "client=1.2.3.4 scheme=https host=public.example");
        // A host that would send a built URL elsewhere is not taken.
        let sneaky = "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Host: good.com@evil.com\r\n";
        assert_eq!(ask(&server, sneaky).await, "client=203.0.113.7 scheme=http host=inner:8000");
        server.stop().await.unwrap();

        let server = TestServer::start(milpa::ProxyHeaders::new(who).use_forwarded().trust_host()).await;
        assert_eq!(ask(&server, forged).await, "client=2001:db8::7 scheme=https host=shop.example");
        let chain = "Forwarded: for=1.2.3.4;proto=https;host=public.example, for=127.0.0.1;proto=http;host=lb\r\n";
        assert_eq!(ask(&server, chain).await, "client=1.2.3.4 scheme=https host=public.example");
        server.stop().await.unwrap();

        let untrusting = milpa::ProxyHeaders::new(who).trusted(["10.0.0.1".parse().unwrap()]);
        let server = TestServer::start(untrusting).await;
        let body = ask(&server, "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n").await;
        assert_eq!(body, "client=127.0.0.1 scheme=http host=inner:8000");
        server.stop().await.unwrap();
    }

    async fn proxy_headers_are_believed_over_a_unix_socket() {
        // nginx in front on the same machine, over a Unix-domain socket: no peer
        // address, as local as loopback.
        require("curl");
        let path = std::env::temp_dir().join(format!("milpa-proxy-{}-{}.sock", std::process::id(), unique()));
        let mut config = test_config();
        config.bind.push(format!("unix:{}", path.display()));
        let server = TestServer::start_with(config, milpa::ProxyHeaders::new(who)).await;
        let output = tokio::process::Command::new("curl")
            .args(["-s", "--unix-socket", path.to_str().unwrap(), "http://inner/"])
            .args(["-H", "X-Forwarded-For: 203.0.113.7", "-H", "X-Forwarded-Proto: https"])
            .output()
            .await
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&output.stdout), "client=203.0.113.7 scheme=https host=inner");
        server.stop().await.unwrap();
        let _ = std::fs::remove_file(&path);
    }

    async fn access_log_names_the_forwarded_client() {
        let path = std::env::temp_dir().join(format!("milpa-proxy-log-{}-{}", std::process::id(), unique()));
        let mut config = test_config();
        config.access_log = Some(path.clone());
        config.access_log_format = "%(h)s %(s)s".to_owned();
        let server = TestServer::start_with(config, milpa::ProxyHeaders::new(who)).await;
        ask(&server, "X-Forwarded-For: 203.0.113.7\r\n").await;
        ask(&server, "").await;
        server.stop().await.unwrap();
        let log = std::fs::read_to_string(&path).unwrap();
        // Hypercorn's `h`: address and port (a forwarded client has no port).
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines[0], "203.0.113.7 200");
        assert!(lines[1].starts_with("127.0.0.1:") && lines[1].ends_with(" 200"), "{log}");
    }

    async fn mounted_lifespans_keep_running_between_startup_and_shutdown() {
        let ticks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let server = TestServer::start(Dispatcher::new().mount("/", ticking(ticks.clone()))).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let counted = ticks.load(std::sync::atomic::Ordering::SeqCst);
        assert!(counted >= 5, "the mounted lifespan ticked {counted} times in 300 ms");
        server.stop().await.unwrap();
    }

    async fn https_redirect_sends_plain_text_to_https() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let server = TestServer::start(milpa::HttpsRedirect::new(named("app", log, false))).await;
        let plain = raw(
            server.addr,
            b"POST /form?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        )
        .await;
        assert!(plain.starts_with("HTTP/1.1 307"), "{plain}");
        assert!(plain.to_ascii_lowercase().contains("location: https://example.com/form?x=1"), "{plain}");
        let handshake = raw(
            server.addr,
            b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            Duration::from_secs(5),
        )
        .await;
        assert!(handshake.starts_with("HTTP/1.1 307"), "{handshake}");
        assert!(handshake.to_ascii_lowercase().contains("location: wss://example.com/chat"), "{handshake}");
        server.stop().await.unwrap();
    }

    async fn requests_go_to_the_longest_matching_prefix() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let dispatcher = Dispatcher::new()
            .mount("/api", named("api", log.clone(), false))
            .mount("/api/v2", named("v2", log.clone(), false))
            .mount("/", named("root", log.clone(), false));
        let server = TestServer::start(dispatcher).await;
        assert!(get(&server, "/api/users").await.ends_with("api path=/users root=/api raw=/users"));
        assert!(get(&server, "/api").await.ends_with("api path=/ root=/api raw=/"));
        assert!(get(&server, "/api/v2/x").await.ends_with("v2 path=/x root=/api/v2 raw=/x"));
        assert!(get(&server, "/apiary").await.ends_with("root path=/apiary root= raw=/apiary"), "whole segments only");
        // The raw target loses exactly the prefix's bytes, however they were encoded;
        // a prefix reached only through an encoded `/` is no match.
        assert!(get(&server, "/%61pi/x%2Fy").await.ends_with("api path=/x/y root=/api raw=/x%2Fy"));
        assert!(get(&server, "/api%2Fv2/x").await.ends_with("root path=/api/v2/x root= raw=/api%2Fv2/x"));
        assert!(get(&server, "/api%2Fusers").await.ends_with("root path=/api/users root= raw=/api%2Fusers"));
        // `OPTIONS *` is the root mount's.
        let options = raw(server.addr, b"OPTIONS * HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", Duration::from_secs(5)).await;
        assert!(options.ends_with("root path=* root= raw=*"), "{options}");
        server.stop().await.unwrap();
        let log = log.lock().unwrap().clone();
        for name in ["api", "v2", "root"] {
            assert!(log.contains(&format!("{name} Startup")), "{log:?}");
            assert!(log.contains(&format!("{name} Shutdown")), "{log:?}");
        }
    }

    async fn unmatched_paths_are_404() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let server = TestServer::start(Dispatcher::new().mount("/api", named("api", log, false))).await;
        assert!(get(&server, "/elsewhere").await.starts_with("HTTP/1.1 404"));
        server.stop().await.unwrap();
    }
}

#[tokio::test]
async fn a_mounted_app_failing_startup_stops_the_server_with_its_message() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let dispatcher = Dispatcher::new()
        .mount("/a", named("a", log.clone(), false))
        .mount("/b", named("b", log.clone(), true));
    let server = milpa::Server::bind(milpa::tokio::Tokio::current(), test_config()).unwrap();
    let error = server.serve(dispatcher, std::future::pending::<()>()).await.unwrap_err();
    assert!(error.to_string().contains("b cannot start"), "{error}");
    let log = log.lock().unwrap().clone();
    assert!(log.contains(&"a Shutdown".to_owned()), "the app that started is shut down again: {log:?}");
    assert!(!log.contains(&"b Shutdown".to_owned()), "{log:?}");
}
