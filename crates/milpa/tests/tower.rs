//! `milpa::tower`: an axum `Router` served by milpa over HTTP/1.1, h2c and TLS
//! (ALPN h2), driven by hyper's clients, on every runtime.

#![allow(clippy::unwrap_used)]

mod support;

use std::convert::Infallible;

use axum::Router;
use axum::extract::Json;
use axum::routing::{get, post};
use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::*;
use tokio::net::TcpStream;

fn router() -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello from axum" }))
        .route(
            "/json",
            post(|Json(value): Json<serde_json::Value>| async move {
                Json(serde_json::json!({ "got": value, "ok": true }))
            }),
        )
        .route(
            "/stream",
            get(|| async {
                let pieces = (0..5).map(|i| Ok::<_, Infallible>(Bytes::from(format!("part{i};"))));
                axum::body::Body::from_stream(futures_util::stream::iter(pieces))
            }),
        )
        .route("/upload", post(|body: Bytes| async move { format!("{} bytes", body.len()) }))
}

async fn over<F>(version: Version, server: &TestServer, request: Request<Full<Bytes>>, check: F)
where
    F: FnOnce(StatusCode, Bytes),
{
    let stream = TokioIo::new(TcpStream::connect(server.addr).await.unwrap());
    let response = if version == Version::HTTP_2 {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), stream).await.unwrap();
        tokio::spawn(conn);
        sender.send_request(request).await.unwrap()
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
        tokio::spawn(conn);
        sender.send_request(request).await.unwrap()
    };
    assert_eq!(response.version(), version);
    let status = response.status();
    check(status, response.into_body().collect().await.unwrap().to_bytes());
}

fn request(method: &str, path: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(format!("http://test{path}"))
        .header("host", "test")
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .unwrap()
}

on_every_runtime! {
    async fn an_axum_router_serves_http1_and_h2c() {
        let server = TestServer::start(milpa::tower(router())).await;
        for version in [Version::HTTP_11, Version::HTTP_2] {
            over(version, &server, request("GET", "/hello", ""), |status, body| {
                assert_eq!(status, StatusCode::OK);
                assert_eq!(body, "hello from axum");
            })
            .await;
            over(version, &server, request("POST", "/json", r#"{"a":[1,2]}"#), |status, body| {
                assert_eq!(status, StatusCode::OK);
                let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(value, serde_json::json!({ "got": { "a": [1, 2] }, "ok": true }));
            })
            .await;
            over(version, &server, request("GET", "/stream", ""), |status, body| {
                assert_eq!(status, StatusCode::OK);
                assert_eq!(body, "part0;part1;part2;part3;part4;");
            })
            .await;
            over(version, &server, request("POST", "/upload", vec![7u8; 1_500_000]), |status, body| {
                assert_eq!(status, StatusCode::OK);
                assert_eq!(body, "1500000 bytes");
            })
            .await;
            over(version, &server, request("GET", "/nowhere", ""), |status, _| {
                assert_eq!(status, StatusCode::NOT_FOUND);
            })
            .await;
        }
        server.stop().await.unwrap();
    }

    async fn an_axum_router_serves_http2_over_tls() {
        let (config, connector) = tls_setup();
        let server = TestServer::start_with(config, milpa::tower(router())).await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let tls = connector.connect(rustls::pki_types::ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await.unwrap();
        tokio::spawn(conn);
        let response = sender.send_request(request("GET", "/stream", "")).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_2);
        assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "part0;part1;part2;part3;part4;");
        let response = sender.send_request(request("POST", "/json", r#"{"tls":true}"#)).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value, serde_json::json!({ "got": { "tls": true }, "ok": true }));
        server.stop().await.unwrap();
    }
}

/// A TLS configuration for the server and a client trusting it, offering h2.
fn tls_setup() -> (milpa::Config, tokio_rustls::TlsConnector) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = std::env::temp_dir().join(format!("milpa-tower-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), certified.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), certified.signing_key.serialize_pem()).unwrap();
    let mut config = test_config();
    config.certfile = Some(dir.join("cert.pem"));
    config.keyfile = Some(dir.join("key.pem"));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec()];
    (config, tokio_rustls::TlsConnector::from(std::sync::Arc::new(client)))
}
