//! HTTPS: the rustls sans-IO layer under the HTTP/1.1 driver, against the
//! `tokio-rustls` client (with hyper) and curl.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use milpa::{AppError, Receiver, Scope, SendEvent, Sender};
use rustls::pki_types::{CertificateDer, ServerName};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Certificate {
    dir: PathBuf,
    der: CertificateDer<'static>,
}

/// A certificate for localhost written to PEM files, and its DER for the client to trust.
fn certificate(tag: &str) -> Certificate {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = std::env::temp_dir().join(format!("milpa-tls-{tag}-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), certified.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), certified.signing_key.serialize_pem()).unwrap();
    Certificate { dir, der: certified.cert.der().clone() }
}

fn tls_config(cert: &Certificate) -> milpa::Config {
    let mut config = test_config();
    config.certfile = Some(cert.dir.join("cert.pem"));
    config.keyfile = Some(cert.dir.join("key.pem"));
    config
}

fn client(cert: &Certificate, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Answers with the scope's scheme and TLS details.
async fn tls_app(scope: Scope, receive: Receiver, mut send: Sender) -> Result<(), AppError> {
    let Scope::Http(http) = scope else { return test_app(scope, receive, send).await };
    let tls = http.tls.as_ref().map(|tls| format!("{:?} {:?} {}", tls.server_name, tls.alpn, tls.version));
    let body = format!("{} {}", http.scheme, tls.unwrap_or_default());
    send.send(SendEvent::ResponseStart { status: StatusCode::OK, headers: vec![], trailers: false }).await?;
    send.send(SendEvent::ResponseBody { body: Bytes::from(body), more_body: false }).await?;
    Ok(())
}

on_every_runtime! {
    async fn hyper_over_tls_gets_https_scope_with_sni_and_alpn() {
        let cert = certificate("hyper");
        let server = TestServer::start_with(tls_config(&cert), tls_app).await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let tls =
            client(&cert, &[b"http/1.1"]).connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
        tokio::spawn(conn);
        for _ in 0..2 {
            sender.ready().await.unwrap();
            let request = Request::get("/").header("host", "localhost").body(Empty::<Bytes>::new()).unwrap();
            let response = sender.send_request(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, "https Some(\"localhost\") Some([104, 116, 116, 112, 47, 49, 46, 49]) TLSv1_3");
        }
        server.stop().await.unwrap();
    }

    async fn alpn_mismatch_is_refused_with_no_application_protocol() {
        let cert = certificate("alpn");
        let server = TestServer::start_with(tls_config(&cert), tls_app).await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let error = client(&cert, &[b"h3-only"])
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("NoApplicationProtocol"), "{error}");
        server.stop().await.unwrap();
    }

    async fn silent_tcp_connection_is_closed_at_the_handshake_timeout() {
        let cert = certificate("silent");
        let mut config = tls_config(&cert);
        config.tls_handshake_timeout = Duration::from_millis(300);
        let server = TestServer::start_with(config, tls_app).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let started = std::time::Instant::now();
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.unwrap();
        assert!(matches!(read, Ok(0) | Err(_)), "closed without a word");
        assert!(started.elapsed() < Duration::from_secs(3));
        server.stop().await.unwrap();
    }

    async fn shutdown_drops_a_handshake_in_progress_at_once() {
        let cert = certificate("shutdown");
        let mut config = tls_config(&cert);
        config.graceful_timeout = Duration::from_secs(8);
        let server = TestServer::start_with(config, tls_app).await;
        let _silent = TcpStream::connect(server.addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = std::time::Instant::now();
        server.stop().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(4), "shutdown took {:?}", started.elapsed());
    }

    async fn http2_prior_knowledge_over_tls_without_alpn_is_served() {
        let cert = certificate("no-alpn");
        let server = TestServer::start_with(tls_config(&cert), tls_app).await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let tls = client(&cert, &[]).connect(name, tcp).await.unwrap();
        let (client, connection) = h2::client::handshake(tls).await.unwrap();
        tokio::spawn(connection);
        let mut client: h2::client::SendRequest<Bytes> = client.ready().await.unwrap();
        let url = format!("https://localhost:{}/", server.addr.port());
        let (response, _) = client.send_request(Request::get(url).body(()).unwrap(), true).unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let mut body = response.into_body();
        let mut got = Vec::new();
        while let Some(data) = body.data().await {
            got.extend_from_slice(&data.unwrap());
        }
        assert!(got.starts_with(b"https "), "{}", String::from_utf8_lossy(&got));
        server.stop().await.unwrap();
    }

    async fn plain_http_to_a_tls_port_is_refused() {
        let cert = certificate("plain");
        let server = TestServer::start_with(tls_config(&cert), tls_app).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").await.unwrap();
        let out = read_until_close(&mut stream, Duration::from_secs(3)).await;
        assert!(!out.contains("HTTP/1.1 200"), "{out}");
        server.stop().await.unwrap();
    }

    async fn insecure_bind_serves_plain_text_beside_tls() {
        let cert = certificate("insecure");
        let mut config = tls_config(&cert);
        config.insecure_bind = vec!["127.0.0.1:0".to_owned()];
        let server = TestServer::start_with(config, tls_app).await;
        let plain = server.addrs[1];
        let out =
            raw(plain, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", Duration::from_secs(3)).await;
        assert!(out.starts_with("HTTP/1.1 200 OK") && out.ends_with("http "), "{out}");
        server.stop().await.unwrap();
    }

    async fn curl_over_https_and_old_tls_refused() {
        require("curl");
        let cert = certificate("curl");
        let server = TestServer::start_with(tls_config(&cert), tls_app).await;
        let url = format!("https://localhost:{}/", server.addr.port());
        let resolve = format!("localhost:{}:127.0.0.1", server.addr.port());
        let cacert = cert.dir.join("cert.pem");
        let output = tokio::process::Command::new("curl")
            .args([
                "-s",
                "--cacert",
                cacert.to_str().unwrap(),
                "--resolve",
                &resolve,
                "-w",
                " %{http_version}",
                &url,
            ])
            .output()
            .await
            .unwrap();
        let out = String::from_utf8_lossy(&output.stdout);
        // ALPN offers h2 first: curl speaks HTTP/2 over TLS.
        assert!(out.starts_with("https Some(\"localhost\") Some([104, 50])") && out.ends_with(" 2"), "{out}");
        let old = tokio::process::Command::new("curl")
            .args(["-s", "-k", "--tlsv1.0", "--tls-max", "1.1", "--resolve", &resolve, &url])
            .output()
            .await
            .unwrap();
        assert!(!old.status.success(), "TLS 1.1 must be refused");
        server.stop().await.unwrap();
    }
}
